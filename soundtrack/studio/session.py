"""The studio's engine side: one thread owns it; the server calls it and never blocks its loop.

`StudioSession` plays a `Version` of the project (graph text, graph, monitor graph, stems)
through the library's `Sequencer`, wrapped in a **deck** that says where the deck's frame 0 lies
on the **session clock** (frames streamed since Play). Every frame it reports (plans, markers,
ticks) is on that clock, so the page never sees a deck change.

- `play(state)` starts a fresh sequencer and a fresh `Take`; `stop(fade)` fades out with the
  engine's `fade_out` and ends the take where Stop was pressed; `render(n)` returns the next
  `n` frames with the markers that fell in them and a tick (state, position, layer gains, the
  grid ahead).
- `command(op, ...)`: an event, a stinger, a parameter, the tempo, solo/mute. Each answer is the
  engine's own plan (`TransitionPlan`, `StingerPlan`, `ParamChange`, `TempoChange`) as JSON with
  its frames moved onto the session clock.
- `offer(version)`: new stems (a regeneration). While stopped they are simply used from the
  next Play. While playing they are swapped in at the next loop boundary of the playing state
  at which the session is quiet (the engine's snapshot is `exact`: no transition, stinger or
  ramp in flight): the playing sequencer is snapshotted one frame into its new cycle, a new
  sequencer on the new stems is restored there, and the old one plays on for its look-ahead and
  then crossfades out over the restore's 10 ms fade-in. When the playing state did not change
  the two are the same music and the crossfade is amplitude-complementary (the sum is the old
  output to float rounding); when it changed, power-complementary. Markers the old sequencer
  emits for frames the new one covers are dropped.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from soundtrack.audio import fade_curve
from soundtrack.errors import SequencerError, SoundtrackError, StudioError
from soundtrack.graph import Graph
from soundtrack.sequencer import Sequencer
from soundtrack.studio.monitor import Monitor, monitor_graph, music_layers
from soundtrack.studio.source import StudioSource
from soundtrack.studio.take import Take

F32 = np.float32
SWAP_FADE = Fraction(1, 100)  # seconds: the restore's fade-in, and so the crossfade at a swap
STOP_FADE_SECONDS = 0.5
MAX_STOP_FADE_SECONDS = 10.0
_FRAME_KEYS = ("posted_frame", "edit_frame", "main_frame", "commit_frame", "frame", "start", "entry", "exit")




@dataclass
class Version:
    """One version of the project: the TOML text, its graph, the monitor graph and the stems."""

    text: str
    graph: Graph
    source: StudioSource
    monitor: Graph = field(init=False)
    mute_params: dict[str, str] = field(init=False)
    layers: tuple[str, ...] = field(init=False)
    number: int = 1

    def __post_init__(self) -> None:
        self.monitor, self.mute_params = monitor_graph(self.graph, self.text)
        self.layers = music_layers(self.graph)
        self._model: dict[str, Any] | None = None

    def model(self) -> dict[str, Any]:
        """The page's picture of this version (`studio.model.graph_model`), made once: make it
        off the event loop (tomlkit is slow on a big graph)."""
        if self._model is None:
            from soundtrack.studio.model import graph_model

            self._model = graph_model(self.graph, self.text, self.source, mute_params=self.mute_params, layers=self.layers)
        return self._model


class _Deck:
    """A sequencer and the session frame of its frame 0; markers at or after `cut` are dropped."""

    def __init__(self, seq: Sequencer, base: int, version: Version) -> None:
        self.seq = seq
        self.base = base
        self.version = version
        self.cut: int | None = None

    def render(self, dst: np.ndarray) -> None:
        self.seq.render(dst.shape[0], out=dst)

    def markers(self) -> list[dict[str, Any]]:
        out = []
        for m in self.seq.pop_markers():
            if self.cut is not None and m.frame >= self.cut:
                continue
            out.append(marker_json(m, self.base))
        return out


def jsonable(x: Any) -> Any:
    """Plans, markers and their details as JSON-safe values (Fractions as floats)."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)
                if f.name != "target_grid"}
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, Fraction):
        return float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    return str(x)


