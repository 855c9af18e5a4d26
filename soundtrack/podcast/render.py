"""Play an `EpisodePlan` through the sequencer: no second stitcher.

Each run of the plan (continuous music; silent chapters separate runs) is played by its own
sequencer. The run's sections become the states of a small derived graph (``s0``, ``s1``, ...,
and a silent terminal ``__end``), joined by transitions on private events (``__to1``, ...). A
`PlanSource` serves each section's stems from the real bank: the layers mixed at the
parameters' default gains (a fill sets no parameters, so this is what the sequencer would play),
stretched once per section with Rubber Band R3 (`stretch.stretch_stem`) when the section's
tempo differs from the bank's, in parallel threads. The sequencer is started on ``s0`` where the
run's music starts and every transition is posted at ``edit - lookahead``. The planner placed
that edit with the resolver's own `place_chain`, so the live plan lands on it unless a stretched
stem's grid differs from the predicted one, which stops rendering with an error. Exactly `plan.frames`
frames come out, in blocks: silence between runs, a run entered part-way faded in, a tail that
has rung out faded over what is left, and the plan's stings laid over the music with their
entry on their frames.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from soundtrack.audio import fade_curve
from soundtrack.graph import Graph, StateDef, TransitionDef
from soundtrack.podcast.plan import (
    FADE_OUT_CUT_SECONDS,
    EpisodePlan,
    PodcastError,
    Section,
    ringout_fade,
)
from soundtrack.sequencer.automation import LayerGains
from soundtrack.stem import Stem, StemGrid, StemSource, StemSpec
from soundtrack.stretch import stretch_stem
from soundtrack.timing import BeatGrid, Duration, parse_duration

END_STATE = "__end"
BLOCK_FRAMES = 1 << 18
TAIL_FADE_MIN_SECONDS = 0.01
SOLO_FORMS = ("outro", "outro-end")


@dataclass
class RenderResult:
    """Rendered audio (float32, frames x channels) and the sequencer's markers (beats left out)."""

    audio: np.ndarray
    sample_rate: int
    markers: list[Any] = field(default_factory=list)
    transitions: list[Any] = field(default_factory=list)  # the sequencer's TransitionPlans


def _mix_stem(stem: Stem, gains: dict[str, float]) -> Stem:
    """`stem` with one layer, ``mix``: its layers summed at `gains` (1 where not named)."""
    if all(gains.get(k, 1.0) == 1.0 for k in stem.layers):
        mix = stem.mix
    else:
        mix = np.zeros_like(stem.mix)
        for k, a in stem.layers.items():
            mix += np.float32(gains.get(k, 1.0)) * a
    spec = replace(stem.spec, layers=("mix",))
    return Stem(spec=spec, grid=stem.grid, layers={"mix": mix}, mix=mix, key=stem.key, style=stem.style, meta=stem.meta)


def _trimmed(stem: Stem, trim: int, fade_in: int) -> Stem:
    """`stem` from audio frame `trim` on, faded in over `fade_in` frames."""
    g = stem.grid
    a = stem.mix[trim:].copy()
    if fade_in:
        a[:fade_in] *= fade_curve(fade_in, "s-curve")[:, None]
    grid = StemGrid(g.sample_rate, g.bpm, g.meter, max(0, g.entry - trim), g.exit - trim, g.frames - trim, g.bars)
    return Stem(spec=stem.spec, grid=grid, layers={"mix": a}, mix=a, key=stem.key, style=stem.style, meta=stem.meta)


def _silent(sample_rate: int, tempo: Fraction, meter: Any, channels: int, key: Any) -> Stem:
    bpb = meter.beats
    frames = BeatGrid(sample_rate, tempo, meter).beats_to_frames(bpb)
    z = np.zeros((frames, channels), np.float32)
    spec = StemSpec(prompt="silence", role="main", bars=1, tempo=tempo, meter=meter, sample_rate=sample_rate,
                    layers=("mix",))
    return Stem(spec=spec, grid=StemGrid(sample_rate, tempo, meter, 0, frames, frames, 1), layers={"mix": z}, mix=z,
                key=key)


