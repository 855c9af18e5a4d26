"""Arrangement: the shape of a stem over its bars (who plays when, how loud), after the writers.

A main loop of four bars or more gets one of three shapes, by its variant, so variants differ
in arrangement and not only in notes:

- "build": the first half enters light (no hats or cymbals, arpeggios and counter-lines out in
  bar 1) and grows to the phrase-end fill; the second half is the full band, easing in its
  last bar so the loop can start again light;
- "answer": the full band states the phrase; the second half opens with a breakdown (drums
  out but for the fill that brings them back, the bass holding roots) and builds back;
- "lift": the band plays throughout, the dynamics rise to bar 6 of 8 and relax.

Levels are per bar (0.82..1.0 of the written velocity, ~3 dB with the SoundFont's velocity
curve) and sustained parts follow them through CC11 expression instead of re-striking. Intros
build (their layers enter one by one in compose, here they crescendo); outros relax into the
ring-out. The shape is also written to the choices (``--explain``).
"""

from __future__ import annotations

from fractions import Fraction

from soundtrack.generate.procedural.plan import Plan
from soundtrack.generate.procedural.score import Note, Part, Score

F = Fraction
_CYMBALS = {42, 44, 46, 49, 51, 52, 53, 54, 55, 57, 59, 70, 81}
SHAPES = ("build", "answer", "lift")


def _levels(shape: str, n: int) -> list[float]:
    """Per-bar levels for a shape: 0.82..1.0 of the written velocity (about 3 dB with General MIDI
    velocity curves, the human reference's median bar-to-bar range), plus the drop-outs."""
    if shape == "build":
        half = max(1, n // 2)
        return [0.82 + 0.16 * b / max(1, half - 1) if b < half else (1.0 if b < n - 1 else 0.93) for b in range(n)]
    if shape == "answer":
        q = n // 2
        out = []
        for b in range(n):
            if b < q:
                out.append(0.95 + 0.05 * (b % 2))
            elif b < q + max(1, n // 4):
                out.append(0.84 + 0.05 * (b - q))
            else:
                out.append(0.92 + 0.08 * (b - q - n // 4) / max(1, n - q - n // 4 - 1))
        return out
    peak = max(1, (3 * n) // 4 - 1)
    return [0.84 + 0.16 * min(1.0, b / peak) if b <= peak else 1.0 - 0.06 * (b - peak) for b in range(n)]


def shape_of(plan: Plan) -> str | None:
    if plan.role != "main" or plan.bars < 4:
        return None
    return SHAPES[plan.spec.variant % len(SHAPES)]


def bar_levels(plan: Plan) -> list[float]:
    """The level of each bar (1.0 = as written)."""
    n = plan.bars
    shape = shape_of(plan)
    if shape is not None:
        levels = _levels(shape, n)
        # the tonic's bars are never the soft ones: a quiet tonic and a loud turnaround would
        # tell a listener the wrong key
        for b in range(n):
            if plan.chord_at(F(b * plan.bar_beats)).root == plan.key.tonic:
                levels[b] = max(levels[b], 0.97)
        return levels
    if plan.role == "intro":
        return [0.8 + 0.2 * (b + 1) / n for b in range(n)]
    return [1.0] * n


def _drop(plan: Plan, part: Part, bar: int, shape: str) -> bool:
    """Whether `part` is left out of `bar` (notes starting in it), for this shape."""
    n = plan.bars
    if shape == "build":
        if part.role == "arp" and bar == 0:
            return True
        if part.role == "lead" and part.layer != "melody" and bar < n // 2:
            return True  # the counter-line is the second half's answer
    if shape == "answer":
        q = n // 2
        if q <= bar < q + max(1, n // 4) and part.role in ("kit", "perc") and not part.synth:
            return True
    return False


def arrange(plan: Plan, score: Score) -> None:
    """Apply the bar plan to `score` in place: drop-outs, per-bar levels, expression curves."""
    levels = bar_levels(plan)
    shape = shape_of(plan)
    if shape:
        plan.choices.append(f"arrangement: {shape!r} over {plan.bars} bars (variant {plan.spec.variant}); "
                            f"bar levels {', '.join(f'{x:.2f}' for x in levels)}")
    bar = F(plan.bar_beats)
    n = plan.bars
    for part in score.parts:
        out: list[Note] = []
        for note in part.notes:
            b = max(0, min(n - 1, int(note.start // bar)))
            if shape and _drop(plan, part, b, shape):
                # a breakdown keeps the fill in its last beat, which brings the band back
                if not (part.role == "kit" and note.start >= (b + 1) * bar - F(pulse_len(plan))):
                    continue
            if shape == "build" and part.role == "kit" and b < n // 2 and note.pitch in _CYMBALS and b == 0:
                continue  # bar 1 of a build: kick, snare and toms only
            v = note.velocity
            if not part.legato or part.role not in ("pad",) or part.synth:
                # a SoundFont pad follows the levels through CC11; a built-in synth voice has
                # no expression controller, so its velocity carries them
                v = max(1, min(127, int(round(v * levels[b]))))
            out.append(Note(note.start, note.duration, note.pitch, v))
        part.notes = out
        if part.legato and not part.is_drum:
            part.expression = _expression(plan, part, levels)


def pulse_len(plan: Plan) -> int:
    from soundtrack.generate.procedural.theory import pulses

    return pulses(plan.meter)[-1][1]


def _expression(plan: Plan, part: Part, levels: list[float]) -> tuple[tuple[Fraction, int], ...]:
    """CC11 breakpoints: the bar levels, and a swell inside each long note (a bowed or blown
    sound grows after its attack and eases before the next), never below 40."""
    bar = F(plan.bar_beats)
    pts: dict[Fraction, int] = {}
    for b, lv in enumerate(levels):
        pts[b * bar] = int(round(100 * lv))
    pts[len(levels) * bar] = int(round(100 * levels[-1]))
    for note in part.notes:
        if note.duration >= 2:
            b = max(0, min(len(levels) - 1, int(note.start // bar)))
            base = 100 * levels[b]
            pts[note.start] = int(round(base * 0.82))
            pts[note.start + note.duration * F(3, 5)] = int(round(min(127, base * 1.12)))
            pts[note.start + note.duration] = int(round(base * 0.92))
    return tuple((t, max(40, min(127, v))) for t, v in sorted(pts.items()))
