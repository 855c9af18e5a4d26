"""Melodies from motifs: a 1-2 bar motif is stated, sequenced onto the next chord, varied in
rhythm, inverted, and answered by a cadential phrase ending (question and answer).

The motif depends on the seed, the prompt and the variant but not on the role, so an intro or
an outro quotes the main loop's tune. Notes on the felt beats are chord tones; passing notes
are scale tones that do not grind a semitone against the chord.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from soundtrack.generate.procedural.harmony import base_velocity
from soundtrack.generate.procedural.plan import Plan
from soundtrack.generate.procedural.score import Note
from soundtrack.generate.procedural.theory import (
    Chord,
    degree_pitch,
    pitch_degree,
    pulses,
    quarters,
)

F = Fraction


@dataclass(frozen=True)
class Motif:
    """Onsets and lengths in beats inside `length` beats, and scale steps from the anchor (None = rest)."""

    length: Fraction
    rhythm: tuple[tuple[Fraction, Fraction], ...]
    steps: tuple[int | None, ...]


@dataclass
class _Placed:
    """A note of one motif statement, its pitch still open to the phrase ending and the octave."""

    start: Fraction
    duration: Fraction
    pitch: int


def motif_bars(plan: Plan) -> int:
    """Slow styles and short bars get a two-bar motif."""
    quarter_len = F(plan.bar_beats) * F(4, plan.meter.unit)
    return 2 if plan.style.bars_per_chord > 1 or quarter_len <= 2 else 1


def make_motif(plan: Plan, rng: np.random.Generator) -> Motif:
    length = F(motif_bars(plan) * plan.bar_beats)
    style = plan.style
    dens = 0.5 * (style.density + plan.intensity)
    durs = [quarters(q, plan.meter) for q, _ in style.rhythm]
    weights = np.array([w * float(q) ** ((0.5 - dens) * 2.0) for q, w in style.rhythm], dtype=float)
    weights /= weights.sum()
    rhythm: list[tuple[Fraction, Fraction]] = []
    steps: list[int | None] = []
    t = F(0)
    cur = 0
    pulse_starts = {p for p, _ in pulses(plan.meter)}
    while t < length:
        d = durs[int(rng.choice(len(durs), p=weights))]
        d = min(d, length - t)
        # do not let a note tie over a bar line into the next pulse group
        bar_end = (t // plan.bar_beats + 1) * plan.bar_beats
        d = min(d, bar_end - t)
        rest = bool(rhythm) and steps[-1] is not None and rng.random() < style.rest and (t % plan.bar_beats) not in pulse_starts
        if rest:
            steps.append(None)
        elif not rhythm:
            steps.append(0)
        else:
            prev = next(s for s in reversed(steps) if s is not None)
            if rng.random() < style.leap:
                move = int(rng.choice([-4, -3, 3, 4, 5]))
            else:
                move = int(rng.choice([-2, -1, -1, 1, 1, 2]))
            # after a leap, turn back stepwise (the ear expects the gap to be filled)
            if len(steps) >= 2 and steps[-2] is not None and steps[-1] is not None and abs(steps[-1] - steps[-2]) >= 3:
                move = -int(np.sign(steps[-1] - steps[-2]))
            cur = max(-4, min(7, prev + move))
            steps.append(cur)
        rhythm.append((t, d))
        t += d
    if sum(s is not None for s in steps) < 2 and len(rhythm) == 1:
        half = length / 2
        rhythm = [(F(0), half), (half, half)]
        steps = [0, 2]
    return Motif(length, tuple(rhythm), tuple(steps))


def _vary_rhythm(m: Motif, rng: np.random.Generator) -> Motif:
    """Split the longest note in two (a neighbour tone on the second half)."""
    idx = max(range(len(m.rhythm)), key=lambda i: (m.rhythm[i][1], -i))
    on, d = m.rhythm[idx]
    step = m.steps[idx]
    if d < F(1, 2) or step is None:
        return _invert(m)
    rhythm = list(m.rhythm)
    steps = list(m.steps)
    rhythm[idx:idx + 1] = [(on, d / 2), (on + d / 2, d / 2)]
    steps[idx:idx + 1] = [step, step + int(rng.choice([-1, 1]))]
    return Motif(m.length, tuple(rhythm), tuple(steps))


def _invert(m: Motif) -> Motif:
    return Motif(m.length, m.rhythm, tuple(None if s is None else -s for s in m.steps))


def _answer(m: Motif) -> Motif:
    """The motif's first half, then one long note to the end (a cadence)."""
    keep = [i for i, (on, _) in enumerate(m.rhythm) if on < m.length / 2] or [0]
    rhythm = [m.rhythm[i] for i in keep]
    steps = [m.steps[i] for i in keep]
    last_on = rhythm[-1][0]
    rhythm[-1] = (last_on, m.length - last_on)
    if steps[-1] is None:
        steps[-1] = 0
    return Motif(m.length, tuple(rhythm), tuple(steps))