def _shift(d: Any, base: int) -> Any:
    """Move the frames of a plan (or a marker's detail) onto the session clock."""
    if isinstance(d, dict):
        return {k: (v + base if k in _FRAME_KEYS and isinstance(v, int) and not isinstance(v, bool) and v >= 0
                    else _shift(v, base)) for k, v in d.items()}
    if isinstance(d, list):
        return [_shift(v, base) for v in d]
    return d


def marker_json(m: Any, base: int) -> dict[str, Any]:
    return {"kind": m.kind, "frame": int(m.frame) + base, "position": m.position, "state": m.state,
            "detail": _shift(jsonable(m.detail), base)}


class StudioSession:
    """See the module docstring. Not thread-safe: call it from one thread."""

    def __init__(self, version: Version, *, seed: int | None = None) -> None:
        self.version = version
        self.seed = int(version.graph.seed if seed is None else seed)
        self.sample_rate = int(version.graph.sample_rate)
        self.channels = 2
        self.monitor = Monitor(version.layers)
        self.deck: _Deck | None = None
        self.clock = 0  # session frames output since Play
        self.take: Take | None = None
        self.takes = 0
        self.stopping = False
        self.finished = True
        self._pending: Version | None = None
        self._pending_changed: set[str] = set()
        self._arrive: int | None = None  # the deck frame a swap is approaching
        self._out: _Deck | None = None  # the outgoing deck during a swap
        self._lead = 0  # frames the outgoing deck still plays alone (its look-ahead)
        self._xgain: np.ndarray | None = None  # the outgoing deck's crossfade gains
        self._xpos = 0
        self._scratch = np.zeros((0, 2), F32)
        self.events: list[dict[str, Any]] = []  # swaps and notes for the page, drained by render
        self.plans: list[dict[str, Any]] = []  # accepted transition plans not yet at their edit point

    # -- transport ------------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self.deck is not None and not self.finished

    def play(self, state: str | None = None) -> dict[str, Any]:
        """Start a fresh session (and take) at `state` (default: the graph's start)."""
        if self.playing and not self.stopping:
            raise StudioError("already playing: Stop first, or post events to change state")
        v = self._pending or self.version
        self._adopt(v)
        graph = v.graph
        state = graph.start if state in (None, "") else state
        if state not in graph.states:
            raise StudioError(f"state {state!r} is not in graph {graph.name!r}; states are {', '.join(graph.states)}")
        seq = Sequencer(v.monitor, v.source, sample_rate=self.sample_rate, seed=self.seed)
        plan = seq.start(state)
        self.channels = seq.channels
        self.deck = _Deck(seq, 0, v)
        self.clock = 0
        self.stopping = False
        self.finished = False
        self.plans = []
        self._out, self._xgain, self._lead, self._arrive = None, None, 0, None
        self.takes += 1
        self.take = Take(graph.path, v.text, state, self.seed, self.sample_rate, channels=self.channels)
        for layer, g in self.monitor.gains().items():
            if g != 1.0:
                seq.set_param(v.mute_params[layer], g, ramp=0)
                self.take.mark(f"layer {layer} was muted (solo/mute is the studio's monitor, not in the script)")
        return {"op": "play", "state": state, "take": self.takes, "plan": _shift(jsonable(plan), 0)}

    def stop(self, fade: float = STOP_FADE_SECONDS) -> dict[str, Any]:
        """Fade out over `fade` seconds (the engine's `fade_out`); the take ends here."""
        if not self.playing or self.deck is None:
            raise StudioError("not playing")
        if not 0 <= fade <= MAX_STOP_FADE_SECONDS:
            raise StudioError(f"fade={fade!r} must be between 0 and {MAX_STOP_FADE_SECONDS:g} seconds")
        if self.take is not None:
            self.take.end("Stop was pressed")
        if self.stopping:
            return {"op": "stop", "silent_from": self._silent_from()}
        self.stopping = True
        for d in (self.deck, self._out):
            if d is not None and d.seq.silent_from is None:
                d.seq.fade_out(int(round(fade * self.sample_rate)))
        return {"op": "stop", "silent_from": self._silent_from()}

    def _silent_from(self) -> int:
        assert self.deck is not None
        s = self.deck.seq.silent_from
        return -1 if s is None else self.deck.base + s

    # -- rendering --------------------------------------------------------------------------------
    def render(self, frames: int) -> tuple[np.ndarray, list[dict[str, Any]], dict[str, Any]]:
        """(audio float32 (frames, channels), markers, tick) for the next `frames` session frames."""
        if self.deck is None:
            raise StudioError("not playing")
        out = np.empty((frames, self.channels), F32)
        start = self.clock
        markers: list[dict[str, Any]] = []
        pos = 0
        while pos < frames:
            n = self._piece(out[pos:], markers)
            if self.take is not None:
                self.take.add_block(out[pos:pos + n])  # piece by piece: a take ends on the exact frame
            pos += n
            self.clock += n
            if self._arrive is not None and self.deck.seq.earliest_frame >= self._arrive:
                self._handover()
        if self.stopping and not self.finished:
            s = self._silent_from()
            if 0 <= s <= self.clock:
                self.finished = True
        return out, markers, self._tick(start)

    def _piece(self, dst: np.ndarray, markers: list[dict[str, Any]]) -> int:
        """Render into the head of `dst` up to the next point where something changes; returns
        the frames rendered (at least 1)."""
        deck = self.deck
        assert deck is not None
        n = dst.shape[0]
        if self._out is not None and self._lead > 0:  # the outgoing deck's look-ahead, alone
            k = min(n, self._lead)
            self._out.render(dst[:k])
            markers += self._out.markers()
            self._lead -= k
            return k
        if self._pending is not None and self._out is None and not self.stopping:
            n = self._approach(n)
        k = n
        if self._out is not None and self._xgain is not None:
            k = min(n, len(self._xgain) - self._xpos)
        piece = dst[:k]
        deck.render(piece)
        markers += deck.markers()
        if self._out is not None and self._xgain is not None:
            if self._scratch.shape[0] < k or self._scratch.shape[1] != self.channels:
                self._scratch = np.zeros((max(k, 4096), self.channels), F32)
            tmp = self._scratch[:k]
            self._out.render(tmp)
            markers += self._out.markers()
            tmp *= self._xgain[self._xpos:self._xpos + k, None]
            piece += tmp
            self._xpos += k
            if self._xpos >= len(self._xgain):
                self._out, self._xgain = None, None
        if self.plans:
            self.plans = [p for p in self.plans if p.get("edit_frame", -1) >= self.clock + k]
        return k

    def _approach(self, n: int) -> int:
        """While a swap waits: find the playing loop's next cycle start; render up to one frame
        into it (the engine snapshots inside a cycle), then hand over."""
        deck = self.deck
        assert deck is not None
        if self._arrive is not None:
            return max(1, min(n, self._arrive - deck.seq.earliest_frame))
        try:
            snap = deck.seq.snapshot()
        except SequencerError:
            return n  # in an intro, a transition, between cycles: not yet
        if not snap["exact"]:
            return n
        main = snap["main"]
        tempo = None if main["tempo"] is None else Fraction(main["tempo"])
        exit_ = deck.version.source.grid(snap["state"], "main", int(main["variant"]), tempo=tempo).exit
        f = deck.seq.earliest_frame
        arrive = f + (exit_ - int(main["offset"])) + 1  # one frame into the next cycle
        if arrive - f > n:
            return n
        self._arrive = arrive
        return max(1, arrive - f)

    def _handover(self) -> None:
        deck, new = self.deck, self._pending
        assert deck is not None and new is not None
        self._arrive = None
        try:
            snap = deck.seq.snapshot()
        except SequencerError:
            return  # try at the next boundary
        if not snap["exact"]:
            return
        state = snap["state"]
        changed = state in self._pending_changed
        snap = self._fit(copy.deepcopy(snap), deck.version, new) if changed else snap
        seq = Sequencer(new.monitor, new.source, sample_rate=self.sample_rate, seed=self.seed)
        try:
            seq.restore(snap, fade=f"{float(SWAP_FADE)}s")
        except SoundtrackError as e:
            self.events.append({"type": "note", "message": f"the new stems cannot take over here ({e}); trying again"})
            return
        f = deck.seq.earliest_frame
        lead = f - deck.seq.frame
        deck.cut = f
        self._out = deck
        self._lead = lead
        w = fade_curve(int(round(SWAP_FADE * self.sample_rate)), "equal-power", fade_in=True).astype(F32)
        self._xgain = (np.sqrt(np.maximum(0.0, 1.0 - w * w)) if changed else (1.0 - w)).astype(F32)
        self._xpos = 0
        self.deck = _Deck(seq, self.clock + lead, new)
        if self.take is not None:
            self.take.end(f"new stems were swapped in at session frame {self.deck.base}")
        self.version = new
        self._pending = None
        changed_names = sorted(self._pending_changed)
        self._pending_changed = set()
        self.plans = []
        self.events.append({"type": "swap", "frame": self.deck.base, "state": state, "position": seq.position,
                            "changed": changed_names, "playing_state_changed": changed, "version": new.number})

    @staticmethod
    def _fit(snap: dict[str, Any], old: Version, new: Version) -> dict[str, Any]:
        """Fit a snapshot of a regenerated playing state to its new loops: same variant where
        it still exists, the base tempo take unless the new one has the same take, no rings
        (the old loop's tail is crossfaded out with it), and the grid of the new loop with
        bar 1 where this cycle began when its tempo, meter or length changed."""
        state = snap["state"]
        sdef = new.graph.states[state]
        main = snap["main"]
        main["variant"] = int(main["variant"]) % sdef.variants
        tempo = None if main["tempo"] is None else Fraction(main["tempo"])
        if tempo is not None and tempo not in sdef.tempi:
            main["tempo"] = tempo = None
        snap["rings"] = []
        g = new.source.grid(state, "main", main["variant"], tempo=tempo)
        if int(main["offset"]) >= g.exit:
            main["offset"] = 0
        h = snap["head"]
        if Fraction(h["bpm"]) != g.bpm or h["meter"] != str(g.meter) or int(h["main_beats"]) != g.bars * g.meter.beats:
            snap["head"] = {"bpm": str(g.bpm), "meter": str(g.meter), "origin": g.entry - int(main["offset"]),
                            "origin_beat": 0, "main_beats": g.bars * g.meter.beats}
        return snap

    def _tick(self, start: int) -> dict[str, Any]:
        deck = self.deck
        assert deck is not None
        seq = deck.seq
        grid = seq.beat_grid_at()
        tick: dict[str, Any] = {"type": "tick", "frame": start, "end": self.clock, "state": seq.state,
                                "position": seq.position, "gains": {k: round(v, 4) for k, v in seq.layer_gains().items()},
                                "params": {k: v for k, v in seq.params().items() if k in deck.version.graph.params},
                                "stopping": self.stopping, "finished": self.finished,
                                "swap_pending": self._pending is not None}
        if grid is not None:
            try:
                nxt = seq.next_bar_frame()
            except SequencerError:
                nxt = None
            tick["grid"] = {"bpm": float(grid.bpm), "beats_per_bar": grid.meter.beats,
                            "beat_frames": float(Fraction(60 * self.sample_rate) / grid.bpm),
                            "next_bar": None if nxt is None else nxt + deck.base}
        if self.take is not None:
            tick["take"] = self.take.info()
        return tick

    # -- commands ---------------------------------------------------------------------------------
    def command(self, op: str, name: str = "", value: Any = None) -> dict[str, Any]:
        """Give the playing session a command; returns its plan (session frames) as JSON."""
        if op in ("mute", "solo"):
            return self._monitor(op, name, bool(value))
        if not self.playing or self.deck is None or self.stopping:
            raise StudioError("not playing: press Play first")
        deck, take = self.deck, self.take
        seq = deck.seq
        posted = seq.frame
        graph = deck.version.graph
        try:
            if op == "event":
                if name not in graph.events() and name not in graph.stingers:
                    raise StudioError(f"event {name!r} is not in graph {graph.name!r}; events are {', '.join(sorted(graph.events()))}")
                res: Any = seq.post(name)
                kind = "event"
            elif op == "stinger":
                res = seq.stinger(name)
                kind = "stinger"
            elif op == "param":
                if name not in graph.params and name != "tempo":
                    raise StudioError(f"param {name!r} is not in graph {graph.name!r}; params are {', '.join(graph.params) or 'none'}")
                value = float(value)
                res = seq.set_param(name, value)
                kind = "param" if name in graph.params else "tempo"
            elif op == "tempo":
                value = float(value)
                res = seq.set_tempo(value)
                kind = "tempo"
            else:
                raise StudioError(f"op {op!r} must be one of event, stinger, param, tempo, mute, solo")
        except (TypeError, ValueError) as e:
            if isinstance(e, SoundtrackError):
                raise
            raise StudioError(f"{op} {name}: {e}") from None
        if take is not None:
            if kind == "event":
                take.add(posted, "event", name)
            elif kind == "stinger":
                take.add(posted, "stinger", name)
            elif kind == "param":
                take.add(posted, "param", name, value)
            else:
                take.add(posted, "tempo", "", value)
        out = _shift(jsonable(res), deck.base)
        out["type"] = type(res).__name__
        out["op"] = op
        out["name"] = name
        if out["type"] == "TransitionPlan" and out.get("accepted"):
            self.plans = [p for p in self.plans if p.get("commit_frame", -1) <= deck.base + posted] + [out]
        return out

    def _monitor(self, what: str, layer: str, on: bool) -> dict[str, Any]:
        try:
            before = self.monitor.gains()
            self.monitor.set(what, layer, on)
        except ValueError as e:
            raise StudioError(str(e)) from None
        after = self.monitor.gains()
        if self.playing and self.deck is not None:
            for d in (self.deck, self._out):
                if d is None:
                    continue
                for lay, g in after.items():
                    if g != before[lay]:
                        d.seq.set_param(d.version.mute_params[lay], g)
            if self.take is not None and not self.monitor.neutral:
                self.take.mark(f"layer gains were changed by {what} at session frame {self.clock}")
        return {"type": "Monitor", "op": what, **self.monitor.to_json()}

    # -- new stems --------------------------------------------------------------------------------
    def offer(self, version: Version) -> dict[str, Any]:
        """New stems: used from the next Play when stopped, else swapped in at the next quiet
        loop boundary. Returns which names changed and when it will happen."""
        base = self.version
        changed = version.source.changed_names(base.source)
        if self._pending is not None:
            changed |= self._pending_changed
        if not self.playing or self.stopping:
            self._adopt(version)
            return {"type": "offer", "changed": sorted(changed), "when": "next play"}
        if self.monitor.layers != version.layers:
            self.monitor = Monitor(version.layers, self.monitor.muted & set(version.layers),
                                   self.monitor.soloed & set(version.layers))
        self._pending = version
        self._pending_changed = changed
        self._arrive = None
        return {"type": "offer", "changed": sorted(changed), "when": "next loop boundary"}

    def _adopt(self, version: Version) -> None:
        self.version = version
        self._pending = None
        self._pending_changed = set()
        if self.monitor.layers != version.layers:
            self.monitor = Monitor(version.layers, self.monitor.muted & set(version.layers),
                                   self.monitor.soloed & set(version.layers))

    @property
    def latest(self) -> Version:
        """The newest version: the one waiting to be swapped in, else the one playing."""
        return self._pending or self.version

    @property
    def swap_pending(self) -> bool:
        return self._pending is not None

    def drain_events(self) -> list[dict[str, Any]]:
        out, self.events = self.events, []
        return out

    def status(self) -> dict[str, Any]:
        d = self.deck
        return {"playing": self.playing, "stopping": self.stopping, "clock": self.clock,
                "state": d.seq.state if d else None, "position": d.seq.position if d else "",
                "take": self.take.info() if self.take else None, "swap_pending": self._pending is not None,
                "monitor": self.monitor.to_json(), "version": self.version.number, "plans": list(self.plans)}
