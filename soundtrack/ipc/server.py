"""The asyncio msgpack-RPC server: TCP, Unix socket or stdio, many clients, one Hub.

Fair, predictable serving: the **controller** (and a stdio parent) is served in the protocol
callback that receives its bytes, as fast as a lone client. Every other client's bytes are
kept raw (nothing parsed) and served by one dispatcher task, round-robin, in slices of at most
`MONITOR_SLICE_S` of loop time (parsing included), after each of which the loop polls its
sockets again: a monitor flooding requests costs the controller at most about one slice,
however many monitors flood. A monitor with more than `max_inbox_bytes` waiting is not read
from until it drains (its socket fills up, not the server's memory).

Writes go straight to each transport, whose buffer is bounded in bytes: a client that stops
reading has its notifications dropped and is cut off when a response does not fit; no other
client ever waits on it. Unparseable bytes close the connection that sent them, after an
``error`` notification saying why. A sweeper closes connections that take too long over their
first message, over any one message, or sit idle (see `Limits`), and a connection past
`max_connections` is refused. With a token, nothing but ``hello`` is answered before the token;
wrong tokens are rate-limited server-wide and each closes its connection. See docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import ipaddress
import logging
import os
import signal
import socket
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from soundtrack.errors import FramingError, RpcError, SoundtrackError
from soundtrack.ipc.protocol import (
    DEFAULT_LIMITS,
    Decoder,
    Deferred,
    ErrorCode,
    Limits,
    Params,
    Request,
    _cut,
    as_rpc_error,
    encode_notification,
    encode_response,
    parse_message,
)
from soundtrack.ipc.schema import METHODS

log = logging.getLogger("soundtrack.serve")
# loop time the dispatcher spends on monitors before polling again. 50 us: beside a monitor
# flooding status the controller's render(1024) p99 rose 1.1-1.5x (2.1-2.7x at 200 us), and the
# flood was answered at ~20,000/s instead of ~30,000/s (benchmarks/bench_ipc.py, 2 cores)
MONITOR_SLICE_S = 0.00005
CONTROLLER_SLICE_S = 0.010  # a controller's batch is served in slices this long (the device queue, monitors)


class Connection:
    """One client: its transport(s), its decoder, and what it is doing.

    `transport.write` never blocks (what the kernel will not take waits in the transport's
    buffer), so writing inline costs no task switch per message, and a client that stops
    reading still holds up nobody: `send` checks the buffer against
    ``limits.max_outgoing_bytes`` first. While a batch of requests is handled the connection is
    *corked*: responses are gathered and go out in one write.
    """

    def __init__(self, cid: int, kind: str, peer: str, transport: Any, limits: Limits, write: Any = None) -> None:
        self.id = cid
        self.kind = kind
        self.peer = peer
        self.transport = transport  # reads (and writes, unless `write` is given: stdio)
        self.out = write or transport
        self.limits = limits
        self.decoder = Decoder(limits)
        self.closing = False
        self.authed = False
        self.dropped = 0
        self._corked: list[bytes] | None = None
        self._corked_bytes = 0
        self.scheduled = False
        self.busy = False  # a request of this connection is running in a thread or a task
        self.job: asyncio.Task[Any] | None = None
        self.paused = False  # reading paused: too much waits to be served
        self.eof = False  # the peer has finished sending
        self.closed = asyncio.get_running_loop().create_future()
        now = time.monotonic()
        self.connected_at = now
        self.last_message = now
        self.got_message = False
        self.msg_started: float | None = None  # when the message now arriving began

    def send(self, data: bytes, *, droppable: bool) -> bool:
        """Queue `data`; never blocks. False if it was dropped (or the client was cut off)."""
        if self.closing:
            return False
        queued = self.out.get_write_buffer_size() + self._corked_bytes
        if queued + len(data) > self.limits.max_outgoing_bytes:
            if droppable:
                self.dropped += 1
                return False
            log.warning("client %d (%s) is not reading its responses; disconnecting it", self.id, self.peer)
            self.abort()
            return False
        if self._corked is not None:
            self._corked.append(data)
            self._corked_bytes += len(data)
            return True
        try:
            self.out.write(data)
        except (ConnectionError, OSError, RuntimeError):
            self.abort()
            return False
        return True

    def cork(self) -> None:
        """Gather what `send` is given until `uncork`."""
        if self._corked is None:
            self._corked = []

    def uncork(self) -> None:
        """Write what was gathered since `cork`, in one piece."""
        out, self._corked, self._corked_bytes = self._corked, None, 0
        if out and not self.closing:
            try:
                self.out.write(out[0] if len(out) == 1 else b"".join(out))
            except (ConnectionError, OSError, RuntimeError):
                self.abort()

    def close(self) -> None:
        """Send what is queued, then close."""
        self.uncork()
        if not self.closing:
            self.closing = True
            for t in {id(self.out): self.out, id(self.transport): self.transport}.values():
                try:
                    t.close()
                except (ConnectionError, OSError, RuntimeError):
                    pass

    def abort(self) -> None:
        """Close now, dropping what is queued (a client that does not read)."""
        self.closing = True
        self._corked, self._corked_bytes = None, 0
        for t in {id(self.out): self.out, id(self.transport): self.transport}.values():
            try:
                t.abort()
            except (AttributeError, RuntimeError):
                pass

    def hang_up(self, code: ErrorCode, message: str) -> None:
        """Send an ``error`` notification, then close once it is written."""
        self.uncork()
        self.send(encode_notification("error", [{"code": int(code), "message": message}]), droppable=False)
        self.close()

    def pause(self) -> None:
        if not self.paused and not self.closing:
            self.paused = True
            try:
                self.transport.pause_reading()
            except (AttributeError, RuntimeError):
                pass

    def resume(self) -> None:
        if self.paused and not self.closing:
            self.paused = False
            try:
                self.transport.resume_reading()
            except (AttributeError, RuntimeError):
                pass


class _Reader(asyncio.Protocol):
    """The asyncio protocol of one connection: hands its events to the server."""

    def __init__(self, server: Server, kind: str, write: Any = None) -> None:
        self.server = server
        self.kind = kind
        self.write = write
        self.conn: Connection | None = None

    def connection_made(self, transport: Any) -> None:
        self.conn = self.server._accept(transport, self.kind, self.write)

    def data_received(self, data: bytes) -> None:
        if self.conn is not None:
            self.server._data(self.conn, data)

    def eof_received(self) -> bool:
        if self.conn is not None:
            self.server._eof(self.conn)
        return True  # the server closes once what was sent is answered

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.server._lost(self.conn, exc)


class _StdoutSide(asyncio.Protocol):
    """stdout as a write pipe: when the parent closes it, the server stops."""

    def __init__(self, server: Server) -> None:
        self.server = server

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.request_shutdown()


class LagProbe:
    """Measures the loop's longest blocking step: a task that sleeps `period` and records how
    late it wakes (`max_s`, wall clock: includes the OS running other processes and threads
    holding the GIL) and how much more CPU than `period` the loop's thread spent meanwhile
    (`max_cpu_s`: the loop's own work that kept the probe waiting; on a loop busy all the time it
    is the lateness, on an idle one the step itself, less a period). Worst since `reset()`;
    `cpu_quantile(q)` over the last 100,000 samples, since one step in thousands can be a
    garbage collection rather than the loop's own work."""

    def __init__(self, period: float = 0.001) -> None:
        self.period = period
        self.max_s = 0.0
        self.max_cpu_s = 0.0
        self.samples = 0
        self.cpu_steps: collections.deque[float] = collections.deque(maxlen=100_000)
        self._task: asyncio.Task[Any] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def reset(self) -> None:
        self.max_s, self.max_cpu_s, self.samples = 0.0, 0.0, 0
        self.cpu_steps.clear()

    def cpu_quantile(self, q: float) -> float:
        """The q-quantile (0..1) of the loop's CPU per probe period since `reset()`; 0 when none."""
        if not self.cpu_steps:
            return 0.0
        steps = sorted(self.cpu_steps)
        return steps[min(len(steps) - 1, int(q * len(steps)))]

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        clock, cpu = time.perf_counter, time.thread_time
        while True:
            t, c = clock(), cpu()
            await asyncio.sleep(self.period)
            late, used = clock() - t - self.period, cpu() - c - self.period
            self.samples += 1
            self.cpu_steps.append(used)
            if late > self.max_s:
                self.max_s = late
            if used > self.max_cpu_s:
                self.max_cpu_s = used


