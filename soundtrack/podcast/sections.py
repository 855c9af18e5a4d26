"""Episode sections: a run of chapters as exact sections, each chapter's own music on its frame.

A *run* is a stretch of continuous music (the whole episode, or the part between two silent
chapters). `plan_run` turns its cues (chapter frames and states, relative to the run's start)
into `Section`s:

- Every section but the last is an exact whole number of bars (or beats, when bars would need
  more than `max_stretch`) at its own rational tempo: its intro (when entered with one), its
  main, and its outro (when the rule into the next chapter asks for one), **ending exactly on
  the next chapter's frame**, where the next state's first bar lands. So a chapter is its own
  state's music from its first frame to its last: the outro that closes a state belongs to that
  state's chapter, never to the next one.
- A chapter too short for its intro and outro and at least half of itself in main loops drops
  the outro, then the intro (`MIN_MAIN_SHARE`).
- A chapter too short for any whole number of beats within `max_stretch` keeps its tempo and its
  next transition lands on the chapter's frame off the beat (sync ``immediate``, smoothed by the
  rule's fade).
- The last section is a fill (see `plan`) that ends on its state's outro, its ring-out ending on
  the run's last frame; a last chapter too short for the whole ring-out has its tail faded to fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from soundtrack.graph import Sync
from soundtrack.podcast.plan import (
    DEFAULT_MAX_STRETCH,
    TAIL_CUT_DB,
    EpisodePlan,
    PodcastError,
    Section,
    StateGrids,
    _final_section,
    _fits,
    check_stretch,
    leave_section,
    plan_fill,
    state_grids,
)
from soundtrack.stem import StemSource
from soundtrack.stretch import stretched_grid
from soundtrack.timing import BeatGrid

MIN_MAIN_SHARE = Fraction(1, 2)  # a chapter's main loops fill at least this much of it, or its outro/intro go


@dataclass(frozen=True)
class Cue:
    """One planned section of a run: `state` from frame `frame` (the first at 0), entered by the
    graph's `rule` (None: the default, a bar-synced 1-beat equal-power fade with the target's
    intro); `title` for messages."""

    frame: int
    state: str
    title: str = ""
    rule: Any = None


def _exact_section(name: str, sg: StateGrids, cue: Cue, *, origin: int, start: int, end: int, intro: bool,
                   outro: bool, max_stretch: float, sample_rate: int, min_main: int = 0) -> Section | None:
    """A middle section: bar 1 at `origin`; intro (if `intro`), whole beats of main, its outro
    (if `outro`) ending exactly on `end`. None when no such section has `min_main` frames of main."""
    length = end - origin
    bpb = sg.beats_per_bar
    # the intro and outro this section plays (None: none, or one of no bars)
    ig = sg.intro if intro and sg.intro is not None and sg.intro.bars else None
    og = sg.outro if outro and sg.outro is not None and sg.outro.bars else None
    fixed_i = ig.bars * bpb if ig is not None else 0
    fixed_o = og.bars * bpb if og is not None else 0
    fpb0 = BeatGrid(sample_rate, sg.tempo, sg.main.meter).frames_per_beat
    limit = Fraction(max_stretch).limit_denominator(10**9)
    best: tuple[int, Fraction, Fraction, Sync, int, int] | None = None
    units_syncs: tuple[tuple[int, Sync], ...] = ((bpb, "bar"), (1, "beat"))
    for unit, sync in units_syncs:
        base = Fraction(length) / fpb0 / unit
        for units in sorted({math.floor(base) - 1, math.floor(base), math.ceil(base), math.ceil(base) + 1}):
            beats = units * unit
            mb = beats - fixed_i - fixed_o
            if mb <= 0 or (unit == bpb and mb % bpb):
                continue
            for delta in (0, -1, 1, -2, 2):  # the intro's and outro's rounding can move the end a frame
                fpb = Fraction(length + delta, beats)
                ratio = fpb / fpb0
                tempo = Fraction(sample_rate * 60) / fpb
                if abs(ratio - 1) > limit or not 20 <= tempo <= 300:
                    continue
                ib = stretched_grid(ig, tempo).body_frames if ig is not None else 0
                edit, after = leave_section(sg, tempo, origin + ib, sync=sync, entry=start, beats=mb,
                                            outro=stretched_grid(og, tempo) if og is not None else None)
                if after != end or edit - origin - ib < min_main:
                    continue
                if best is None or abs(ratio - 1) < abs(best[2] - 1):
                    best = (mb, tempo, ratio, sync, edit, ib)
                break
        if best is not None:
            break
    if best is None and length > 0:
        # no whole beat fits within max_stretch (a short chapter): no stretch, and the transition
        # lands where it must, off the beat grid (its fade smooths the cut)
        ib = stretched_grid(ig, sg.tempo).body_frames if ig is not None else 0
        outro_grid = stretched_grid(og, sg.tempo) if og is not None else None
        edit, _ = leave_section(sg, sg.tempo, origin + ib, sync="immediate", outro=outro_grid, entry=start,
                                frame=end - (outro_grid.body_frames if outro_grid is not None else 0))
        if edit - origin - ib >= max(1, min_main):
            best = (max(1, math.floor((edit - origin - ib) / fpb0)), sg.tempo, Fraction(1), "immediate", edit, ib)
    if best is None:
        return None
    mb, tempo, ratio, sync, edit, ib = best
    intro_bars = ig.bars if ig is not None else 0
    outro_bars = og.bars if og is not None else 0
    bar = BeatGrid(sample_rate, tempo, sg.main.meter).frames_per_bar
    landings = []
    if intro_bars:
        landings.append({"what": "intro bar 1", "frame": origin})
    landings.append({"what": f"main bar 1 ({mb / bpb:g} bars)", "frame": origin + ib})
    if outro_bars:
        landings.append({"what": f"outro bar 1 ({outro_bars} bars, {sync})", "frame": edit})
    landings.append({"what": f"next chapter ({'after the outro' if outro_bars else sync})", "frame": end})
    return Section(name=name, state=sg.state, form="full" if intro_bars else "no-intro", tempo=tempo,
                   base_tempo=sg.tempo, ratio=ratio, start=start, origin=origin, intro_bars=intro_bars,
                   main_beats=mb, outro_bars=outro_bars, beats_per_bar=bpb, edit=edit, exit=end, end=end, sync=sync,
                   title=cue.title, bar_frames=bar, landings=landings)


def _middle(name: str, sg: StateGrids, cue: Cue, *, origin: int, start: int, end: int, intro: bool, outro: bool,
            max_stretch: float, sample_rate: int, first: bool) -> Section:
    """The best middle section: intro and outro kept while the main still fills `MIN_MAIN_SHARE`
    of the chapter; else the outro goes, then the intro."""
    length = end - origin
    combos = [(intro, outro), (intro, False), (False, outro), (False, False)]
    if first:  # the first section's intro holds the pickup the run starts with: keep it
        combos = [c for c in combos if c[0] == intro]
    seen = set()
    for want_main in (int(length * MIN_MAIN_SHARE), 0):
        for i, o in combos:
            if (i, o, want_main) in seen or (i and sg.intro is None) or (o and sg.outro is None):
                continue
            seen.add((i, o, want_main))
            sec = _exact_section(name, sg, cue, origin=origin, start=start, end=end, intro=i, outro=o,
                                 max_stretch=max_stretch, sample_rate=sample_rate, min_main=want_main)
            if sec is not None:
                return sec
    raise PodcastError(
        f"chapter {cue.title or cue.state!r} at {origin / sample_rate:.3f} s is {length / sample_rate:.3f} s long: "
        f"no whole number of beats of state {sg.state!r} ({float(sg.tempo):g} bpm) fits it within "
        f"max_stretch={max_stretch:g}; merge it with a neighbour or raise --max-stretch")


def plan_run(graph: Any, source: StemSource, cues: list[Cue], frames: int, *,
             max_stretch: float = DEFAULT_MAX_STRETCH, tail_cut_db: float | None = TAIL_CUT_DB,
             sample_rate: int | None = None, allow_skip: bool = True) -> EpisodePlan:
    """Plan a run of exactly `frames` frames whose sections start on `cues` (sorted, the first at
    frame 0): each chapter's state lands exactly on its frame, the last ends on its outro's
    ring-out at the end (see the module docstring). Frames are relative to the run's start."""
    sr = int(sample_rate or graph.sample_rate)
    check_stretch(max_stretch)
    if not cues or cues[0].frame != 0:
        raise PodcastError("a run of music needs a first section starting at its first frame")
    if len(cues) == 1:
        p = plan_fill(graph, source, frames, state=cues[0].state, max_stretch=max_stretch, tail_cut_db=tail_cut_db,
                      sample_rate=sr)
        if not allow_skip and p.sections[0].skip:
            raise PodcastError(f"chapter {cues[0].title or cues[0].state!r}: cannot fill {frames / sr:.3f} s exactly")
        return EpisodePlan(tuple(replace(s, title=cues[0].title) for s in p.sections), p.frames, sr, p.max_stretch)
    grids: dict[str, StateGrids] = {}

    def sg_of(state: str) -> StateGrids:
        if state not in grids:
            grids[state] = state_grids(graph, source, state, tail_cut_db=tail_cut_db)
            if grids[state].main.sample_rate != sr:
                raise PodcastError(f"the stems of state {state!r} are at {grids[state].main.sample_rate} Hz, not {sr} Hz")
        return grids[state]

    sections: list[Section] = []
    origin = start = 0
    intro_in = True
    for i, cue in enumerate(cues):
        sg = sg_of(cue.state)
        name = f"s{i}"
        if i + 1 < len(cues):
            nxt = cues[i + 1]
            rule = nxt.rule
            outro = bool(rule is not None and rule.outro and sg.outro is not None)
            intro = intro_in and sg.intro is not None
            if i == 0:
                # the pickup before bar 1 stretches with the section: find the fixed point
                origin = stretched_grid(sg.intro, sg.tempo).entry if sg.intro is not None else 0
                for _ in range(6):
                    sec = _middle(name, sg, cue, origin=origin, start=0, end=nxt.frame, intro=intro, outro=outro,
                                  max_stretch=max_stretch, sample_rate=sr, first=True)
                    lead = stretched_grid(sg.intro, sec.tempo).entry if sec.intro_bars and sg.intro is not None else 0
                    if lead == origin:
                        break
                    origin = lead
                else:
                    raise PodcastError(f"chapter {cue.title!r}: cannot place the intro's pickup exactly")
            else:
                sec = _middle(name, sg, cue, origin=origin, start=start, end=nxt.frame, intro=intro, outro=outro,
                              max_stretch=max_stretch, sample_rate=sr, first=False)
            sections.append(sec)
            nsg = sg_of(nxt.state)
            origin = start = nxt.frame
            intro_in = (rule is None or rule.intro) and nsg.intro is not None
            continue
        n = frames - origin
        last: Section | None = None
        for with_intro in ((True, False) if intro_in else (False,)):
            g = sg if with_intro else sg.without_intro()
            fits = [f for f in _fits(g, n, max_stretch=max_stretch, with_lead=False, forms=("full",))
                    if f.form == "full"]
            good = [f for f in fits if not f.cost[0]]
            if good or (fits and not with_intro):
                last = _final_section(name, g, (good or fits)[0], start=origin, end=frames, sample_rate=sr,
                                      title=cue.title)
                break
        if last is None:
            raise PodcastError(
                f"the last chapter {cue.title or cue.state!r} at {origin / sr:.3f} s leaves {n / sr:.3f} s, too short "
                f"for state {cue.state!r} to end on its outro within max_stretch={max_stretch:g}")
        # _final_section measures from the section's start; a middle-of-run start has no lead
        sections.append(replace(last, origin=origin, start=origin))
    return EpisodePlan(tuple(sections), frames, sr, max_stretch)


def shift_section(sec: Section, offset: int, *, run: int, name: str | None = None) -> Section:
    """`sec` with every frame moved by `offset` (a run placed in its episode)."""
    return replace(sec, start=sec.start + offset, origin=sec.origin + offset, edit=sec.edit + offset,
                   exit=sec.exit + offset, end=sec.end + offset, run=run, name=name or sec.name,
                   landings=[{**x, "frame": x["frame"] + offset} for x in sec.landings])


# Kept for callers of the earlier, single-run API.
plan_sections = plan_run
