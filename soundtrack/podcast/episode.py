"""The library entry points: `fill` a bed of an exact duration, `score_episode` from chapters.

Both take a `Graph` (or a graph .toml path, or a bank directory) and, optionally, the
`StemSource` to play it from; without one, the graph's bank in ``loops/NAME`` is opened, and built
first when it is missing or stale (`bank.open_bank`: the same code the `render` and `serve`
commands use).

**Chapters to states** (`score_episode`): a chapter's explicit ``state`` wins; else its
``event``, resolved from the previous chapter's state through the graph's transitions; else a
title that names a state (case-insensitive, e.g. "Break", "Outro"); else the default rotation:
the first chapter plays the graph's start state, later ones cycle through the other non-terminal
states in file order (podcast.toml: theme, then bed, break, bed, break, ...). The transition
between two chapters is the graph's rule from the one state to the other (its outro, intro,
fade and curve; bridges are not played), else a bar-synced 1-beat equal-power fade into the
next state's intro. The episode ends on the last chapter's state's outro at its very end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from soundtrack.bank import open_bank
from soundtrack.graph import Graph
from soundtrack.podcast.chapters import Chapter
from soundtrack.podcast.plan import (
    DEFAULT_MAX_STRETCH,
    TAIL_CUT_DB,
    Cue,
    EpisodePlan,
    PodcastError,
    plan_fill,
    plan_sections,
)
from soundtrack.podcast.render import render_plan
from soundtrack.stem import StemSource
from soundtrack.timing import as_fraction, round_half_up


@dataclass
class FillResult:
    """A fill: `audio` float32 (frames, channels), exactly ``plan.frames`` frames (empty when
    streamed to a sink), the `plan`, and the sequencer's markers (beats left out)."""

    audio: np.ndarray
    plan: EpisodePlan
    sample_rate: int
    markers: list[Any] = field(default_factory=list)


@dataclass
class EpisodeResult(FillResult):
    """A scored episode: the music, its plan and the chapters (with the state each plays)."""

    chapters: list[Chapter] = field(default_factory=list)


#: The bank's `open_bank` under the name the podcast API (and benchmarks/bench_podcast.py) use.
open_stems = open_bank


def frames_of(seconds: float | str, sample_rate: int, *, what: str = "duration") -> int:
    """round(seconds x sample_rate), exactly (a float goes through its shortest repr)."""
    try:
        s = as_fraction(seconds)
    except (TypeError, ValueError):
        raise PodcastError(f"{what}={seconds!r} must be a number of seconds") from None
    if s <= 0:
        raise PodcastError(f"{what}={seconds!r} must be a positive number of seconds")
    return round_half_up(s * sample_rate)


def _resolve(graph: Graph | str | Path, source: StemSource | None, say: Callable[[str], None] | None) -> tuple[Graph, StemSource]:
    if source is not None:
        if not isinstance(graph, Graph):
            from soundtrack.graph import load_graph

            graph = load_graph(graph)
        return graph, source
    return open_bank(graph, say=say)


def fill(graph: Graph | str | Path, duration: float | str, *, source: StemSource | None = None,
         state: str | None = None, max_stretch: float = DEFAULT_MAX_STRETCH, tail_cut_db: float | None = TAIL_CUT_DB,
         sample_rate: int | None = None, seed: int = 0, sink: Callable[[np.ndarray], None] | None = None,
         say: Callable[[str], None] | None = None) -> FillResult:
    """Music of exactly ``round(duration x sample_rate)`` frames: `state`'s intro, main loops and
    outro, the outro's tail ending on the last frame (see `plan.plan_fill` for the forms).

    `duration` in seconds; `sample_rate` defaults to the graph's (the bank must match it);
    `seed` picks the main variants. With `sink`, blocks go to it and `audio` is empty.
    """
    graph, source = _resolve(graph, source, say)
    sr = int(sample_rate or graph.sample_rate)
    n = frames_of(duration, sr)
    plan = plan_fill(graph, source, n, state=state, max_stretch=max_stretch, tail_cut_db=tail_cut_db, sample_rate=sr)
    r = render_plan(graph, source, plan, seed=seed, sink=sink)
    return FillResult(r.audio, plan, sr, r.markers)


