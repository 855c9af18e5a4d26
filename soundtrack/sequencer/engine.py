"""The state-graph sequencer: events and parameters in, audio blocks and markers out.

`Sequencer(graph, source, sample_rate=..., seed=...)` is pure and deterministic: no I/O (stems
are fetched from the `StemSource` when a plan is made, never while rendering), no threads, no
sleeps. Its clock (`frame`) is the number of music frames rendered so far (it stands still while
paused; `output_frame` counts paused silence too); every command is turned into typed actions at
exact frames (`actions`), which the `player.Player` runs as the mix reaches them, so rendering in
blocks of any size is bit-identical to rendering in one piece, and the same graph, stems, seed
and calls give the same output bit for bit. The Sequencer holds what was defined and decided
(graph, stems, plans, the playhead of the music to come); the Player what moves.

Semantics (pinned by tests/test_sequencer*.py and tests/test_transitions.py):

- `start(state)` plays the state's intro from the current frame (pickup first, so bar 1 lands
  at the intro's entry frame), then loops its main; without an intro the main starts at once.
- `post(event, at_frame=None)` resolves the transition at the current frame (or a future one)
  with `resolver.resolve` and returns the `TransitionPlan`. An event the current state has
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
- A final safety limiter (`limiter.Limiter`) keeps samples under -1 dBFS; its gain ramps over a
  2 ms look-ahead instead of stepping, so the mix runs that far ahead of the output and a
  command given after a render acts from `earliest_frame` (no added latency: output frame n is
  still mix frame n). Output that never exceeds the ceiling is untouched bit for bit.
- `fade_out(frames, at_frame=...)` fades the limited output to silence per sample, then the
  sequencer stops mixing (markers go on): a session's `stop`, a podcast's cut tail.
- `pause`/`resume`, `set_volume`, `snapshot`/`restore`: see `transport` and `snapshot`.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from fractions import Fraction

import numpy as np

from soundtrack.audio import Curve
from soundtrack.errors import SequencerError, SoundtrackError
from soundtrack.graph import Graph, TransitionDef
from soundtrack.sequencer import snapshot
from soundtrack.sequencer.actions import Edit, Emit, StartMain, StartTrack, SwitchTempo
from soundtrack.sequencer.clips import F32, fade_table
from soundtrack.sequencer.grid import Marker, Span
from soundtrack.sequencer.plans import ParamChange, StingerPlan, TempoChange
from soundtrack.sequencer.player import Player
from soundtrack.sequencer.resolver import (
    Playhead,
    TransitionPlan,
    min_ramp_frames,
    plan_rule,
    resolve,
    target_playhead,
)
from soundtrack.sequencer.tracks import Rec, Track
from soundtrack.sequencer.transport import PauseChange, VolumeChange
from soundtrack.stem import Stem, StemGrid, StemSource
from soundtrack.timing import BeatGrid, Duration, parse_bpm, parse_duration

TRANSPORT_FADE_SECONDS = Fraction(1, 100)  # pause/resume/restore: 10 ms, click-free and prompt
VOLUME_RAMP_SECONDS = Fraction(1, 20)
MAX_TRANSPORT_FADE_SECONDS = 60


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
        self.player = Player(graph, sample_rate=self.sample_rate, seed=self.seed, ceiling_db=ceiling_db)
        self._started = False
        self._channels: int | None = None
        self._stems: dict[tuple, Stem] = {}
        self._grids: dict[tuple, StemGrid] = {}
        self._rec_ids = itertools.count(1)
        self._head: Playhead | None = None  # the music the next event would leave
        self._last: Rec | None = None
        self._stinger_last: dict[str, int] = {}
        self._tempo_request: Fraction | None = None

    # -- public state ------------------------------------------------------------------------
    @property
    def frame(self) -> int:
        """Music frames rendered so far: the session's clock (it stands still while paused)."""
        return self.player.frame

    @property
    def output_frame(self) -> int:
        """Frames output so far, paused silence included (output_frame - frame is the time
        spent paused)."""
        return self.player.transport.output

    @property
    def earliest_frame(self) -> int:
        """The first frame a command given now can act on: the output so far plus what the
        limiter's look-ahead has already mixed (0 before the first render)."""
        return self.player.earliest

    @property
    def state(self) -> str | None:
        """The state playing at the current frame (it changes at a transition's edit point)."""
        return self.player.state

    @property
    def channels(self) -> int:
        return self._channels or 2

    @property
    def session_bars(self) -> int:
        """How many bar markers have been emitted (the session's bar count so far)."""
        return self.player.grid.session_bars

    @property
    def position(self) -> str:
        """bar:beat of the music sounding now, on the grid of `position_state`."""
        return self.player.grid.label_at(self.frame)

    @property
    def position_state(self) -> str | None:
        """The state whose grid `position` is on: after an edit point the outgoing state's outro
        still counts its own bars while `state` is already the target."""
        span = self.player.grid.at(self.frame)
        return None if span is None else span.state

    @property
    def silent_from(self) -> int | None:
        """The first frame of silence after `fade_out` (its fade's end); None before it is called."""
        return self.player.transport.silent_from

    @property
    def paused(self) -> bool:
        """True once a pause's fade has ended (the music clock stands still) until `resume`."""
        return self.player.transport.paused

    @property
    def volume_db(self) -> float:
        return self.player.transport.volume_db

    def pop_markers(self) -> list[Marker]:
        """The markers of the output rendered so far (and refusals) since the last call, in
        frame order; markers of frames mixed ahead of the output wait for their render."""
        return self.player.pop_markers()

    def params(self) -> dict[str, float]:
        return dict(self.player.layers.values)

    def layer_gains(self, frame: int | None = None) -> dict[str, float]:
        """Each param-controlled layer's gain at `frame` (default: now)."""
        return self.player.layers.at(self.frame if frame is None else frame)

    def beat_grid_at(self, frame: int | None = None) -> BeatGrid | None:
        """The beat grid ruling frame `frame` (default: now), tempo variants included; None
        before anything is scheduled."""
        span = self.player.grid.at(self.frame if frame is None else frame)
        return None if span is None else span.grid

    def next_bar_frame(self) -> int:
        """Frame of the next downbeat at or after now, on whatever will be playing."""
        return self.next_beat_frame(bar=True)

    def next_beat_frame(self, *, bar: bool = False) -> int:
        """Frame of the next beat (or downbeat) at or after now, on what will be playing."""
        f = self.player.grid.next_beat_frame(self.frame, bar=bar)
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
        # nothing plays before a start: its position is that of the music it begins (an intro
        # counts down to bar 1), as the markers there say
        return replace(plan, position=self.player.grid.label_at(plan.edit_frame))

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
            self.player.schedule.at(t, Emit(Marker("rejected", t, "", plan.source, {"event": event, "reason": plan.reason})))
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
        span = self.player.grid.at(earliest) or self.player.grid.at(t)
        if sdef.sync == "immediate" or span is None:
            entry, position = earliest, (span.label(earliest) if span else "")
        else:
            every = span.grid.meter.beats if sdef.sync == "bar" else 1
            entry = self.player.grid.next_grid(span, earliest, every)
            position = self.player.grid.label_at(entry)
        last = self._stinger_last.get(name)
        guard = int(round(sdef.min_interval * self.sample_rate))
        if last is not None and entry - last < guard:
            reason = (f"stinger {name!r} played at frame {last}; min_interval = {float(sdef.min_interval):g}s "
                      f"allows it again from frame {last + guard}")
            self.player.schedule.at(t, Emit(Marker("rejected", t, "", self.player.state, {"stinger": name, "reason": reason})))
            return StingerPlan(False, name, posted, reason=reason)
        self._stinger_last[name] = entry
        start = entry - stem.grid.entry
        a0 = max(0, t - start)
        track = Track(0, None, "stinger", music=False)
        self.player.oneshot(track, stem, start + a0, a0, layered=False, gain=10 ** (sdef.gain_db / 20))
        self.player.schedule.at(start + a0, StartTrack(None, track))
        self.player.schedule.at(entry, Emit(Marker("stinger", entry, position, self._head.state if self._head else None, {"name": name, "start": start})))
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
        span = self.player.grid.at(t)
        if span is None or pdef.quantize == "immediate":
            q = t
        else:
            q = self.player.grid.next_grid(span, t, span.grid.meter.beats if pdef.quantize == "bar" else 1)
        grid = span.grid if span else BeatGrid(self.sample_rate, self.graph.tempo or Fraction(120), origin=0)
        dur = pdef.ramp if ramp is None else parse_duration(ramp)
        n = max(min_ramp_frames(self.sample_rate), dur.to_frames(grid))
        table = fade_table(n, "s-curve", True)  # a client's ramp length: not cached
        gains = self.player.layers.ramp(pdef, float(value), q, n, table)
        pos = self.player.grid.label_at(q)
        self.player.schedule.at(max(q, t), Emit(Marker("param", q, pos, self._head.state if self._head else None, {"name": name, "value": float(value), "gains": gains, "ramp_frames": n})))
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
        self.player.recs.append(rec)
        self._last = rec
        new_head = Playhead(state, BeatGrid(self.sample_rate, choice, head.grid.meter, f), n, head.main_beats, entry=f)
        self._head = new_head
        pos = head.label(f)
        self.player.schedule.at(f, SwitchTempo(rec, state, tuple(stems), n, choice, pos))
        self.player.grid.add(Span(f, rec.id, state, "main", state, new_head.grid, n))
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
        self.player.transport.fade_out(t, fade_table(n, curve, False))
        return n

    # -- transport -------------------------------------------------------------------------------
    def _short(self, fade: Duration | str | float | None, default: Fraction) -> int:
        """A transport fade in frames: at least the 1 ms minimum ramp, at most MAX_TRANSPORT_FADE."""
        if fade is None:
            n = int(round(default * self.sample_rate))
        else:
            d = parse_duration(fade)
            span = self.player.grid.at(self.frame)
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
        return self.player.transport.pause(self.earliest_frame, self._short(fade, TRANSPORT_FADE_SECONDS))

    def resume(self, *, fade: Duration | str | float | None = None) -> PauseChange:
        """Resume a pause: the music continues with exactly the frames that would have followed
        where it stopped, fading in (default 10 ms)."""
        return self.player.transport.resume(self.earliest_frame, self._short(fade, TRANSPORT_FADE_SECONDS))

    def snapshot(self) -> dict:
        """The session's musical position at `earliest_frame`, JSON- and msgpack-safe, for
        `restore` (see `soundtrack.sequencer.snapshot`)."""
        return snapshot.take(self)

    def restore(self, snap: dict, *, fade: Duration | str | float | None = None) -> None:
        """Start this fresh sequencer (instead of `start`) at a `snapshot`'s position, fading in
        (default 10 ms); frames count from 0 again."""
        snapshot.restore(self, snap, self._short(fade, TRANSPORT_FADE_SECONDS))

    def set_volume(self, db: float, *, ramp: Duration | str | float | None = None) -> VolumeChange:
        """Ramp the master volume (before the safety limiter) to `db` (-120 = silence, at most
        +12) from the earliest frame, per sample, over `ramp` (default 50 ms)."""
        return self.player.transport.set_volume(db, self.earliest_frame, self._short(ramp, VOLUME_RAMP_SECONDS))

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
        self.player.render(out)
        return out

    # -- internals: scheduling -----------------------------------------------------------------
    def _require_started(self) -> None:
        if not self._started:
            raise SequencerError("the sequencer is not started: call start(state) first")

    def _posted_frame(self, at_frame: int | None) -> int:
        """The frame a command is given for: now, or `at_frame` (reported as `posted_frame`)."""
        return self.frame if at_frame is None else int(at_frame)

    def _check_frame(self, at_frame: int | None) -> int:
        """The frame a command acts from: now (or `at_frame`), but never inside what is
        already mixed (the limiter's look-ahead past the output)."""
        if at_frame is None:
            return self.player.earliest
        if isinstance(at_frame, bool) or not isinstance(at_frame, (int, np.integer)):
            raise TypeError(f"at_frame must be an int, got {at_frame!r}")
        if at_frame < self.frame:
            raise SequencerError(f"at_frame={at_frame} is in the past: {self.frame} frames are already rendered")
        return max(int(at_frame), self.player.mixed)

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
        self.player.grid.drop_rec(rec.id)
        self._head = rec.prev_head
        self.player.schedule.at(t, Emit(Marker("cancelled", t, "", self.player.state, {"plan": rec.id})))

    def _schedule(self, plan: TransitionPlan, rec: Rec) -> None:
        """Turn an accepted plan into actions at exact frames."""
        t = plan.posted_frame
        target = plan.target
        assert target is not None and plan.target_grid is not None
        tempo = self._entry_tempo(target)
        variants = [self._stem(target, "main", v, tempo=tempo) for v in range(self.graph.states[target].variants)]
        self.player.recs.append(rec)
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
            self.player.oneshot(track, stem, seg.start + a0, a0, layered=True, gain=1.0)
            self.player.schedule.at(seg.start + a0, StartTrack(rec, track))
            if seg.role == "outro" and head is not None and head.state == plan.source:
                origin_beat = head.beat_at_or_after(seg.entry)
            else:
                origin_beat = -sum(beats[i:])
            span = Span(seg.entry, rec.id, owner, seg.role, seg.name,
                        BeatGrid(self.sample_rate, stem.grid.bpm, stem.grid.meter, seg.entry), origin_beat)
            self.player.schedule.at(seg.entry, Emit(Marker("segment", seg.entry, span.label(seg.entry), owner,
                                                            {"name": seg.name, "role": seg.role, "plan": rec.id}), rec))
            self.player.grid.add(span)
        self.player.schedule.at(plan.edit_frame, Edit(rec, plan))
        direct = not plan.segments
        self.player.schedule.at(plan.main_frame, StartMain(rec, target, tuple(variants), plan.fade_frames if direct else 0, plan.curve))
        main_beats = self._main_beats(target)
        self.player.grid.add(Span(plan.main_frame, rec.id, target, "main", target, plan.target_grid, 0))
        self._head = target_playhead(plan, main_beats)
