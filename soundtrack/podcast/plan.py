"""Exact-duration planning: where every segment of a fill or an episode lands, in integer frames.

Pure arithmetic on stem grids (no audio, no Rubber Band): `plan_fill` and `sections.plan_sections`
return `Section`s that `render.render_plan` plays through the sequencer. The planner searches
tempi and bar counts; where a section's transition lands and where the next music enters is
the sequencer's own answer (`leave_section` calls `resolver.place_chain`, which the live
sequencer plans every event with), on the grids of the stretched stems from
`stretch.stretched_grid` (the one `stretch.stretch_stem` makes). There is no second
edit-point implementation; the renderer still checks each live plan against the section, which
can only fail if a stretched stem's grid is not the one predicted.

**How a fill of N frames is shaped** (`plan_fill`). A state plays its intro (its pickup from
frame 0), ``m`` bars of its main loop (variants as the graph says; the loop may end on any bar),
then its outro. The outro's last bar ends at frame ``X`` and its tail rings from ``X`` to the
last frame ``N``: the final downbeat is at ``X - 1 bar`` and the tail ends exactly at ``N``.

**The ring-out is always kept.** The final chord rings until its tail stays below
`RINGOUT_DBFS` (-70 dBFS at the bank's level, so under -60 dBFS after any loudness gain up to
+10 dB) and 50 ms more (`RINGOUT_HOLD_SECONDS`: the last 50 ms are all under it); only what rings
after that may be cut (faded, s-curve). A tail never rings past its
last audible frame (`TAIL_END_DBFS`, -100 dBFS): the silence a stem file ends with is not used,
so a fill never ends in digital silence. In order of preference:

1. The full form (intro + m bars + outro) at the bank's tempo, if the tail can absorb the
   remainder; otherwise the smallest tempo change that fits (one stretch ratio for the whole
   piece, Rubber Band R3, |ratio - 1| <= `max_stretch`), with the stretched bar an integer
   number of frames so that every bar line of the stretched stems is exact; a different bar
   count is tried first where it needs less stretch.
2. Too short for intro + outro: the main and the outro, without the intro; then the outro alone.
3. Where no bar count lands within the stretch (short fills, whose bars are long against
   `max_stretch` of them), the shortest form that is too long is entered part-way: its first
   frames are skipped and it fades in (`FADE_IN_SECONDS`), its ending and ring-out intact.
4. Shorter than the outro's final bar and ring-out (down to `MIN_FILL_SECONDS`): the outro's
   ending from its final downbeat, the tail faded to fit (form ``outro-end``).

Durations above `MAX_FILL_SECONDS` (24 h) are refused before anything is planned.

**Episode sections** are planned in `sections` on the same grids.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from soundtrack.audio import frame_peaks
from soundtrack.errors import PodcastError
from soundtrack.graph import Graph, Sync, TransitionDef
from soundtrack.sequencer.resolver import Playhead, place_chain
from soundtrack.stem import Stem, StemGrid, StemSource
from soundtrack.stretch import stretched_grid
from soundtrack.timing import BeatGrid, round_half_up

MIN_FILL_SECONDS = 1.0  # shorter fills are refused: there is no music to speak of in less
MAX_FILL_SECONDS = 24 * 3600  # longer fills and episodes are refused before any work
FADE_IN_SECONDS = 0.25  # a form entered part-way fades in over this (or a quarter of the fill)
RINGOUT_DBFS = -70.0  # a final tail rings at least until it stays below this (bank level)...
RINGOUT_HOLD_SECONDS = 0.05  # ...and this long after, so the last 50 ms are all under it
TAIL_END_DBFS = -100.0  # ...and never past its last frame above this (the file's own silence)
TAIL_CUT_DB = -RINGOUT_DBFS  # the `tail_cut_db` default: dB below full scale a tail may be cut at
DEFAULT_MAX_STRETCH = 0.03
ROUNDING_FRAMES = 2  # a tail this much (plus a frame per stretched bar) off is rounding, not a cut or a pad
FORMS = ("full", "no-intro", "outro", "outro-end")
BAR_SEARCH = 4  # bar counts tried on each side of the one that needs no stretch




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
    ``end - exit`` frames (`ring` of them untouched, the rest faded; `tail_cut` frames of the
    stem's tail left out, `pad` frames of silence after it). A fill entered part-way starts
    `skip` frames into its music (its `start` and `origin` are then negative) and fades in over
    `fade_in` frames. `run` numbers the stretches of continuous music in an episode (a silent
    chapter ends one), each played by its own sequencer.
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
    sync: Sync = "bar"
    final: bool = False
    tail_full: int = 0
    tail_cut: int = 0
    pad: int = 0
    trim: int = 0  # outro-end form: frames cut from the outro's start
    fade_in: int = 0
    title: str = ""
    bar_frames: Fraction = Fraction(0)
    landings: list[dict[str, Any]] = field(default_factory=list)
    skip: int = 0
    ring: int = 0
    ring_full: int = 0
    run: int = 0

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
class Sting:
    """A stinger laid over the music with its entry on `frame` (a chapter's start)."""

    name: str
    frame: int
    chapter: str = ""


@dataclass(frozen=True)
class EpisodePlan:
    """Sections in playing order and the exact frame count; `sample_rate` in Hz. `silences` are
    the (start, stop) frame spans with no music (silent chapters, music only at the ends); `stings`
    the stingers laid over the music."""

    sections: tuple[Section, ...]
    frames: int
    sample_rate: int
    max_stretch: float
    silences: tuple[tuple[int, int], ...] = ()
    stings: tuple[Sting, ...] = ()

    @property
    def max_ratio_error(self) -> float:
        return max((abs(float(s.ratio) - 1.0) for s in self.sections), default=0.0)

    @property
    def runs(self) -> list[list[Section]]:
        """The sections grouped by `run` (each played by its own sequencer), in order."""
        out: dict[int, list[Section]] = {}
        for s in self.sections:
            out.setdefault(s.run, []).append(s)
        return [out[k] for k in sorted(out)]

    def to_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "sample_rate": self.sample_rate, "seconds": self.frames / self.sample_rate,
                "max_stretch": self.max_stretch, "sections": [s.to_dict(self.sample_rate) for s in self.sections],
                "silences": [list(x) for x in self.silences],
                "stings": [{"name": t.name, "frame": t.frame, "chapter": t.chapter} for t in self.stings]}

    def explain(self) -> list[str]:
        """Human-readable lines: each section's segments, bars, stretch and where each lands."""
        sr = self.sample_rate
        lines = [f"{self.frames} frames = {self.frames / sr:.6f} s at {sr} Hz, {len(self.sections)} section(s)"]
        for s in self.sections:
            st = "no stretch" if s.ratio == 1 else f"stretch x{float(s.ratio):.6f} ({float((s.ratio - 1) * 100):+.3f} %)"
            lines.append(f"{s.name}: state {s.state!r}{' (' + s.title + ')' if s.title else ''}, form {s.form}, "
                         f"{float(s.base_tempo):g} -> {float(s.tempo):.4f} bpm, {st}")
            if s.skip:
                lines.append(f"  entered part-way: {s.skip} frames ({s.skip / sr:.3f} s) in, fading in over "
                             f"{s.fade_in / sr:.3f} s")
            for ev in s.landings:
                lines.append(f"  {ev['what']:<28} frame {ev['frame']:>12}  {ev['frame'] / sr:12.6f} s")
            if s.final:
                lines.append("  " + tail_line(s, sr))
        for a, b in self.silences:
            lines.append(f"silence: frames {a} to {b} ({a / sr:.3f} s to {b / sr:.3f} s)")
        for t in self.stings:
            lines.append(f"sting {t.name!r}{' (' + t.chapter + ')' if t.chapter else ''}: entry on frame {t.frame} "
                         f"({t.frame / sr:.6f} s)")
        return lines


