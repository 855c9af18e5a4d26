"""Exact-duration planning: where every segment of a fill or an episode lands, in integer frames.

Pure arithmetic on stem grids (no audio, no Rubber Band): `plan_fill` and `plan_sections` return
`Section`s that `render.render_plan` plays through the sequencer. Every frame here is computed
with the same formulas the sequencer uses, and the grids of stretched stems with
`stretch.stretched_grid` (the one `stretch.stretch_stem` makes); the renderer checks the
sequencer's plans against them.

**How a fill of N frames is shaped** (`plan_fill`). A state plays its intro (its pickup from
frame 0), ``m`` bars of its main loop (variants as the graph says; the loop may end on any bar),
then its outro. The outro's last bar ends at frame ``X`` and its tail rings from ``X`` to the
last frame ``N``: the final downbeat is at ``X - 1 bar`` and the tail ends exactly at ``N``.
The tail may be cut (faded out, s-curve) to fit, but never before it has decayed by
`tail_cut_db` (30 dB below the stem's peak): past that point a cut is inaudible. In order:

1. The full form (intro + m bars + outro) at the bank's tempo, if the tail can absorb the
   remainder; otherwise the smallest tempo change that fits (one stretch ratio for the whole
   piece, Rubber Band R3, |ratio - 1| <= `max_stretch`), with the stretched bar an integer
   number of frames so that every bar line of the stretched stems is exact.
2. Too short for intro + outro: the main and the outro, without the intro.
3. Shorter: the outro alone.
4. Shorter still (down to `MIN_FILL_SECONDS`): the outro's ending, entered part-way with a
   fade-in (`FADE_IN_SECONDS`), its tail intact.
5. If no form fits with the tail intact or cut past its decay point (only where the tail is
   shorter than the room a stretch can make), the full tail rings and silence fills the
   remaining frames (`pad`); the smallest such pad is chosen.

**Episode sections** (`plan_sections`): every section but the last is an exact whole number of
bars (or beats, when bars would need more than `max_stretch`) at its own rational tempo, so its
transition's edit point lands exactly on the next chapter's frame; a chapter too short for any
whole number of beats within `max_stretch` keeps its tempo and its transition lands on the
chapter's frame off the beat (sync ``immediate``, smoothed by the rule's fade). The last section
is a fill that ends on its state's outro at the episode's end.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from soundtrack.errors import SoundtrackError
from soundtrack.stem import Stem, StemGrid, StemSource
from soundtrack.stretch import stretched_grid
from soundtrack.timing import BeatGrid, round_half_up

MIN_FILL_SECONDS = 1.0  # shorter fills are refused: there is no music to speak of in less
FADE_IN_SECONDS = 0.25  # the "outro ending" form enters with this fade-in (or a quarter of the fill)
TAIL_CUT_DB = 30.0  # a tail may be cut once it has decayed this far below the stem's peak
DEFAULT_MAX_STRETCH = 0.03
ROUNDING_FRAMES = 2  # a tail this much (plus a frame per stretched bar) off is rounding, not a cut or a pad
FORMS = ("full", "no-intro", "outro", "outro-end")


class PodcastError(SoundtrackError, ValueError):
    """A fill or episode that cannot be planned (too short, unknown state, bad chapters)."""


@dataclass(frozen=True)
class Section:
    """One state's stretch of music, in output frames.

    `name` is the section's state in the derived graph the renderer builds (``s0``, ``s1``, ...),
    `state` the graph's state it plays. `tempo` is the (possibly stretched) tempo and `ratio`
    the stretch (output length / input length; 1 = none). `start` is where its audio starts
    (the pickup, for the first section) and `origin` where its first bar 1 lands; `intro_bars`,
    `main_beats` and `outro_bars` are what it plays, `edit` the frame its last transition lands
    on (the next chapter, or for the last section its outro's entry), `exit` where its music's
    last bar ends. For the last section, `end` is the last frame + 1 and the tail is
    ``end - exit`` frames (`tail_cut` frames of it faded away, `pad` frames of silence after it).
    """

    name: str
    state: str
    form: str
    tempo: Fraction
    base_tempo: Fraction
    ratio: Fraction
    start: int
    origin: int
    intro_bars: int
    main_beats: int
    outro_bars: int
    beats_per_bar: int
    edit: int
    exit: int
    end: int
    sync: str = "bar"
    final: bool = False
    tail_full: int = 0
    tail_cut: int = 0
    pad: int = 0
    trim: int = 0  # outro-end form: frames cut from the outro's start
    fade_in: int = 0
    title: str = ""
    bar_frames: Fraction = Fraction(0)
    landings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def stretched(self) -> bool:
        return self.ratio != 1

    def to_dict(self, sample_rate: int) -> dict[str, Any]:
        d = asdict(self)
        for k in ("tempo", "base_tempo", "ratio", "bar_frames"):
            d[k] = str(d[k])
        d["tempo_bpm"] = float(self.tempo)
        d["stretch_percent"] = float((self.ratio - 1) * 100)
        d["seconds"] = {k: getattr(self, k) / sample_rate for k in ("start", "origin", "edit", "exit", "end")}
        return d


@dataclass(frozen=True)
class EpisodePlan:
    """Sections in playing order and the exact frame count; `sample_rate` in Hz."""

    sections: tuple[Section, ...]
    frames: int
    sample_rate: int
    max_stretch: float

    @property
    def max_ratio_error(self) -> float:
        return max(abs(float(s.ratio) - 1.0) for s in self.sections)

    def to_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "sample_rate": self.sample_rate, "seconds": self.frames / self.sample_rate,
                "max_stretch": self.max_stretch, "sections": [s.to_dict(self.sample_rate) for s in self.sections]}

    def explain(self) -> list[str]:
        """Human-readable lines: each section's segments, bars, stretch and where each lands."""
        sr = self.sample_rate
        lines = [f"{self.frames} frames = {self.frames / sr:.6f} s at {sr} Hz, {len(self.sections)} section(s)"]
        for s in self.sections:
            st = "no stretch" if s.ratio == 1 else f"stretch x{float(s.ratio):.6f} ({float((s.ratio - 1) * 100):+.3f} %)"
            lines.append(f"{s.name}: state {s.state!r}{' (' + s.title + ')' if s.title else ''}, form {s.form}, "
                         f"{float(s.base_tempo):g} -> {float(s.tempo):.4f} bpm, {st}")
            for ev in s.landings:
                lines.append(f"  {ev['what']:<28} frame {ev['frame']:>12}  {ev['frame'] / sr:12.6f} s")
            if s.final:
                tail = s.end - s.exit - s.pad
                extra = (f", {s.tail_cut / sr:.3f} s of it faded away" if s.tail_cut else "") + (
                    f", then {s.pad / sr:.3f} s of silence" if s.pad else "")
                lines.append(f"  tail {tail} frames ({tail / sr:.3f} s){extra}; last frame {s.end - 1}")
        return lines


# -- grids -------------------------------------------------------------------------------------


def tail_cut_frames(stem: Stem, db: float | None) -> int:
    """Frames from the stem's exit after which its tail stays `db` below the stem's peak
    (the whole tail when `db` is None: never cut)."""
    g = stem.grid
    if db is None or g.tail_frames == 0:
        return g.tail_frames
    env = np.max(np.abs(stem.mix[g.exit :]), axis=1)
    peak = float(np.max(np.abs(stem.mix))) if stem.mix.size else 0.0
    loud = np.nonzero(env > peak * 10 ** (-db / 20))[0]
    return int(loud[-1]) + 1 if loud.size else 0


@dataclass(frozen=True)
class StateGrids:
    """The grids of one state's segments at its own tempo (None where it has no such segment)
    and how far its outro's tail must ring before it may be cut."""

    state: str
    intro: StemGrid | None
    main: StemGrid
    outro: StemGrid | None
    outro_keep: int  # frames of the outro's tail that must ring (at the base tempo)

    @property
    def tempo(self) -> Fraction:
        return self.main.bpm

    @property
    def beats_per_bar(self) -> int:
        return self.main.meter.beats

    @property
    def bar0(self) -> Fraction:
        return BeatGrid(self.main.sample_rate, self.main.bpm, self.main.meter).frames_per_bar


def state_grids(graph: Any, source: StemSource, state: str, *, tail_cut_db: float | None) -> StateGrids:
    if state not in graph.states:
        raise PodcastError(f"state {state!r} is not in graph {graph.name!r}; states are {', '.join(graph.states)}")
    sd = graph.states[state]
    main = source.stem(state, "main").grid
    intro = source.stem(state, "intro").grid if sd.intro > 0 else None
    outro_stem = source.stem(state, "outro") if sd.outro > 0 else None
    outro = outro_stem.grid if outro_stem is not None else None
    keep = tail_cut_frames(outro_stem, tail_cut_db) if outro_stem is not None else 0
    return StateGrids(state, intro, main, outro, keep)


# -- the ending fit (fills, and an episode's last section) -------------------------------------


@dataclass(frozen=True)
class _Fit:
    form: str
    tempo: Fraction
    ratio: Fraction
    main_bars: int
    lead: int
    exit: int  # relative to the section's audio start
    tail_full: int
    tail_used: int
    pad: int
    cost: tuple


def _layout(sg: StateGrids, form: str, tempo: Fraction, m: int, with_lead: bool) -> tuple[int, int, int, int]:
    """(lead, outro entry, exit, full tail) for `form` with `m` main bars at `tempo`, frames from
    the audio start (the first pickup when `with_lead`, else the first bar 1)."""
    main = stretched_grid(sg.main, tempo)
    bpb = sg.beats_per_bar
    outro = stretched_grid(sg.outro, tempo) if sg.outro is not None else None
    if form == "outro":
        assert outro is not None
        lead = outro.entry if with_lead else 0
        return lead, lead, lead + outro.body_frames, outro.tail_frames
    if form == "full" and sg.intro is not None:
        intro = stretched_grid(sg.intro, tempo)
        lead = intro.entry if with_lead else 0
        main_frame = lead + intro.body_frames
    else:
        lead = 0
        main_frame = 0
    e = BeatGrid(main.sample_rate, tempo, main.meter, main_frame).beat_frame(m * bpb)
    if outro is None:  # no outro: the main fades out over one bar from the last edit
        fade = main.beat_grid.beats_to_frames(bpb)
        return lead, e, e, fade
    return lead, e, e + outro.body_frames, outro.tail_frames


def _fits(sg: StateGrids, n: int, *, max_stretch: float, with_lead: bool, forms: tuple[str, ...]) -> list[_Fit]:
    """Every candidate (form, main bars, tempo) that ends on frame `n` exactly, best first."""
    out: list[_Fit] = []
    bpb = sg.beats_per_bar
    bar0 = sg.bar0
    t0 = sg.tempo
    lo_r, hi_r = 1 - Fraction(max_stretch).limit_denominator(10**9), 1 + Fraction(max_stretch).limit_denominator(10**9)
    sr = sg.main.sample_rate
    for rank, form in enumerate(forms):
        if form in ("outro", "outro-end") and sg.outro is None:
            continue
        if form == "no-intro" and sg.intro is None:
            continue
        fixed = 0
        if form == "full" and sg.intro is not None:
            fixed += sg.intro.bars
        if form in ("full", "no-intro") and sg.outro is not None:
            fixed += sg.outro.bars
        if form == "outro":
            ms = [0]
        else:
            lo_m = 1 if form == "no-intro" or (form == "full" and sg.intro is None) else 0
            span_hi = math.ceil(n / float(lo_r) / float(bar0)) + 1 - fixed
            span_lo = math.floor(n / float(hi_r) / float(bar0)) - 3 - fixed
            ms = range(max(lo_m, span_lo), max(lo_m, span_hi) + 1)
        for m in ms:
            lead0, _, x0, tail0 = _layout(sg, form, t0, m, with_lead)
            keep0 = min(sg.outro_keep, tail0) if sg.outro is not None else tail0
            cands: list[Fraction] = [Fraction(1)]
            if x0 + tail0 > 0:
                for tail_frames in (tail0, keep0):
                    r = Fraction(n, x0 + tail_frames) if x0 + tail_frames else Fraction(1)
                    cands.append(min(max(r, lo_r), hi_r))
            seen = set()
            tempi = []
            for r in cands:
                if r == 1:
                    tempi.append(t0)
                    continue
                for bf in (math.floor(r * bar0), math.ceil(r * bar0)):  # an integer bar: exact bar lines
                    if bf > 0:
                        tempi.append(Fraction(sr * 60 * bpb, bf))
            for tempo in tempi:
                r = t0 / tempo
                if not lo_r <= r <= hi_r or not 20 <= tempo <= 300:
                    continue
                if tempo in seen:
                    continue
                seen.add(tempo)
                lead, _, x, tail = _layout(sg, form, tempo, m, with_lead)
                keep = round_half_up(keep0 * r) if sg.outro is not None else tail
                used = n - x
                slack = ROUNDING_FRAMES + (fixed + m if r != 1 else 0)  # an integer bar rounds by < 1 frame each
                if used < min(keep, tail) - slack or x <= 0:
                    continue
                pad = max(0, used - tail)
                # a rounding frame or two of silence is no pad: the tail has long rung out
                pad_cost = pad if pad > slack else 0
                out.append(_Fit(form, tempo, r, m, lead, x, tail, min(used, tail), pad,
                                (pad_cost > 0, rank, abs(r - 1), pad_cost, tail - min(used, tail), m)))
    out.sort(key=lambda f: f.cost)
    return out


def _outro_end(sg: StateGrids, n: int) -> _Fit:
    """The outro's last `n` frames at its own tempo (the shortest form): tail intact when that
    still holds the final downbeat, else from the final downbeat with the tail faded to fit."""
    assert sg.outro is not None
    g = sg.outro
    downbeat = g.entry + BeatGrid(g.sample_rate, g.bpm, g.meter).bar_frame(g.bars - 1)
    trim = min(g.frames - n, downbeat)
    tail = g.frames - g.exit
    used = n - (g.exit - trim)
    # main_bars carries the trim (frames cut from the outro's start) to _final_section
    return _Fit("outro-end", sg.tempo, Fraction(1), trim, max(0, g.entry - trim), g.exit - trim, tail,
                min(used, tail), 0, (True, 99))


# -- public planning ---------------------------------------------------------------------------


def plan_fill(graph: Any, source: StemSource, frames: int, *, state: str | None = None,
              max_stretch: float = DEFAULT_MAX_STRETCH, tail_cut_db: float | None = TAIL_CUT_DB,
              sample_rate: int | None = None) -> EpisodePlan:
    """Plan a fill of exactly `frames` frames of `state` (default: the graph's start state).

    See the module docstring for the forms tried. Raises `PodcastError` below
    `MIN_FILL_SECONDS` or when the state has neither an outro nor room for one bar.
    """
    sr = int(sample_rate or graph.sample_rate)
    check_stretch(max_stretch)
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)):
        raise TypeError(f"frames must be an int, got {frames!r}")
    frames = int(frames)
    if frames < MIN_FILL_SECONDS * sr:
        raise PodcastError(f"duration {frames / sr:g} s is too short to fill; the minimum is {MIN_FILL_SECONDS:g} s")
    state = graph.start if state is None else state
    sg = state_grids(graph, source, state, tail_cut_db=tail_cut_db)
    if sg.main.sample_rate != sr:
        raise PodcastError(f"the stems of state {state!r} are at {sg.main.sample_rate} Hz, not {sr} Hz")
    fits = _fits(sg, frames, max_stretch=max_stretch, with_lead=True, forms=FORMS[:3])
    good = [f for f in fits if not f.cost[0]]
    if good:
        fit = good[0]
    elif sg.outro is not None and frames <= sg.outro.frames:
        fit = _outro_end(sg, frames)
    elif fits:
        fit = fits[0]
    else:
        raise PodcastError(f"cannot fill {frames / sr:g} s with state {state!r} within max_stretch={max_stretch:g}")
    sec = _final_section("s0", sg, fit, start=0, end=frames, sample_rate=sr)
    return EpisodePlan((sec,), frames, sr, max_stretch)


