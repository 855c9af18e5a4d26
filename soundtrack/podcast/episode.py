"""The library entry points: `fill` a bed of an exact duration, `score_episode` from chapters.

Both take a `Graph` (or a graph .toml path, or a bank directory) and, optionally, the
`StemSource` to play it from; without one, the graph's bank is opened (next to the graph, see
`bank.default_out`), and built first when it is missing or stale (`bank.open_bank`: the same
code the `render` and `serve` commands use).

**Chapters to states** (`assign_states`): a chapter's explicit ``state`` wins (in Audacity
labels, after a ``|``: ``Interview | bed``); else its ``event``, resolved from the previous
chapter's state through the graph's transitions; else a title that names a state
(case-insensitive, e.g. "Break", "Outro"); else the default: the first chapter plays the graph's
start state, the last (of two or more) the graph's terminal state when it has one, and the ones
between cycle through the other non-terminal states in file order (podcast.toml: theme, then
bed, break, bed, break, ..., outro). The transition between two chapters is the graph's rule
from the one state to the other (its outro, intro, fade and curve; bridges are not played),
else a bar-synced 1-beat equal-power fade into the next state's intro.

**Where music plays** (`plan_episode`): under every chapter but those marked silent
(``music = false``), over a chapter's first seconds only (``music = "20s"``), and, with
`MusicSpans`, only over the episode's first and/or last seconds (intro- and outro-only beds).
Each stretch of continuous music is a run, planned by `sections.plan_run`: each chapter's state
from its frame, the last ending on its outro's ring-out where the music stops. A first chapter
that starts after 0 gets its music from 0 (`lead_in="music"`, with a warning) or silence
before it (`lead_in="silence"`); it is never moved. A sting (a graph stinger) can mark every
chapter change or chosen ones; its entry lands on the chapter's frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np

from soundtrack.bank import open_bank
from soundtrack.graph import Graph
from soundtrack.podcast.chapters import Chapter, parse_time
from soundtrack.podcast.plan import (
    DEFAULT_MAX_STRETCH,
    MAX_FILL_SECONDS,
    MIN_FILL_SECONDS,
    TAIL_CUT_DB,
    EpisodePlan,
    PodcastError,
    Section,
    Sting,
    check_stretch,
    plan_fill,
)
from soundtrack.podcast.render import render_plan
from soundtrack.podcast.sections import Cue, plan_run, shift_section
from soundtrack.stem import StemSource
from soundtrack.timing import as_fraction, round_half_up

LEAD_INS = ("music", "silence")


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
    """A scored episode: the music, its plan, the chapters (with the state each plays, None when
    silent) and any warnings about how the chapters were read."""

    chapters: list[Chapter] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MusicSpans:
    """Music only over the episode's first `intro` and/or last `outro` seconds (None: no limit
    on that side; both None: music throughout)."""

    intro: float | None = None
    outro: float | None = None

    @classmethod
    def parse(cls, text: str | None) -> "MusicSpans":
        """``all``, ``intro=20s``, ``outro=30s``, ``intro=20s,outro=1:00``."""
        if text is None or text.strip().lower() in ("", "all"):
            return cls()
        vals: dict[str, float] = {}
        for part in text.split(","):
            k, eq, v = part.partition("=")
            k = k.strip().lower()
            if not eq or k not in ("intro", "outro") or k in vals:
                raise PodcastError(f"--music {text!r} must be all, intro=SECONDS, outro=SECONDS or both "
                                   "(e.g. intro=20s,outro=30s)")
            vals[k] = parse_time(v, f"--music {k}")
            if not 0 < vals[k] <= MAX_FILL_SECONDS:
                raise PodcastError(f"--music {k}={v.strip()} must be more than 0 s")
        return cls(vals.get("intro"), vals.get("outro"))

    @property
    def everywhere(self) -> bool:
        return self.intro is None and self.outro is None


@dataclass(frozen=True)
class EpisodeLayout:
    """What `plan_episode` decided: the plan, the chapters with their states and frames, the rule
    into each section (aligned with ``plan.sections``) and warnings for the user."""

    plan: EpisodePlan
    chapters: list[Chapter]
    rules: list[Any]
    warnings: list[str]
    sections_of: list[int | None] = field(default_factory=list)  # per chapter: its first section's index


#: The bank's `open_bank` under the name the podcast API (and benchmarks/bench_podcast.py) use.
open_stems = open_bank


def frames_of(seconds: float | str | Fraction, sample_rate: int, *, what: str = "duration") -> int:
    """round(seconds x sample_rate), exactly (a float goes through its shortest repr; a string may
    also be mm:ss(.s) or hh:mm:ss(.s)), refused above `MAX_FILL_SECONDS` before any work."""
    try:
        s = as_fraction(parse_time(seconds, what) if isinstance(seconds, str) and ":" in seconds else seconds)
    except (TypeError, ValueError, ArithmeticError):
        raise PodcastError(f"{what}={seconds!r} must be a number of seconds (or mm:ss, hh:mm:ss)") from None
    if s <= 0:
        raise PodcastError(f"{what}={seconds!r} must be a positive number of seconds")
    if s > MAX_FILL_SECONDS:
        raise PodcastError(f"{what}={seconds!r} is too long: the maximum is {MAX_FILL_SECONDS} s (24 h)")
    return round_half_up(s * sample_rate)


def check_duration(seconds: float | str, sample_rate: int = 48_000, *, what: str = "duration") -> int:
    """`frames_of` plus the lower limit: for checking a fill's duration before any work."""
    n = frames_of(seconds, sample_rate, what=what)
    if n < MIN_FILL_SECONDS * sample_rate:
        raise PodcastError(f"{what}={seconds!r} is too short to fill; the minimum is {MIN_FILL_SECONDS:g} s")
    return n


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
    outro, the outro's ring-out ending on the last frame (see `plan.plan_fill` for the forms).

    `duration` in seconds (at most 24 h); `sample_rate` defaults to the graph's (the bank must
    match it); `seed` picks the main variants. With `sink`, blocks go to it and `audio` is empty.
    """
    check_stretch(max_stretch)
    if isinstance(graph, Graph):
        frames_of(duration, int(sample_rate or graph.sample_rate))
    graph, source = _resolve(graph, source, say)
    sr = int(sample_rate or graph.sample_rate)
    n = frames_of(duration, sr)
    plan = plan_fill(graph, source, n, state=state, max_stretch=max_stretch, tail_cut_db=tail_cut_db, sample_rate=sr)
    r = render_plan(graph, source, plan, seed=seed, sink=sink)
    return FillResult(r.audio, plan, sr, r.markers)


def terminal_state(graph: Graph) -> str | None:
    """The graph's first terminal state other than its start state, if any."""
    return next((s for s, d in graph.states.items() if d.terminal and s != graph.start), None)