class Server:
    """Serves one Hub to any number of connections (see the module docstring).

    `hub` provides ``connect(cid, send, kind)``, ``disconnect(cid)``, ``is_controller(cid)``
    and ``dispatch(cid, method, params) -> result | Deferred`` (raising RpcError). `token`,
    when set, must be given in ``hello`` before anything else. `probe`: measure the loop's
    longest blocking step (`self.probe.max_s`).
    """

    def __init__(self, hub: Any, *, limits: Limits = DEFAULT_LIMITS, token: str | None = None, probe: bool = False) -> None:
        self.hub = hub
        self.limits = limits
        self.token = token or None
        self.conns: dict[int, Connection] = {}
        self._next_id = 1
        self._listeners: list[asyncio.AbstractServer] = []
        self._unix_paths: list[Path] = []
        self._stopped: asyncio.Event | None = None
        self._closing = False
        self.addresses: list[str] = []
        self._ready: collections.deque[Connection] = collections.deque()
        self._work: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._auth_lock: asyncio.Lock | None = None
        self._auth_tokens = float(limits.auth_failures_burst)
        self._auth_t = time.monotonic()
        self.auth_failures = 0
        self.probe = LagProbe() if probe else None

    def _boot(self) -> None:
        """Create the loop-bound parts on first use (the server may be built off the loop)."""
        if self._work is None:
            self._work = asyncio.Event()
            self._stopped = asyncio.Event()
            self._auth_lock = asyncio.Lock()
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._dispatcher()), loop.create_task(self._sweeper())]
            if self.probe is not None:
                self.probe.start()

    # -- listening ------------------------------------------------------------------------------
    async def listen_tcp(self, host: str, port: int) -> tuple[str, int]:
        self._boot()
        loop = asyncio.get_running_loop()
        srv = await loop.create_server(lambda: _Reader(self, "tcp"), host, port, reuse_address=True)
        self._listeners.append(srv)
        sock_host, sock_port = srv.sockets[0].getsockname()[:2]
        self.addresses.append(f"tcp {_join_host(sock_host, sock_port)}")
        return sock_host, sock_port

    async def listen_unix(self, path: str | os.PathLike[str]) -> Path:
        """Listen on a Unix socket created with mode 0600 whatever the umask (bound inside a
        private folder, then renamed into place), replacing a stale socket a killed server left."""
        self._boot()
        p = Path(path)
        if p.exists() or p.is_symlink():
            if not stat.S_ISSOCK(p.lstat().st_mode):
                raise SoundtrackError(f"--unix {p}: exists and is not a socket; choose another path")
            if _unix_in_use(p):
                raise SoundtrackError(f"--unix {p}: another server is listening there")
            p.unlink()  # a stale socket left by a killed server
        sock = _bind_unix_private(p)
        srv = await asyncio.get_running_loop().create_unix_server(lambda: _Reader(self, "unix"), sock=sock)
        self._listeners.append(srv)
        self._unix_paths.append(p)
        self.addresses.append(f"unix {p}")
        return p

    async def serve_stdio(self) -> None:
        """Serve one client (the parent) over stdin/stdout; stdout carries only protocol bytes.
        Returns when that connection has closed (end of input, or `shutdown`)."""
        self._boot()
        loop = asyncio.get_running_loop()
        # Keep fd 1 for the protocol and point the process's stdout at stderr, so a stray print
        # from any library cannot corrupt the framing.
        out_fd = os.dup(1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        write, _ = await loop.connect_write_pipe(lambda: _StdoutSide(self), os.fdopen(out_fd, "wb", buffering=0))
        reader = _Reader(self, "stdio", write)
        await loop.connect_read_pipe(lambda: reader, os.fdopen(0, "rb", buffering=0, closefd=False))
        self.addresses.append("stdio")
        if reader.conn is not None:
            await reader.conn.closed
        self.request_shutdown()

    # -- connection events ----------------------------------------------------------------------
    def _accept(self, transport: Any, kind: str, write: Any) -> Connection | None:
        self._boot()
        if kind == "stdio":
            peer = "stdio"
        else:
            name = transport.get_extra_info("peername")
            peer = _join_host(*name[:2]) if isinstance(name, tuple) and len(name) >= 2 else "unix"
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cid = self._next_id
        self._next_id += 1
        conn = Connection(cid, kind, peer, transport, self.limits, write)
        if self._closing:
            conn.close()
            return None
        if len(self.conns) >= self.limits.max_connections:
            log.warning("refused client %d (%s): %d connections (max_connections)", cid, peer, len(self.conns))
            conn.hang_up(ErrorCode.BUSY, f"the server has {self.limits.max_connections} connections (max_connections); try later")
            return None
        conn.authed = self.token is None
        self.conns[cid] = conn
        self.hub.connect(cid, conn.send, kind)
        log.info("client %d connected (%s)", cid, peer)
        return conn

    def _data(self, conn: Connection, data: bytes) -> None:
        if conn.closing:
            return
        if conn.decoder.idle:
            conn.msg_started = time.monotonic()
        conn.decoder.push(data)
        if self._priority(conn):
            self._drain(conn, time.perf_counter() + CONTROLLER_SLICE_S)
        else:
            self._schedule(conn)
            if conn.decoder.buffered > self.limits.max_inbox_bytes:
                conn.pause()

    def _eof(self, conn: Connection) -> None:
        conn.eof = True
        self._maybe_finish(conn)

    def _lost(self, conn: Connection, exc: Exception | None) -> None:
        if conn.kind == "stdio" and not conn.closing:  # stdin ended; stdout may still take answers
            self._eof(conn)
            return
        conn.closing = True
        if self.conns.pop(conn.id, None) is not None:
            self.hub.disconnect(conn.id)
            log.info("client %d disconnected%s%s", conn.id, f" ({exc})" if exc else "",
                     f" ({conn.dropped} notifications dropped)" if conn.dropped else "")
        if not conn.closed.done():
            conn.closed.set_result(None)

    def _maybe_finish(self, conn: Connection) -> None:
        """After end of input: close once everything sent has been answered."""
        if conn.eof and not conn.busy and (conn.decoder.exhausted or conn.closing):
            conn.close()
            if conn.kind == "stdio":
                self._lost(conn, None)

    def _priority(self, conn: Connection) -> bool:
        return conn.kind == "stdio" or self.hub.is_controller(conn.id)

    # -- serving --------------------------------------------------------------------------------
    def _schedule(self, conn: Connection) -> None:
        if not conn.scheduled and not conn.closing:
            conn.scheduled = True
            self._ready.append(conn)
            assert self._work is not None  # booted: a connection exists
            self._work.set()

    async def _dispatcher(self) -> None:
        """Serve monitors round-robin in slices of loop time, polling sockets between slices."""
        assert self._work is not None
        clock = time.perf_counter
        while not self._closing:
            if not self._ready:
                self._work.clear()
                await self._work.wait()
                continue
            deadline = clock() + MONITOR_SLICE_S
            while self._ready and clock() < deadline:
                conn = self._ready.popleft()
                conn.scheduled = False
                if conn.closing or conn.busy:
                    continue
                self._drain(conn, deadline)
                if not conn.decoder.exhausted and not conn.busy:
                    self._schedule(conn)  # to the back of the line
            await asyncio.sleep(0)

    def _drain(self, conn: Connection, deadline: float | None) -> None:
        """Handle `conn`'s messages in order until none is whole, one needs a thread or the auth
        gate (then it runs as a task and the rest wait for it), or `deadline` passes."""
        clock = time.perf_counter
        conn.cork()
        try:
            while not conn.busy and not conn.closing:
                try:
                    item = conn.decoder.next()
                except FramingError as e:
                    log.info("client %d (%s): %s; closing its connection", conn.id, conn.peer, e)
                    conn.hang_up(ErrorCode(e.code), str(e))
                    return
                if item is None:
                    break
                now = time.monotonic()
                conn.last_message, conn.got_message = now, True
                conn.msg_started = None if conn.decoder.idle else now
                job = self._handle(conn, item[0])
                if job is not None:
                    conn.busy = True
                    conn.job = asyncio.get_running_loop().create_task(self._run_job(conn, job))
                    break
                if deadline is not None and clock() >= deadline:
                    break
        finally:
            conn.uncork()
        if conn.paused and conn.decoder.buffered <= self.limits.max_inbox_bytes // 2:
            conn.resume()
        if deadline is not None and not conn.busy and not conn.closing and not conn.decoder.exhausted and self._priority(conn):
            # a long pipelined batch from the controller: the rest on the next turn of the loop
            asyncio.get_running_loop().call_soon(self._go_on, conn)
        self._maybe_finish(conn)

    def _go_on(self, conn: Connection) -> None:
        if not conn.closing and not conn.busy and self._priority(conn):
            self._drain(conn, time.perf_counter() + CONTROLLER_SLICE_S)

    async def _run_job(self, conn: Connection, job: Any) -> None:
        try:
            await job
        finally:
            conn.busy = False
            conn.job = None
            if not conn.closing and not self._closing:
                if self._priority(conn):
                    self._drain(conn, time.perf_counter() + CONTROLLER_SLICE_S)
                elif not conn.decoder.exhausted:
                    self._schedule(conn)
            self._maybe_finish(conn)

    def _handle(self, conn: Connection, obj: Any) -> Any:
        """Answer one decoded message inline (no await on the common path); returns a coroutine
        when its answer needs a thread or the auth gate first."""
        try:
            req = parse_message(obj, self.limits)
        except RpcError as e:
            msgid = e.data.get("msgid") if isinstance(e.data, dict) else None
            err = {"code": int(e.code), "message": e.message}
            if msgid is not None:
                conn.send(encode_response(msgid, err, None), droppable=False)
            else:
                conn.send(encode_notification("error", [err]), droppable=False)
            return None
        if not conn.authed:
            if req.method == "hello":
                return self._authenticate(conn, req)
            self._reply(conn, req, None, RpcError(ErrorCode.UNAUTHORIZED, "this server needs hello({token: ...}) with the right token first"))
            return None
        try:
            result = self.hub.dispatch(conn.id, req.method, req.params)
        except Exception as e:  # _reply sorts the client's mistakes from the server's bugs
            self._reply(conn, req, None, e)
            return None
        if isinstance(result, Deferred):
            return self._finish(conn, req, result)
        self._reply(conn, req, result, None)
        return None

    async def _finish(self, conn: Connection, req: Request, deferred: Deferred) -> None:
        try:
            value = await in_thread(deferred.work)
            result = deferred.finish(value)
        except Exception as e:
            self._reply(conn, req, None, e)
        else:
            self._reply(conn, req, result, None)
        finally:
            if deferred.cleanup is not None:
                deferred.cleanup()

    def _reply(self, conn: Connection, req: Request, result: Any, exc: BaseException | None) -> None:
        error: dict[str, Any] | None = None
        if exc is not None:
            rpc = as_rpc_error(req.method, exc)
            if rpc is None:  # a bug must not take the server (or other clients) down
                log.error("internal error in %s from client %d", req.method, conn.id, exc_info=exc)
                error = {"code": int(ErrorCode.INTERNAL_ERROR), "message": _cut(f"internal error in {req.method}: {type(exc).__name__}: {exc}")}
            else:
                if rpc is not exc and not isinstance(exc, SoundtrackError):
                    log.warning("%s from client %d: %s: %s", req.method, conn.id, type(exc).__name__, _cut(str(exc)))
                error = rpc.to_wire()
        if req.msgid is not None:
            try:
                data = encode_response(req.msgid, error, None if error else result)
            except (TypeError, ValueError, OverflowError) as e:
                log.exception("cannot encode the result of %s", req.method)
                data = encode_response(req.msgid, {"code": int(ErrorCode.INTERNAL_ERROR), "message": f"cannot encode result: {e}"}, None)
            conn.send(data, droppable=False)

    # -- tokens ---------------------------------------------------------------------------------
    async def _authenticate(self, conn: Connection, req: Request) -> None:
        """A hello on a connection that has not given the token: rate-limited server-wide (a
        bucket of `auth_failures_burst` failures refilled at `auth_failures_per_s`); a wrong
        token is answered UNAUTHORIZED and closes the connection."""
        try:
            given = Params("hello", req.params, METHODS["hello"].param_names).values.get("token")
        except RpcError:
            given = None
        assert self._auth_lock is not None
        async with self._auth_lock:
            rate, burst = self.limits.auth_failures_per_s, self.limits.auth_failures_burst
            self._refill(rate, burst)
            if self._auth_tokens < 1.0:
                await asyncio.sleep((1.0 - self._auth_tokens) / rate)
                self._refill(rate, burst)
            ok = isinstance(given, str) and hmac.compare_digest(given.encode(), (self.token or "").encode())
            if not ok:
                self._auth_tokens -= 1.0
                self.auth_failures += 1
        if conn.closing:
            return
        conn.cork()
        try:
            if not ok:
                log.warning("client %d (%s): hello with a wrong token; closing its connection", conn.id, conn.peer)
                self._reply(conn, req, None, RpcError(ErrorCode.UNAUTHORIZED, "hello: wrong token; this connection is closed"))
                conn.uncork()
                conn.hang_up(ErrorCode.UNAUTHORIZED, "wrong token")
                return
            conn.authed = True
            try:
                result = self.hub.dispatch(conn.id, req.method, req.params)
            except Exception as e:
                self._reply(conn, req, None, e)
            else:
                self._reply(conn, req, result, None)
        finally:
            conn.uncork()

    def _refill(self, rate: float, burst: int) -> None:
        now = time.monotonic()
        self._auth_tokens = min(float(burst), self._auth_tokens + (now - self._auth_t) * rate)
        self._auth_t = now

    # -- timeouts -------------------------------------------------------------------------------
    async def _sweeper(self) -> None:
        lim = self.limits
        period = max(0.05, min(lim.handshake_timeout, lim.message_timeout, lim.idle_timeout) / 4)
        while not self._closing:
            await asyncio.sleep(period)
            now = time.monotonic()
            for conn in list(self.conns.values()):
                if conn.kind == "stdio" or conn.closing or conn.busy:
                    continue
                why = None
                if conn.msg_started is not None and conn.decoder.incomplete and now - conn.msg_started > lim.message_timeout:
                    why = f"a message took longer than {lim.message_timeout:g} s to arrive (message_timeout)"
                elif (not conn.got_message or not conn.authed) and now - conn.connected_at > lim.handshake_timeout:
                    why = (f"no {'hello with the token' if not conn.authed else 'message'} within "
                           f"{lim.handshake_timeout:g} s of connecting (handshake_timeout)")
                elif not self._priority(conn) and now - conn.last_message > lim.idle_timeout and conn.decoder.idle:
                    why = f"nothing sent for {lim.idle_timeout:g} s (idle_timeout; ping keeps a connection alive)"
                if why is not None:
                    log.info("client %d (%s): %s; closing its connection", conn.id, conn.peer, why)
                    conn.hang_up(ErrorCode.TIMEOUT, why)

    # -- lifecycle ------------------------------------------------------------------------------
    def request_shutdown(self) -> None:
        if not self._closing:
            self._closing = True  # at once: nothing more is read or dispatched
            asyncio.get_running_loop().create_task(self.shutdown())

    async def shutdown(self) -> None:
        """Stop accepting, let in-flight requests finish and their responses go out, then close."""
        if self._stopped is not None and self._stopped.is_set():
            return
        self._closing = True
        log.info("shutting down")
        for srv in self._listeners:
            srv.close()
        jobs = [c.job for c in self.conns.values() if c.job is not None and c.job is not asyncio.current_task()]
        if jobs:
            await asyncio.wait(jobs, timeout=5.0)
        conns = list(self.conns.values())
        for conn in conns:
            conn.close()
        if conns:
            await asyncio.wait([c.closed for c in conns], timeout=2.0)
        for conn in conns:
            if not conn.closed.done():
                conn.abort()
                self._lost(conn, None)
        for p in self._unix_paths:
            try:
                p.unlink()
            except FileNotFoundError:
                pass
        for t in self._tasks:
            t.cancel()
        if self.probe is not None:
            self.probe.stop()
        close = getattr(self.hub, "close", None)
        if close is not None:
            close()
        if self._stopped is not None:
            self._stopped.set()

    async def wait_stopped(self) -> None:
        self._boot()
        assert self._stopped is not None
        await self._stopped.wait()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.request_shutdown)
            except (NotImplementedError, RuntimeError):
                pass