class PlanSource:
    """A `StemSource` for the derived graph: section stems from `base`, mixed and stretched."""

    def __init__(self, base: StemSource, plan: EpisodePlan, gains: dict[str, float]) -> None:
        self.base = base
        self.sections = {s.name: s for s in plan.sections}
        self.gains = gains
        self._cache: dict[tuple, Stem] = {}

    def _real(self, sec: Section, role: str) -> str:
        if sec.form in SOLO_FORMS and role == "intro":
            return "outro"
        return role

    def stem(self, name: str, role: str, variant: int = 0, *, tempo: Fraction | None = None) -> Stem:
        key = (name, role, variant)
        s = self._cache.get(key)
        if s is not None:
            return s
        if name == END_STATE:
            last = list(self.sections.values())[-1]
            ref = self.stem(last.name, "main" if last.form not in SOLO_FORMS else "intro")
            s = _silent(ref.sample_rate, last.tempo, ref.grid.meter, ref.channels, ref.key)
        else:
            sec = self.sections.get(name)
            if sec is None:
                raise PodcastError(f"no section {name!r} in the plan")
            if sec.form in SOLO_FORMS and role == "main":
                ref = self.stem(name, "intro")
                s = _silent(ref.sample_rate, sec.tempo, ref.grid.meter, ref.channels, ref.key)
            else:
                s = _mix_stem(self.base.stem(sec.state, self._real(sec, role), variant), self.gains)
                if sec.form == "outro-end":
                    s = _trimmed(s, sec.trim, sec.fade_in)
                elif sec.tempo != s.grid.bpm:
                    s = stretch_stem(s, sec.tempo)
        self._cache[key] = s
        return s

    def prepare(self, graph: Graph, *, jobs: int | None = None) -> None:
        """Load and stretch every stem the plan needs, in parallel threads (Rubber Band runs as a
        subprocess, so threads overlap)."""
        wanted = []
        for sec in self.sections.values():
            sd = graph.states[sec.name]
            if sec.form in SOLO_FORMS:
                wanted.append((sec.name, "intro", 0))
                continue
            wanted += [(sec.name, "main", v) for v in range(sd.variants)]
            if sd.intro:
                wanted.append((sec.name, "intro", 0))
            if sd.outro:
                wanted.append((sec.name, "outro", 0))
        n = jobs or os.cpu_count() or 1
        if n > 1 and len(wanted) > 1:
            with ThreadPoolExecutor(max_workers=n) as pool:
                list(pool.map(lambda w: self.stem(w[0], w[1], w[2]), wanted))
        else:
            for w in wanted:
                self.stem(*w)


def derived_graph(graph: Graph, plan: EpisodePlan, rules: list[TransitionDef | None]) -> Graph:
    """The plan as a graph: one state per section, a silent terminal ``__end``, and transitions
    on ``__to1``, ``__to2``, ... (`rules[i]` is the graph's rule from section i to i+1, whose
    outro/intro/fade/curve are kept; None for the end)."""
    states: dict[str, StateDef] = {}
    transitions: list[TransitionDef] = []
    secs = plan.sections
    for i, sec in enumerate(secs):
        orig = graph.states[sec.state]
        if sec.form in SOLO_FORMS:
            sd = StateDef(name=sec.name, prompt="", intro=max(1, sec.outro_bars), main=1, variants=1, outro=0,
                          layers=("mix",), tempo=sec.tempo, terminal=True)
        else:
            sd = StateDef(name=sec.name, prompt="", intro=sec.intro_bars, main=orig.main, variants=orig.variants,
                          outro=orig.outro if (sec.final or sec.outro_bars) else 0,
                          layers=("mix",), tempo=sec.tempo, terminal=sec.final)
        states[sec.name] = sd
        event = f"__to{i + 1}"
        if sec.final:
            if sec.form in SOLO_FORMS:
                continue
            has_outro = orig.outro > 0
            fade = Duration(Fraction(1), "beats") if has_outro else Duration(Fraction(1), "bars")
            transitions.append(TransitionDef(index=len(transitions), source=sec.name, target=END_STATE, on=event,
                                             sync="bar", fade=fade, outro=has_outro, intro=False))
        else:
            rule = rules[i]
            nxt = secs[i + 1]
            fade = rule.fade if rule is not None else parse_duration(1)
            transitions.append(TransitionDef(
                index=len(transitions), source=sec.name, target=nxt.name, on=event, sync=sec.sync, fade=fade,
                curve=rule.curve if rule is not None else "equal-power",
                outro=sec.outro_bars > 0, intro=nxt.intro_bars > 0))
    last = secs[-1]
    states[END_STATE] = StateDef(name=END_STATE, prompt="", intro=0, main=1, outro=0, layers=("mix",),
                                 tempo=last.tempo, terminal=True)
    return replace(graph, name=f"{graph.name}-plan", start=secs[0].name, states=states, stingers={}, bridges={},
                   transitions=tuple(transitions), params={})