def assign_states(graph: Graph, chapters: Sequence[Chapter]) -> list[Cue]:
    """Each chapter's state and entering rule (see the module docstring), as `Cue`s (frames 0)."""
    from soundtrack.transitions import find_rule

    names = {s.lower(): s for s in graph.states}
    rotation = [s for s, d in graph.states.items() if s != graph.start and not d.terminal]
    if len(rotation) < 2:  # one other state: alternate it with the start state
        rotation = rotation + [graph.start]
    cues: list[Cue] = []
    k = 0
    prev: str | None = None
    for i, ch in enumerate(chapters):
        rule = None
        if ch.state is not None:
            if ch.state not in graph.states:
                raise PodcastError(f"chapter {ch.title!r}: state={ch.state!r} is not in graph {graph.name!r}; "
                                   f"states are {', '.join(graph.states)}")
            state = ch.state
        elif ch.event is not None:
            if prev is None:
                raise PodcastError(f"chapter {ch.title!r}: the first chapter cannot name an event; give it a state")
            rule = find_rule(graph, prev, ch.event)
            if rule is None:
                raise PodcastError(f"chapter {ch.title!r}: state {prev!r} has no transition on event {ch.event!r}")
            state = rule.target
        elif ch.title.strip().lower() in names:
            state = names[ch.title.strip().lower()]
        elif i == 0:
            state = graph.start
        else:
            state = rotation[k % len(rotation)]
            if state == prev and len(rotation) > 1:
                k += 1
                state = rotation[k % len(rotation)]
            k += 1
        if rule is None and prev is not None:
            rule = next((t for t in graph.transitions if t.source == prev and t.target == state), None) or next(
                (t for t in graph.transitions if t.source == "*" and t.target == state), None)
        cues.append(Cue(0, state, ch.title, rule))
        prev = state
    return cues


def plan_episode(graph: Graph, source: StemSource, chapters: Sequence[Chapter], duration: float, *,
                 max_stretch: float = DEFAULT_MAX_STRETCH, tail_cut_db: float | None = TAIL_CUT_DB,
                 sample_rate: int | None = None) -> tuple[EpisodePlan, list[Chapter], list[Cue]]:
    """The plan for an episode of `duration` seconds with `chapters` (sorted by start)."""
    sr = int(sample_rate or graph.sample_rate)
    n = frames_of(duration, sr)
    chs = sorted(chapters, key=lambda c: c.start)
    if not chs:
        chs = [Chapter(0.0, "")]
    starts = [round_half_up(as_fraction(c.start) * sr) for c in chs]
    for (a, b), fa, fb in zip(zip(chs, chs[1:]), starts, starts[1:]):
        if fa == fb:
            raise PodcastError(f"chapters {a.title!r} and {b.title!r} start at the same time ({b.start:g} s)")
    if chs[-1].start * sr >= n:
        raise PodcastError(f"chapter {chs[-1].title!r} starts at {chs[-1].start:g} s, at or after the episode's end "
                           f"({n / sr:g} s)")
    cues = assign_states(graph, chs)
    cues = [Cue(0 if i == 0 else round_half_up(as_fraction(c.start) * sr), q.state, q.title, q.rule)
            for i, (c, q) in enumerate(zip(chs, cues))]
    plan = plan_sections(graph, source, cues, n, max_stretch=max_stretch, tail_cut_db=tail_cut_db, sample_rate=sr)
    out = [Chapter(c.start if i else 0.0, c.title, state=q.state, event=c.event, frame=q.frame, url=c.url)
           for i, (c, q) in enumerate(zip(chs, cues))]
    return plan, out, cues


def score_episode(graph: Graph | str | Path, chapters: Sequence[Chapter], *, duration: float,
                  source: StemSource | None = None, max_stretch: float = DEFAULT_MAX_STRETCH,
                  tail_cut_db: float | None = TAIL_CUT_DB, sample_rate: int | None = None, seed: int = 0,
                  say: Callable[[str], None] | None = None) -> EpisodeResult:
    """Music for a whole episode of `duration` seconds: each chapter's state, every chapter's
    transition landing exactly on its start frame, the last state's outro ending on the last
    frame. Returns the music (float32, frames x channels), the plan and the chapters with
    their states."""
    graph, source = _resolve(graph, source, say)
    plan, chs, cues = plan_episode(graph, source, chapters, duration, max_stretch=max_stretch,
                                   tail_cut_db=tail_cut_db, sample_rate=sample_rate)
    rules = [cues[i + 1].rule if i + 1 < len(cues) else None for i in range(len(plan.sections))]
    r = render_plan(graph, source, plan, rules=rules, seed=seed)
    return EpisodeResult(r.audio, plan, plan.sample_rate, r.markers, chapters=chs)
