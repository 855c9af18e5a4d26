"""One playing session shared by many clients: who controls it, and each method's semantics.

Control: a client becomes the *controller* by sending ``hello`` with role "controller", or by
calling a control method (load, start, event, set_param, render, stop, shutdown) while nobody
controls the session. Every other client is a *monitor*: it may call hello, status, subscribe,
unsubscribe and ping, and gets NOT_CONTROLLER for control methods. When the controller
disconnects, control is free again and the session keeps its state (a game that reconnects
carries on where it was).

Clock: in pull mode the session's clock is the number of frames the controller has pulled with
`render`; in device mode it is the number of frames rendered into the device queue. Every
response that schedules something carries the output frame and bar:beat where it will sound.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from soundtrack import __version__
from soundtrack.errors import SoundtrackError
from soundtrack.ipc.protocol import (
    DEFAULT_LIMITS,
    PROTOCOL_VERSION,
    ErrorCode,
    Limits,
    Params,
    RpcError,
    encode_notification,
)
from soundtrack.ipc.server import Deferred
from soundtrack.sequencer import MARKER_KINDS
from soundtrack.timing import MAX_BPM, MIN_BPM, parse_duration

log = logging.getLogger("soundtrack.serve")

NOTIFY_KINDS = MARKER_KINDS
FORMATS = ("f32", "s16")
CONTROL_METHODS = ("load", "start", "event", "set_param", "render", "stop", "shutdown")
MONITOR_METHODS = ("hello", "status", "subscribe", "unsubscribe", "ping")
METHODS = MONITOR_METHODS + CONTROL_METHODS


@dataclass
class Source:
    """What `load` plays: a graph and the StemSource (a Bank) built from it."""

    graph: Any
    bank: Any
    path: str


@dataclass
class _Client:
    send: Callable[..., bool]
    subscriptions: set[str] = field(default_factory=set)


class Session:
    """Dispatches RPC methods onto one Sequencer. All methods run on the server's event loop.

    `source` is what ``load`` without a path plays; `open_source(path)` opens another one
    (runs in a worker thread). `make_sequencer(source, seed)` builds a fresh Sequencer.
    `output` is "pull" or a `DeviceOutput` that renders from the sequencer itself.
    """

    def __init__(
        self,
        source: Source,
        *,
        make_sequencer: Callable[[Source, int], Any],
        open_source: Callable[[str], Source] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        output: Any = "pull",
        on_shutdown: Callable[[], None] | None = None,
    ) -> None:
        self.source = source
        self.make_sequencer = make_sequencer
        self.open_source = open_source
        self.limits = limits
        self.output = output
        self.on_shutdown = on_shutdown
        self.clients: dict[int, _Client] = {}
        self.controller: int | None = None
        self.seq: Any = None
        self.seed = 0
        self.started = False
        self._loading = False
        self._plans: list[Any] = []  # accepted transition plans, for `status().pending`
        if output != "pull":
            output.attach(self)

    # -- server hooks ---------------------------------------------------------------------------
    def connect(self, cid: int, send: Callable[..., bool]) -> None:
        self.clients[cid] = _Client(send)

    def disconnect(self, cid: int) -> None:
        self.clients.pop(cid, None)
        if self.controller == cid:
            self.controller = None
            log.info("client %d released control", cid)

    def close(self) -> None:
        if self.output != "pull":
            self.output.close()

    def dispatch(self, cid: int, method: str, params: list[Any]) -> Any:
        handler = getattr(self, f"_m_{method}", None) if method in METHODS else None
        if handler is None:
            raise RpcError(ErrorCode.METHOD_NOT_FOUND, f"method {method!r} is unknown; valid: {', '.join(METHODS)}")
        if method in CONTROL_METHODS:
            self._claim(cid, method)
        return handler(cid, params)

    def _claim(self, cid: int, method: str) -> None:
        if self.controller is None:
            self.controller = cid
            log.info("client %d took control (%s)", cid, method)
        elif self.controller != cid:
            raise RpcError(
                ErrorCode.NOT_CONTROLLER,
                f"{method}: client {self.controller} controls this session; monitors may call "
                f"{', '.join(MONITOR_METHODS)}",
            )

    # -- facts ----------------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return int(self.source.graph.sample_rate)

    @property
    def channels(self) -> int:
        return 2

    def _graph_info(self) -> dict[str, Any]:
        g = self.source.graph
        return {
            "graph": g.name,
            "source": self.source.path,
            "states": list(g.states),
            "start_state": g.start,
            "events": sorted(g.events()),
            "stingers": list(g.stingers),
            "params": {
                name: {"default": p.default, "min": p.minimum, "max": p.maximum} for name, p in g.params.items()
            },
        }

    def _require_started(self, method: str) -> Any:
        if self.seq is None:
            raise RpcError(ErrorCode.NOT_LOADED, f"{method}: nothing loaded; call load first")
        if not self.started:
            raise RpcError(ErrorCode.NOT_LOADED, f"{method}: not started; call start first")
        return self.seq

    def now(self) -> dict[str, Any]:
        """The current frame and its bar:beat on the playing state's grid."""
        if self.seq is None:
            return {}
        return with_bar_beat({"frame": int(self.seq.frame), "position": self.seq.position if self.started else ""})

    # -- monitor methods ------------------------------------------------------------------------
    def _m_hello(self, cid: int, params: list[Any]) -> dict[str, Any]:
        p = Params("hello", params, ("role", "version", "client", "token"))
        role = p.str("role", required=False, choices=("controller", "monitor"), default="monitor")
        version = p.int("version", required=False, lo=1, hi=1 << 16, default=PROTOCOL_VERSION)
        p.str("client", required=False)
        if version != PROTOCOL_VERSION:
            raise RpcError(ErrorCode.OUT_OF_RANGE, f"hello: version={version}; this server speaks protocol {PROTOCOL_VERSION}")
        if role == "controller":
            self._claim(cid, "hello(role=controller)")
        return {
            "protocol": PROTOCOL_VERSION,
            "server": f"soundtrack {__version__}",
            "client_id": cid,
            "role": "controller" if self.controller == cid else "monitor",
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "formats": list(FORMATS),
            "min_block_frames": 1,
            "max_block_frames": self.limits.max_block_frames,
            "max_message_bytes": self.limits.max_message_bytes,
            "output": "pull" if self.output == "pull" else "device",
            "loaded": self.seq is not None,
            "started": self.started,
            "methods": list(METHODS),
            "notifications": list(NOTIFY_KINDS),
            **self._graph_info(),
        }

    def _m_ping(self, cid: int, params: list[Any]) -> Any:
        p = Params("ping", params, ("payload",))
        return p.values.get("payload")

    def _m_status(self, cid: int, params: list[Any]) -> dict[str, Any]:
        Params("status", params, ())
        out: dict[str, Any] = {
            "loaded": self.seq is not None,
            "started": self.started,
            "controller": self.controller,
            "clients": len(self.clients),
            "output": "pull" if self.output == "pull" else "device",
            "graph": self.source.graph.name,
            "sample_rate": self.sample_rate,
        }
        if self.seq is not None:
            frame = int(self.seq.frame)
            out.update(self.now())
            out["state"] = self.seq.state if self.started else None
            out["seed"] = self.seed
            out.update(self._tempo_info())
            self._plans = [x for x in self._plans if max(x.edit_frame, x.main_frame) > frame]
            out["pending"] = [plan_to_wire(x) for x in self._plans]
            out["params"] = {k: float(v) for k, v in self.seq.params().items()}
            out["stopping"] = self.seq.silent_from is not None
        if self.output != "pull":
            out.update(self.output.status())
        return out

    def _m_subscribe(self, cid: int, params: list[Any]) -> dict[str, Any]:
        p = Params("subscribe", params, ("kinds",))
        kinds = p.str_list("kinds", choices=NOTIFY_KINDS) or list(NOTIFY_KINDS)
        sub = self.clients[cid].subscriptions
        sub.update(kinds)
        return {"subscribed": [k for k in NOTIFY_KINDS if k in sub]}

    def _m_unsubscribe(self, cid: int, params: list[Any]) -> dict[str, Any]:
        p = Params("unsubscribe", params, ("kinds",))
        kinds = p.str_list("kinds", choices=NOTIFY_KINDS) or list(NOTIFY_KINDS)
        sub = self.clients[cid].subscriptions
        sub.difference_update(kinds)
        return {"subscribed": [k for k in NOTIFY_KINDS if k in sub]}

    # -- control methods ------------------------------------------------------------------------
    def _m_load(self, cid: int, params: list[Any]) -> Any:
        p = Params("load", params, ("path", "seed"))
        path = p.str("path", required=False)
        seed = p.int("seed", required=False, lo=0, hi=2**63 - 1, default=int(self.source.graph.seed))
        if self._loading:
            raise RpcError(ErrorCode.BUSY, "load: another load is still running")

        def finish(source: Source) -> dict[str, Any]:
            self._loading = False
            if source.graph.sample_rate != self.source.graph.sample_rate and self.output != "pull":
                raise RpcError(ErrorCode.OUT_OF_RANGE, "load: a device session cannot change sample rate")
            self.source = source
            if self.output != "pull":
                self.output.pause()
            self.seq = self.make_sequencer(source, seed)
            self.seed = seed
            self.started = False
            self._plans = []
            return {"loaded": True, "seed": seed, "sample_rate": self.sample_rate, "channels": self.channels, **self._graph_info()}

        if path is None or path == self.source.path:
            return finish(self.source)
        if self.open_source is None:
            raise RpcError(ErrorCode.REJECTED, f"load: this server plays {self.source.path} only")
        self._loading = True

        def work() -> Source:
            try:
                return self.open_source(path)  # type: ignore[misc]
            except BaseException:
                self._loading = False
                raise

        return Deferred(work, finish)

    def _m_start(self, cid: int, params: list[Any]) -> dict[str, Any]:
        p = Params("start", params, ("state",))
        g = self.source.graph
        state = p.str("state", required=False, choices=tuple(g.states), default=g.start)
        if self.seq is None:
            raise RpcError(ErrorCode.NOT_LOADED, "start: nothing loaded; call load first")
        if self.started:
            raise RpcError(ErrorCode.REJECTED, "start: already started; call load to begin again")
        plan = self.seq.start(state)
        self.started = True
        if self.output != "pull":
            self.output.resume()
        return {"state": state, "frame": int(plan.edit_frame), **with_bar_beat({"position": plan.position}),
                "main_frame": int(plan.main_frame), **self._tempo_info()}

    def _m_event(self, cid: int, params: list[Any]) -> dict[str, Any]:
        p = Params("event", params, ("event", "at_frame"))
        seq = self._require_started("event")
        event = p.str("event")
        now = int(seq.frame)
        at = p.int("at_frame", required=False, lo=now, hi=now + 3600 * self.sample_rate)
        if seq.silent_from is not None:
            raise RpcError(ErrorCode.REJECTED, f"event: the session is stopping at frame {seq.silent_from}")
        plan = seq.post(event, at_frame=at)
        if getattr(plan, "accepted", False) and hasattr(plan, "commit_frame"):
            t = plan.posted_frame
            # Drop plans that have finished as well as those this one replaces: a game that never
            # calls status must not make every event slower than the last.
            self._plans = [x for x in self._plans if t >= x.commit_frame and max(x.edit_frame, x.main_frame) > now] + [plan]
        return {"event": event, **plan_to_wire(plan)}

    def _m_set_param(self, cid: int, params: list[Any]) -> dict[str, Any]:
        p = Params("set_param", params, ("name", "value", "ramp"))
        seq = self._require_started("set_param")
        g = self.source.graph
        tempo_too = () if "tempo" in g.params else ("tempo",)  # set_param("tempo", bpm) follows a tempo
        name = p.str("name", choices=tuple(g.params) + tempo_too)
        lo, hi = (g.params[name].minimum, g.params[name].maximum) if name in g.params else (MIN_BPM, MAX_BPM)
        value = p.number("value", lo=lo, hi=hi)
        ramp = p.duration("ramp")
        change = seq.set_param(name, float(value), ramp=ramp)
        out = plan_to_wire(change)
        if "ramp_frames" in out:
            out["end_frame"] = out["frame"] + out["ramp_frames"]
        return {"name": name, **out}

    def _m_render(self, cid: int, params: list[Any]) -> dict[str, Any]:
        p = Params("render", params, ("frames", "format"))
        if self.output != "pull":
            raise RpcError(ErrorCode.WRONG_MODE, "render: the server plays to the sound card (--output device); pull is off")
        frames = p.int("frames", lo=1, hi=self.limits.max_block_frames)
        fmt = p.str("format", required=False, choices=FORMATS, default="f32")
        seq = self._require_started("render")
        start = int(seq.frame)
        audio, markers = self.render_block(frames)
        # msgpack packs a contiguous buffer as bin without a .tobytes() copy first
        pcm = memoryview(np.ascontiguousarray(audio, dtype="<f4") if fmt == "f32" else to_s16(audio))
        return {
            "frame": start,
            "frames": frames,
            "channels": int(audio.shape[1]),
            "format": fmt,
            "pcm": pcm,
            "markers": markers,
        }

    def render_block(self, frames: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Render `frames` from the sequencer and notify subscribers of the markers inside them."""
        audio = self.seq.render(frames)
        markers = [marker_to_wire(m) for m in self.seq.pop_markers()]
        for m in markers:
            self._notify(m["kind"], m)
        return audio, markers

    def _m_stop(self, cid: int, params: list[Any]) -> dict[str, Any]:
        p = Params("stop", params, ("fade",))
        seq = self._require_started("stop")
        fade = p.duration("fade")
        if seq.silent_from is not None:
            raise RpcError(ErrorCode.REJECTED, f"stop: already stopping at frame {seq.silent_from}")
        # The sequencer fades its output out from the next bar, per sample, then plays silence.
        # Beats and bars are those of the music playing at that bar (a tempo variant's, an
        # outro's), not the state's base tempo.
        begin = int(seq.next_bar_frame())
        grid = seq.beat_grid_at(begin)
        try:
            n = parse_duration("1 bars" if fade is None else fade).to_frames(grid)
        except SoundtrackError as e:
            raise RpcError(ErrorCode.OUT_OF_RANGE, f"stop: fade={fade!r}: {e}") from None
        n = seq.fade_out(n, at_frame=begin)
        return {"frame": begin, "end_frame": begin + n, "fade_frames": n}

    def _m_shutdown(self, cid: int, params: list[Any]) -> dict[str, Any]:
        Params("shutdown", params, ())
        if self.on_shutdown is not None:
            self.on_shutdown()
        return {"shutting_down": True}

    # -- helpers --------------------------------------------------------------------------------
    def _notify(self, kind: str, payload: dict[str, Any]) -> None:
        data = None
        for c in self.clients.values():
            if kind in c.subscriptions:
                if data is None:
                    data = encode_notification(kind, [payload])
                c.send(data, droppable=True)

    def _tempo_info(self) -> dict[str, Any]:
        if self.seq is None or not self.started or self.seq.state is None:
            return {}
        grid = self.seq.beat_grid_at()  # what plays now: a tempo variant's grid, an intro's, ...
        if grid is None:
            return {}
        return {"tempo": float(grid.bpm), "tempo_exact": str(Fraction(grid.bpm)), "meter": str(grid.meter)}


# -- wire forms of the sequencer's objects ------------------------------------------------------


_PLAIN = (bool, int, float, str, bytes, type(None))
_FIELDS: dict[type, tuple[str, ...]] = {}  # dataclass type -> its field names (fields() is slow)


def _field_names(v: Any) -> tuple[str, ...]:
    names = _FIELDS.get(type(v))
    if names is None:
        names = _FIELDS[type(v)] = tuple(f.name for f in dataclasses.fields(v))
    return names


def _wire_value(v: Any) -> Any:
    t = type(v)
    if t in _PLAIN:  # the common case first: an `event` result is a dozen of these
        return v
    if t in _FIELDS or dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {name: _wire_value(getattr(v, name)) for name in _field_names(v)}
    if isinstance(v, enum.Enum):
        return _wire_value(v.value)
    if isinstance(v, (bool, int, float, str, bytes)):
        return v
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, Fraction)):
        return float(v)
    if isinstance(v, (list, tuple)):
        return [_wire_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _wire_value(x) for k, x in v.items()}
    return str(v)


def with_bar_beat(d: dict[str, Any]) -> dict[str, Any]:
    """Add integer `bar` and `beat` when `position` is a plain "BAR:BEAT" (not a pickup)."""
    pos = d.get("position")
    if isinstance(pos, str) and ":" in pos:
        bar, _, beat = pos.partition(":")
        if bar.isdigit() and beat.isdigit():
            d["bar"], d["beat"] = int(bar), int(beat)
    return d


def marker_to_wire(m: Any) -> dict[str, Any]:
    """A sequencer Marker as a notification payload: kind, frame, position, state + its details."""
    d = {"kind": m.kind, "frame": int(m.frame), "position": m.position, "state": m.state}
    for k, v in m.detail.items():
        d.setdefault(str(k), _wire_value(v))
    return with_bar_beat(d)


def plan_to_wire(plan: Any) -> dict[str, Any]:
    """A TransitionPlan / StingerPlan / ParamChange / TempoChange as a result map."""
    if dataclasses.is_dataclass(plan):  # target_grid is for the sequencer, not the wire
        d = {name: _wire_value(getattr(plan, name)) for name in _field_names(plan) if name != "target_grid"}
    else:
        d = _wire_value(plan)
        d.pop("target_grid", None)
    if "source" in d and "target" in d:
        d["from"], d["to"] = d["source"], d["target"]
    return with_bar_beat(d)


def to_s16(audio: np.ndarray) -> np.ndarray:
    """float32 [-1, 1] -> little-endian int16, rounded and clipped (no wrap-around)."""
    return np.clip(np.rint(audio * 32767.0), -32768, 32767).astype("<i2")
