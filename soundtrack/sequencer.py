"""The state-graph sequencer: events and parameters in, audio blocks and markers out.

`Sequencer(graph, source, sample_rate=..., seed=...)` is pure and deterministic: no I/O (stems
are fetched from the `StemSource` when a plan is made, never while rendering), no threads, no
sleeps. Its clock is the number of frames rendered so far; every command is turned into actions
at exact output frames, so rendering in blocks of any size is bit-identical to rendering in one
piece, and the same graph, stems, seed and calls give the same output bit for bit.

Semantics (pinned by tests/test_sequencer*.py and tests/test_transitions.py):

- `start(state)` plays the state's intro from the current frame (pickup first, so bar 1 lands
  at the intro's entry frame), then loops its main; without an intro the main starts at once.
- `post(event, at_frame=None)` resolves the transition at the current frame (or a future one)
  with `transitions.resolve` and returns the `TransitionPlan`. An event the current state has
  no transition for returns a plan with ``accepted=False`` and a reason, and a ``rejected``
  marker; an event the graph does not know raises `SequencerError`. A stinger's name may be
  posted as an event. **A newer event replaces a pending plan** that has not started to sound
  (posted before its `commit_frame`); once any of a plan sounds, a newer event is resolved
  from that plan's target state and queues behind it (its edit point is at or after the
  target's entry).
- Main loops repeat seamlessly by construction: a stem's head (up to its exit) and its tail (the
  ring after it) are kept apart, and every cycle's tail rings on top of whatever follows it (the
  same loop again, another variant, the next state's segment), so each seam is the continuous
  performance. With variants, the next one is drawn at each loop end with no immediate repeat
  (numpy ``default_rng(seed)``).
- `set_param(name, value)` moves the layers the parameter names toward their gains, starting
  on the next beat (the parameter's `quantize`) and ramping per sample over its `ramp`.
- `stinger(name)` overlays a one-shot whose entry lands on the next beat or bar; it is refused
  (``accepted=False``) within `min_interval` seconds of the same stinger.
- `set_tempo(bpm)` (or ``set_param("tempo", bpm)``) switches the playing state to the bank's
  tempo variant nearest `bpm` on the next bar, with a short crossfade; the grid restarts there.
- A final safety limiter (`voices.Limiter`) keeps samples under -1 dBFS; its gain ramps over a
  2 ms look-ahead instead of stepping, so the mix runs that far ahead of the output and a
  command given after a render acts from `earliest_frame` (no added latency: output frame n is
  still mix frame n). Output that never exceeds the ceiling is untouched bit for bit.
- `fade_out(frames, at_frame=...)` fades the limited output to silence per sample, then the
  sequencer stops mixing (markers go on): a session's `stop`, a podcast's cut tail.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from soundtrack.audio import Curve
from soundtrack.errors import SequencerError, SoundtrackError
from soundtrack.graph import Graph, TransitionDef
from soundtrack.layers import LayerGains
from soundtrack.seqgrid import MARKER_KINDS, Marker, Span, SpanGrid
from soundtrack.stem import Stem, StemGrid, StemSource
from soundtrack.timing import BeatGrid, Duration, parse_bpm, parse_duration
from soundtrack.transitions import (
    Playhead,
    TransitionPlan,
    min_ramp_frames,
    plan_rule,
    resolve,
    target_playhead,
)
from soundtrack.tracks import Rec, Track
from soundtrack import snapshot
from soundtrack.transport import PauseChange, Transport, VolumeChange
from soundtrack.voices import F32, Clip, Envelope, Limiter, ramp_table

__all__ = ["MARKER_KINDS", "Marker", "ParamChange", "PauseChange", "Sequencer", "StingerPlan", "TempoChange", "VolumeChange"]

LIMITER_LOOKAHEAD_SECONDS = Fraction(1, 500)  # 2 ms: the safety limiter ramps in, never steps
TEMPO_XFADE_SECONDS = Fraction(1, 20)
TRANSPORT_FADE_SECONDS = Fraction(1, 100)  # pause/resume: 10 ms, click-free and prompt
VOLUME_RAMP_SECONDS = Fraction(1, 20)
MAX_TRANSPORT_FADE_SECONDS = 60  # 50 ms: stretched and unstretched takes are aligned on the bar


@dataclass(frozen=True)
class StingerPlan:
    """When a stinger will sound: its entry on `frame` (bar:beat `position`); audio from `start`."""

    accepted: bool
    name: str
    posted_frame: int
    frame: int = -1
    start: int = -1
    position: str = ""
    reason: str = ""


@dataclass(frozen=True)
class ParamChange:
    """A parameter change: the ramp to the layer `gains` starts at `frame` and lasts `ramp_frames`."""

    name: str
    value: float
    frame: int
    position: str
    ramp_frames: int
    gains: dict[str, float]


@dataclass(frozen=True)
class TempoChange:
    """A tempo switch: the state plays its `bpm` take from the bar at `frame` (or why not)."""

    accepted: bool
    requested: Fraction
    bpm: Fraction | None = None
    frame: int = -1
    position: str = ""
    reason: str = ""


class Sequencer:
    """Plays a `Graph` from a `StemSource` (a `Bank` or a `StemSet`); see the module docstring.

    `render(frames)` returns float32 (frames, channels); `pop_markers()` drains the markers
    emitted so far, in frame order. `sample_rate` defaults to the graph's; stems must match it.
    """

    def __init__(self, graph: Graph, source: StemSource, *, sample_rate: int | None = None, seed: int = 0,
                 ceiling_db: float = -1.0) -> None:
        self.graph = graph
        self.source = source
        self.sample_rate = int(sample_rate or graph.sample_rate)
        self.seed = int(seed)
        self._rng = np.random.default_rng(self.seed)
        self._frame = 0
        self._started = False
        self._channels: int | None = None
        self._stems: dict[tuple, Stem] = {}
        self._grids: dict[tuple, StemGrid] = {}
        self._heap: list[tuple[int, int, int, tuple]] = []
        self._seq = itertools.count()
        self._rec_ids = itertools.count(1)
        self._clips: list[Clip] = []
        self._tracks: list[Track] = []
        self._markers: list[Marker] = []
        self._grid = SpanGrid()
        self._head: Playhead | None = None
        self._last: Rec | None = None
        self._recs: list[Rec] = []
        self._state: str | None = None
        self._main: dict[str, Track] = {}  # the state's current main track
        self._stinger_last: dict[str, int] = {}
        self._tempo_request: Fraction | None = None
        self._tables: dict[tuple, np.ndarray] = {}  # ramps of fixed lengths (see _table)
        self._transport = Transport()  # master volume, pause/resume, the final fade-out
        self._workbuf = np.zeros((0, 0), F32)
        self._limiter = Limiter(ceiling_db, lookahead=max(1, int(round(LIMITER_LOOKAHEAD_SECONDS * self.sample_rate))))
        self._mixed = 0  # output frames mixed so far (the look-ahead runs ahead of `frame`)
        self._ahead = np.zeros((0, 0), F32)  # mixed frames [frame, _mixed), not yet output
        self._tmp = np.zeros((0, 1), F32)
        self._tmp2 = np.zeros((0, 1), F32)
        self._tmp3 = np.zeros((0, 1), F32)
        self._layers = LayerGains(graph)  # layers named by no param stay at 1

    # -- public state ------------------------------------------------------------------------
    @property
    def frame(self) -> int:
        """Frames rendered so far: the output clock."""
        return self._frame

    @property
    def state(self) -> str | None:
        """The state playing at the current frame (it changes at a transition's edit point)."""
        return self._state

    @property
    def channels(self) -> int:
        return self._channels or 2

    @property
    def session_bars(self) -> int:
        """How many bar markers have been emitted (the session's bar count so far)."""
        return self._grid.session_bars

    @property
    def position(self) -> str:
        span = self._grid.at(self._frame)
        return span.label(self._frame) if span else ""

    @property
    def silent_from(self) -> int | None:
        """The first frame of silence after `fade_out` (its fade's end); None before it is called."""
        return self._transport.silent_from

    @property
    def earliest_frame(self) -> int:
        """The first frame a command given now can act on: the output so far plus what the
        limiter's look-ahead has already mixed (0 before the first render)."""
        return max(self._frame, self._mixed)

    def pop_markers(self) -> list[Marker]:
        """The markers of the output rendered so far (and refusals) since the last call, in
        frame order; markers of frames mixed ahead of the output wait for their render."""
        if not any(m.frame >= self._frame for m in self._markers):
            out, self._markers = self._markers, []
            return out
        out = [m for m in self._markers if m.frame < self._frame]
        self._markers = [m for m in self._markers if m.frame >= self._frame]
        return out

    def params(self) -> dict[str, float]:
        return dict(self._layers.values)

    def layer_gains(self, frame: int | None = None) -> dict[str, float]:
        """Each param-controlled layer's gain at `frame` (default: now)."""
        return self._layers.at(self._frame if frame is None else frame)

    def beat_grid_at(self, frame: int | None = None) -> BeatGrid | None:
        """The beat grid ruling output frame `frame` (default: now), tempo variants included;
        None before anything is scheduled."""
        span = self._grid.at(self._frame if frame is None else frame)
        return None if span is None else span.grid

    def next_bar_frame(self) -> int:
        """Output frame of the next downbeat at or after now, on whatever will be playing."""
        return self.next_beat_frame(bar=True)

    def next_beat_frame(self, *, bar: bool = False) -> int:
        """Output frame of the next beat (or downbeat) at or after now, on what will be playing."""
        f = self._grid.next_beat_frame(self._frame, bar=bar)
        if f is not None:
            return f
        raise SequencerError("nothing is playing: call start() first")

    # -- commands ------------------------------------------------------------------------------
    def start(self, state: str | None = None, *, at_frame: int | None = None) -> TransitionPlan:
        """Start playing `state` (default: the graph's start state): its intro's pickup from the
        current frame (or `at_frame`), bar 1 on the intro's entry, then its main loop."""
        if self._started:
            raise SequencerError("the sequencer is already started; post events to change state")
        state = self.graph.start if state is None else state
        if state not in self.graph.states:
            raise SequencerError(f"state {state!r} is not in graph {self.graph.name!r}; states are {', '.join(self.graph.states)}")
        t = self._check_frame(at_frame)
        self._started = True
        rule = TransitionDef(index=-1, source="*", target=state, on=None, sync="immediate", fade=Duration(Fraction(0)))
        main = self._grid_lookup(state, "main")
        ph = Playhead(state, BeatGrid(self.sample_rate, main.bpm, main.meter, t), 0, self._main_beats(state), entry=t)
        plan = plan_rule(self.graph, ph, rule, t, self._grid_lookup, sample_rate=self.sample_rate)
        rec = Rec(next(self._rec_ids), "start", plan.commit_frame, None)
        self._schedule(plan, rec)
        return plan

    def post(self, event: str, *, at_frame: int | None = None) -> TransitionPlan | StingerPlan:
        """Post a game event now (or at a future `at_frame`) and return what it will do."""
        if not isinstance(event, str):
            raise TypeError(f"event must be a string, got {event!r}")
        if event not in self.graph.events() and event in self.graph.stingers:
            return self.stinger(event, at_frame=at_frame)
        self._require_started()
        t = self._check_frame(at_frame)
        posted = self._posted_frame(at_frame)
        assert self._head is not None
        last = self._last
        if last is not None and last.kind == "transition" and not last.cancelled and t < last.commit and last.prev_head is not None:
            plan = resolve(self.graph, last.prev_head, event, t, self._grid_lookup, sample_rate=self.sample_rate)
            if plan.accepted:
                self._cancel(last, t)
        else:
            plan = resolve(self.graph, self._head, event, t, self._grid_lookup, sample_rate=self.sample_rate)
        if not plan.accepted:
            self._at(t, ("marker", Marker("rejected", t, "", plan.source, {"event": event, "reason": plan.reason})))
            return replace(plan, posted_frame=posted)
        self._schedule(plan, Rec(next(self._rec_ids), "transition", plan.commit_frame, self._head))
        return replace(plan, posted_frame=posted)  # when it was posted; the frames say when it acts

    def stinger(self, name: str, *, at_frame: int | None = None) -> StingerPlan:
        """Overlay stinger `name` with its entry on the next beat/bar (its `sync`)."""
        self._require_started()
        sdef = self.graph.stingers.get(name)
        if sdef is None:
            raise SequencerError(f"stinger {name!r} is not in graph {self.graph.name!r}; stingers are {', '.join(self.graph.stingers) or 'none'}")
        t = self._check_frame(at_frame)
        posted = self._posted_frame(at_frame)
        stem = self._stem(name, "stinger")
        earliest = t + stem.grid.entry
        span = self._grid.at(earliest) or self._grid.at(t)
        if sdef.sync == "immediate" or span is None:
            entry, position = earliest, (span.label(earliest) if span else "")
        else:
            every = span.grid.meter.beats if sdef.sync == "bar" else 1
            entry = self._grid.next_grid(span, earliest, every)
            position = self._grid.label_at(entry)
        last = self._stinger_last.get(name)
        guard = int(round(sdef.min_interval * self.sample_rate))
        if last is not None and entry - last < guard:
            reason = (f"stinger {name!r} played at frame {last}; min_interval = {float(sdef.min_interval):g}s "
                      f"allows it again from frame {last + guard}")
            self._at(t, ("marker", Marker("rejected", t, "", self._state, {"stinger": name, "reason": reason})))
            return StingerPlan(False, name, posted, reason=reason)
        self._stinger_last[name] = entry
        start = entry - stem.grid.entry
        a0 = max(0, t - start)
        track = Track(0, None, "stinger", music=False)
        self._oneshot(track, stem, start + a0, a0, layered=False, gain=10 ** (sdef.gain_db / 20))
        self._at(start + a0, ("clip", None, track))
        self._at(entry, ("marker", Marker("stinger", entry, position, self._head.state if self._head else None, {"name": name, "start": start})))
        return StingerPlan(True, name, posted, entry, start, position)

    def set_param(self, name: str, value: float, *, ramp: Duration | str | float | None = None,
                  at_frame: int | None = None) -> ParamChange | TempoChange:
        """Set a game parameter; its layers ramp to their new gains from the next beat (or the
        parameter's `quantize`), over `ramp` (default: the parameter's; beats, '2 bars', '0.5s')."""
        if name == "tempo" and "tempo" not in self.graph.params:
            return self.set_tempo(value, at_frame=at_frame)
        pdef = self.graph.params.get(name)
        if pdef is None:
            raise SequencerError(f"param {name!r} is not in graph {self.graph.name!r}; params are {', '.join(self.graph.params) or 'none'}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not pdef.minimum <= value <= pdef.maximum:
            raise SequencerError(f"param {name}={value!r} must be a number between {pdef.minimum:g} and {pdef.maximum:g}")
        t = self._check_frame(at_frame)
        span = self._grid.at(t)
        if span is None or pdef.quantize == "immediate":
            q = t
        else:
            q = self._grid.next_grid(span, t, span.grid.meter.beats if pdef.quantize == "bar" else 1)
        grid = span.grid if span else BeatGrid(self.sample_rate, self.graph.tempo or Fraction(120), origin=0)
        dur = pdef.ramp if ramp is None else parse_duration(ramp)
        n = max(min_ramp_frames(self.sample_rate), dur.to_frames(grid))
        table = ramp_table(n, "s-curve", fade_in=True)  # a client's ramp length: not cached
        gains = self._layers.ramp(pdef, float(value), q, n, table)
        pos = self._grid.label_at(q)
        self._at(max(q, t), ("marker", Marker("param", q, pos, self._head.state if self._head else None, {"name": name, "value": float(value), "gains": gains, "ramp_frames": n})))
        return ParamChange(name, float(value), q, pos, n, gains)

    def set_tempo(self, bpm: float | str | Fraction, *, at_frame: int | None = None) -> TempoChange:
        """Follow a tempo: on the next bar, switch the state's main loop to the bank's tempo
        variant nearest `bpm` (made at bank-build time with Rubber Band R3; pitch unchanged)."""
        self._require_started()
        requested = parse_bpm(bpm)
        t = self._check_frame(at_frame)
        self._tempo_request = requested
        head = self._head
        assert head is not None
        state = head.state
        choice = self._nearest_tempo(state, requested)
        current = head.grid.bpm
        if choice is None or choice == current:
            reason = f"state {state!r} has no tempo variants (tempi)" if choice is None else f"state {state!r} already plays at {float(current):g} bpm"
            return TempoChange(False, requested, current, -1, "", reason)
        stems = [self._stem(state, "main", v, tempo=self._tempo_key(state, choice)) for v in range(self.graph.states[state].variants)]
        bpb = head.grid.meter.beats
        f = head.next_point(max(t, head.entry), period=bpb, lowest=0)
        n = head.beat_at_or_after(f)
        rec = Rec(next(self._rec_ids), "tempo", t, head)
        self._recs.append(rec)
        self._last = rec
        new_head = Playhead(state, BeatGrid(self.sample_rate, choice, head.grid.meter, f), n, head.main_beats, entry=f)
        self._head = new_head
        pos = head.label(f)
        self._at(f, ("tempo", rec, state, stems, n, choice, pos))
        self._grid.add(Span(f, rec.id, state, "main", state, new_head.grid, n))
        return TempoChange(True, requested, choice, f, pos)

    def fade_out(self, frames: int, *, at_frame: int | None = None, curve: Curve = "equal-power") -> int:
        """Fade the whole output out over `frames` from now (or `at_frame`), per sample and after
        the limiter, then play silence: clips are no longer mixed, markers go on. The fade lasts
        at least the 1 ms minimum ramp; returns its length in frames. Only one fade-out per
        sequencer."""
        if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 0:
            raise SequencerError(f"frames={frames!r} must be a non-negative int")
        t = self._check_frame(at_frame)
        if self.silent_from is not None:
            raise SequencerError(f"already fading out: silent from frame {self.silent_from}")
        n = max(int(frames), min_ramp_frames(self.sample_rate))
        self._transport.fade_out(t, ramp_table(n, curve, fade_in=False))
        return n

    # -- transport -------------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        """True once a pause's fade has ended (the music clock stands still) until `resume`."""
        return self._transport.paused

    @property
    def output_frame(self) -> int:
        """Frames output so far, paused silence included (`frame` is the music clock, which
        stops while paused: output_frame - frame is the time spent paused)."""
        return self._transport.output

    @property
    def volume_db(self) -> float:
        return self._transport.volume_db

    def _short(self, fade: Duration | str | float | None, default: Fraction) -> int:
        """A transport fade in frames: at least the 1 ms minimum ramp, at most MAX_TRANSPORT_FADE."""
        if fade is None:
            n = int(round(default * self.sample_rate))
        else:
            d = parse_duration(fade)
            span = self._grid.at(self._frame)
            grid = span.grid if span else BeatGrid(self.sample_rate, self.graph.tempo or Fraction(120), origin=0)
            n = d.to_frames(grid)
        limit = int(MAX_TRANSPORT_FADE_SECONDS * self.sample_rate)
        if n > limit:
            raise SequencerError(f"fade={fade!r} is {n / self.sample_rate:.3g} s; at most {float(MAX_TRANSPORT_FADE_SECONDS):g} s")
        return max(n, min_ramp_frames(self.sample_rate))

    def pause(self, *, fade: Duration | str | float | None = None) -> PauseChange:
        """Pause: fade the output out (default 10 ms) from the earliest frame, then stop the
        music clock where the fade ends; `render` then returns silence and nothing moves on."""
        self._require_started()
        return self._transport.pause(self.earliest_frame, self._short(fade, TRANSPORT_FADE_SECONDS))

    def resume(self, *, fade: Duration | str | float | None = None) -> PauseChange:
        """Resume a pause: the music continues with exactly the frames that would have followed
        where it stopped, fading in (default 10 ms)."""
        return self._transport.resume(self.earliest_frame, self._short(fade, TRANSPORT_FADE_SECONDS))

    def snapshot(self) -> dict:
        """The session's musical position at `earliest_frame`, JSON- and msgpack-safe, for
        `restore` (see `soundtrack.snapshot`)."""
        return snapshot.take(self)

    def restore(self, snap: dict, *, fade: Duration | str | float | None = None) -> None:
        """Start this fresh sequencer (instead of `start`) at a `snapshot`'s position, fading in
        (default 10 ms); frames count from 0 again."""
        snapshot.restore(self, snap, self._short(fade, TRANSPORT_FADE_SECONDS))

    def set_volume(self, db: float, *, ramp: Duration | str | float | None = None) -> VolumeChange:
        """Ramp the master volume (before the safety limiter) to `db` (-120 = silence, at most
        +12) from the earliest frame, per sample, over `ramp` (default 50 ms)."""
        return self._transport.set_volume(db, self.earliest_frame, self._short(ramp, VOLUME_RAMP_SECONDS))

    # -- rendering -----------------------------------------------------------------------------
    def render(self, frames: int, *, out: np.ndarray | None = None) -> np.ndarray:
        """The next `frames` frames of output: float32 (frames, channels), limited to the ceiling
        (written into `out` when given: a C-contiguous float32 array of that shape, reused).

        The mix runs `lookahead` frames ahead of the output (the limiter ramps its gain towards
        a peak before it arrives), so a command given after a render takes effect at the earliest
        that many frames after the output so far (`earliest_frame`); plans report the frames.
        While paused the output is silence and the music clock (`frame`) stands still."""
        if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 0:
            raise SequencerError(f"frames={frames!r} must be a non-negative int")
        frames = int(frames)
        ch = self.channels
        if out is None:
            out = np.empty((frames, ch), dtype=F32)
        elif not (isinstance(out, np.ndarray) and out.dtype == F32 and out.shape == (frames, ch) and out.flags.c_contiguous):
            raise TypeError(f"out must be a C-contiguous float32 array of shape ({frames}, {ch})")
        pos = 0
        tr = self._transport
        while pos < frames:
            n = tr.music_frames(self._frame, frames - pos)
            if n == 0:
                out[pos:] = 0.0
                break
            self._render_music(out[pos : pos + n])
            pos += n
            tr.reached(self._frame)
        tr.output += frames
        return out

    def _render_music(self, dst: np.ndarray) -> None:
        """Fill `dst` with the next music frames: mixed (`lookahead` ahead), limited, faded."""
        n, ch = dst.shape
        look = self._limiter.lookahead
        start = self._frame
        end = start + n
        if self._workbuf.shape[0] < n + look or self._workbuf.shape[1] != ch:
            self._workbuf = np.zeros((max(n + look, 1024 + look), ch), F32)
        work = self._workbuf[: n + look]  # rows 0.. = frame `start`
        have = self._ahead.shape[0] if self._ahead.shape[1] == ch else 0
        work[have:] = 0.0
        if have:
            work[:have] = self._ahead
        self._mix(work, start, start + have, end + look)
        silent = self.silent_from
        heard = n if silent is None else max(0, min(end, silent) - start)
        if heard > 0:  # the limiter has no say over silence: nothing heard is left to limit
            self._limiter.process(work[:heard], work[heard : heard + look])
        self._transport.apply_gain(work[:n], start, end)
        dst[...] = work[:n]
        self._ahead = work[n:].copy()
        self._frame = end
        self._transport.prune(start)

    def _mix(self, work: np.ndarray, origin: int, a: int, end: int) -> None:
        """Mix output frames [a, end) into `work` (row 0 = frame `origin`), running every action
        due on the way; beat and bar markers are emitted as the frames are mixed."""
        ch = work.shape[1]
        if self._tmp.shape[0] < end - a or self._tmp.shape[1] != ch:
            n = max(end - a, 1024)
            self._tmp = np.zeros((n, ch), F32)
            self._tmp2 = np.zeros((n, ch), F32)
            self._tmp3 = np.zeros((n, ch), F32)
        silent = self.silent_from  # after a fade-out nothing is heard: no clip is mixed
        if silent is None:
            silent = end
        heap = self._heap
        while True:
            while heap and heap[0][0] <= a:
                action = heapq.heappop(heap)[3]
                self._run(action, a)
            b = heap[0][0] if heap and heap[0][0] < end else end
            if b > a:
                if a < silent:
                    gains = self._layers.block(a, b, ch)
                    block = work[a - origin : b - origin]
                    for clip in self._clips:
                        clip.mix_into(block, a, b, gains, self._tmp, self._tmp2, self._tmp3)
                    self._transport.apply_volume(block, a, b)
                self._grid.markers(a, b, self._markers)
                a = b
                if any(c.out1 <= a for c in self._clips):
                    self._clips = [c for c in self._clips if c.out1 > a]
            if a >= end:
                break
        self._mixed = end
        self._layers.prune(end)

    # -- internals: scheduling -----------------------------------------------------------------
    def _require_started(self) -> None:
        if not self._started:
            raise SequencerError("the sequencer is not started: call start(state) first")

    def _posted_frame(self, at_frame: int | None) -> int:
        """The frame a command is given for: now, or `at_frame` (reported as `posted_frame`)."""
        return self._frame if at_frame is None else int(at_frame)

    def _check_frame(self, at_frame: int | None) -> int:
        """The frame a command acts from: now (or `at_frame`), but never inside what is
        already mixed (the limiter's look-ahead past the output)."""
        if at_frame is None:
            return max(self._frame, self._mixed)
        if isinstance(at_frame, bool) or not isinstance(at_frame, (int, np.integer)):
            raise TypeError(f"at_frame must be an int, got {at_frame!r}")
        if at_frame < self._frame:
            raise SequencerError(f"at_frame={at_frame} is in the past: {self._frame} frames are already rendered")
        return max(int(at_frame), self._mixed)

    def _at(self, frame: int, action: tuple) -> None:
        # edits and tempo switches run first at their frame, so that what they replace (a main
        # loop's next cycle, an older plan's main) sees them and rings out instead of starting
        prio = 0 if action[0] in ("edit", "tempo") else 1
        heapq.heappush(self._heap, (frame, prio, next(self._seq), action))

    def _table(self, n: int, curve: str, fade_in: bool) -> np.ndarray:
        """A ramp of a length fixed by the graph or the sample rate, cached (a client's own
        lengths, such as set_param's ramp, would grow the cache without bound: use ramp_table)."""
        key = (n, curve, fade_in)
        t = self._tables.get(key)
        if t is None:
            t = self._tables[key] = ramp_table(n, curve, fade_in=fade_in)
        return t

    def _stem(self, name: str, role: str, variant: int = 0, *, tempo: Fraction | None = None) -> Stem:
        key = (name, role, variant, tempo)
        s = self._stems.get(key)
        if s is None:
            try:
                s = self.source.stem(name, role, variant, tempo=tempo)
            except SoundtrackError:
                raise
            except Exception as e:  # a stem source failing in its own way is still our error to report
                raise SequencerError(f"cannot load stem {name} {role} variant {variant}: {e}") from e
            if s.sample_rate != self.sample_rate:
                raise SequencerError(f"stem {name} {role} is at {s.sample_rate} Hz; the sequencer runs at {self.sample_rate} Hz")
            if self._channels is None:
                self._channels = s.channels
            elif s.channels != self._channels:
                raise SequencerError(f"stem {name} {role} has {s.channels} channels; other stems have {self._channels}")
            self._stems[key] = s
        return s

    def _stem_grid(self, name: str, role: str, variant: int = 0, *, tempo: Fraction | None = None) -> StemGrid:
        """A stem's grid without decoding its audio when the source can tell (a Bank reads it
        from its manifest)."""
        key = (name, role, variant, tempo)
        g = self._grids.get(key)
        if g is None:
            if key in self._stems or not hasattr(self.source, "grid"):
                g = self._stem(name, role, variant, tempo=tempo).grid
            else:
                try:
                    g = self.source.grid(name, role, variant, tempo=tempo)  # type: ignore[attr-defined]
                except SoundtrackError:
                    raise
                except Exception as e:
                    raise SequencerError(f"cannot read the grid of stem {name} {role} variant {variant}: {e}") from e
            self._grids[key] = g
        return g

    def _tempo_key(self, state: str, bpm: Fraction) -> Fraction | None:
        base = self._stem_grid(state, "main").bpm
        return None if bpm == base else bpm

    def _nearest_tempo(self, state: str, bpm: Fraction) -> Fraction | None:
        tempi = self.graph.states[state].tempi
        if not tempi:
            return None
        base = self._stem_grid(state, "main").bpm
        return min([base, *tempi], key=lambda x: (abs(x - bpm), x))

    def _seg_tempo(self, name: str, role: str) -> Fraction | None:
        """The tempo take a state's segment plays at: its intro and main the take the state is
        entered at, its outro the take it is playing (so a tempo followed by the game holds
        through the outro and the next entry). Bridges and stingers have no takes."""
        if role not in ("intro", "main", "outro") or name not in self.graph.states or not self.graph.states[name].tempi:
            return None
        head = self._head
        if role == "outro" and head is not None and head.state == name:
            bpm = head.grid.bpm
            tempo = self._tempo_key(name, bpm) if bpm in self.graph.states[name].tempi else None
        else:
            tempo = self._entry_tempo(name)
        if tempo is not None and role != "main":
            try:  # a source without that take (composer files, a partial set) plays the base one
                self._stem_grid(name, role, tempo=tempo)
            except SoundtrackError:
                return None
        return tempo

    def _grid_lookup(self, name: str, role: str) -> StemGrid:
        return self._stem_grid(name, role, tempo=self._seg_tempo(name, role))

    def _entry_tempo(self, state: str) -> Fraction | None:
        """The tempo take a state enters at: the requested tempo's nearest variant, if any."""
        if self._tempo_request is None:
            return None
        choice = self._nearest_tempo(state, self._tempo_request)
        return None if choice is None else self._tempo_key(state, choice)

    def _main_beats(self, state: str) -> int:
        g = self._stem_grid(state, "main")
        return g.bars * g.meter.beats

    def _cancel(self, rec: Rec, t: int) -> None:
        rec.cancelled = True
        self._grid.drop_rec(rec.id)
        self._head = rec.prev_head
        self._at(t, ("marker", Marker("cancelled", t, "", self._state, {"plan": rec.id})))

    def _schedule(self, plan: TransitionPlan, rec: Rec) -> None:
        """Turn an accepted plan into actions at exact frames."""
        t = plan.posted_frame
        target = plan.target
        assert target is not None and plan.target_grid is not None
        tempo = self._entry_tempo(target)
        variants = [self._stem(target, "main", v, tempo=tempo) for v in range(self.graph.states[target].variants)]
        self._recs.append(rec)
        self._last = rec
        # One labelling of positions: a segment's bars are on the grid of the state it belongs
        # to, the state named beside the position. The source's outro continues its bars (the
        # plan's position is on that grid too); a bridge and the target's intro count down to
        # the target's bar 1 ("pre2:1", "pre1:1"), as the resolver labels pickups.
        stems = [self._stem(seg.name, seg.role, tempo=self._seg_tempo(seg.name, seg.role)) for seg in plan.segments]
        beats = [st.grid.bars * st.grid.meter.beats for st in stems]
        head = self._head
        for i, (seg, stem) in enumerate(zip(plan.segments, stems)):
            a0 = max(0, t - seg.start)  # a pickup longer than the time left starts part-way, ramped
            owner = plan.source if seg.role == "outro" else target
            track = Track(rec.id, owner, seg.role)
            self._oneshot(track, stem, seg.start + a0, a0, layered=True, gain=1.0)
            self._at(seg.start + a0, ("clip", rec, track))
            if seg.role == "outro" and head is not None and head.state == plan.source:
                origin_beat = head.beat_at_or_after(seg.entry)
            else:
                origin_beat = -sum(beats[i:])
            span = Span(seg.entry, rec.id, owner, seg.role, seg.name,
                        BeatGrid(self.sample_rate, stem.grid.bpm, stem.grid.meter, seg.entry), origin_beat)
            self._at(seg.entry, ("marker", Marker("segment", seg.entry, span.label(seg.entry), owner,
                                                   {"name": seg.name, "role": seg.role, "plan": rec.id}), rec))
            self._grid.add(span)
        self._at(plan.edit_frame, ("edit", rec, plan))
        direct = not plan.segments
        self._at(plan.main_frame, ("main", rec, target, variants, plan.fade_frames if direct else 0, plan.curve))
        main_beats = self._main_beats(target)
        self._grid.add(Span(plan.main_frame, rec.id, target, "main", target, plan.target_grid, 0))
        self._head = target_playhead(plan, main_beats)

    def _oneshot(self, track: Track, stem: Stem, out0: int, a0: int, *, layered: bool, gain: float) -> None:
        """Prepare a one-shot clip (not yet playing): 1 ms ramps at both ends."""
        r = min_ramp_frames(self.sample_rate)
        clip = Clip(stem, a0, stem.grid.frames, out0, env=track.env, layered=layered, gain=gain, owner=track)
        track.env.add(out0, self._table(r, "linear", True), 1.0)
        end = clip.out1
        if end - r > out0 + r:
            track.env.scale_from(end - r, self._table(r, "linear", False), 0.0)
        track.clips.append(clip)

    def _run(self, action: tuple, frame: int) -> None:
        kind = action[0]
        if kind == "marker":
            if len(action) < 3 or not action[2].dead_at(frame):
                self._markers.append(action[1])
        elif kind == "clip":
            rec, track = action[1], action[2]
            if rec is not None and rec.dead_at(frame):
                return
            self._tracks.append(track)
            self._clips.extend(track.clips)
        elif kind == "edit":
            self._edit(action[1], action[2], frame)
        elif kind == "main":
            rec, state, variants, fade, curve = action[1:]
            if rec.dead_at(frame):
                return
            self._start_main(rec, state, variants, frame, fade, curve)
        elif kind == "cycle":
            self._cycle(action[1], frame)
        elif kind == "tempo":
            self._switch_tempo(frame, *action[1:])

    def _edit(self, rec: Rec, plan: TransitionPlan, frame: int) -> None:
        if rec.cancelled:
            return
        table = self._table(plan.fade_frames, plan.curve, False)
        for r in self._recs:
            if r.id < rec.id and r.superseded is None:
                r.superseded = frame
        for tr in self._tracks:
            if tr.music and tr.rec != rec.id:
                tr.stop(frame, table)
        self._tracks = [tr for tr in self._tracks if not tr.finished(frame)]
        prev = self._state
        self._state = plan.target
        pos = plan.position
        if plan.event is not None or prev is not None:
            self._markers.append(Marker("transition", frame, pos, prev, {
                "event": plan.event, "from": prev, "to": plan.target, "sync": plan.sync,
                "fade_frames": plan.fade_frames, "curve": plan.curve, "main_frame": plan.main_frame}))
        self._markers.append(Marker("state", frame, pos, plan.target, {"from": prev}))

    def _start_main(self, rec: Rec, state: str, variants: list[Stem], frame: int, fade: int, curve: str) -> None:
        track = Track(rec.id, state, "main")
        track.stems = variants
        track.bpm = variants[0].grid.bpm
        track.variant = int(self._rng.integers(len(variants))) if len(variants) > 1 else 0
        if fade > 0:
            track.env.add(frame, self._table(fade, curve, True), 1.0)
        else:
            track.env.add(frame, self._table(min_ramp_frames(self.sample_rate), "linear", True), 1.0)
        self._tracks.append(track)
        self._main[state] = track
        self._play_cycle(track, frame, 0)

    def _play_cycle(self, track: Track, frame: int, a0: int) -> None:
        stem = track.stems[track.variant]
        clip = Clip(stem, a0, stem.grid.exit, frame, env=track.env, owner=track)
        track.add_clip(clip)
        self._clips.append(clip)
        self._markers.append(Marker("segment", frame, self._grid.label_at(frame), track.state,
                                    {"name": track.state, "role": "main", "variant": track.variant, "bpm": str(track.bpm), "offset": a0}))
        self._at(clip.out1, ("cycle", track))

    def _tail(self, track: Track, stem: Stem, frame: int) -> None:
        """Let `stem`'s tail ring from `frame` (its exit), under the track's envelope."""
        if stem.grid.frames <= stem.grid.exit:
            return
        env = Envelope(track.env.initial)
        env.segs = list(track.env.segs)
        clip = Clip(stem, stem.grid.exit, stem.grid.frames, frame, env=env, owner=track, tail=True)
        r = min_ramp_frames(self.sample_rate)
        if clip.out1 - r > frame:
            env.scale_from(clip.out1 - r, self._table(r, "linear", False), 0.0)
        track.add_clip(clip)
        self._clips.append(clip)

    def _cycle(self, track: Track, frame: int) -> None:
        """A main loop cycle ended at `frame`: loop, change variant, or ring out if stopped."""
        stem = track.stems[track.variant]
        if track.stopped_at is not None:
            # stopped on this loop's end: its tail rings instead of a new cycle; stopped earlier:
            # it keeps looping under the fade until the fade ends
            if frame == track.stopped_at:
                self._tail(track, stem, frame)
                return
            if track.fade is None or frame >= track.stopped_at + len(track.fade):
                return
        self._tail(track, stem, frame)  # this cycle's ring goes on under the next, whichever it is
        n = len(track.stems)
        if n > 1:
            nxt = int(self._rng.integers(n - 1))
            nxt = nxt + 1 if nxt >= track.variant else nxt  # never the same one twice in a row
            track.variant = nxt
        self._play_cycle(track, frame, 0)

    def _switch_tempo(self, frame: int, rec: Rec, state: str, stems: list[Stem], beat: int, bpm: Fraction, pos: str) -> None:
        old = self._main.get(state)
        if old is None or old.stopped_at is not None or rec.dead_at(frame):
            return
        n = max(1, int(round(TEMPO_XFADE_SECONDS * self.sample_rate)))
        # the rings of cycles already played go on under the new take (and stop with it later);
        # only the old take's own cycle crossfades out
        rings = [c for c in old.clips if c.tail and c.out1 > frame]
        old.clips = [c for c in old.clips if not (c.tail and c.out1 > frame)]
        old.stop(frame, self._table(n, "equal-power", False))
        track = Track(old.rec, state, "main")  # later edits stop it like the take it replaces
        track.clips = rings
        track.stems = stems
        track.bpm = bpm
        track.variant = old.variant
        g = stems[track.variant].grid
        within = beat % (g.bars * g.meter.beats)
        a0 = g.beat_grid.beat_frame(within)
        track.env.add(frame, self._table(n, "equal-power", True), 1.0)
        self._tracks.append(track)
        self._main[state] = track
        self._markers.append(Marker("tempo", frame, pos, state, {"bpm": str(bpm)}))
        self._play_cycle(track, frame, a0)
