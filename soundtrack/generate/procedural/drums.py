"""Drum grooves per style, for any meter: kicks and snares on the felt pulses (7/8 = 2+2+3),
hats or ride on the eighths, fills at phrase ends, crashes at phrase starts, and pitched
percussion (timpani following the chord roots, taiko ostinati).

GM percussion keys used: 35/36 kick, 37 side stick, 38 snare, 39 clap, 41/43/45/47/48/50 toms,
42 closed hat, 44 pedal hat, 46 open hat, 49 crash, 51 ride, 54 tambourine, 70 maracas, 81 triangle.
The chiptune noise_drums voice understands 36/38/42/46/49 only.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from soundtrack.generate.procedural.harmony import base_velocity
from soundtrack.generate.procedural.plan import Plan
from soundtrack.generate.procedural.score import Note
from soundtrack.generate.procedural.theory import backbeat, eighth, nearest_pitch, pulses

F = Fraction
#: A beat position or length: a `Fraction`, or a whole beat of `theory.pulses` as an int.
Beat = Fraction | int
#: One drum hit of a bar: (offset in beats, GM key, velocity before the humanizing jitter).
Hit = tuple[Beat, int, float]

KICK, SIDE, SNARE, CLAP, HAT, PEDAL, OPEN, CRASH, RIDE = 36, 37, 38, 39, 42, 44, 46, 49, 51
TOMS = (48, 47, 45, 43, 41, 41)  # high to low (FluidR3's high tom 50 has a spike ~1.5 ms into its attack)


def _v(x: float | np.integer[Any]) -> int:
    return int(max(1, min(127, round(x))))


def _is_fill_bar(plan: Plan, bar: int) -> bool:
    """Fills end phrases: every 4th bar, the last bar of a stem, every 2nd bar in odd variants."""
    every = 2 if plan.spec.variant % 3 == 2 else 4
    return (bar + 1) % every == 0 or bar == plan.bars - 1


def _fill(plan: Plan, t0: Fraction, start: Beat, length: Beat, level: int, rng: np.random.Generator) -> list[Note]:
    """A sixteenth-note fill over [start, start+length) of the bar at t0, toms or snare, crescendo."""
    s = eighth(plan.meter) / 2
    n = int(length / s)
    chip = plan.style.name == "chiptune"
    # tom fills only for the built-in voices: FluidR3's recorded toms spike in their attacks
    toms = False
    out = []
    for k in range(n):
        key = SNARE if chip or not toms else TOMS[min(len(TOMS) - 1, k * len(TOMS) // max(1, n))]
        out.append(Note(t0 + start + k * s, s, key, _v(level - 20 + 25 * k / max(1, n - 1) + rng.integers(-3, 4))))
    return out


def write_drums(plan: Plan) -> list[Note]:
    """The drum-kit part over [0, plan.length), one bar at a time."""
    rng = plan.rng("drums")
    name = plan.style.name
    if name == "ambient" and not plan.drums_asked and plan.intensity < 0.6:
        return _ambient_texture(plan, rng)
    e = eighth(plan.meter)
    s = e / 2
    ps = pulses(plan.meter)
    bb = backbeat(plan.meter)
    base = base_velocity(plan)
    alt = plan.spec.variant % 2 == 1
    notes: list[Note] = []
    bars = -(-plan.length // plan.bar_beats)
    for bar in range(int(bars)):
        t0 = F(bar * plan.bar_beats)
        blen = min(F(plan.bar_beats), plan.length - t0)
        fill = _is_fill_bar(plan, bar) and plan.role in ("main", "intro", "bridge")
        fill_from = ps[-1][0] if fill else blen
        if fill and name in ("rock", "synthwave", "chiptune", "orchestral") and plan.intensity >= 0.7 and len(ps) > 2:
            fill_from = ps[-2][0]
        hits: list[Hit] = []  # (offset, key, velocity)
        if bar % 4 == 0 and name in ("rock", "synthwave", "chiptune", "orchestral", "jazz") and plan.role != "outro":
            hits.append((F(0), CRASH, base + (4 if name != "jazz" else -25)))
        special = _groove(plan, fill_from, alt, base, rng)
        if special is not None:
            hits += special
        for i, ((p, plen), kind) in enumerate(zip(ps, bb)):
            if p >= fill_from or special is not None:
                break
            if name in ("rock", "chiptune"):
                hits.append((p, KICK if kind == "K" else SNARE, base + (8 if kind == "S" else 4)))
                if kind == "K" and plen >= 2 * e and (alt or i == 0):
                    hits.append((p + e * (plen // (2 * e) if plan.meter.unit >= 8 else 1), KICK, base - 6))
                if alt and kind == "S" and name == "rock":
                    hits.append((p + plen - e, KICK, base - 8))
                cym = RIDE if (alt and name == "rock") else HAT
                k = F(0)
                while k < plen:
                    hits.append((p + k, cym, base - (4 if k == 0 else 18)))
                    k += e
                if name == "chiptune" and i == len(ps) - 1:
                    hits.append((p + plen - e, OPEN, base - 10))
            elif name == "synthwave":
                hits.append((p, KICK, base + 6))
                if kind == "S":
                    hits += [(p, SNARE, base + 4), (p, CLAP, base - 4)]
                    if alt and plen >= 2 * e:
                        hits.append((p + plen - s, KICK, base - 10))  # variant: a pushed sixteenth kick
                k = F(0)
                step = e if alt else s
                while k < plen:
                    accent = (k / s) % 2 == 1 and plan.meter.unit <= 4
                    hits.append((p + k, HAT, base - (8 if accent else 20)))
                    k += step
                if plan.intensity >= 0.5 and plen >= 2 * e:
                    hits.append((p + e, OPEN, base - 16))
            elif name == "lofi":
                if i == 0:
                    hits.append((p, KICK, base + 8))
                if i == 1 and plen >= 1:
                    hits.append((p + plen - e / (2 if alt else 1), KICK, base - 4))
                if kind == "S":
                    hits.append((p, SIDE if plan.intensity < 0.4 else SNARE, base + 2))
                k = F(0)
                while k < plen:
                    hits.append((p + k, HAT, base - 22 + float(rng.integers(-8, 9))))
                    k += e
            elif name == "jazz":
                hits.append((p, RIDE, base - 6))
                if kind == "S":
                    hits.append((p, PEDAL, base - 20))
                    if plen >= 1:
                        hits.append((p + plen - e, RIDE, base - 16))
                if plan.intensity >= 0.45:
                    hits.append((p, KICK, base - 40))
                if rng.random() < (0.35 if alt else 0.2):
                    hits.append((p + e, SNARE, base - 35))
            elif name == "folk":
                if kind == "K":
                    hits.append((p, KICK, base - 8))
                    if alt and plen >= 2 * e:
                        hits.append((p + plen - e, KICK, base - 16))
                elif plan.intensity >= 0.5 or alt:
                    hits.append((p, CLAP, base - 6))
                k = e if alt else F(0)  # variant: the tambourine moves to the offbeats
                while k < plen:
                    hits.append((p + k, 54, base - (10 if kind == "S" and k == 0 else 24)))
                    k += e if not alt else 2 * e
            elif name == "orchestral":
                if i == 0 or (kind == "K" and plan.intensity >= 0.6):
                    hits.append((p, 35, base + 4))
                else:
                    # a soft gran cassa on the other beats: the pulse the strings' offbeats hang on
                    # (without it a listener, and a beat tracker, hears the eighths as the beat)
                    hits.append((p, 35, base - (10 if kind == "K" else 18)))
                if alt and kind == "S" and plan.intensity >= 0.6:
                    hits.append((p, SNARE, base - 12))
            elif name == "horror":
                if i == 0 and (bar % 2 == 0 or plan.intensity >= 0.35):
                    # lub-dub a sixteenth apart (~0.23 s at 65 bpm, a resting heart's): an
                    # eighth apart is heard as the pulse at twice the tempo
                    hits += [(p, KICK, base - 4), (p + min(s, F(plen, 2)), KICK, base - 16)]
                if i == len(ps) - 1 and rng.random() < 0.4:
                    hits.append((p, 41, base - 14))
            else:  # ambient with drums asked for: a soft, spacious groove
                if kind == "K":
                    hits.append((p, KICK, base - 10))
                else:
                    hits.append((p, SIDE, base - 14))
                hits.append((p + plen - e, 70, base - 30))
        if fill:
            if name == "horror":
                at: Beat = fill_from
                total = blen - fill_from
                while at < blen:
                    hits.append((at, RIDE, 20 + 50 * float((at - fill_from) / total)))
                    at += s
            elif name in ("jazz", "lofi", "folk", "ambient"):
                hits.append((fill_from, SNARE if name != "folk" else 54, base - 10))
                hits.append((fill_from + e, SNARE if name != "folk" else 54, base - 4))
            else:
                notes.extend(_fill(plan, t0, fill_from, blen - fill_from, base + 6, rng))
        for off, key, vel in hits:
            if off < blen:
                dur = min(e, blen - off)
                notes.append(Note(t0 + off, dur, key, _v(vel + rng.integers(-3, 4))))
    return notes


def _groove(plan: Plan, until: Beat, alt: bool, base: int, rng: np.random.Generator) -> list[Hit] | None:
    """One bar of a named groove (ensembles.GROOVES) as (offset, key, velocity), hits before
    `until` only; None where the style's own groove plays (the classic one, or a meter the
    groove is not written for). Offsets are in beats of a 4/4 bar (3/4 for the waltz)."""
    g, m = plan.groove, plan.meter
    four = m.beats == 4 and m.unit == 4
    pat: list[tuple[float, int, float]] = []
    if g == "breakbeat" and four:  # a two-step break: kick 1 and the and-of-3, snare 2 and 4, ghosts
        pat = [(0, KICK, 8), (1, SNARE, 8), (2.5, KICK, 2), (3, SNARE, 8), (1.75, SNARE, -28), (3.75, SNARE, -24)]
        pat += [(k / 2, HAT, -14 if k % 2 else -6) for k in range(8)]
        if alt:
            pat += [(0.75, KICK, -6), (2.25, SNARE, -30)]
    elif g == "halftime" and four:  # the backbeat once a bar, on 3
        pat = [(0, KICK, 8), (1.5, KICK, -6), (2, SNARE, 10)]
        pat += [(k / 2, HAT, -10 if k % 2 else -2) for k in range(8)]
        if alt:
            pat.append((3.5, KICK, -8))
    elif g == "gallop" and four:  # metal: a gallop of kicks under the backbeat
        pat = [(1, SNARE, 10), (3, SNARE, 10)] + [(b + o, KICK, 4 if o == 0 else -6) for b in range(4) for o in (0, 0.5, 0.75)]
        pat += [(k / 2, RIDE if alt else HAT, -10) for k in range(8)]
    elif g == "march" and four:  # a snare march: accents on the beats, rolls into 3
        pat = [(0, 35, 6), (2, 35, 2)] + [(k / 2, SNARE, 0 if k % 2 == 0 else -16) for k in range(8)]
        pat += [(1.75, SNARE, -20), (3.75, SNARE, -18)]
    elif g == "waltz" and m.beats == 3 and m.unit == 4:  # oom-pah-pah
        pat = [(0, 35, 6), (1, SIDE, -18), (2, SIDE, -20), (0, 81, -30)]
    elif g == "trap" and four:  # rolling hats, kick syncopation, the clap on 3
        pat = [(0, KICK, 8), (0.75, KICK, -4), (2.5, KICK, 0), (2, CLAP, 8), (2, SNARE, -4)]
        for k in range(16):
            pat.append((k / 4, HAT, -12 if k % 4 else -4))
        if alt:
            pat += [(3.5 + j / 8, HAT, -16) for j in range(4)]  # a 32nd roll into the next bar
    elif g == "bossa" and four:  # the bossa clave on the rim, kick on 1 and 3 with a push
        pat = [(t, SIDE, -8) for t in (0, 0.75, 1.5, 2.5, 3.0)]
        pat += [(0, KICK, -10), (1.5, KICK, -18), (2, KICK, -10), (3.5, KICK, -18)]
        pat += [(k / 2, HAT, -24) for k in range(8)]
    elif g == "jig" and four:  # a dance: kick on 1 and 3, claps on 2 and 4, tambourine on every eighth
        pat = [(0, KICK, -6), (2, KICK, -8), (1, CLAP, -4), (3, CLAP, -4)] + [(k / 2, 54, -14 if k % 2 else -20) for k in range(8)]
    else:
        return None
    return [(F(o).limit_denominator(16), key, base + v + float(rng.integers(-2, 3))) for o, key, v in pat if F(o).limit_denominator(16) < until]


def _ambient_texture(plan: Plan, rng: np.random.Generator) -> list[Note]:
    """No groove: a faint shaker on the off pulses and a triangle every other bar."""
    notes = []
    ps = pulses(plan.meter)
    bars = -(-plan.length // plan.bar_beats)
    for bar in range(int(bars)):
        t0 = F(bar * plan.bar_beats)
        if bar % 2 == 0:
            notes.append(Note(t0, min(F(plan.bar_beats), plan.length - t0), 81, _v(26 + rng.integers(-3, 4))))
        for i, (p, plen) in enumerate(ps):
            if i % 2 == 1 and t0 + p < plan.length:
                notes.append(Note(t0 + p, min(F(plen), plan.length - t0 - p), 70, _v(18 + rng.integers(-3, 4))))
    return notes


def write_perc(plan: Plan) -> list[Note]:
    """Pitched percussion in the drums layer: timpani on the chord roots, or a taiko ostinato on
    the tonic (taiko are not melodic: one following the chord roots makes the key finder hear iv)."""
    voice = plan.voices.get("perc")
    if voice is None:
        return []
    rng = plan.rng("perc")
    base = base_velocity(plan)
    ps = pulses(plan.meter)
    e = eighth(plan.meter)
    notes = []
    bars = -(-plan.length // plan.bar_beats)
    taiko = voice.program == 116
    for bar in range(int(bars)):
        t0 = F(bar * plan.bar_beats)
        blen = min(F(plan.bar_beats), plan.length - t0)
        chord = plan.chord_at(t0)
        if taiko:
            pitch = nearest_pitch(plan.key.tonic, 40, 36, 47)
            for i, (p, plen) in enumerate(ps):
                k = F(0)
                while k < plen and p + k < blen:
                    strong = k == 0
                    if strong or plan.intensity >= 0.6 and rng.random() < 0.55:
                        notes.append(Note(t0 + p + k, min(e, blen - p - k), pitch, _v(base + (10 if strong else -12) + rng.integers(-4, 5))))
                    k += e
        else:
            root = nearest_pitch(chord.root, 45, 38, 53)
            fifth = nearest_pitch(chord.fifth, root - 5, 36, 55)
            notes.append(Note(t0, min(F(ps[0][1]), blen), root, _v(base + 6)))
            if len(ps) > 1 and plan.intensity >= 0.4 and ps[-1][0] < blen:
                p, plen = ps[-1]
                if plan.intensity >= 0.65:
                    notes += [Note(t0 + p, e, fifth, _v(base - 8)), Note(t0 + p + e, min(plen - e, blen - p - e), root, _v(base - 2))]
                else:
                    notes.append(Note(t0 + p, min(F(plen), blen - p), fifth, _v(base - 8)))
    return [n for n in notes if n.duration > 0]