#: what each motif statement in a phrase of four does; variants develop the motif differently
_PLANS = (
    ("A", "seq", "var", "answer", "A", "seq", "inv", "cadence"),
    ("A", "inv", "seq", "answer", "var", "A", "seq", "cadence"),
    ("A", "A", "seq", "answer", "inv", "var", "A", "cadence"),
)


def _chord_tones_near(chord: Chord, key_pcs: frozenset[int], target: float, lo: int, hi: int) -> int:
    tones = [p for p in range(lo, hi + 1) if p % 12 in chord.pcs]
    return min(tones, key=lambda p: (abs(p - target), p)) if tones else int(target)


def _fit(pitch: int, chord: Chord, plan: Plan, strong: bool) -> int:
    """Snap a note to the chord on strong beats; keep weak passing notes off a semitone grind."""
    pcs = chord.pcs
    if strong:
        if pitch % 12 in pcs:
            return pitch
        return min((pitch + d for d in (-1, 1, -2, 2, -3, 3) if (pitch + d) % 12 in pcs), key=lambda p: abs(p - pitch))
    for c in pcs:
        if (pitch - c) % 12 == 1 and pitch % 12 not in pcs:
            return pitch - 1  # a minor ninth above a chord tone: resolve onto it
        if (c - pitch) % 12 == 1 and c not in plan.key.pcs:
            return pitch + 1  # a chromatic chord tone (a borrowed leading note) replaces the scale note
    return pitch


def _phrase_end(chord: Chord, order: tuple[int, ...]) -> int:
    """The first pitch class of `order` that is a chord tone, else the first that sits consonantly
    over the chord (no semitone or tritone against a chord tone: the 6th or 9th of it), else the root."""
    for pc in order:
        if pc in chord.pcs:
            return pc
    for pc in order:
        if all((pc - c) % 12 not in (1, 11, 6) for c in chord.pcs):
            return pc
    return chord.root