def tail_line(s: Section, sr: int) -> str:
    """How a final section ends, in words: never a negative tail."""
    if s.exit >= s.end - s.pad:  # shorter than the final bar and its ring: the bar itself fades
        into = s.end - (s.exit - round(s.bar_frames))
        return (f"ends {max(0, into) / sr:.3f} s into the final bar (the fill is shorter than the final bar and its "
                f"ring-out), faded over its last {min(s.end - s.start, round(FADE_OUT_CUT_SECONDS * sr)) // 4 / sr:.3f} s "
                f"at most; last frame {s.end - 1}")
    tail = s.end - s.exit - s.pad
    rung = min(s.ring, tail)
    extra = (f", then faded over {(tail - rung) / sr:.3f} s" if tail > rung else "") + (
        f", then {s.pad / sr:.3f} s of silence" if s.pad else "")
    if rung < s.ring_full:  # a fill shorter than the final bar and its ring-out
        return (f"tail {tail} frames ({tail / sr:.3f} s): {rung / sr:.3f} s of its {s.ring_full / sr:.3f} s ring-out "
                f"(the fill is shorter than the final bar and its ring-out), faded over its last "
                f"{ringout_fade(s, sr) / sr:.3f} s; last frame {s.end - 1}")
    return f"tail {tail} frames ({tail / sr:.3f} s): rings {rung / sr:.3f} s to below {RINGOUT_DBFS:g} dBFS{extra}; " \
           f"last frame {s.end - 1}"