def in_thread(fn: Callable[[], Any]) -> asyncio.Future[Any]:
    """Run `fn` in a daemon thread; the future resolves on the loop. Daemon, so a server asked
    to stop never waits for a bank still being read (the process exits; the thread with it)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if not fut.done():
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(value)

    def run() -> None:
        try:
            value, error = fn(), None
        except BaseException as e:  # handed to the loop, which reports it to the client
            value, error = None, e
        try:
            loop.call_soon_threadsafe(settle, value, error)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            pass

    threading.Thread(target=run, name="soundtrack-worker", daemon=True).start()
    return fut


# -- addresses ----------------------------------------------------------------------------------


def parse_tcp_address(text: str, *, allow_remote: bool, token: str | None) -> tuple[str, int]:
    """``"127.0.0.1:7700"``, ``"[::1]:7700"``, ``"localhost:0"`` -> (host, port), refusing
    a non-loopback host unless `allow_remote` (and then a token is required)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not host:
        raise SoundtrackError(f"--tcp {text!r} must look like 127.0.0.1:7700 or [::1]:7700")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise SoundtrackError(f"--tcp port {port} must be between 0 and 65535")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not is_loopback(host):
        if not allow_remote:
            raise SoundtrackError(
                f"--tcp host {host!r} is not a loopback address; the server binds to 127.0.0.1 or ::1 only "
                "unless --allow-remote is given (with a token: SOUNDTRACK_TOKEN or --token-file)"
            )
        if not token:
            raise SoundtrackError(f"--tcp host {host!r} with --allow-remote needs a token (SOUNDTRACK_TOKEN or --token-file) so strangers cannot drive it")
    return host, port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _join_host(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _unix_in_use(p: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(p))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _bind_unix_private(p: Path) -> socket.socket:
    """A listening Unix socket at `p` with mode 0600, whatever the umask: bound in a fresh 0700
    folder beside `p` (nobody else can reach it there), chmod-ed, then renamed into place."""
    d = Path(tempfile.mkdtemp(prefix=".soundtrack-", dir=p.parent))
    tmp = d / "s"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(tmp))
        os.chmod(tmp, 0o600)
        os.rename(tmp, p)
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    finally:
        try:
            if tmp.exists():
                tmp.unlink()
            d.rmdir()
        except OSError:
            pass
    return sock