def default_gains(graph: Graph) -> dict[str, float]:
    """Each param-controlled layer's gain at the parameters' defaults, as the sequencer plays it."""
    return LayerGains(graph).at(0)


def _sting_stems(graph: Graph, source: StemSource, plan: EpisodePlan, gains: dict[str, float]) -> list[tuple[int, np.ndarray]]:
    """(first output frame, audio) of each sting: the stinger's stem mixed at the layer gains and
    its `gain_db`, placed so its entry lands on the sting's frame."""
    out = []
    for t in plan.stings:
        sdef = graph.stingers.get(t.name)
        if sdef is None:
            raise PodcastError(f"sting {t.name!r} is not a stinger of graph {graph.name!r}; stingers are "
                               f"{', '.join(graph.stingers) or 'none'}")
        stem = _mix_stem(source.stem(t.name, "stinger"), gains)
        if stem.sample_rate != plan.sample_rate:
            raise PodcastError(f"stinger {t.name!r} is at {stem.sample_rate} Hz, not {plan.sample_rate} Hz")
        out.append((t.frame - stem.grid.entry, stem.mix * np.float32(10 ** (sdef.gain_db / 20))))
    return out


def _run_plan(plan: EpisodePlan, run: list[Section], offset: int) -> EpisodePlan:
    """One run as a plan of its own, its music starting at frame 0 (`offset` in the episode)."""
    from soundtrack.podcast.sections import shift_section

    secs = tuple(shift_section(s, -offset, run=0, name=f"s{i}") for i, s in enumerate(run))
    return EpisodePlan(secs, run[-1].end - offset, plan.sample_rate, plan.max_stretch)


