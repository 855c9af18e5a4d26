"""What a server serves: its clients, who controls it, its music sessions, and each method.

Control: one client at a time is the **controller**; it may call every method on every session.
A client gets control with ``hello(role="controller")`` when nobody has it, or with ``take=true``
from whoever has it (that client is told with a ``control`` notification and becomes a monitor);
a client that has not said hello gets it by calling a control method while nobody has it. A
client that said ``hello(role="monitor")`` never gets control by calling a control method, so a
monitor cannot slip into the game's place when the game drops; the reconnecting game says
hello as the controller again (with `take` if something else took it meanwhile).

Readiness: `serve` listens at once and prepares (and if need be builds) the bank in a worker;
until `set_ready`, control methods answer NOT_READY with the build's progress, which `status`
and the ``build`` notification report.

Every method is declared in `soundtrack.ipc.schema`; its parameter order comes from there.
Nothing here reads a file: paths given to `load` are resolved and opened in a worker thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from soundtrack import __version__
from soundtrack.errors import RpcError
from soundtrack.ipc.protocol import (
    DEFAULT_LIMITS,
    PROTOCOL_VERSION,
    Deferred,
    ErrorCode,
    Limits,
    Params,
    _text,
    as_rpc_error,
    encode_notification,
)
from soundtrack.ipc.schema import METHODS, METHODS_LIST, MONITOR_METHODS, SUBSCRIBABLE
from soundtrack.ipc.session import FORMATS, Session, Source

log = logging.getLogger("soundtrack.serve")

_NOT_BEFORE_READY_OK = ("shutdown", "close_session")
_WAIT_WHILE_PREPARING = ("load", "open_session")  # they wait (in a worker) for a built bank's decoding


@dataclass
class _Client:
    send: Callable[..., bool]
    kind: str  # "tcp", "unix", "stdio" or "local" (in-process)
    subscriptions: set[str] = field(default_factory=set)
    declared: str | None = None  # the role asked for in hello


class Hub:
    """Dispatches RPC methods (see the module docstring). All methods run on the event loop.

    `source`: what session 0 and ``load`` without a path play (prepared, or being prepared when
    `ready` is False). `make_sequencer(source, seed)` builds a fresh Sequencer (called in a
    worker thread). `open_source(path)` opens another source (in a worker thread) for
    ``load(path)``, which is allowed only inside the folders `allow_load`. `output`: "pull" or a
    DeviceOutput for session 0. ``shutdown`` is allowed to a stdio parent, when `allow_shutdown`,
    or when the server requires a token (`token_required`).
    """

    def __init__(
        self,
        source: Source,
        *,
        make_sequencer: Callable[[Source, int], Any],
        open_source: Callable[[Path], Source] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        output: Any = "pull",
        on_shutdown: Callable[[], None] | None = None,
        ready: bool = True,
        allow_load: Sequence[str | os.PathLike[str]] = (),
        allow_shutdown: bool = False,
        token_required: bool = False,
    ) -> None:
        self.source = source
        self.make_sequencer = make_sequencer
        self.open_source = open_source
        self.limits = limits
        self.output = output
        self.on_shutdown = on_shutdown
        self.allow_load = tuple(Path(os.path.realpath(p)) for p in allow_load)
        self.allow_shutdown = allow_shutdown
        self.token_required = token_required
        self.clients: dict[int, _Client] = {}
        self.controller: int | None = None
        self.sessions: dict[int, Session] = {0: Session(0, source, notify=self._notify, limits=limits, output=output)}
        self._next_session = 1
        self._opening = 0
        self._t0 = time.monotonic()
        self.ready = ready
        self._settled = threading.Event()  # set once the served source is prepared, or failed
        if ready:
            self._settled.set()
        self.build: dict[str, Any] = {"phase": "ready" if ready else "preparing", "total": 0, "done": 0, "reused": 0,
                                      "generated": 0, "elapsed": 0.0, "message": ""}

    @property
    def session(self) -> Session:
        """Session 0."""
        return self.sessions[0]

    # -- server hooks ---------------------------------------------------------------------------
    def connect(self, cid: int, send: Callable[..., bool], kind: str = "local") -> None:
        self.clients[cid] = _Client(send, kind)

    def disconnect(self, cid: int) -> None:
        self.clients.pop(cid, None)
        if self.controller == cid:
            self.controller = None
            log.info("client %d released control (disconnected)", cid)
            self._notify("control", {"controller": None, "previous": cid, "reason": "disconnected"})

    def is_controller(self, cid: int) -> bool:
        return self.controller == cid

    def close(self) -> None:
        for s in self.sessions.values():
            s.close()

    def dispatch(self, cid: int, method: str, params: list[Any]) -> Any:
        spec = METHODS.get(method)
        if spec is None:
            raise RpcError(ErrorCode.METHOD_NOT_FOUND, f"method {_text(method)} is unknown; valid: {', '.join(METHODS)}")
        p = Params(method, params, spec.param_names)
        if spec.role == "control":
            self._claim(cid, method)
            if not self.ready and method not in _NOT_BEFORE_READY_OK and not (
                    method in _WAIT_WHILE_PREPARING and self.build["phase"] == "preparing"):
                raise RpcError(ErrorCode.NOT_READY, self._not_ready_text(method), dict(self.build))
        session = None
        if spec.per_session:
            sid = p.int("session", required=False, lo=0, hi=2**31 - 1, default=0)
            session = self.sessions.get(sid)
            if session is None:
                raise RpcError(ErrorCode.OUT_OF_RANGE, f"{method}: session={sid} is not open; open: {', '.join(map(str, self.sessions))}")
        handler = getattr(self, f"_m_{method}", None)
        if handler is not None:
            return handler(cid, p, session)
        return getattr(session, method)(p)  # a session's own method (start, event, render, ...)

    def call(self, cid: int, method: str, params: list[Any]) -> Any:
        """`dispatch`, with a Deferred's work run here and now (in-process use and tests; the
        server runs it in a worker thread instead), and engine errors raised as the RpcError the
        server would answer with."""
        try:
            result = self.dispatch(cid, method, params)
            if not isinstance(result, Deferred):
                return result
            try:
                return result.finish(result.work())
            finally:
                if result.cleanup is not None:
                    result.cleanup()
        except Exception as e:  # what the server would answer: RpcError with its code
            rpc = as_rpc_error(method, e)
            if rpc is None or rpc is e:
                raise
            raise rpc from e

    # -- control --------------------------------------------------------------------------------
    def _claim(self, cid: int, method: str) -> None:
        if self.controller == cid:
            return
        if self.controller is None and self.clients[cid].declared != "monitor":
            self._grant(cid, method)
            return
        if self.controller is None:
            raise RpcError(ErrorCode.NOT_CONTROLLER,
                           f"{method}: this client said hello as a monitor; hello(role=\"controller\") takes control")
        raise RpcError(ErrorCode.NOT_CONTROLLER,
                       f"{method}: client {self.controller} controls this server; monitors may call "
                       f"{', '.join(MONITOR_METHODS)}; hello(role=\"controller\", take=true) takes control")

    def _grant(self, cid: int, why: str) -> None:
        previous, self.controller = self.controller, cid
        log.info("client %d took control (%s)%s", cid, why, f" from client {previous}" if previous is not None else "")
        if previous is not None:
            payload = {"controller": cid, "previous": previous, "reason": "taken"}
            prev = self.clients.get(previous)
            self._notify("control", payload)
            if prev is not None and "control" not in prev.subscriptions:
                prev.send(encode_notification("control", [payload]), droppable=True)

    def _not_ready_text(self, method: str) -> str:
        b = self.build
        if b["phase"] == "failed":
            return f"{method}: the bank could not be prepared: {b['message']}"
        if b["phase"] == "building":
            return f"{method}: not ready: building the bank, {b['done']} of {b['total']} stems done; status() and the build notification tell when it is ready"
        return f"{method}: not ready: reading the bank; status() and the build notification tell when it is ready"

    # -- readiness (called on the loop by `serve`'s worker) -------------------------------------------
    def set_build(self, **progress: Any) -> None:
        self.build.update(progress)
        self.build["elapsed"] = round(time.monotonic() - self._t0, 3)
        self._notify("build", dict(self.build))

    def set_ready(self, source: Source | None, error: str = "") -> None:
        """The served source is prepared (or, with `error`, failed)."""
        if source is not None:
            self.source = source
            for s in self.sessions.values():
                if s.seq is None:
                    s.source = source
            self.ready = True
            self.set_build(phase="ready", message="")
        else:
            self.set_build(phase="failed", message=error)
        self._settled.set()

    # -- facts ----------------------------------------------------------------------------------
    def _graph_info(self, source: Source) -> dict[str, Any]:
        g = source.graph
        return {
            "graph": g.name,
            "source": source.name,
            "states": list(g.states),
            "start_state": g.start,
            "events": sorted(g.events()),
            "stingers": list(g.stingers),
            "params": {name: {"default": float(p.default), "min": float(p.minimum), "max": float(p.maximum)}
                       for name, p in g.params.items()},
        }

    # -- monitor methods ------------------------------------------------------------------------
    def _m_hello(self, cid: int, p: Params, _s: Any) -> dict[str, Any]:
        role = p.str("role", required=False, choices=("controller", "monitor"), default="monitor")
        version = p.int("version", required=False, lo=1, hi=1 << 16, default=PROTOCOL_VERSION)
        p.str("client", required=False, max_len=256)
        p.str("token", required=False, max_len=4096)  # checked by the server before dispatch
        take = p.bool("take")
        if version != PROTOCOL_VERSION:
            raise RpcError(ErrorCode.OUT_OF_RANGE, f"hello: version={version}; this server speaks protocol {PROTOCOL_VERSION}")
        c = self.clients[cid]
        if role == "controller":
            if self.controller not in (None, cid) and not take:
                raise RpcError(ErrorCode.NOT_CONTROLLER,
                               f"hello: client {self.controller} controls this server; hello(role=\"controller\", take=true) takes control")
            c.declared = "controller"
            if self.controller != cid:
                self._grant(cid, "hello")
        else:
            c.declared = "monitor"
            if self.controller == cid:
                self.controller = None
                self._notify("control", {"controller": None, "previous": cid, "reason": "released"})
        s0 = self.session
        return {
            "protocol": PROTOCOL_VERSION,
            "server": f"soundtrack {__version__}",
            "client_id": cid,
            "role": "controller" if self.controller == cid else "monitor",
            "controller": self.controller,
            "sample_rate": s0.sample_rate,
            "channels": s0.channels,
            "formats": list(FORMATS),
            "min_block_frames": 1,
            "max_block_frames": self.limits.max_block_frames,
            "max_message_bytes": self.limits.max_message_bytes,
            "output": "pull" if self.output == "pull" else "device",
            "ready": self.ready,
            "build": dict(self.build),
            "loaded": s0.seq is not None,
            "started": s0.started,
            "methods": [m.name for m in METHODS_LIST],
            "notifications": list(SUBSCRIBABLE),
            "limits": {name: value for name, value, _unit, _doc in self.limits.table()},
            **self._graph_info(s0.source),
        }

    def _m_ping(self, cid: int, p: Params, _s: Any) -> Any:
        return p.values.get("payload")

    def _m_status(self, cid: int, p: Params, s: Session) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "build": dict(self.build),
            "controller": self.controller,
            "clients": len(self.clients),
            "graph": s.source.graph.name,
            "sample_rate": s.sample_rate,
            "sessions": list(self.sessions),
            **s.status(),
        }

    def _m_subscribe(self, cid: int, p: Params, _s: Any) -> dict[str, Any]:
        kinds = p.str_list("kinds", choices=SUBSCRIBABLE) or list(SUBSCRIBABLE)
        sub = self.clients[cid].subscriptions
        sub.update(kinds)
        return {"subscribed": [k for k in SUBSCRIBABLE if k in sub]}

    def _m_unsubscribe(self, cid: int, p: Params, _s: Any) -> dict[str, Any]:
        kinds = p.str_list("kinds", choices=SUBSCRIBABLE) or list(SUBSCRIBABLE)
        sub = self.clients[cid].subscriptions
        sub.difference_update(kinds)
        return {"subscribed": [k for k in SUBSCRIBABLE if k in sub]}

    # -- control methods: loading ---------------------------------------------------------------
    def _m_load(self, cid: int, p: Params, s: Session) -> Deferred:
        path = p.str("path", required=False, max_len=self.limits.max_path_len)
        seed = p.int("seed", required=False, lo=0, hi=2**63 - 1)
        if s.loading:
            raise RpcError(ErrorCode.BUSY, "load: another load of this session is still reading its bank")
        opener = self._opener("load", path)
        s.loading = True

        def work() -> tuple[Source, Any, int]:
            src = opener()
            src.prepare()
            sd = int(src.graph.seed) if seed is None else seed
            return src, self.make_sequencer(src, sd), sd

        def finish(v: tuple[Source, Any, int]) -> dict[str, Any]:
            src, seq, sd = v
            if s.output != "pull" and src.graph.sample_rate != s.source.graph.sample_rate:
                raise RpcError(ErrorCode.REJECTED, "load: a session played to the sound card cannot change sample rate")
            s.install(src, seq, sd)
            return {"loaded": True, "seed": sd, "sample_rate": s.sample_rate, "channels": s.channels, "session": s.id,
                    **self._graph_info(src)}

        def cleanup() -> None:
            s.loading = False

        return Deferred(work, finish, cleanup)

    def _opener(self, method: str, path: str | None) -> Callable[[], Source]:
        """A function (run in a worker thread) that opens what `method(path)` plays. Checked
        here: whether loading other banks is allowed at all; in the worker: where `path` leads."""
        if path is None or path == self.source.path:
            if self.ready:
                src = self.source
                return lambda: src

            def wait() -> Source:  # the served bank is being decoded: answer when it is
                self._settled.wait()
                if not self.ready:
                    raise RpcError(ErrorCode.NOT_READY, self._not_ready_text(method), dict(self.build))
                return self.source

            return wait
        if not self.allow_load or self.open_source is None:
            raise RpcError(ErrorCode.UNAUTHORIZED,
                           f"{method}: this server plays {self.source.name} only; loading other banks over RPC needs "
                           "the server started with --allow-load DIR")
        roots, open_source, given = self.allow_load, self.open_source, _text(path)

        def open_it() -> Source:
            if "\0" in path:
                raise RpcError(ErrorCode.OUT_OF_RANGE, f"{method}: path={given} must not contain NUL")
            p = Path(path)
            real = Path(os.path.realpath(p if p.is_absolute() else roots[0] / p))
            if not any(real == r or real.is_relative_to(r) for r in roots):
                raise RpcError(ErrorCode.UNAUTHORIZED, f"{method}: path={given} is not inside a folder this server may load from")
            try:
                return open_source(real)
            except RpcError:
                raise
            except Exception as e:  # the log says why; the client learns nothing of the file system
                log.warning("%s(%s) from a client failed: %s: %s", method, real, type(e).__name__, e)
                raise RpcError(ErrorCode.REJECTED,
                               f"{method}: path={given} is not a bank, or a graph with a built bank, that this server "
                               "can play; the server's log says why") from None

        return open_it

    def _m_open_session(self, cid: int, p: Params, _s: Any) -> Deferred:
        path = p.str("path", required=False, max_len=self.limits.max_path_len)
        seed = p.int("seed", required=False, lo=0, hi=2**63 - 1)
        if len(self.sessions) + self._opening >= self.limits.max_sessions:
            raise RpcError(ErrorCode.BUSY, f"open_session: {self.limits.max_sessions} sessions are open (max_sessions); close one first")
        opener = self._opener("open_session", path)
        self._opening += 1

        def work() -> tuple[Source, Any, int]:
            src = opener()
            src.prepare()
            sd = int(src.graph.seed) if seed is None else seed
            return src, self.make_sequencer(src, sd), sd

        def finish(v: tuple[Source, Any, int]) -> dict[str, Any]:
            src, seq, sd = v
            sid = self._next_session
            self._next_session += 1
            s = self.sessions[sid] = Session(sid, src, notify=self._notify, limits=self.limits)
            s.install(src, seq, sd)
            return {"session": sid, "loaded": True, "seed": sd, "sample_rate": s.sample_rate, "channels": s.channels,
                    **self._graph_info(src)}

        def cleanup() -> None:
            self._opening -= 1

        return Deferred(work, finish, cleanup)

    def _m_close_session(self, cid: int, p: Params, _s: Any) -> dict[str, Any]:
        sid = p.int("session", lo=0, hi=2**31 - 1)
        if sid == 0 or sid not in self.sessions:
            raise RpcError(ErrorCode.OUT_OF_RANGE, f"close_session: session={sid} is not one open_session opened; open: "
                                                   f"{', '.join(str(k) for k in self.sessions if k) or 'none'}")
        self.sessions.pop(sid).close()
        return {"closed": True, "session": sid}

    def _m_restore(self, cid: int, p: Params, s: Session) -> Deferred:
        snap = p.map("snapshot")
        seed, part = s.check_snapshot(snap)
        if s.loading:
            raise RpcError(ErrorCode.BUSY, "restore: a load of this session is still reading its bank")
        src = s.source
        s.loading = True

        def work() -> Any:
            seq = self.make_sequencer(src, seed)
            if not hasattr(seq, "restore"):
                raise RpcError(ErrorCode.REJECTED, "restore: this engine cannot restore snapshots yet")
            try:
                seq.restore(part)
            except (AttributeError, KeyError, IndexError, TypeError, ValueError, ArithmeticError) as e:  # the snapshot is untrusted input
                raise RpcError(ErrorCode.OUT_OF_RANGE, f"restore: the snapshot does not describe a position of this graph ({type(e).__name__}: {str(e)[:80]})") from None
            return seq

        def cleanup() -> None:
            s.loading = False

        return Deferred(work, lambda seq: s.restored(seq, seed), cleanup)

    def _m_shutdown(self, cid: int, p: Params, _s: Any) -> dict[str, Any]:
        c = self.clients[cid]
        if not (c.kind == "stdio" or self.allow_shutdown or self.token_required):
            raise RpcError(ErrorCode.UNAUTHORIZED,
                           "shutdown: refused; this server stops on SIGTERM, from its stdio parent, or over a socket when "
                           "started with --allow-shutdown or a token")
        if self.on_shutdown is not None:
            self.on_shutdown()
        return {"shutting_down": True}

    # -- notifications --------------------------------------------------------------------------
    def _notify(self, kind: str, payload: dict[str, Any]) -> None:
        data = None
        for c in self.clients.values():
            if kind in c.subscriptions:
                if data is None:
                    data = encode_notification(kind, [payload])
                c.send(data, droppable=True)

