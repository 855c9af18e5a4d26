"""Harmony and bass writers: chord voicings with voice leading, comping, strumming, power chords,
arpeggios, and bass lines that follow the chord roots.

Each writer takes the plan and its chord events and returns notes (`Note`, Fraction beats from
bar 1 beat 1) inside the events; velocities are before the role's dynamics.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from soundtrack.generate.procedural.plan import ChordEvent, Plan
from soundtrack.generate.procedural.score import Note
from soundtrack.generate.procedural.theory import Chord, degree_pitch, eighth, nearest_pitch, pitch_degree, pulses, quarters, voice_lead

F = Fraction


def base_velocity(plan: Plan) -> int:
    """The mezzo level of this stem: 52 (soft prompts) .. 104 (aggressive prompts)."""
    return int(round(52 + 52 * plan.intensity))


def merged(events: list[ChordEvent]) -> list[ChordEvent]:
    """Consecutive events of the same chord joined into one (a held chord is not re-struck)."""
    out: list[ChordEvent] = []
    for ev in events:
        if out and out[-1].chord.as_tuple() == ev.chord.as_tuple() and out[-1].end == ev.start:
            out[-1] = ChordEvent(out[-1].start, out[-1].duration + ev.duration, ev.chord)
        else:
            out.append(ev)
    return out


def bars_of(plan: Plan, ev: ChordEvent) -> list[tuple[Fraction, Fraction]]:
    """(start, length) of the bar-long pieces of an event (a last piece may be shorter)."""
    out = []
    t = ev.start
    bar = Fraction(plan.bar_beats)
    while t < ev.end:
        nxt = min(ev.end, (t // bar + 1) * bar)
        out.append((t, nxt - t))
        t = nxt
    return out


def voicings(plan: Plan, events: list[ChordEvent], *, low: int, high: int, voices: int,
             omit_root: bool = False, allow_seconds: bool = False) -> list[tuple[int, ...]]:
    """Voice-led voicings, one per event; a loop's first voicing is led from its last."""
    def chain(prev: tuple[int, ...] | None) -> list[tuple[int, ...]]:
        out = []
        for ev in events:
            rootless = omit_root and len(ev.chord.pcs) >= 4
            prev = voice_lead(prev, ev.chord, low=low, high=high, voices=voices, omit_root=rootless,
                              allow_seconds=allow_seconds)
            out.append(prev)
        return out

    first = chain(None)
    return chain(first[-1]) if plan.role == "main" and len(events) > 1 else first


def _vel(v: float, rng: np.random.Generator, spread: int = 4) -> int:
    return int(max(1, min(127, round(v + rng.integers(-spread, spread + 1)))))


# -- harmony ---------------------------------------------------------------------------------------