def _render_run(graph: Graph, source: StemSource, plan: EpisodePlan, rules: list[TransitionDef | None], *, seed: int,
                jobs: int | None, gains: dict[str, float]) -> Any:
    """A sequencer started and scheduled for one run (`plan` from `_run_plan`), ready to render."""
    from soundtrack.sequencer import Sequencer, TransitionPlan
    from soundtrack.sequencer.resolver import chain_roles

    dgraph = derived_graph(graph, plan, rules)
    src = PlanSource(source, plan, gains)
    src.prepare(dgraph, jobs=jobs)
    seq = Sequencer(dgraph, src, sample_rate=plan.sample_rate, seed=seed)
    plans = [seq.start(plan.sections[0].name)]
    for i, sec in enumerate(plan.sections):
        if sec.form in SOLO_FORMS:
            continue
        event = f"__to{i + 1}"
        rule = next(t for t in dgraph.transitions if t.on == event)
        chain = chain_roles(dgraph, rule, sec.name)
        la = src.stem(*chain[0]).grid.entry if chain else 0
        p = seq.post(event, at_frame=sec.edit - la)
        if not isinstance(p, TransitionPlan):  # __toN names a transition; the derived graph has no stingers
            raise PodcastError(f"section {sec.name} ({sec.state}): event {event} played a stinger, not its transition")
        if not p.accepted or p.edit_frame != sec.edit:  # a planning bug, never the user's input
            raise PodcastError(f"section {sec.name} ({sec.state}): the sequencer put its transition at frame "
                               f"{p.edit_frame}, the plan at {sec.edit} ({p.reason})")
        plans.append(p)
    last = plan.sections[-1]
    sr = plan.sample_rate
    end = plan.frames - last.pad
    if last.exit < end and last.ring < last.ring_full:  # no room for the whole ring-out: fade its end
        f = ringout_fade(last, sr)
        seq.fade_out(f, at_frame=end - f, curve="s-curve")
    elif last.exit < end:  # the tail has rung out: fade what is left of it (at least 10 ms)
        left = end - last.exit
        if last.tail_cut > 0 or left > last.ring:
            f = min(left, max(left - last.ring, int(TAIL_FADE_MIN_SECONDS * sr)))
            seq.fade_out(f, at_frame=end - f, curve="s-curve")
    else:  # the outro's last bar itself is cut (fills shorter than a bar and its ring-out)
        f = min((end - max(0, last.start)) // 4, int(FADE_OUT_CUT_SECONDS * sr))
        seq.fade_out(f, at_frame=end - f, curve="s-curve")
    return seq, plans


def render_plan(graph: Graph, source: StemSource, plan: EpisodePlan, *, rules: list[TransitionDef | None] | None = None,
                seed: int = 0, jobs: int | None = None, sink: Callable[[np.ndarray], None] | None = None) -> RenderResult:
    """Render `plan` with the sequencer: exactly ``plan.frames`` frames.

    `rules[i]` is the graph's rule from section i into section i + 1 (None: the default, and for
    the last section of each run). With `sink`, blocks (at most `BLOCK_FRAMES`) are handed to it
    as they are rendered and the result's audio is empty (for hour-long fills written straight to
    a file). A cut tail is faded out by the sequencer itself (`Sequencer.fade_out`), so every
    block comes out final. Markers carry output frames.
    """
    rules = rules if rules is not None else [None] * len(plan.sections)
    by_name = {s.name: i for i, s in enumerate(plan.sections)}
    gains = default_gains(graph)
    stings = _sting_stems(graph, source, plan, gains)
    n = plan.frames
    out = None if sink else np.zeros((n, 0), np.float32)
    markers: list[Any] = []
    transitions: list[Any] = []
    ch = None
    pos = 0

    def emit(block: np.ndarray, at: int) -> None:
        nonlocal out
        for s0, a in stings:  # stings over the music, entry on their frames
            lo, hi = max(at, s0), min(at + block.shape[0], s0 + a.shape[0])
            if hi > lo:
                block[lo - at : hi - at] += a[lo - s0 : hi - s0]
        if sink is not None:
            sink(block)
        else:
            assert out is not None  # out is None only with a sink
            if out.shape[1] != block.shape[1]:
                out = np.zeros((n, block.shape[1]), np.float32)
            out[at : at + block.shape[0]] = block

    def silence(a: int, b: int) -> None:
        for s0 in range(a, b, BLOCK_FRAMES):
            emit(np.zeros((min(b, s0 + BLOCK_FRAMES) - s0, ch or 2), np.float32), s0)

    for run in plan.runs:
        offset = run[0].start  # the run's music starts here (before 0 when entered part-way)
        idx = [by_name[s.name] for s in run]
        rplan = _run_plan(plan, run, offset)
        rrules = [rules[i] if k + 1 < len(idx) else None for k, i in enumerate(idx)]
        seq, plans = _render_run(graph, source, rplan, rrules, seed=seed, jobs=jobs, gains=gains)
        transitions += plans
        if ch is None:
            ch = seq.channels
        lo = max(0, offset + run[0].skip)  # the first frame heard
        silence(pos, lo)
        if lo > offset:
            seq.render(lo - offset)  # the part of a form entered part-way that is not heard
            seq.pop_markers()
        fade = run[0].fade_in if run[0].skip else 0
        ramp = fade_curve(fade, "s-curve")[:, None] if fade else None
        at = lo
        stop = run[-1].end
        while at < stop:
            k = min(BLOCK_FRAMES, stop - at)
            block = seq.render(k)
            if ramp is not None and at < lo + fade:
                m = min(k, lo + fade - at)
                block[:m] *= ramp[at - lo : at - lo + m]
            markers.extend(replace(m, frame=m.frame + offset) for m in seq.pop_markers() if m.kind != "beat")
            emit(block, at)
            at += k
        pos = stop
        del seq
    silence(pos, n)
    return RenderResult(out if out is not None else np.zeros((0, ch or 2), np.float32), plan.sample_rate, markers,
                        transitions)
