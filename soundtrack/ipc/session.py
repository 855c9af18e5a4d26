"""One music instance of the server: a Sequencer, its output clock, its plans and its methods.

A server has session 0 and may open more (`open_session`); each has its own sequencer, seed,
clock, plans, volume and pause state on a shared, prepared `Source`. All methods run on the
server's event loop and touch no file: the bank was read and decoded when the source was
prepared (`Source.prepare`, in a worker thread).

Clock: the sequencer's `frame` is the music clock (it stands still while paused); the
protocol's frames are output frames (every frame rendered, paused silence included). `offset`
is their difference, and `soundtrack.ipc.wire` adds it to every frame sent. In pull mode the
output clock is the frames the controller has pulled with `render`; in device mode the frames
rendered into the device queue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from soundtrack.errors import RpcError
from soundtrack.ipc import wire
from soundtrack.ipc.protocol import DEFAULT_LIMITS, ErrorCode, Limits, Params
from soundtrack.timing import MAX_BPM, MIN_BPM, Duration

log = logging.getLogger("soundtrack.serve")

FORMATS = ("f32", "s16")
SNAPSHOT_FORMAT = "soundtrack-session"
_ONE_BAR = Duration(Fraction(1), "bars")


@dataclass
class Source:
    """What a session plays: a graph and the StemSource (a Bank) built from it. `name` is what
    clients are told it is (the last component of the path served)."""

    graph: Any
    bank: Any
    path: str
    prepared: bool = False
    name: str = field(default="")

    def __post_init__(self) -> None:
        if not self.name:
            self.name = str(self.path).rstrip("/").rsplit("/", 1)[-1]

    def prepare(self) -> None:
        """Read and decode every stem now (in a worker thread), so no method does it later."""
        if not self.prepared:
            preload = getattr(self.bank, "preload", None)
            if preload is not None:
                preload()
            self.prepared = True


class Session:
    """One music instance (see the module docstring). `notify(kind, payload)` sends a
    notification to the clients subscribed to `kind`; `output` is "pull" or a DeviceOutput."""

    def __init__(self, sid: int, source: Source, *, notify: Callable[[str, dict[str, Any]], None],
                 limits: Limits = DEFAULT_LIMITS, output: Any = "pull") -> None:
        self.id = sid
        self.source = source
        self.notify = notify
        self.limits = limits
        self.output = output
        self.seq: Any = None
        self.seed = 0
        self.started = False
        self.loading = False
        self._plans: list[Any] = []  # accepted transition plans, for `status().pending`
        self._buf = np.zeros((0, 2), np.float32)
        if output != "pull":
            output.attach(self)

    # -- facts ----------------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return int(self.source.graph.sample_rate)

    @property
    def channels(self) -> int:
        return 2 if self.seq is None else int(self.seq.channels)

    @property
    def offset(self) -> int:
        """Output frame minus music frame: the frames spent paused so far."""
        seq = self.seq
        return int(getattr(seq, "output_frame", seq.frame)) - int(seq.frame)

    @property
    def output_frame(self) -> int:
        seq = self.seq
        return int(getattr(seq, "output_frame", seq.frame))

    def _require_loaded(self, method: str) -> Any:
        if self.seq is None:
            raise RpcError(ErrorCode.NOT_LOADED, f"{method}: nothing loaded; call load first")
        return self.seq

    def _require_started(self, method: str) -> Any:
        seq = self._require_loaded(method)
        if not self.started:
            raise RpcError(ErrorCode.NOT_LOADED, f"{method}: not started; call start first")
        return seq

    def _bar_beats(self) -> int:
        grid = self.seq.beat_grid_at(self.seq.earliest_frame) if self.seq is not None and self.started else None
        return int(grid.meter.beats) if grid is not None else 4

    def tempo_info(self, frame: int | None = None) -> dict[str, Any]:
        """tempo, tempo_exact and meter of what plays at music frame `frame` (default: now; a
        tempo take's grid, an intro's, ...); {} before anything is scheduled there."""
        if self.seq is None or not self.started:
            return {}
        grid = self.seq.beat_grid_at(frame)
        if grid is None:
            return {}
        return {"tempo": float(grid.bpm), "tempo_exact": str(Fraction(grid.bpm)), "meter": str(grid.meter)}

    # -- lifecycle ------------------------------------------------------------------------------
    def install(self, source: Source, seq: Any, seed: int) -> None:
        """Start over on `seq` (made, like `source` prepared, in a worker thread)."""
        if self.output != "pull":
            self.output.pause()
        self.source = source
        self.seq = seq
        self.seed = seed
        self.started = False
        self._plans = []

    def close(self) -> None:
        if self.output != "pull":
            self.output.close()

    # -- methods --------------------------------------------------------------------------------
    def start(self, p: Params) -> dict[str, Any]:
        g = self.source.graph
        state = p.str("state", required=False, choices=tuple(g.states), default=g.start)
        seq = self._require_loaded("start")
        if self.started:
            raise RpcError(ErrorCode.REJECTED, "start: already started; call load to begin again")
        off = self.offset
        plan = seq.start(state)
        self.started = True
        if self.output != "pull":
            self.output.resume()
        first = plan.segments[0].entry if plan.segments else plan.main_frame  # bar 1 of what plays first
        return {"state": state, **wire.with_bar_beat({"frame": int(plan.edit_frame) + off, "position": plan.position}),
                "main_frame": int(plan.main_frame) + off, **self.tempo_info(first), "session": self.id}

    def event(self, p: Params) -> dict[str, Any]:
        seq = self._require_started("event")
        g = self.source.graph
        names = tuple(sorted(set(g.events()) | set(g.stingers)))
        event = p.str("event", choices=names, max_len=256)
        now, off = self.output_frame, self.offset
        at = p.int("at_frame", required=False, lo=now, hi=now + self.limits.max_at_frame_seconds * self.sample_rate)
        if seq.silent_from is not None:
            raise RpcError(ErrorCode.REJECTED, f"event: the session is stopping at frame {int(seq.silent_from) + off}")
        result = seq.post(event, at_frame=None if at is None else at - off)
        if not hasattr(result, "commit_frame"):
            return wire.stinger(result, off)
        if result.accepted:
            t, music_now = result.posted_frame, seq.frame
            # Drop plans that have finished as well as those this one replaces: a game that never
            # calls status must not make every event slower than the last.
            self._plans = [x for x in self._plans if t >= x.commit_frame and max(x.edit_frame, x.main_frame) > music_now] + [result]
        return wire.plan(result, off, event)

    def set_param(self, p: Params) -> dict[str, Any]:
        seq = self._require_started("set_param")
        g = self.source.graph
        tempo_too = () if "tempo" in g.params else ("tempo",)  # set_param("tempo", bpm) follows a tempo
        name = p.str("name", choices=tuple(g.params) + tempo_too, max_len=256)
        lo, hi = (g.params[name].minimum, g.params[name].maximum) if name in g.params else (MIN_BPM, MAX_BPM)
        value = p.number("value", lo=lo, hi=hi)
        ramp = p.duration("ramp", limits=self.limits, beats_per_bar=self._bar_beats())
        change = seq.set_param(name, float(value), ramp=ramp)
        if hasattr(change, "ramp_frames"):
            return wire.param_change(change, self.offset)
        return wire.tempo_change(change, self.offset)

    def render(self, p: Params) -> dict[str, Any]:
        if self.output != "pull":
            raise RpcError(ErrorCode.WRONG_MODE, "render: the server plays this session to the sound card (--output device)")
        frames = p.int("frames", lo=1, hi=self.limits.max_block_frames)
        fmt = p.str("format", required=False, choices=FORMATS, default="f32")
        self._require_started("render")
        start = self.output_frame
        audio, markers = self.render_block(frames)
        # msgpack packs a contiguous buffer as bin without a .tobytes() copy first; the response
        # is packed before the next render reuses the buffer
        pcm = memoryview(np.ascontiguousarray(audio, dtype="<f4") if fmt == "f32" else wire.to_s16(audio))  # type: ignore[arg-type]
        return {"frame": start, "frames": frames, "channels": int(audio.shape[1]), "format": fmt, "pcm": pcm,
                "markers": markers}

    def render_block(self, frames: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Render `frames` into the session's reused buffer and notify subscribers of the
        markers inside them (each marker's music frame + the offset at the block's start: a
        pause or resume takes effect between renders, and paused frames hold no markers)."""
        seq = self.seq
        off = self.offset
        ch = seq.channels
        if self._buf.shape[0] < frames or self._buf.shape[1] != ch:
            self._buf = np.zeros((max(frames, 4096), ch), np.float32)
        audio = seq.render(frames, out=self._buf[:frames])
        markers = [wire.marker(m, off, self.id) for m in seq.pop_markers()]
        for m in markers:
            self.notify(m["kind"], m)
        return audio, markers

    def stop(self, p: Params) -> dict[str, Any]:
        seq = self._require_started("stop")
        if seq.silent_from is not None:
            raise RpcError(ErrorCode.REJECTED, f"stop: already stopping at frame {int(seq.silent_from) + self.offset}")
        # The sequencer fades its output out from the next bar, per sample, then plays silence.
        # Beats and bars are those of the music playing at that bar (a tempo variant's, an
        # outro's), not the state's base tempo.
        begin = int(seq.next_bar_frame())
        grid = seq.beat_grid_at(begin)
        fade = p.duration("fade", limits=self.limits, beats_per_bar=int(grid.meter.beats))
        n = (fade if fade is not None else _ONE_BAR).to_frames(grid)
        n = seq.fade_out(n, at_frame=begin)
        off = self.offset
        return {"frame": begin + off, "end_frame": begin + n + off, "fade_frames": n}

    def pause(self, p: Params) -> dict[str, Any]:
        seq = self._require_started("pause")
        fade = p.duration("fade", limits=self.limits, beats_per_bar=self._bar_beats())
        off = self.offset
        c = seq.pause(fade=fade)
        return {"paused": True, "frame": int(c.frame) + off, "fade_frames": int(c.fade_frames),
                "end_frame": int(c.frame) + int(c.fade_frames) + off}

    def resume(self, p: Params) -> dict[str, Any]:
        seq = self._require_started("resume")
        fade = p.duration("fade", limits=self.limits, beats_per_bar=self._bar_beats())
        c = seq.resume(fade=fade)
        off = self.offset  # while paused, the music frame stands still and the offset grows
        return {"paused": False, "frame": int(c.frame) + off, "fade_frames": int(c.fade_frames),
                "end_frame": int(c.frame) + int(c.fade_frames) + off}

    def volume(self, p: Params) -> dict[str, Any]:
        seq = self._require_started("volume")
        db = p.number("db", lo=self.limits.min_volume_db, hi=self.limits.max_volume_db)
        ramp = p.duration("ramp", limits=self.limits, beats_per_bar=self._bar_beats())
        c = seq.set_volume(float(db), ramp=ramp)
        frame = int(c.frame) + self.offset
        return {"db": float(c.db), "frame": frame, "ramp_frames": int(c.ramp_frames), "end_frame": frame + int(c.ramp_frames)}

    def snapshot(self, p: Params) -> dict[str, Any]:
        seq = self._require_started("snapshot")
        if not hasattr(seq, "snapshot"):
            raise RpcError(ErrorCode.REJECTED, "snapshot: this engine cannot take snapshots yet")
        g = self.source.graph
        return {"snapshot": {"format": SNAPSHOT_FORMAT, "version": 1, "graph": g.name,
                             "graph_sha256": str(getattr(g, "source_sha256", "")), "seed": self.seed,
                             "sequencer": seq.snapshot()},
                "frame": int(seq.earliest_frame) + self.offset}

    def check_snapshot(self, snap: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(seed, the sequencer's part) of a `snapshot` result from this graph, or RpcError."""
        g = self.source.graph
        if snap.get("format") != SNAPSHOT_FORMAT or snap.get("version") != 1 or not isinstance(snap.get("sequencer"), dict):
            raise RpcError(ErrorCode.OUT_OF_RANGE, "restore: snapshot is not a snapshot result's `snapshot` map (format, version 1, sequencer)")
        if snap.get("graph") != g.name or snap.get("graph_sha256") != str(getattr(g, "source_sha256", "")):
            raise RpcError(ErrorCode.REJECTED, f"restore: the snapshot is of another graph, or another version of {g.name!r}")
        seed = snap.get("seed")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise RpcError(ErrorCode.OUT_OF_RANGE, "restore: snapshot.seed must be an integer 0..2^63-1")
        return seed, snap["sequencer"]

    def restored(self, seq: Any, seed: int) -> dict[str, Any]:
        """Install `seq`, already restored from a snapshot."""
        self.install(self.source, seq, seed)
        self.started = True
        if self.output != "pull":
            self.output.resume()
        return {"restored": True, "frame": self.output_frame, "state": seq.state, "session": self.id}

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"session": self.id, "loaded": self.seq is not None, "started": self.started,
                               "output": "pull" if self.output == "pull" else "device"}
        seq = self.seq
        if seq is None:
            return out
        off = self.offset
        music = int(seq.frame)
        out.update(wire.with_bar_beat({"frame": music + off, "position": seq.position if self.started else ""}))
        out["earliest_frame"] = int(seq.earliest_frame) + off
        out["state"] = seq.state if self.started else None
        out["seed"] = self.seed
        out.update(self.tempo_info())
        self._plans = [x for x in self._plans if max(x.edit_frame, x.main_frame) > music]
        out["pending"] = [wire.plan(x, off, x.event or "") for x in self._plans]
        out["params"] = {k: float(v) for k, v in seq.params().items()}
        out["stopping"] = seq.silent_from is not None
        out["paused"] = bool(getattr(seq, "paused", False))
        out["volume_db"] = float(getattr(seq, "volume_db", 0.0))
        if self.output != "pull":
            out.update(self.output.status())
        return out