def ringout_fade(s: Section, sr: int) -> int:
    """Frames the renderer fades at the end of a final section whose ring-out does not fit."""
    return min((s.end - s.pad - s.exit) // 2, round(2 * FADE_OUT_CUT_SECONDS * sr))


FADE_OUT_CUT_SECONDS = 0.25  # a final bar cut short fades over at most this (a quarter of the fill)


# -- grids -------------------------------------------------------------------------------------


def tail_cut_frames(stem: Stem, db: float | None) -> int:
    """Frames from the stem's exit after which its tail stays `db` dB below full scale
    (`RINGOUT_DBFS` by default; the whole usable tail when `db` is None: never cut)."""
    g = stem.grid
    usable = tail_end_frames(stem)
    if db is None or usable == 0:
        return usable
    env = frame_peaks(stem.mix[g.exit : g.exit + usable])
    loud = np.nonzero(env > 10 ** (-abs(db) / 20))[0]
    if not loud.size:
        return 0
    return min(usable, int(loud[-1]) + 1 + round(RINGOUT_HOLD_SECONDS * g.sample_rate))


def tail_end_frames(stem: Stem) -> int:
    """Frames from the stem's exit to its last frame above `TAIL_END_DBFS`: what of its tail can
    be heard at all (a stem file ends in digital silence, which a fill must not end on)."""
    g = stem.grid
    if g.tail_frames == 0:
        return 0
    env = frame_peaks(stem.mix[g.exit :])
    loud = np.nonzero(env > 10 ** (TAIL_END_DBFS / 20))[0]
    return int(loud[-1]) + 1 if loud.size else 0


@dataclass(frozen=True)
class StateGrids:
    """The grids of one state's segments at its own tempo (None where it has no such segment),
    how far its outro's tail must ring before it may be cut (`outro_keep`) and how far it can
    ring at all (`outro_end`), at the base tempo."""

    state: str
    intro: StemGrid | None
    main: StemGrid
    outro: StemGrid | None
    outro_keep: int
    graph: Graph = field(compare=False, repr=False)  # the state's graph, for its edit points
    outro_end: int = -1  # -1: the whole tail

    @property
    def tempo(self) -> Fraction:
        return self.main.bpm

    @property
    def beats_per_bar(self) -> int:
        return self.main.meter.beats

    @property
    def bar0(self) -> Fraction:
        return BeatGrid(self.main.sample_rate, self.main.bpm, self.main.meter).frames_per_bar

    def without_intro(self) -> "StateGrids":
        return replace(self, intro=None)


def state_grids(graph: Any, source: StemSource, state: str, *, tail_cut_db: float | None) -> StateGrids:
    if state not in graph.states:
        raise PodcastError(f"state {state!r} is not in graph {graph.name!r}; states are {', '.join(graph.states)}")
    sd = graph.states[state]
    main = source.stem(state, "main").grid
    intro = source.stem(state, "intro").grid if sd.intro > 0 else None
    outro_stem = source.stem(state, "outro") if sd.outro > 0 else None
    outro = outro_stem.grid if outro_stem is not None else None
    keep = tail_cut_frames(outro_stem, tail_cut_db) if outro_stem is not None else 0
    end = tail_end_frames(outro_stem) if outro_stem is not None else -1
    return StateGrids(state, intro, main, outro, keep, graph, end)


def leave_section(sg: StateGrids, tempo: Fraction, main_origin: int, *, sync: Sync, outro: StemGrid | None,
                  entry: int, beats: int = 0, frame: int | None = None) -> tuple[int, int]:
    """Where the transition out of a section lands, by the sequencer's own rules
    (`resolver.place_chain`): the section plays `sg.state` at `tempo` with its main bar 1 on
    `main_origin`, its music heard from `entry`; the transition is meant for main beat `beats`
    (or output `frame`, for ``immediate``) and plays `outro` (the stretched outro grid) first,
    if given. Returns (edit frame, the frame the chain ends on: where the next state's music
    enters). The planner searches tempi and bar counts; where they land is the resolver's."""
    grid = BeatGrid(sg.main.sample_rate, tempo, sg.main.meter, main_origin)
    head = Playhead(sg.state, grid, 0, sg.main.bars * sg.beats_per_bar, entry=entry)
    rule = TransitionDef(index=-1, source=sg.state, target=sg.state, on=None, sync=sync, outro=outro is not None)
    chain = [(sg.state, "outro")] if outro is not None else []
    grids = [outro] if outro is not None else []
    target = head.frame_of(beats) if frame is None else frame
    edit, _, after = place_chain(head, rule, target - (outro.entry if outro is not None else 0), chain, grids, sg.graph)
    return edit, after


# -- the ending fit (fills, and an episode's last section) -------------------------------------


@dataclass(frozen=True)
class _Fit:
    form: str
    tempo: Fraction
    ratio: Fraction
    main_bars: int
    lead: int
    exit: int  # relative to the section's audio start (after `skip`)
    tail_full: int
    tail_used: int
    pad: int
    cost: tuple
    skip: int = 0
    ring: int = 0
    ring_full: int = 0


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
    e, x = leave_section(sg, tempo, main_frame, sync="bar", outro=outro, entry=0, beats=m * bpb)
    if outro is None:  # no outro: the main fades out over one bar from the last edit
        fade = main.beat_grid.beats_to_frames(bpb)
        return lead, e, e, fade
    return lead, e, x, outro.tail_frames


def _fits(sg: StateGrids, n: int, *, max_stretch: float, with_lead: bool, forms: tuple[str, ...],
          allow_skip: bool = False) -> list[_Fit]:
    """Every candidate (form, main bars, tempo) that ends on frame `n` exactly, best first: those
    that ring out fully within the stretch, then (with `allow_skip`) those entered part-way,
    then those that would need silence at the end (`pad`)."""
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
            ms: Any = [0]
        else:
            lo_m = 1 if form == "no-intro" or (form == "full" and sg.intro is None) else 0
            ring0 = sg.outro_keep if sg.outro is not None else 0
            centre = int((Fraction(n - ring0) / bar0)) - fixed  # the bar count that needs no stretch
            span_hi = math.ceil(n / float(lo_r) / float(bar0)) + 1 - fixed
            span_lo = math.floor(n / float(hi_r) / float(bar0)) - 3 - fixed
            ms = range(max(lo_m, span_lo, centre - BAR_SEARCH), max(lo_m, min(span_hi, centre + BAR_SEARCH)) + 1)
        for m in ms:
            lead0, _, x0, tail0 = _layout(sg, form, t0, m, with_lead)
            end0 = tail0 if sg.outro is None or sg.outro_end < 0 else min(sg.outro_end, tail0)
            keep0 = min(sg.outro_keep, end0) if sg.outro is not None else tail0
            cands: list[Fraction] = [Fraction(1)]
            if x0 + end0 > 0:
                for tail_frames in (end0, keep0):
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
                end = round_half_up(end0 * r) if sg.outro is not None else tail
                keep = min(round_half_up(keep0 * r), end) if sg.outro is not None else tail
                used = n - x
                slack = ROUNDING_FRAMES + (fixed + m if r != 1 else 0)  # an integer bar rounds by < 1 frame each
                if x <= 0:
                    continue
                if used >= keep - slack:
                    pad = max(0, used - end)
                    # a rounding frame or two of silence is no pad: the tail has long rung out
                    pad_cost = pad if pad > slack else 0
                    out.append(_Fit(form, tempo, r, m, lead, x, tail, min(used, end), pad,
                                    (pad_cost > 0, False, rank, abs(r - 1), pad_cost, end - min(used, end), m),
                                    ring=min(keep, used), ring_full=min(keep, used)))  # short by rounding only
                elif not allow_skip and used > 0:
                    # an episode's last chapter too short for the whole ring-out: the tail is faded to
                    # fit (better than silence after it); used only when nothing rings out in full
                    out.append(_Fit(form, tempo, r, m, lead, x, tail, used, 0,
                                    (True, False, -1, keep - used, abs(r - 1), m), ring=used, ring_full=keep))
                elif allow_skip and r == 1:
                    skip = keep - used  # enter part-way so that the ring-out fits exactly
                    bar = round(stretched_grid(sg.outro, tempo).body_frames / sg.outro.bars) if sg.outro else 0
                    if skip <= x - max(bar, 1):  # the final bar, at least, plays whole
                        out.append(_Fit(form, tempo, r, m, lead, x - skip, tail, keep, 0,
                                        (False, True, rank, skip, m), skip=skip, ring=keep, ring_full=keep))
    out.sort(key=lambda f: f.cost)
    return out


def _outro_end(sg: StateGrids, n: int) -> _Fit:
    """The outro's last `n` frames at its own tempo (the shortest form): ring-out intact when that
    still holds the final downbeat, else from the final downbeat with the tail faded to fit."""
    assert sg.outro is not None
    g = sg.outro
    downbeat = g.entry + BeatGrid(g.sample_rate, g.bpm, g.meter).bar_frame(g.bars - 1)
    end = g.tail_frames if sg.outro_end < 0 else sg.outro_end
    trim = min(g.exit + end - n, downbeat)
    used = n - (g.exit - trim)
    # main_bars carries the trim (frames cut from the outro's start) to _final_section
    return _Fit("outro-end", sg.tempo, Fraction(1), trim, max(0, g.entry - trim), g.exit - trim, g.tail_frames,
                max(0, min(used, end)), 0, (True, 99), ring=max(0, min(sg.outro_keep, used)), ring_full=sg.outro_keep)


# -- public planning ---------------------------------------------------------------------------


def check_frames(frames: int, sample_rate: int) -> int:
    """`frames` as an int within [MIN_FILL_SECONDS, MAX_FILL_SECONDS] of `sample_rate`."""
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)):
        raise TypeError(f"frames must be an int, got {frames!r}")
    frames = int(frames)
    if frames < MIN_FILL_SECONDS * sample_rate:
        raise PodcastError(f"duration {frames / sample_rate:g} s is too short to fill; the minimum is {MIN_FILL_SECONDS:g} s")
    if frames > MAX_FILL_SECONDS * sample_rate:
        raise PodcastError(f"duration {frames / sample_rate:g} s is too long; the maximum is {MAX_FILL_SECONDS:g} s (24 h)")
    return frames


