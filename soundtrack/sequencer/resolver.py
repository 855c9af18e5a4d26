"""The transition resolver: one pure function from (graph, playhead, event, frame) to a plan.

Everything here is integer output frames. The sequencer owns the mutable position; this module
only answers "if `event` arrives at frame `t` while `playhead` describes the music, what happens
and exactly when?" so it can be tested exhaustively on its own.

Rules, in the order they apply:

- **Lookup**, most specific first: a transition whose ``from`` names the current state, then
  one from ``*``. A ``*`` rule never restarts the state that is already playing.
- **Chain**: the source's outro (``outro = true`` and the state has one), the bridge (if named),
  the target's intro (``intro = true`` and the state has one), then the target's main loop.
  The first segment's entry lands on the edit point; each next segment's entry lands on the
  previous one's exit; the target main's bar 1 lands on the last exit (on the edit point if
  the chain is empty). Segments in the chain hand over without fades: their tails ring out.
- **Edit point**: the first grid point of the requested kind at or after ``t + lookahead``,
  where lookahead is the pickup (pre-entry audio) of the first segment of the chain, so the
  pickup can play in full from ``t`` on. Grid points are counted on the outgoing state's
  grid: beat indices from its first main downbeat (bar 1 of the main loop = beat 0; intro beats
  are negative). ``beat``: any beat; ``bar``: a downbeat; ``phrase``: a downbeat whose bar index
  is a multiple of ``phrase``; ``end``: the end of the playing segment (the intro's exit, or the
  end of the current main loop cycle); ``cue:NAME``: the next occurrence of the cue inside the
  main loop; ``immediate``: ``t + lookahead`` itself.
- **Fades**: the music playing before the edit fades out over ``fade`` frames starting at the
  edit point (its tail rings under the fade instead of a new loop cycle). An incoming segment
  with a pickup enters at full level (its pickup is its way in); an incoming main loop with no
  pickup fades in over the same window. A fade of 0 is still a `MIN_RAMP_SECONDS` ramp.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from soundtrack.errors import SequencerError
from soundtrack.graph import Graph, TransitionDef
from soundtrack.sequencer.grid import position_label
from soundtrack.stem import StemGrid
from soundtrack.timing import BeatGrid

MIN_RAMP_SECONDS = 0.001  # the shortest gain change anywhere: a cut is a 1 ms ramp


def min_ramp_frames(sample_rate: int) -> int:
    """Frames in the shortest allowed ramp (1 ms, at least 1 frame)."""
    return max(1, math.ceil(sample_rate * MIN_RAMP_SECONDS))


@dataclass(frozen=True)
class Playhead:
    """What the resolver needs to know about the music a new event would leave.

    `grid` is the state's beat grid in output frames and `origin_beat` the state beat index at
    `grid.origin` (state beat 0 = bar 1 of the first main loop cycle, so intro beats are
    negative; after a tempo change the grid restarts at the change with a larger origin_beat).
    `main_beats` is the length of one main loop cycle in beats; `entry` the first output frame
    at which this playhead describes what is heard (the frame its state took over).
    """

    state: str
    grid: BeatGrid
    origin_beat: int
    main_beats: int
    entry: int = 0

    def frame_of(self, beat: int) -> int:
        """Output frame of state beat index `beat`."""
        return self.grid.beat_frame(beat - self.origin_beat)

    def beat_at_or_after(self, frame: int) -> int:
        """The first state beat index whose frame is at or after `frame`."""
        return self.grid.beat_at_or_after(frame) + self.origin_beat

    def next_point(self, frame: int, *, period: int, phase: int = 0, lowest: int | None = None) -> int:
        """First frame >= `frame` on a state beat n with n = phase (mod period) and n >= lowest."""
        n = self.beat_at_or_after(frame)
        if lowest is not None and n < lowest:
            n = lowest
        n += (phase - n) % period
        return self.frame_of(n)

    def label(self, frame: int) -> str:
        """Bar:beat of `frame` in this state (bars count from the first main downbeat; intro
        bars are shown as ``i1:1`` counting from the intro's first bar)."""
        return position_label(self.grid.beat_index_at(frame) + self.origin_beat, self.grid.meter.beats)


@dataclass(frozen=True)
class SegmentCue:
    """One segment a plan plays: audio frame 0 sounds at output frame `start`, its bar 1 at
    `entry` and its last bar ends at `exit` (its tail, if any, rings on after that)."""

    name: str
    role: str
    start: int
    entry: int
    exit: int


@dataclass(frozen=True)
class TransitionPlan:
    """What a `post` will do, in integer output frames, or why it will do nothing.

    `edit_frame` is the grid point the transition lands on, `position` its bar:beat on the
    outgoing grid. `segments` lists outro / bridge / intro in playing order; the target's
    main loop bar 1 lands on `main_frame`. `commit_frame` is the first frame at which
    anything of the plan sounds (a pickup may start before the edit point): a newer event
    posted before it replaces the plan; one posted at or after it queues behind it.
    """

    accepted: bool
    event: str | None
    source: str | None
    target: str | None
    posted_frame: int
    reason: str = ""
    rule: int | None = None
    sync: str = ""
    edit_frame: int = -1
    position: str = ""
    fade_frames: int = 0
    curve: str = "equal-power"
    segments: tuple[SegmentCue, ...] = ()
    main_frame: int = -1
    commit_frame: int = -1
    target_grid: BeatGrid | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("target_grid")
        d["segments"] = [asdict(s) for s in self.segments]
        return d


GridLookup = Callable[[str, str], StemGrid]
"""(name, role) -> the StemGrid of that segment (variant 0, the state's own tempo)."""


def find_rule(graph: Graph, state: str, event: str) -> TransitionDef | None:
    """The transition `event` triggers in `state`: an exact source first, then ``*``.

    A ``*`` rule whose target is `state` itself is skipped: a wildcard never restarts the state
    that is playing.
    """
    exact = [t for t in graph.transitions if t.on == event and t.source == state]
    if exact:
        return exact[0]
    wild = [t for t in graph.transitions if t.on == event and t.source == "*" and t.target != state]
    return wild[0] if wild else None


def rejected(event: str | None, state: str | None, t: int, reason: str) -> TransitionPlan:
    return TransitionPlan(accepted=False, event=event, source=state, target=None, posted_frame=t, reason=reason)


def edit_point(playhead: Playhead, rule: TransitionDef, t: int, graph: Graph) -> int:
    """The first grid point of `rule.sync` on the playhead's grid at or after frame `t`."""
    bpb = playhead.grid.meter.beats
    sync = rule.sync
    if sync == "immediate":
        return t
    if sync == "beat":
        return playhead.next_point(t, period=1)
    if sync == "bar":
        return playhead.next_point(t, period=bpb)
    if sync == "phrase":
        return playhead.next_point(t, period=bpb * rule.phrase)
    if sync == "end":
        return playhead.next_point(t, period=playhead.main_beats, lowest=0)
    if sync == "cue":
        cue = graph.states[playhead.state].cues.get(rule.cue or "")
        if cue is None:
            raise SequencerError(
                f"transitions[{rule.index}] syncs to cue {rule.cue!r}, which state {playhead.state!r} does not define "
                f"(its cues: {', '.join(graph.states[playhead.state].cues) or 'none'})"
            )
        if cue.bar is None:  # the graph validator allows bar positions only
            raise SequencerError(f"cue {rule.cue!r} of state {playhead.state!r} must be a bar position such as 'bar 5'")
        phase = (cue.bar - 1) * bpb + (cue.beat - 1)
        return playhead.next_point(t, period=playhead.main_beats, phase=phase % playhead.main_beats, lowest=0)
    raise SequencerError(f"sync={sync!r} must be one of immediate, beat, bar, phrase, end, cue")


def chain_roles(graph: Graph, rule: TransitionDef, source: str) -> list[tuple[str, str]]:
    """The (name, role) segments a rule plays before the target's main loop, in order."""
    chain: list[tuple[str, str]] = []
    if rule.outro and graph.states[source].outro > 0:
        chain.append((source, "outro"))
    if rule.bridge is not None:
        chain.append((rule.bridge, "bridge"))
    if rule.intro and graph.states[rule.target].intro > 0:
        chain.append((rule.target, "intro"))
    return chain


def place_chain(
    playhead: Playhead,
    rule: TransitionDef,
    t: int,
    chain: Sequence[tuple[str, str]],
    seg_grids: Sequence[StemGrid],
    graph: Graph,
) -> tuple[int, tuple[SegmentCue, ...], int]:
    """Where a rule posted at frame `t` lands: (edit frame, its chain's segments, the frame the
    target's main bar 1 lands on). `chain` is what `chain_roles` gives and `seg_grids` their
    grids at the tempo they will play. The podcast planner lays out its sections with this too,
    so an exact-duration plan and the live sequencer share one edit-point implementation."""
    lookahead = seg_grids[0].entry if seg_grids else 0
    edit = edit_point(playhead, rule, max(t, playhead.entry) + lookahead, graph)
    segments = []
    entry = edit
    for (name, role), g in zip(chain, seg_grids):
        segments.append(SegmentCue(name=name, role=role, start=entry - g.entry, entry=entry, exit=entry + g.body_frames))
        entry += g.body_frames
    return edit, tuple(segments), entry


def resolve(
    graph: Graph,
    playhead: Playhead,
    event: str,
    t: int,
    grids: GridLookup,
    *,
    sample_rate: int,
) -> TransitionPlan:
    """Plan the transition `event` triggers at output frame `t` (see the module docstring).

    Returns a plan with ``accepted=False`` and a reason when the state has no transition for a
    known event; raises `SequencerError` for an event the graph does not know at all.
    """
    if event not in graph.events():
        raise SequencerError(f"event {event!r} is not in graph {graph.name!r}; events are {', '.join(sorted(graph.events()))}")
    state = playhead.state
    rule = find_rule(graph, state, event)
    if rule is None:
        valid = sorted({r.on for r in graph.transitions_from(state) if r.on and not (r.source == "*" and r.target == state)})
        return rejected(event, state, t, f"state {state!r} has no transition on {event!r}; its events are {', '.join(valid) or 'none'}")
    return plan_rule(graph, playhead, rule, t, grids, sample_rate=sample_rate, event=event)


def plan_rule(
    graph: Graph,
    playhead: Playhead,
    rule: TransitionDef,
    t: int,
    grids: GridLookup,
    *,
    sample_rate: int,
    event: str | None = None,
) -> TransitionPlan:
    """Plan one given rule from `playhead` at frame `t` (the resolver after the lookup)."""
    state = playhead.state
    chain = chain_roles(graph, rule, state)
    seg_grids = [grids(name, role) for name, role in chain]
    edit, segments, entry = place_chain(playhead, rule, t, chain, seg_grids, graph)
    fade = max(min_ramp_frames(sample_rate), rule.fade.to_frames(playhead.grid))
    main_grid = grids(rule.target, "main")
    commit = min([edit] + [s.start for s in segments])
    return TransitionPlan(
        accepted=True,
        event=event,
        source=state,
        target=rule.target,
        posted_frame=t,
        rule=rule.index,
        sync=rule.sync if rule.sync != "cue" else f"cue:{rule.cue}",
        edit_frame=edit,
        position=playhead.label(edit),
        fade_frames=fade,
        curve=rule.curve,
        segments=segments,
        main_frame=entry,
        commit_frame=commit,
        target_grid=BeatGrid(sample_rate, main_grid.bpm, main_grid.meter, entry),
    )


def target_playhead(plan: TransitionPlan, main_beats: int) -> Playhead:
    """The playhead that describes the target state once `plan` has fired."""
    if plan.target_grid is None or plan.target is None:
        raise SequencerError("a rejected plan has no target playhead")
    first_target = next((s.entry for s in plan.segments if s.role == "intro"), plan.main_frame)
    return Playhead(plan.target, plan.target_grid, 0, main_beats, entry=first_target)