def assign_states(graph: Graph, chapters: Sequence[Chapter]) -> list[Cue]:
    """Each music chapter's state and entering rule (see the module docstring), as `Cue`s (frames
    0). Silent chapters (``music=False``) get no cue and break the chain of rules."""
    from soundtrack.sequencer.resolver import find_rule

    names = {s.lower(): s for s in graph.states}
    rotation = [s for s, d in graph.states.items() if s != graph.start and not d.terminal]
    if len(rotation) < 2:  # one other state: alternate it with the start state
        rotation = rotation + [graph.start]
    terminal = terminal_state(graph)
    music = [i for i, c in enumerate(chapters) if c.music]
    cues: list[Cue] = []
    k = 0
    prev: str | None = None
    for j, i in enumerate(music):
        ch = chapters[i]
        rule = None
        if j > 0 and not chapters[music[j - 1]].music:
            prev = None
        if ch.state is not None:
            if ch.state not in graph.states:
                raise PodcastError(f"chapter {ch.title!r}: state={ch.state!r} is not in graph {graph.name!r}; "
                                   f"states are {', '.join(graph.states)}, or silent")
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
        elif j == 0:
            state = graph.start
        elif j == len(music) - 1 and terminal is not None:
            state = terminal
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


def check_against_graph(graph: Graph, chapters: Sequence[Chapter] = (), *, state: str | None = None,
                        sting: str | None = None) -> None:
    """Refuse (one line) states and stingers the graph does not have, before any bank is opened."""
    if state is not None and state not in graph.states:
        raise PodcastError(f"--state {state!r} is not in graph {graph.name!r}; states are {', '.join(graph.states)}")
    names = [("--sting", sting)] if sting and sting.lower() != "none" else []
    names += [(f"chapter {c.title!r}: sting", c.sting) for c in chapters if c.sting and c.sting.lower() != "none"]
    for what, n in names:
        if n not in graph.stingers:
            raise PodcastError(f"{what} {n!r} is not a stinger of graph {graph.name!r}; stingers are "
                               f"{', '.join(graph.stingers) or 'none (add a [stingers.NAME] table)'}")
    for c in chapters:
        if c.state is not None and c.state not in graph.states:
            raise PodcastError(f"chapter {c.title!r}: state={c.state!r} is not in graph {graph.name!r}; "
                               f"states are {', '.join(graph.states)}, or silent")