def plan_fill(graph: Any, source: StemSource, frames: int, *, state: str | None = None,
              max_stretch: float = DEFAULT_MAX_STRETCH, tail_cut_db: float | None = TAIL_CUT_DB,
              sample_rate: int | None = None) -> EpisodePlan:
    """Plan a fill of exactly `frames` frames of `state` (default: the graph's start state).

    See the module docstring for the forms tried. Raises `PodcastError` outside
    [`MIN_FILL_SECONDS`, `MAX_FILL_SECONDS`] or when the state has neither an outro nor room for
    one bar. `tail_cut_db`: the final tail rings until it stays this many dB below full scale
    (None: it is never cut).
    """
    sr = int(sample_rate or graph.sample_rate)
    check_stretch(max_stretch)
    frames = check_frames(frames, sr)
    state = graph.start if state is None else state
    sg = state_grids(graph, source, state, tail_cut_db=tail_cut_db)
    if sg.main.sample_rate != sr:
        raise PodcastError(f"the stems of state {state!r} are at {sg.main.sample_rate} Hz, not {sr} Hz")
    fits = _fits(sg, frames, max_stretch=max_stretch, with_lead=True, forms=FORMS[:3], allow_skip=True)
    good = [f for f in fits if not f.cost[0]]
    if good:
        fit = good[0]
    elif sg.outro is not None and frames <= sg.outro.exit + max(0, sg.outro_end):
        fit = _outro_end(sg, frames)
    elif fits:
        fit = fits[0]
    else:
        raise PodcastError(f"cannot fill {frames / sr:g} s with state {state!r} within max_stretch={max_stretch:g}")
    sec = _final_section("s0", sg, fit, start=0, end=frames, sample_rate=sr)
    return EpisodePlan((sec,), frames, sr, max_stretch)