def write_melody(plan: Plan, *, register: tuple[int, int], counter: bool = False) -> list[Note]:
    """A motif-built melody over [0, plan.length); `counter` writes a sparser line a sixth lower."""
    mrng = np.random.default_rng(plan.motif_seed + (7 if counter else 0))
    motif = make_motif(plan, mrng)
    if counter:
        motif = Motif(motif.length, tuple((on, d) for on, d in motif.rhythm[::2]),
                      tuple(-s if s is not None else None for s in motif.steps[::2]))
        motif = Motif(motif.length, tuple((on, (motif.rhythm[i + 1][0] if i + 1 < len(motif.rhythm) else motif.length) - on)
                                          for i, (on, _) in enumerate(motif.rhythm)), motif.steps)
    rng = plan.rng("melody", counter)
    lo, hi = register
    centre = (lo + hi) / 2 - (4 if counter else 0)
    base = base_velocity(plan) + (2 if not counter else -10)
    key_pcs = plan.key.pcs
    phrase = _PLANS[plan.spec.variant % len(_PLANS)]
    pulse_starts = {p for p, _ in pulses(plan.meter)}
    units = int(-(-plan.length // motif.length))
    notes: list[Note] = []
    prev_anchor: int | None = None
    home: int | None = None
    for u in range(units):
        t0 = u * motif.length
        op = phrase[u % len(phrase)]
        if plan.role == "main" and u == units - 1 and units > 1:
            op = "answer"
        if plan.role in ("outro", "stinger") and u == units - 1:
            op = "cadence"
        chord = plan.chord_at(t0)
        if op == "A" or prev_anchor is None:
            # a restatement returns to where the tune first started (same chord: same notes)
            if home is None and plan.key.tonic in chord.pcs:
                # the tune starts on the tonic: the key is heard at once
                anchor = min((p for p in range(lo + 3, hi - 4) if p % 12 == plan.key.tonic), key=lambda p: abs(p - centre))
            else:
                anchor = _chord_tones_near(chord, key_pcs, centre if home is None else home, lo + 3, hi - 5)
            home = anchor if home is None else home
            m = motif
        else:
            anchor = _chord_tones_near(chord, key_pcs, prev_anchor + (2 if u % 4 == 1 else -1), lo + 3, hi - 5)
            m = {"seq": motif, "var": _vary_rhythm(motif, mrng), "inv": _invert(motif),
                 "answer": _answer(motif), "cadence": _answer(motif)}[op]
        prev_anchor = anchor
        deg0 = pitch_degree(plan.key, anchor)
        off = anchor - degree_pitch(plan.key, deg0)  # a chromatic anchor (borrowed chord tone)
        bar_notes: list[_Placed] = []
        for (on, d), s in zip(m.rhythm, m.steps):
            if s is None:
                continue
            start = t0 + on
            if start >= plan.length:
                break
            pitch = degree_pitch(plan.key, deg0 + s) + (off if s == 0 else 0)
            ch = plan.chord_at(start)
            strong = (start % plan.bar_beats) in pulse_starts
            pitch = _fit(pitch, ch, plan, strong)
            bar_notes.append(_Placed(start, min(d, plan.length - start), pitch))
        if not bar_notes:
            continue
        mid = plan.role == "main" and units >= 4 and u == units // 2 - 1
        if op in ("cadence", "answer") or mid:
            # phrase ends establish the key: a question (the loop's middle) ends on 5, an answer
            # (a loop's end, an outro's cadence) on 1, as far as the chord sounding there allows
            last = bar_notes[-1]
            tonic, dominant = plan.key.tonic, (plan.key.tonic + 7) % 12
            order = (dominant, tonic) if mid else (tonic, dominant)
            pc = _phrase_end(plan.chord_at(last.start), order)
            last.pitch = min((p for p in range(lo, hi + 1) if p % 12 == pc), key=lambda p: abs(p - last.pitch))
        # keep the statement in range by octaves, then clamp stray notes
        top = max(n.pitch for n in bar_notes)
        bottom = min(n.pitch for n in bar_notes)
        if top > hi:
            for n in bar_notes:
                n.pitch -= 12
        elif bottom < lo:
            for n in bar_notes:
                n.pitch += 12
        for n in bar_notes:
            while n.pitch > hi:
                n.pitch -= 12
            while n.pitch < lo:
                n.pitch += 12
        for n in bar_notes:
            # phrase arch: grow to the third statement, relax at the answer; accent the felt beats
            arch = (0, 3, 6, -2)[u % 4]
            acc = 5 if (n.start % plan.bar_beats) in pulse_starts else -3
            v = base + arch + acc + int(rng.integers(-3, 4))
            notes.append(Note(n.start, n.duration, int(n.pitch), max(1, min(127, v))))
    return notes


def anacrusis(plan: Plan, first: Note | None, pickup: Fraction, register: tuple[int, int]) -> list[Note]:
    """Two or three notes stepping up into the melody's first note, inside the pickup."""
    if first is None or pickup <= 0:
        return []
    lo, hi = register
    n = 3 if pickup >= 3 * quarters(F(1, 2), plan.meter) and plan.meter.unit >= 8 else 2
    step = pickup / n
    d0 = pitch_degree(plan.key, first.pitch)
    out = []
    for k in range(n):
        p = degree_pitch(plan.key, d0 - (n - k))
        p = max(lo, min(hi, p))
        out.append(Note(-pickup + k * step, step, p, max(1, first.velocity - 12 + 4 * k)))
    return out