def write_harmony(plan: Plan, events: list[ChordEvent], mode: str, register: tuple[int, int]) -> dict[str, list[Note]]:
    """Notes per harmony sub-part: "pad" always, "ostinato" for orchestral strings when driven."""
    rng = plan.rng("harmony")
    lo, hi = register
    base = base_velocity(plan)
    e = eighth(plan.meter)
    out: dict[str, list[Note]] = {"pad": []}
    if mode == "power":
        return {"pad": _power(plan, events, register, base, rng)}
    if mode == "arp":  # sparse broken chords: one chord tone per beat, left to ring
        return {"pad": arpeggio(plan, merged(events), (lo, hi), quarters(F(1), plan.meter), base - 10, rng,
                                pattern="up", ring=F(3))}
    if mode == "chip_arp":
        rate = quarters(F(1, 8) if plan.bpm <= 170 else F(1, 4), plan.meter)
        if plan.intensity < 0.4:
            rate *= 2
        return {"pad": arpeggio(plan, events, (lo, hi), rate, base - 8, rng, pattern="up")}
    mevents = merged(events) if mode in ("pad", "cluster", "ostinato") else events
    nv = plan.style.harmony_voices
    vs = voicings(plan, mevents, low=lo, high=hi, voices=3 if mode == "cluster" else nv,
                  omit_root=mode == "comp" and plan.style.name == "jazz", allow_seconds=mode == "cluster")
    for ev, v in zip(mevents, vs):
        if mode in ("pad", "ostinato", "cluster"):
            held = list(v)
            if mode == "cluster":
                # a diatonic neighbour grinding against the lowest chord tone
                held.append(degree_pitch(plan.key, pitch_degree(plan.key, v[0]) + 1))
            level = base - (14 if mode == "ostinato" and plan.intensity >= 0.45 else 6)
            for p in sorted(set(held)):
                out["pad"].append(Note(ev.start, ev.duration, p, _vel(level, rng, 2)))
            if mode == "ostinato" and plan.intensity >= 0.45:
                rate = e if plan.intensity < 0.8 else e / 2
                order = [v[0], v[-1], v[len(v) // 2], v[-1]]
                t, k = ev.start, 0
                pulse_starts = {p for p, _ in pulses(plan.meter)}
                while t < ev.end:
                    accent = (t % plan.bar_beats) in pulse_starts
                    out.setdefault("ostinato", []).append(
                        Note(t, min(rate * F(3, 4), ev.end - t), order[k % 4], _vel(base + (6 if accent else -6), rng)))
                    t += rate
                    k += 1
        elif mode == "comp":
            for start, blen in bars_of(plan, ev):
                for off, dur, acc in _comp_rhythm(plan, blen, rng):
                    for p in v:
                        out["pad"].append(Note(start + off, dur, p, _vel(base - 8 + acc, rng)))
        elif mode == "strum":
            for start, blen in bars_of(plan, ev):
                out["pad"].extend(_strum(plan, start, blen, v, base, rng))
    return out


def _comp_rhythm(plan: Plan, blen: Fraction, rng: np.random.Generator) -> list[tuple[Fraction, Fraction, int]]:
    """(offset, duration, accent) comping hits inside one bar of length `blen`."""
    e = eighth(plan.meter)
    ps = [p for p in pulses(plan.meter) if p[0] < blen]
    if plan.style.name == "jazz":
        grid = [k * e for k in range(int(blen / e))]
        offs = [g for g in grid if (g / e) % 2 == 1] or grid
        n = min(len(offs), 1 + int(rng.integers(1, 3)))
        picks = sorted(rng.choice(len(offs), size=n, replace=False).tolist())
        hits = [(offs[i], e * F(3, 2), 6 if i == picks[0] else 0) for i in picks]
        if rng.random() < 0.5:
            hits.insert(0, (F(0), e, 2))
        return [(o, min(d, blen - o), a) for o, d, a in hits]
    # lo-fi: a lazy chord on the downbeat, re-struck on the "and" before the last pulse
    last = F(ps[-1][0]) if len(ps) > 1 else blen / 2
    anticip = max(e, last - e / 2 if plan.meter.unit <= 4 else last)
    hits = [(F(0), anticip - F(1, 16) if anticip > F(1, 16) else anticip, 0)]
    hits.append((anticip, blen - anticip, -6))
    return [(o, d, a) for o, d, a in hits if d > 0]


def _strum(plan: Plan, start: Fraction, blen: Fraction, v: tuple[int, ...], base: int, rng: np.random.Generator) -> list[Note]:
    e = eighth(plan.meter)
    spread = quarters(F(1, 48), plan.meter)
    strokes: list[tuple[Fraction | int, str]] = []  # (offset in the bar, D = down, U = up)
    for i, (p, plen) in enumerate(pulses(plan.meter)):
        if p >= blen:
            break
        last_e = p + plen - e
        if plan.meter.unit <= 4:
            # D . D U . U D U over four beats
            if i == 0:
                strokes.append((p, "D"))
            elif i % 2 == 1:
                strokes += [(p, "D"), (p + e * (plen / (e * 2)), "U")]
            else:
                strokes.append((p + e * (plen / (e * 2)), "U"))
        else:
            strokes.append((p, "D"))
            if plen >= 2 * e and last_e > p:
                strokes.append((last_e, "U"))
    strokes = sorted((t, s) for t, s in strokes if t < blen)
    notes = []
    for k, (t, s) in enumerate(strokes):
        # a stroke's strings are damped under the next stroke, once its strings have all sounded
        end = strokes[k + 1][0] + (len(v) + 1) * spread if k + 1 < len(strokes) else blen
        strings = list(v) if s == "D" else list(v)[-3:][::-1]
        level = base - 4 if s == "D" else base - 16
        for j, p in enumerate(strings):
            on = t + j * spread
            if on < end:
                notes.append(Note(start + on, min(end, blen) - on if k + 1 == len(strokes) else end - on, p,
                                  _vel(level - 2 * j, rng)))
    return notes


def _power(plan: Plan, events: list[ChordEvent], register: tuple[int, int], base: int, rng: np.random.Generator) -> list[Note]:
    lo, hi = register
    e = eighth(plan.meter)
    starts = {p for p, _ in pulses(plan.meter)}
    notes: list[Note] = []
    prev = lo + 5
    alt = plan.spec.variant % 2 == 1
    for ev in events:
        r = nearest_pitch(ev.chord.root, prev, lo, min(hi - 12, lo + 14))
        prev = r
        full = (r, r + 7, r + 12)
        for start, blen in bars_of(plan, ev):
            if plan.intensity < 0.5:
                half = [p for p, _ in pulses(plan.meter) if p < blen]
                hits = [F(0)] + ([F(half[len(half) // 2])] if len(half) > 1 else [])
                for k, t in enumerate(hits):
                    end = hits[k + 1] if k + 1 < len(hits) else blen
                    for p in full:
                        notes.append(Note(start + t, end - t, p, _vel(base - 4, rng)))
                continue
            t = F(0)
            while t < blen:
                pos = t
                accent = pos in starts
                if alt and not accent and (pos / e) % 4 == 3:
                    accent = True  # variant: a syncopated push
                if accent:
                    for p in full:
                        notes.append(Note(start + t, min(e * F(9, 10), blen - t), p, _vel(base + 6, rng)))
                else:
                    for p in full[:2]:
                        notes.append(Note(start + t, min(e / 2, blen - t), p, _vel(base - 14, rng)))
                t += e
    return notes


def arpeggio(plan: Plan, events: list[ChordEvent], register: tuple[int, int], rate: Fraction, level: float,
             rng: np.random.Generator, *, pattern: str = "updown", ring: Fraction = F(1)) -> list[Note]:
    """Chord tones across the register in steps of `rate` beats, restarting at each chord (a fast
    upward run at each beat too)."""
    lo, hi = register
    notes = []
    beats = {p for p, _ in pulses(plan.meter)}
    for ev in events:
        tones = [p for p in range(lo, min(hi, lo + 19) + 1) if p % 12 in ev.chord.pcs]
        if len(tones) < 2:
            tones = [nearest_pitch(pc, lo + 6, lo, hi) for pc in ev.chord.pcs]
        seq = tones if pattern == "up" else tones + tones[-2:0:-1]
        t, k = ev.start, 0
        while t < ev.end:
            dur = min(rate * ring, ev.end - t)
            # a metric accent: the notes on the beats lean, the ones between them are lighter
            # (an even stream of eighths is heard as the pulse at twice the tempo)
            accent = 5 if (t % plan.bar_beats) in beats else -4
            if pattern == "up" and accent > 0 and rate < 1:
                k = 0  # a fast run starts again on each beat: its figure repeats once a beat, not across them
            notes.append(Note(t, dur, seq[k % len(seq)], _vel(level + accent + (3 if k % len(seq) == 0 else 0), rng, 3)))
            t += rate
            k += 1
    return notes


# -- bass ------------------------------------------------------------------------------------------


def write_bass(plan: Plan, events: list[ChordEvent], register: tuple[int, int]) -> list[Note]:
    """A bass line on the chord roots (every chord change starts on its root), in the style's idiom."""
    mode = plan.bass_mode
    rng = plan.rng("bass")
    lo, hi = register
    base = base_velocity(plan) + 4
    e = eighth(plan.meter)
    notes: list[Note] = []
    if mode in ("drone",) or (mode == "ostinato" and plan.intensity < 0.45):
        prev = lo + 7
        for ev in merged(_pedal(plan, events)):
            r = nearest_pitch(ev.chord.root, prev, lo, hi - 5)
            prev = r
            notes.append(Note(ev.start, ev.duration, r, _vel(base - 8, rng, 2)))
        return notes
    prev = lo + 7
    roots = []
    for ev in events:
        r = nearest_pitch(ev.chord.root, prev, lo, hi - 7)
        roots.append(r)
        prev = r
    for i, ev in enumerate(events):
        r = roots[i]
        nxt = roots[(i + 1) % len(roots)] if (i + 1 < len(roots) or plan.role == "main") else r
        fifth = r + ((ev.chord.fifth - ev.chord.root) % 12)
        if fifth > hi:
            fifth -= 12
        ps = [(p, ln) for p, ln in pulses(plan.meter)]
        for start, blen in bars_of(plan, ev):
            last_bar = start + blen == ev.end
            bp = [(p, ln) for p, ln in ps if p < blen]
            if mode == "walking":
                notes.extend(_walk(plan, start, bp, blen, r, nxt if last_bar else r, ev.chord, (lo, hi), base, rng))
            elif mode == "root_fifth":
                for k, (p, ln) in enumerate(bp):
                    pitch = r if k % 2 == 0 else fifth
                    dur = min(F(ln), blen - p) * F(9, 10)
                    if last_bar and k == len(bp) - 1 and nxt != r and ln >= 2 * e and rng.random() < 0.6:
                        # a walk-up into the next chord
                        notes.append(Note(start + p, e * F(9, 10), pitch, _vel(base - 6, rng)))
                        notes.append(Note(start + p + e, min(F(ln), blen - p) - e, _approach(plan, nxt, pitch), _vel(base - 10, rng)))
                        continue
                    notes.append(Note(start + p, dur, pitch, _vel(base - (0 if k == 0 else 6), rng)))
            elif mode in ("pump", "rock8", "ostinato", "chip"):
                t = F(0)
                k = 0
                while t < blen:
                    pitch = r
                    octave = r + 12 if r + 12 <= hi else (r - 12 if r - 12 >= lo else r)
                    if mode == "pump" and k % 2 == 1 and plan.intensity >= 0.55:
                        pitch = octave
                    elif mode == "chip":
                        pitch = octave if k % 2 == 1 else r
                        if t >= blen - 2 * e and k % 2 == 0:
                            pitch = fifth
                    elif mode == "ostinato" and k % 4 == 2:
                        pitch = fifth if fifth >= lo else r
                    if mode == "rock8" and last_bar and nxt != r and t == blen - e:
                        pitch = _approach(plan, nxt, r)
                    dur = e * (F(1, 2) if mode in ("pump", "chip") else F(9, 10))
                    acc = 8 if (t in {p for p, _ in bp}) else 0
                    notes.append(Note(start + t, min(dur, blen - t), pitch, _vel(base - 8 + acc, rng)))
                    t += e
                    k += 1
            else:  # lofi and plain roots: a long root, a ghosted pickup, then the fifth or an approach
                if len(bp) == 1:
                    notes.append(Note(start, blen * F(9, 10), r, _vel(base, rng)))
                else:
                    p_last = bp[-1][0]
                    notes.append(Note(start, p_last - e / 2, r, _vel(base, rng)))
                    notes.append(Note(start + p_last - e / 2, e / 2, r, _vel(base - 12, rng)))
                    tail = blen - p_last
                    if last_bar and nxt != r and tail >= 2 * e:
                        notes.append(Note(start + p_last, tail - e, fifth, _vel(base - 6, rng)))
                        notes.append(Note(start + blen - e, e * F(9, 10), _approach(plan, nxt, fifth), _vel(base - 10, rng)))
                    else:
                        notes.append(Note(start + p_last, tail * F(9, 10), fifth if rng.random() < 0.5 else r, _vel(base - 6, rng)))
    return notes


def _pedal(plan: Plan, events: list[ChordEvent]) -> list[ChordEvent]:
    """A drone's notes: a tonic pedal under every chord that holds the tonic (horror holds it
    under every chord, dissonance included), the chord's root elsewhere."""
    tonic = plan.key.tonic
    out = []
    for ev in events:
        if plan.style.name == "horror" or tonic in ev.chord.pcs:
            ev = ChordEvent(ev.start, ev.duration, Chord(tonic, "5"))
        out.append(ev)
    return out


def _approach(plan: Plan, target: int, current: int) -> int:
    """A scale step leading into `target` from the side `current` is on."""
    d = pitch_degree(plan.key, target)
    if degree_pitch(plan.key, d) != target:  # target off the scale: approach chromatically
        return target - 1 if current < target else target + 1
    return degree_pitch(plan.key, d - 1) if current <= target else degree_pitch(plan.key, d + 1)


def _walk(plan: Plan, start: Fraction, bp: list[tuple[int, int]], blen: Fraction, r: int, nxt: int,
          chord: Chord, register: tuple[int, int], base: int, rng: np.random.Generator) -> list[Note]:
    lo, hi = register
    m = len(bp)
    line = [r]
    tones = [p for p in range(lo, hi + 1) if p % 12 in chord.pcs]
    for k in range(1, m):
        if k == m - 1 and nxt is not None:
            if rng.random() < 0.5:
                line.append(nxt - 1 if line[-1] < nxt else nxt + 1)
            else:
                line.append(_approach(plan, nxt, line[-1]))
            continue
        target = r + (nxt - r) * k / m + float(rng.integers(-4, 5))
        cands = [p for p in tones if p != line[-1]] or tones
        line.append(min(cands, key=lambda p: abs(p - target)))
    notes = []
    for k, ((p, ln), pitch) in enumerate(zip(bp, line)):
        pitch = max(lo, min(hi, pitch))
        notes.append(Note(start + p, min(F(ln), blen - p) * F(9, 10), pitch, _vel(base - (0 if k == 0 else 6), rng)))
    return notes
