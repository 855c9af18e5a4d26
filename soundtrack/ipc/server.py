"""The asyncio msgpack-RPC server: TCP, Unix socket or stdio, many clients, one Session.

Each connection has one reader task: it decodes a chunk, dispatches every request in it inline
and writes the responses in one piece to the transport, whose buffer is bounded in bytes (no
task switch or drain per message). A client that stops reading fills only its own buffer: its
notifications are dropped past the limit, and a response that does not fit cuts that client
off; no other client ever waits on it. Unparseable bytes close the connection that sent
them, after an ``error`` notification saying why. See docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import socket
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from soundtrack.errors import SoundtrackError
from soundtrack.ipc.protocol import (
    DEFAULT_LIMITS,
    Decoder,
    ErrorCode,
    HELLO_PARAMS,
    FramingError,
    Limits,
    Params,
    Request,
    RpcError,
    encode_notification,
    encode_response,
    parse_message,
)

log = logging.getLogger("soundtrack.serve")
_READ_CHUNK = 65536


class Connection:
    """One client: writes go straight to its transport, whose buffer is bounded in bytes.

    `transport.write` never blocks (what the kernel will not take waits in the transport's
    buffer), so writing inline costs no task switch per message, and a client that stops
    reading still holds up nobody: `send` checks the buffer against
    ``limits.max_outgoing_bytes`` first. While the reader handles one chunk of requests the
    connection is *corked*: responses are gathered and go out in one write (one syscall for a
    pipelining client's batch).
    """

    def __init__(self, cid: int, writer: asyncio.StreamWriter, peer: str, limits: Limits) -> None:
        self.id = cid
        self.peer = peer
        self.writer = writer
        self.transport = writer.transport
        self.limits = limits
        self.authed = False
        self.reading = False
        self.closing = False
        self.dropped = 0  # notifications dropped because the client was not reading
        self._corked: list[bytes] | None = None
        self._corked_bytes = 0
        self.task: asyncio.Task[Any] | None = None

    def send(self, data: bytes, *, droppable: bool) -> bool:
        """Queue `data`; never blocks. False if it was dropped (or the client was cut off)."""
        if self.closing:
            return False
        queued = self.transport.get_write_buffer_size() + self._corked_bytes
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
            self.transport.write(data)
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
                self.transport.write(out[0] if len(out) == 1 else b"".join(out))
            except (ConnectionError, OSError, RuntimeError):
                self.abort()

    async def close(self, timeout: float = 2.0) -> None:
        """Send what is queued, then close (abort if the client takes longer than `timeout`)."""
        self.uncork()
        self.closing = True
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), timeout=timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            self.abort()
        except (ConnectionError, OSError, RuntimeError):
            pass

    def abort(self) -> None:
        """Close now, dropping what is queued (a client that does not read)."""
        self.closing = True
        self._corked, self._corked_bytes = None, 0
        try:
            self.transport.abort()
        except (AttributeError, RuntimeError):
            pass
        if self.task is not None and self.reading:
            self.task.cancel()


@dataclass
class Deferred:
    """A handler result whose slow part (`work`, file I/O) runs in a thread, then `finish` on the loop."""

    work: Callable[[], Any]
    finish: Callable[[Any], Any]


class Server:
    """Serves one `session` to any number of connections.

    `session` must provide ``connect(cid, send)``, ``disconnect(cid)`` and
    ``dispatch(cid, method, params) -> result | Deferred`` (raising RpcError), and may call
    ``server.request_shutdown()``. `token`, when set, must be given in ``hello`` before
    anything else.
    """

    def __init__(self, session: Any, *, limits: Limits = DEFAULT_LIMITS, token: str | None = None) -> None:
        self.session = session
        self.limits = limits
        self.token = token
        self.conns: dict[int, Connection] = {}
        self._next_id = 1
        self._listeners: list[asyncio.AbstractServer] = []
        self._unix_paths: list[Path] = []
        self._stopped = asyncio.Event()
        self._closing = False
        self.addresses: list[str] = []

    # -- listening ------------------------------------------------------------------------------
    async def listen_tcp(self, host: str, port: int) -> tuple[str, int]:
        srv = await asyncio.start_server(self._on_stream, host, port, limit=_READ_CHUNK, reuse_address=True)
        self._listeners.append(srv)
        sock_host, sock_port = srv.sockets[0].getsockname()[:2]
        for s in srv.sockets:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.addresses.append(f"tcp {_join_host(sock_host, sock_port)}")
        return sock_host, sock_port

    async def listen_unix(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        if p.exists() or p.is_symlink():
            if not stat.S_ISSOCK(p.lstat().st_mode):
                raise SoundtrackError(f"--unix {p}: exists and is not a socket; choose another path")
            if _unix_in_use(p):
                raise SoundtrackError(f"--unix {p}: another server is listening there")
            p.unlink()  # a stale socket left by a killed server
        srv = await asyncio.start_unix_server(self._on_stream, str(p), limit=_READ_CHUNK)
        self._listeners.append(srv)
        self._unix_paths.append(p)
        self.addresses.append(f"unix {p}")
        return p

    async def serve_stdio(self) -> None:
        """Serve one client over stdin/stdout; stdout carries only protocol bytes."""
        loop = asyncio.get_running_loop()
        # Keep fd 1 for the protocol and point the process's stdout at stderr, so a stray print
        # from any library cannot corrupt the framing.
        out_fd = os.dup(1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        reader = asyncio.StreamReader(limit=_READ_CHUNK)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", buffering=0, closefd=False))
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(out_fd, "wb", buffering=0)
        )
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        self.addresses.append("stdio")
        await self._on_stream(reader, writer, peer="stdio")
        self.request_shutdown()

    async def _on_stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str | None = None) -> None:
        if self._closing:
            writer.close()
            return
        if peer is None:
            name = writer.get_extra_info("peername")
            peer = _join_host(*name[:2]) if isinstance(name, tuple) else "unix"
            sock = writer.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cid = self._next_id
        self._next_id += 1
        conn = Connection(cid, writer, peer, self.limits)
        conn.authed = self.token is None
        conn.task = asyncio.current_task()
        self.conns[cid] = conn
        self.session.connect(cid, conn.send)
        log.info("client %d connected (%s)", cid, peer)
        decoder = Decoder(self.limits)
        try:
            while not self._closing and not conn.closing:
                conn.reading = True
                try:
                    data = await reader.read(_READ_CHUNK)
                finally:
                    conn.reading = False
                if not data:
                    break
                conn.cork()
                try:
                    for obj in decoder.feed(data):
                        deferred = self._handle(conn, obj)
                        if deferred is not None:
                            conn.uncork()
                            await self._finish(conn, *deferred)
                            conn.cork()
                        if self._closing or conn.closing:
                            break
                except FramingError as e:
                    log.info("client %d (%s): %s; closing its connection", cid, peer, e)
                    conn.send(encode_notification("error", [{"code": int(e.code), "message": str(e)}]), droppable=False)
                    break
                finally:
                    conn.uncork()
        except asyncio.CancelledError:
            pass
        except (ConnectionError, OSError) as e:
            log.info("client %d (%s): %s", cid, peer, e)
        finally:
            self.session.disconnect(cid)
            del self.conns[cid]
            await conn.close()
            log.info("client %d disconnected%s", cid, f" ({conn.dropped} notifications dropped)" if conn.dropped else "")

    def _handle(self, conn: Connection, obj: Any) -> tuple[Request, Deferred] | None:
        """Answer one decoded message; runs inline on the loop (no await on the common path).

        Returns (request, Deferred) when the method's slow part must run in a thread first:
        the caller awaits `_finish`, so one connection's requests still run in order."""
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
        try:
            if not conn.authed:
                self._authenticate(conn, req.method, req.params)
            result = self.session.dispatch(conn.id, req.method, req.params)
        except Exception as e:  # _reply sorts the client's mistakes from the server's bugs
            self._reply(conn, req, None, e)
            return None
        if isinstance(result, Deferred):
            return req, result
        self._reply(conn, req, result, None)
        return None

    async def _finish(self, conn: Connection, req: Request, deferred: Deferred) -> None:
        try:
            value = await asyncio.to_thread(deferred.work)
            result = deferred.finish(value)
        except Exception as e:
            self._reply(conn, req, None, e)
            return
        self._reply(conn, req, result, None)

    def _reply(self, conn: Connection, req: Request, result: Any, exc: Exception | None) -> None:
        error: dict[str, Any] | None = None
        if isinstance(exc, RpcError):
            error = exc.to_wire()
        elif isinstance(exc, SoundtrackError):
            error = {"code": int(ErrorCode.REJECTED), "message": str(exc)}
        elif exc is not None:  # a bug must not take the server (or other clients) down
            log.error("internal error in %s from client %d", req.method, conn.id, exc_info=exc)
            error = {"code": int(ErrorCode.INTERNAL_ERROR), "message": f"internal error in {req.method}: {type(exc).__name__}: {exc}"}
        if req.msgid is not None:
            try:
                data = encode_response(req.msgid, error, None if error else result)
            except (TypeError, ValueError, OverflowError) as e:
                log.exception("cannot encode the result of %s", req.method)
                data = encode_response(req.msgid, {"code": int(ErrorCode.INTERNAL_ERROR), "message": f"cannot encode result: {e}"}, None)
            conn.send(data, droppable=False)

    def _authenticate(self, conn: Connection, method: str, params: list[Any]) -> None:
        given = None
        if method == "hello":
            try:  # named or positional, as hello itself reads it
                given = Params("hello", params, HELLO_PARAMS).values.get("token")
            except RpcError:
                given = None
        if not isinstance(given, str) or not _same(given, self.token or ""):
            raise RpcError(ErrorCode.UNAUTHORIZED, "this server needs hello({token: ...}) with the right token first")
        conn.authed = True

    # -- lifecycle ------------------------------------------------------------------------------
    def request_shutdown(self) -> None:
        if not self._closing:
            asyncio.get_running_loop().create_task(self.shutdown())

    async def shutdown(self) -> None:
        """Stop accepting, let in-flight requests finish and their responses go out, then close."""
        if self._closing:
            return
        self._closing = True
        log.info("shutting down")
        for srv in self._listeners:
            srv.close()
        for conn in list(self.conns.values()):
            if conn.reading and conn.task is not None:
                conn.task.cancel()  # idle readers; a task inside a handler finishes its request
        tasks = [c.task for c in self.conns.values() if c.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        for p in self._unix_paths:
            try:
                p.unlink()
            except FileNotFoundError:
                pass
        close = getattr(self.session, "close", None)
        if close is not None:
            close()
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.request_shutdown)
            except (NotImplementedError, RuntimeError):
                pass


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
                "unless --allow-remote is given (with --token)"
            )
        if not token:
            raise SoundtrackError(f"--tcp host {host!r} with --allow-remote needs --token SECRET so strangers cannot drive it")
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


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())