def _final_section(name: str, sg: StateGrids, fit: _Fit, *, start: int, end: int, sample_rate: int,
                   title: str = "", intro_allowed: bool = True, run: int = 0) -> Section:
    bpb = sg.beats_per_bar
    lead, oentry, x, tail = _layout(sg, fit.form, fit.tempo, fit.main_bars, start == 0) if fit.form != "outro-end" \
        else (fit.lead, fit.lead, fit.exit, fit.tail_full)
    start -= fit.skip  # a form entered part-way: its music starts before the fill
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
    entered = fit.form == "outro-end" or fit.skip > 0
    return Section(
        name=name, state=sg.state, form=fit.form, tempo=fit.tempo, base_tempo=sg.tempo, ratio=fit.ratio,
        start=start, origin=origin, intro_bars=intro_bars, main_beats=0 if fit.form == "outro-end" else fit.main_bars * bpb, outro_bars=outro_bars,
        beats_per_bar=bpb, edit=start + oentry, exit=start + x, end=end, final=True, tail_full=fit.tail_full,
        tail_cut=max(0, fit.tail_full - max(0, used)), pad=fit.pad, trim=trim,
        fade_in=min(int(FADE_IN_SECONDS * sample_rate), (end - max(0, start + fit.skip)) // 4) if entered else 0,
        title=title, bar_frames=bar, landings=landings, skip=fit.skip, ring=fit.ring, ring_full=fit.ring_full, run=run,
    )


def check_stretch(max_stretch: float) -> float:
    if isinstance(max_stretch, bool) or not isinstance(max_stretch, (int, float)) or not 0 <= max_stretch <= 0.5:
        raise PodcastError(f"max_stretch={max_stretch!r} must be a fraction between 0 and 0.5 (0.03 = 3 %)")
    return float(max_stretch)