def _final_section(name: str, sg: StateGrids, fit: _Fit, *, start: int, end: int, sample_rate: int,
                   title: str = "", intro_allowed: bool = True) -> Section:
    bpb = sg.beats_per_bar
    lead, oentry, x, tail = _layout(sg, fit.form, fit.tempo, fit.main_bars, start == 0) if fit.form != "outro-end" \
        else (fit.lead, fit.lead, fit.exit, fit.tail_full)
    intro_bars = sg.intro.bars if fit.form == "full" and sg.intro is not None and intro_allowed else 0
    outro_bars = sg.outro.bars if sg.outro is not None else 0
    origin = start + lead
    landings = []
    bar = BeatGrid(sample_rate, fit.tempo, sg.main.meter).frames_per_bar
    bar_last = BeatGrid(sample_rate, fit.tempo, sg.main.meter).bar_frame(max(0, outro_bars - 1))
    if fit.form == "outro-end":
        trim = fit.main_bars  # _outro_end keeps the frames cut from the outro's start here
        landings.append({"what": "outro (part-way, fade-in)", "frame": start})
        assert sg.outro is not None
        landings.append({"what": "outro final downbeat", "frame": start + x - (sg.outro.exit - sg.outro.entry - bar_last)})
    else:
        trim = 0
        if intro_bars:
            landings.append({"what": "intro bar 1", "frame": origin})
        if fit.form in ("full", "no-intro"):
            main0 = origin + (stretched_grid(sg.intro, fit.tempo).body_frames if intro_bars and sg.intro else 0)
            landings.append({"what": f"main bar 1 ({fit.main_bars} bars)", "frame": main0})
        if sg.outro is not None:
            landings.append({"what": f"outro bar 1 ({outro_bars} bars)", "frame": start + oentry})
            landings.append({"what": "outro final downbeat", "frame": start + oentry + bar_last})
    landings.append({"what": "last bar ends (cadence)", "frame": start + x})
    landings.append({"what": "tail ends (last frame + 1)", "frame": end})
    used = end - (start + x)
    return Section(
        name=name, state=sg.state, form=fit.form, tempo=fit.tempo, base_tempo=sg.tempo, ratio=fit.ratio,
        start=start, origin=origin, intro_bars=intro_bars, main_beats=0 if fit.form == "outro-end" else fit.main_bars * bpb, outro_bars=outro_bars,
        beats_per_bar=bpb, edit=start + oentry, exit=start + x, end=end, final=True, tail_full=fit.tail_full,
        tail_cut=max(0, fit.tail_full - used), pad=fit.pad, trim=trim,
        fade_in=min(int(FADE_IN_SECONDS * sample_rate), (end - start) // 4) if fit.form == "outro-end" else 0,
        title=title, bar_frames=bar, landings=landings,
    )


def check_stretch(max_stretch: float) -> float:
    if isinstance(max_stretch, bool) or not isinstance(max_stretch, (int, float)) or not 0 <= max_stretch <= 0.5:
        raise PodcastError(f"max_stretch={max_stretch!r} must be a fraction between 0 and 0.5 (0.03 = 3 %)")
    return float(max_stretch)


# -- episodes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cue:
    """One planned section of an episode: `state` from output frame `frame` (the first at 0),
    entered by the graph's `rule` (None: the default, a bar-synced 1-beat equal-power fade with
    the target's intro); `title` for messages."""

    frame: int
    state: str
    title: str = ""
    rule: Any = None


def _exact_section(name: str, sg: StateGrids, cue: Cue, *, origin: int, start: int, edit: int, intro: bool,
                   outro: bool, max_stretch: float, sample_rate: int) -> Section:
    """A middle section: bar 1 at `origin`, its last transition exactly on `edit`."""
    length = edit - origin
    bpb = sg.beats_per_bar
    fixed = (sg.intro.bars if intro and sg.intro is not None else 0) * bpb
    fpb0 = BeatGrid(sample_rate, sg.tempo, sg.main.meter).frames_per_beat
    best = None
    for unit, sync in ((bpb, "bar"), (1, "beat")):
        base = Fraction(length) / fpb0 / unit
        for units in sorted({math.floor(base) - 1, math.floor(base), math.ceil(base), math.ceil(base) + 1}):
            beats = units * unit
            if beats <= fixed or beats <= 0:
                continue
            fpb = Fraction(length, beats)
            ratio = fpb / fpb0
            tempo = Fraction(sample_rate * 60) / fpb
            if abs(ratio - 1) > Fraction(max_stretch).limit_denominator(10**9) or not 20 <= tempo <= 300:
                continue
            # the sequencer's arithmetic: the intro's body, then the main grid from its end
            ib = stretched_grid(sg.intro, tempo).body_frames if fixed else 0
            if BeatGrid(sample_rate, tempo, sg.main.meter, origin + ib).beat_frame(beats - fixed) != edit:
                continue  # a half-frame tie rounds the other way: try the next count
            if best is None or abs(ratio - 1) < abs(best[2] - 1):
                best = (beats, tempo, ratio, sync)
        if best is not None:
            break
    if best is None and length > fixed * fpb0:
        # no whole beat fits within max_stretch (a short chapter): no stretch, and the transition
        # lands on the chapter's frame off the beat grid (its fade smooths the cut)
        best = (fixed + max(0, math.floor((length - fixed * fpb0) / fpb0)), sg.tempo, Fraction(1), "immediate")
    if best is None:
        raise PodcastError(
            f"chapter {cue.title or cue.state!r} at {origin / sample_rate:.3f} s is {length / sample_rate:.3f} s long: "
            f"no whole number of beats of state {sg.state!r} ({float(sg.tempo):g} bpm) fits it within "
            f"max_stretch={max_stretch:g}; merge it with a neighbour or raise --max-stretch")
    beats, tempo, ratio, sync = best
    intro_bars = sg.intro.bars if fixed and sg.intro is not None else 0
    bar = BeatGrid(sample_rate, tempo, sg.main.meter).frames_per_bar
    landings = []
    if intro_bars:
        landings.append({"what": "intro bar 1", "frame": origin})
        landings.append({"what": f"main bar 1 ({(beats - fixed) / bpb:g} bars)",
                         "frame": origin + stretched_grid(sg.intro, tempo).body_frames})
    else:
        landings.append({"what": f"main bar 1 ({(beats - fixed) / bpb:g} bars)", "frame": origin})
    landings.append({"what": f"transition ({sync}){' + outro' if outro else ''}", "frame": edit})
    return Section(name=name, state=sg.state, form="full" if intro_bars else "no-intro", tempo=tempo,
                   base_tempo=sg.tempo, ratio=ratio, start=start, origin=origin, intro_bars=intro_bars,
                   main_beats=beats - fixed, outro_bars=sg.outro.bars if outro and sg.outro is not None else 0,
                   beats_per_bar=bpb, edit=edit, exit=edit, end=edit, sync=sync, title=cue.title, bar_frames=bar,
                   landings=landings)


def plan_sections(graph: Any, source: StemSource, cues: list[Cue], frames: int, *,
                  max_stretch: float = DEFAULT_MAX_STRETCH, tail_cut_db: float | None = TAIL_CUT_DB,
                  sample_rate: int | None = None) -> EpisodePlan:
    """Plan an episode of exactly `frames` frames whose sections start on `cues` (sorted, the
    first at frame 0): each cue's transition lands exactly on its frame; the last section ends on
    its state's outro at the end (see the module docstring)."""
    sr = int(sample_rate or graph.sample_rate)
    check_stretch(max_stretch)
    if not cues or cues[0].frame != 0:
        raise PodcastError("an episode needs a first section starting at 0 s")
    if len(cues) == 1:
        p = plan_fill(graph, source, frames, state=cues[0].state, max_stretch=max_stretch, tail_cut_db=tail_cut_db,
                      sample_rate=sr)
        return replace_title(p, cues[0].title)
    grids: dict[str, StateGrids] = {}

    def sg_of(state: str) -> StateGrids:
        if state not in grids:
            grids[state] = state_grids(graph, source, state, tail_cut_db=tail_cut_db)
        return grids[state]

    sections: list[Section] = []
    origin = start = 0
    intro_in = True
    for i, cue in enumerate(cues):
        sg = sg_of(cue.state)
        name = f"s{i}"
        if i == 0:
            lead = stretched_grid(sg.intro, sg.tempo).entry if sg.intro is not None else 0
            origin = lead  # estimated: the pickup scales with the stretch (fixed below)
        if i + 1 < len(cues):
            nxt = cues[i + 1]
            rule = nxt.rule
            outro = bool(rule is not None and rule.outro and sg.outro is not None)
            if i == 0 and sg.intro is not None:
                # the pickup before bar 1 stretches with the section: find the fixed point
                for _ in range(4):
                    sec = _exact_section(name, sg, cue, origin=origin, start=0, edit=nxt.frame, intro=True,
                                         outro=outro, max_stretch=max_stretch, sample_rate=sr)
                    lead = stretched_grid(sg.intro, sec.tempo).entry
                    if lead == origin:
                        break
                    origin = lead
            sec = _exact_section(name, sg, cue, origin=origin, start=start, edit=nxt.frame,
                                 intro=intro_in and sg.intro is not None, outro=outro, max_stretch=max_stretch,
                                 sample_rate=sr)
            if i == 0 and sg.intro is not None and stretched_grid(sg.intro, sec.tempo).entry != origin:
                raise PodcastError(f"chapter {cue.title!r}: cannot place the intro's pickup exactly")
            sections.append(sec)
            nsg = sg_of(nxt.state)
            origin = nxt.frame + (stretched_grid(sg.outro, sec.tempo).body_frames if outro and sg.outro else 0)
            intro_in = (rule is None or rule.intro) and nsg.intro is not None
            start = origin
            continue
        n = frames - origin
        form = ("full",) if intro_in else ("no-intro",)
        fits = [f for f in _fits(_no_intro(sg) if not intro_in else sg, n, max_stretch=max_stretch,
                                 with_lead=False, forms=form if intro_in else ("full",)) if f.form in ("full",)]
        good = [f for f in fits if not f.cost[0]] or fits
        if not good:
            raise PodcastError(
                f"the last chapter {cue.title or cue.state!r} at {origin / sr:.3f} s leaves {n / sr:.3f} s, too short for "
                f"state {cue.state!r} to end on its outro within max_stretch={max_stretch:g}")
        fit = good[0]
        sec = _final_section(name, _no_intro(sg) if not intro_in else sg, fit, start=origin, end=frames,
                             sample_rate=sr, title=cue.title)
        # _final_section measures from the section's start; a middle-of-episode start has no lead
        sections.append(replace(sec, origin=origin, start=origin))
    return EpisodePlan(tuple(sections), frames, sr, max_stretch)


def _no_intro(sg: StateGrids) -> StateGrids:
    return StateGrids(sg.state, None, sg.main, sg.outro, sg.outro_keep)


def replace_title(p: EpisodePlan, title: str) -> EpisodePlan:
    return EpisodePlan(tuple(replace(s, title=title) for s in p.sections), p.frames, p.sample_rate, p.max_stretch)