def _intervals(spans: list[tuple[int, int]], allowed: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for a, b in spans:
        for c, d in allowed:
            lo, hi = max(a, c), min(b, d)
            if hi > lo:
                out.append((lo, hi))
    return out


def plan_episode(graph: Graph, source: StemSource, chapters: Sequence[Chapter], duration: float | str | Fraction, *,
                 max_stretch: float = DEFAULT_MAX_STRETCH, tail_cut_db: float | None = TAIL_CUT_DB,
                 sample_rate: int | None = None, music: MusicSpans | None = None, sting: str | None = None,
                 lead_in: Literal["music", "silence"] = "music") -> EpisodeLayout:
    """Plan an episode of `duration` seconds with `chapters` (see the module docstring): `music`
    limits the music to its ends, `sting` names a stinger for every chapter change (a chapter's
    own ``sting`` wins), `lead_in` says what plays before a first chapter that starts after 0."""
    sr = int(sample_rate or graph.sample_rate)
    check_stretch(max_stretch)
    if lead_in not in LEAD_INS:
        raise PodcastError(f"lead_in={lead_in!r} must be one of {', '.join(LEAD_INS)}")
    music = music or MusicSpans()
    n = frames_of(duration, sr)
    chs = sorted(chapters, key=lambda c: c.start) or [Chapter(0.0, "")]
    warnings: list[str] = []
    starts = [round_half_up(as_fraction(c.start) * sr) for c in chs]
    for (ca, cb), fa, fb in zip(zip(chs, chs[1:]), starts, starts[1:]):
        if fa == fb:
            raise PodcastError(f"chapters {ca.title!r} and {cb.title!r} start at the same time ({cb.start:g} s)")
    if starts[-1] >= n:
        raise PodcastError(f"chapter {chs[-1].title!r} starts at {chs[-1].start:g} s, at or after the episode's end "
                           f"({n / sr:g} s)")
    names = [sting] if sting else []
    names += [c.sting for c in chs if c.sting and c.sting.lower() != "none"]
    for s in names:
        if s not in graph.stingers:
            raise PodcastError(f"sting {s!r} is not a stinger of graph {graph.name!r}; stingers are "
                               f"{', '.join(graph.stingers) or 'none (add a [stingers.NAME] table)'}")
    pseudo = 0  # 1 when a silent lead-in was put before the first chapter
    if starts[0] > 0:
        if lead_in == "music":
            warnings.append(f"the first chapter {chs[0].title!r} starts at {chs[0].start:g} s: its music plays from "
                            "0 s (--lead-in silence for silence before it)")
        else:
            chs = [Chapter(0.0, "", music=False)] + list(chs)
            starts = [0] + starts
            pseudo = 1
    # each chapter's music, within the episode's music spans
    bounds = starts[1:] + [n]
    spans = []
    for i, (c, a, b) in enumerate(zip(chs, starts, bounds)):
        a = 0 if i == 0 else a
        if c.music:
            b = min(b, a + round_half_up(as_fraction(c.music_seconds) * sr)) if c.music_seconds else b
            spans.append((i, a, b))
    allowed = [(0, n)]
    if not music.everywhere:
        allowed = []
        if music.intro is not None:
            allowed.append((0, min(n, round_half_up(as_fraction(music.intro) * sr))))
        if music.outro is not None:
            allowed.append((max(0, n - round_half_up(as_fraction(music.outro) * sr)), n))
        allowed.sort()
        merged: list[tuple[int, int]] = []
        for a, b in allowed:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
            else:
                merged.append((a, b))
        allowed = merged
    cues = assign_states(graph, chs)
    cue_of = dict(zip([i for i, _a, _b in spans], cues))
    pieces = [(i, a, b) for i, a0, b0 in spans for a, b in _intervals([(a0, b0)], allowed)]
    # runs: pieces that touch
    runs: list[list[tuple[int, int, int]]] = []
    for p in pieces:
        if runs and runs[-1][-1][2] == p[1]:
            runs[-1].append(p)
        else:
            runs.append([p])
    sections: list[Section] = []
    rules: list[Any] = []
    sec_of: dict[int, int] = {}
    for r, run in enumerate(runs):
        a0, b1 = run[0][1], run[-1][2]
        first = chs[run[0][0]]
        if b1 - a0 < round(1.0 * sr):
            raise PodcastError(f"chapter {first.title or '#' + str(run[0][0] + 1)!r}: its music from {a0 / sr:.3f} s lasts "
                               f"{(b1 - a0) / sr:.3f} s; the shortest music is 1 s")
        rcues = []
        for k, (i, a, _b) in enumerate(run):
            q = cue_of[i]
            rcues.append(Cue(a - a0, q.state, q.title or f"chapter {i + 1}", q.rule if k else None))
        rp = plan_run(graph, source, rcues, b1 - a0, max_stretch=max_stretch, tail_cut_db=tail_cut_db, sample_rate=sr)
        for k, sec in enumerate(rp.sections):
            sec_of.setdefault(run[k][0], len(sections))
            sections.append(shift_section(sec, a0, run=r, name=f"s{len(sections)}"))
            rules.append(rcues[k + 1].rule if k + 1 < len(rcues) else None)
    silences = []
    pos = 0
    for r, run in enumerate(runs):
        first_sec = next(s for s in sections if s.run == r)
        start = max(0, first_sec.start + first_sec.skip)
        if start > pos:
            silences.append((pos, start))
        pos = run[-1][2]
    if pos < n:
        silences.append((pos, n))
    stings = []
    for i, c in enumerate(chs):
        if i < pseudo:
            continue
        name = c.sting or (sting if i > pseudo else None)
        if name and name.lower() != "none":
            stings.append(Sting(name, starts[i], c.title))
    if not sections:
        raise PodcastError("no chapter has music: nothing to score (remove music = false, or check --music)")
    plan = EpisodePlan(tuple(sections), n, sr, max_stretch, tuple(silences), tuple(stings))
    heard = {p[0] for p in pieces}
    out = [Chapter(c.start, c.title, state=cue_of[i].state if i in heard else None, event=c.event, frame=starts[i],
                   url=c.url, music=i in heard, music_seconds=c.music_seconds, sting=c.sting)
           for i, c in enumerate(chs) if i >= pseudo]
    return EpisodeLayout(plan, out, rules, warnings, [sec_of.get(i) for i in range(pseudo, len(chs))])


def score_episode(graph: Graph | str | Path, chapters: Sequence[Chapter], *, duration: float | str,
                  source: StemSource | None = None, max_stretch: float = DEFAULT_MAX_STRETCH,
                  tail_cut_db: float | None = TAIL_CUT_DB, sample_rate: int | None = None, seed: int = 0,
                  music: MusicSpans | None = None, sting: str | None = None, lead_in: str = "music",
                  sink: Callable[[np.ndarray], None] | None = None,
                  say: Callable[[str], None] | None = None) -> EpisodeResult:
    """Music for a whole episode of `duration` seconds: each chapter's state on its frame, the last
    ending on its outro's ring-out at the end (see `plan_episode` for `music`, `sting`, `lead_in`).
    Returns the music (float32, frames x channels; empty with `sink`), the plan, the chapters
    with their states and any warnings."""
    check_stretch(max_stretch)
    graph, source = _resolve(graph, source, say)
    lay = plan_episode(graph, source, chapters, duration, max_stretch=max_stretch, tail_cut_db=tail_cut_db,
                       sample_rate=sample_rate, music=music, sting=sting, lead_in=lead_in)  # type: ignore[arg-type]
    r = render_plan(graph, source, lay.plan, rules=lay.rules, seed=seed, sink=sink)
    return EpisodeResult(r.audio, lay.plan, lay.plan.sample_rate, r.markers, chapters=lay.chapters,
                         warnings=lay.warnings)
