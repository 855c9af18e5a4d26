"""compose(spec) -> Score: the procedural composer's entry point.

Pure and deterministic: the Score depends on the spec alone (seeds come from SHA-256 of the
seed, the recognised prompt words, the role and the variant). The roles:

- main: a seamless loop; the progression's last bar leads back to its first chord and no note
  sounds past the loop end.
- intro: layers enter one after another with a crescendo; some styles play a pickup (a drum
  fill or a melodic anacrusis) before bar 1; it ends on the chord that leads into the main.
- outro: the progression, then the style's cadence chord, then a final tonic bar in which every
  layer holds its last note to the end (the drums strike once), with a decrescendo.
- stinger: a fanfare inside `spec.beats` (or the bars) ending on the tonic.
- bridge: a riser of one or two bars ending on the style's dominant.

Layers: drums, bass, harmony and melody are written by their writers; other names map to a
sensible part ("pad", "strings" -> held chords; "arp" -> arpeggio; "perc" -> hand percussion;
"lead", "counter" -> a counter-melody; "sub" -> bass) or to a silent part.

Heard in its key: in a major or minor key, the state's canonical main (8 bars, variant 0, the
spec's layers) is first written as take 0; when `keysense` hears another key in it, takes 1-5
(another progression and tune from the same seed) are written too and the one heard most
clearly in the declared key is used for every role and variant, so a state's stems still share
one progression. Only the take's choice is extra work (about 30 ms a take); the take is named in
`Score.choices`.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from soundtrack.generate.procedural import drums as drums_mod
from soundtrack.generate.procedural.arrange import arrange
from soundtrack.generate.procedural.harmony import arpeggio, base_velocity, voicings, write_bass, write_harmony
from soundtrack.generate.procedural.keysense import heard_key, heard_margin
from soundtrack.generate.procedural.melody import anacrusis, write_melody
from soundtrack.generate.procedural.perform import humanise, legato
from soundtrack.generate.procedural.plan import ChordEvent, Plan, make_plan
from soundtrack.generate.procedural.score import Note, Part, Score
from soundtrack.generate.procedural.styles import Voice
from soundtrack.generate.procedural.theory import (
    Chord,
    degree_pitch,
    eighth,
    nearest_pitch,
    parse_roman,
    pitch_degree,
    pulses,
    quarters,
    swing_time,
    voice_lead,
)
from soundtrack.stem import StemSpec

F = Fraction

_PAD_LAYERS = ("pad", "pads", "strings", "keys", "chords", "texture")
_ARP_LAYERS = ("arp", "arps", "arpeggio", "arpeggios")
_PERC_LAYERS = ("perc", "percussion", "shaker", "hands")
_LEAD_LAYERS = ("lead", "counter", "countermelody", "counter-melody", "solo", "hook")
_BASS_LAYERS = ("sub", "low", "bassline")
_VOCAL_PROGRAMS = (52, 53, 54)  # choir aahs, voice oohs, synth voice
_FLUTE_PROGRAMS = (72, 73, 74, 75, 78, 79)  # piccolo, flute, recorder, pan flute, whistle, ocarina


#: further takes `compose` may write when the first is heard in another key
KEY_TAKES = 5


def compose(spec: StemSpec) -> Score:
    """Compose one stem's Score from `spec` (see the module docstring for what each role does)."""
    if not isinstance(spec, StemSpec):
        raise TypeError(f"compose() needs a StemSpec, got {type(spec).__name__}")
    take, why, canonical = _key_take(spec)
    if take == 0 and canonical is not None and _is_canonical(spec):
        score = canonical
    else:
        score = _compose(spec, take)
    if why:
        score.choices.insert(1, why)
    return score


def _is_canonical(spec: StemSpec) -> bool:
    return spec.role == "main" and spec.bars == 8 and spec.beats is None and spec.variant == 0


def _key_take(spec: StemSpec) -> tuple[int, str, Score | None]:
    """Which take of the state's harmony and tune to write, why (empty when take 0 was heard in
    its key), and take 0's canonical main when it was written (see the module docstring)."""
    plan = make_plan(spec)
    key = plan.key
    if key.mode not in ("major", "minor") or not any(_kind(layer) in ("bass", "harmony", "melody") for layer in spec.layers):
        return 0, "", None
    base = replace(spec, role="main", bars=8, beats=None, variant=0)
    first = _compose(base, 0)
    margin = heard_margin(first, key)
    if margin > 0:
        return 0, "", first
    margins = [margin] + [heard_margin(_compose(base, t), key) for t in range(1, KEY_TAKES + 1)]
    best = max(range(len(margins)), key=lambda t: (margins[t], -t))
    heard = heard_key(first)
    names = "C C# D Eb E F F# G Ab A Bb B".split()
    was = f"{names[heard[0]]} {heard[1]}"
    if best == 0:
        return 0, f"key: take 0 sounds nearer {was} than {key}; no other take is clearer (kept)", first
    return best, f"key: take 0 sounds nearer {was} than {key}; take {best} is heard in {key}" + (
        "" if margins[best] > 0 else " more clearly than the others"), first


def _compose(spec: StemSpec, take: int) -> Score:
    plan = make_plan(spec, take)
    plan.events = _events(plan)
    score = Score(
        bpm=plan.bpm,
        meter=plan.meter,
        key=plan.key,
        bars=plan.bars,
        role=spec.role,
        style=plan.style.name,
        loop=spec.role == "main",
        reverb_seconds=plan.style.reverb_seconds,
    )
    for b in range(plan.bars):
        c = plan.chord_at(F(b * plan.bar_beats))
        score.chords.append(c.as_tuple())
        if c.borrowed:
            score.borrowed.append(b)
    pickup = _pickup(plan)
    score.pickup_beats = pickup
    entries = _entries(plan)
    for layer in spec.layers:
        parts = _layer_parts(plan, layer, pickup)
        for part in parts:
            part.notes = _finish(plan, part, entries.get(layer, F(0)), pickup)
        score.parts.extend(parts)
    if spec.role == "outro":
        _ring_out(plan, score)
    legato(plan, score)
    arrange(plan, score)
    humanise(plan, score)
    for part in score.parts:
        part.notes.sort()
    score.choices = [f"key {plan.key}, {plan.bpm} bpm, {plan.meter}: {_why_key(plan)}", *plan.choices]
    return score


def _why_key(plan: Plan) -> str:
    spec, info = plan.spec, plan.info
    if spec.key is not None:
        key = "the key the spec gives"
    elif info.key is not None:
        key = "the key the prompt names"
    elif info.mode is not None:
        key = f"{info.mode} from the prompt's words, tonic by the seed"
    else:
        key = f"the style's {'minor' if plan.style.prefers_minor else 'major'}, tonic by the seed"
    tempo = ("the spec's tempo" if spec.tempo is not None else "the prompt's tempo" if info.tempo is not None
             else "inside the style's range, from the prompt's pace and intensity")
    return f"{key}; {tempo}"


# -- harmony per role ------------------------------------------------------------------------------


def _bar_chords(plan: Plan) -> list[Chord]:
    period = plan.progression
    n, p = plan.bars, len(period)
    role = plan.role
    if role == "main":
        steps = _steps(plan)
        if 1 < n < p and n >= len(steps):
            # a loop shorter than the period plays every step, faster, rather than cutting the
            # middle of it: the tonic's return inside the period stays in the loop
            return [steps[i * len(steps) // n] for i in range(n)]
        seq = [period[i % p] for i in range(n)]
        if n > 1 and n % p:
            seq[-1] = period[-1]  # whatever the length, the loop's last bar leads home
        if n > 1:
            seq[-1] = _turnaround(plan, seq[-1])
        return seq
    if role == "intro":
        seq = [period[(i - n) % p] for i in range(n)]
        seq[-1] = _turnaround(plan, seq[-1])  # into bar 1 as the loop's own last bar leads there
        return seq
    tonic, cadence = plan.tonic_chord, plan.cadence_chord
    if role == "bridge":
        return [period[i % p] for i in range(n - 1)] + [cadence]
    # outro and stinger: cadence, then the tonic
    if n == 1:
        return [tonic]
    return [period[i % p] for i in range(n - 2)] + [cadence, tonic]


def _turnaround(plan: Plan, last: Chord) -> Chord:
    """A minor loop's last bar turns around on the dominant with its raised leading tone (the
    harmonic-minor V), so a listener hears the minor key and not its relative major (an aeolian
    loop i-bVI-bIII-bVII is as much in bIII as in i); power-chord rock keeps its bare fifths."""
    key = plan.key
    if key.mode != "minor" or plan.style.harmony == "power":
        return last
    if last.root == (key.tonic + 7) % 12 and last.quality in ("maj", "dom7", "dom9"):
        return last
    sym = "V7!" if plan.style.harmony == "comp" else "V!"
    return parse_roman(sym, key)


def _steps(plan: Plan) -> list[Chord]:
    """The progression's harmonic steps (one entry per chord, not per bar)."""
    per = max(1, plan.style.bars_per_chord)
    return plan.progression[::per]


def _events(plan: Plan) -> list[ChordEvent]:
    out = []
    for b, chord in enumerate(_bar_chords(plan)):
        start = F(b * plan.bar_beats)
        if start < plan.length:
            out.append(ChordEvent(start, min(F(plan.bar_beats), plan.length - start), chord))
    return out


# -- intro shape -----------------------------------------------------------------------------------


def _pickup(plan: Plan) -> Fraction:
    """Beats before bar 1: the last pulse's length, for an intro of a style that counts in."""
    layer = plan.style.pickup
    if plan.role != "intro" or layer is None or layer not in plan.spec.layers:
        return F(0)
    return F(pulses(plan.meter)[-1][1])


def _kind(layer: str) -> str:
    if layer in ("drums", "bass", "harmony", "melody"):
        return layer
    if layer in _PAD_LAYERS or layer in _ARP_LAYERS:
        return "harmony"
    if layer in _PERC_LAYERS:
        return "drums"
    if layer in _BASS_LAYERS:
        return "bass"
    return "melody"


def _entries(plan: Plan) -> dict[str, Fraction]:
    """Intro: the beat at which each layer enters (style order; unknown layers with their kind)."""
    if plan.role not in ("intro",):
        return {}
    order = list(plan.style.intro_order)
    if plan.style.pickup in order:
        order.remove(plan.style.pickup)
        order.insert(0, plan.style.pickup)  # the layer that counts in plays from bar 1
    layers = sorted(plan.spec.layers, key=lambda x: (order.index(_kind(x)), plan.spec.layers.index(x)))
    m = len(layers)
    out = {}
    bar = F(plan.bar_beats)
    ps = [F(p) for p, _ in pulses(plan.meter)]
    for k, layer in enumerate(layers):
        raw = k * plan.length / m
        if plan.bars >= 2:
            t = (raw // bar) * bar
        else:
            t = max((p for p in ps if p <= raw), default=F(0))
        out[layer] = t
    return out


# -- parts -----------------------------------------------------------------------------------------


_ROLE_OF_KIND = {"drums": "kit", "bass": "bass", "harmony": "pad", "melody": "lead"}


def _part(layer: str, voice: Voice, notes: list[Note], *, suffix: str = "", gain: float = 0.0,
          role: str | None = None) -> Part:
    return Part(layer=layer, name=voice.name + suffix, program=voice.program, is_drum=voice.is_drum,
                synth=voice.synth, notes=list(notes), gain_db=voice.gain_db + gain, pan=voice.pan,
                reverb=voice.reverb, role=role or _ROLE_OF_KIND.get(_kind(layer), "lead"))


def _layer_parts(plan: Plan, layer: str, pickup: Fraction) -> list[Part]:
    kind = _kind(layer)
    reg = plan.style.register
    if plan.role == "stinger":
        return _stinger_parts(plan, layer, kind)
    if plan.role == "bridge":
        return _bridge_parts(plan, layer, kind)
    thin = (plan.solo or plan.sparse) and not plan.drums_asked
    if kind == "drums" and thin:
        return [_part(layer, plan.voices["kit"], [])]  # silent: a solo or sparse prompt has no drums
    if plan.solo and kind in ("bass", "harmony") and plan.harmony_mode not in ("comp", "arp"):
        return [_part(layer, plan.voices["lead"], [])]  # a solo line alone: no chords, no bass
    if kind == "drums":
        if layer != "drums":
            return [_part(layer, Voice("hand percussion", 0, is_drum=True, gain_db=-6, reverb=0.2), _shaker(plan), role="perc")]
        parts = [_part(layer, plan.voices["kit"], drums_mod.write_drums(plan))]
        if "perc" in plan.voices:
            parts.append(_part(layer, plan.voices["perc"], drums_mod.write_perc(plan), role="perc"))
        if pickup and plan.style.pickup == "drums":
            fill = drums_mod._fill(plan, -pickup, F(0), pickup, base_velocity(plan), plan.rng("pickup"))
            parts[0].notes.extend(fill)
        return parts
    if kind == "bass":
        return [_part(layer, plan.voices["bass"], write_bass(plan, plan.events, reg["bass"]))]
    if kind == "harmony":
        if layer in _ARP_LAYERS:
            return [_part(layer, plan.voices.get("arp", plan.voices["pad"]), _arp_notes(plan), role="arp")]
        mode = "pad" if layer in _PAD_LAYERS else plan.harmony_mode
        voice = plan.voices["pad"]
        subs = write_harmony(plan, plan.events, mode, reg["harmony"])
        parts = [_part(layer, voice, subs["pad"])]
        extras = list(plan.extra.get("pad", []))
        if "ostinato" in subs:
            # a choir holds its chords; the figure goes to the strings (a named doubling, else the style's)
            figure = voice
            if voice.program in _VOCAL_PROGRAMS and not voice.synth:
                figure = extras.pop(0) if extras else plan.style.voices["pad"]
            parts.append(_part(layer, figure, subs["ostinato"], suffix=" ostinato" if figure is voice else "",
                               gain=-2 if figure is voice else -6))  # under the choir it names
        for extra in extras:
            parts.append(_part(layer, extra, subs["pad"], gain=-3))
        if plan.arp and layer == "harmony":
            parts.append(_part(layer, plan.voices["arp"], _arp_notes(plan), role="arp"))
        return parts
    # melody and the counter-melody kinds
    if layer != "melody":
        lo, hi = reg["melody"]
        return [_part(layer, plan.voices["lead"], write_melody(plan, register=(lo - 7, hi - 9), counter=True), gain=-4)]
    notes = write_melody(plan, register=reg["melody"])
    if pickup and plan.style.pickup == "melody":
        first = min(notes, default=None)
        notes = anacrusis(plan, first, pickup, reg["melody"]) + notes
    # two or more named lead instruments trade the tune phrase by phrase (fiddle, then flute),
    # as a session band does, instead of a unison in which the second is masked
    leads = [plan.voices["lead"], *plan.extra.get("lead", [])]
    span = plan.length / len(leads)
    parts = []
    for k, v in enumerate(leads):
        mine = [n for n in notes if k * span <= max(n.start, F(0)) < (k + 1) * span or
                (k == len(leads) - 1 and n.start >= plan.length)]
        if (k and v.program in _FLUTE_PROGRAMS and not v.synth and mine
                and sorted(n.pitch for n in mine)[len(mine) // 2] < 74 and max(n.pitch for n in mine) + 12 <= 96):
            mine = [replace(n, pitch=n.pitch + 12) for n in mine]  # a flute answers in its bright octave
        parts.append(_part(layer, v, mine))
    if plan.arp and "harmony" not in plan.spec.layers:
        parts.append(_part(layer, plan.voices["arp"], _arp_notes(plan), role="arp"))
    return parts


def _arp_notes(plan: Plan) -> list[Note]:
    style = plan.style
    rate = quarters(style.arp_rate if style.arp else F(1, 2), plan.meter)
    level = base_velocity(plan) - (6 if "arp" in plan.front else 12)  # a named arpeggio is played out
    ring = F(3) if plan.voices.get("arp", Voice("")).program in (46, 45, 8, 10, 11, 24, 105, 107) else F(1)
    return arpeggio(plan, plan.events, style.register["arp"], rate, level, plan.rng("arp"), ring=ring)


def _shaker(plan: Plan) -> list[Note]:
    e = eighth(plan.meter)
    rng = plan.rng("shaker")
    base = base_velocity(plan) - 24
    out, t = [], F(0)
    while t < plan.length:
        acc = 8 if (t % plan.bar_beats) in {p for p, _ in pulses(plan.meter)} else 0
        out.append(Note(t, min(e, plan.length - t), 70, max(1, base + acc + int(rng.integers(-4, 5)))))
        t += e
    return out


# -- stinger and bridge ----------------------------------------------------------------------------


def _stinger_parts(plan: Plan, layer: str, kind: str) -> list[Part]:
    """A fanfare: chord tones rising in eighths into the tonic, which holds to the end."""
    L = plan.length
    e = eighth(plan.meter)
    base = base_velocity(plan) + 10
    final_t = F((plan.bars - 1) * plan.bar_beats) if plan.bars >= 2 else min(L / 2, 3 * e)
    final_t = (final_t // e) * e
    tonic = plan.tonic_chord
    lo, hi = plan.style.register["melody"]
    notes: list[Note] = []
    if kind == "melody":
        top = nearest_pitch(plan.key.tonic, hi - 5, lo, hi)
        t, k = F(0), 0
        run = []
        while t < final_t:
            run.append(t)
            t += e if plan.bars < 2 else F(pulses(plan.meter)[k % len(pulses(plan.meter))][1])
            k += 1
        prev = top - 12
        for i, t in enumerate(run):
            ch = plan.chord_at(t)
            target = prev + 3 if i else top - 8
            p = nearest_pitch(min(ch.pcs, key=lambda pc: abs(((pc - target) % 12))), target, lo, hi)
            if p <= prev and i:
                p = min((q for q in range(prev + 1, hi + 1) if q % 12 in ch.pcs), default=p)
            prev = p
            notes.append(Note(t, min(e, final_t - t), p, base - 6))
        notes.append(Note(final_t, L - final_t, top, base + 4))
    elif kind == "harmony":
        lo_h, hi_h = plan.style.register["harmony"]
        if final_t > 0:
            v0 = voice_lead(None, plan.chord_at(F(0)), low=lo_h, high=hi_h, voices=4)
            notes += [Note(F(0), min(e, final_t), p, base - 4) for p in v0]
        v1 = voice_lead(None, tonic, low=lo_h, high=hi_h, voices=4)
        notes += [Note(final_t, L - final_t, p, base) for p in v1]
    elif kind == "bass":
        blo, bhi = plan.style.register["bass"]
        if final_t > 0:
            notes.append(Note(F(0), min(e, final_t), nearest_pitch(plan.chord_at(F(0)).root, blo + 7, blo, bhi), base))
        notes.append(Note(final_t, L - final_t, nearest_pitch(plan.key.tonic, blo + 7, blo, bhi), base))
    elif kind == "drums":
        if layer != "drums":
            return [_part(layer, Voice("hand percussion", 0, is_drum=True, gain_db=-6), [Note(final_t, L - final_t, 54, base - 10)])]
        hits = [F(0)] + ([final_t] if final_t > 0 else [])
        for t in hits:
            notes += [Note(t, min(e, L - t) if t < final_t else L - t, 49, base), Note(t, min(e, L - t), 36, base)]
        parts = [_part(layer, plan.voices["kit"], notes)]
        if "perc" in plan.voices:
            perc = [Note(t, min(e, L - t) if t < final_t else L - t, nearest_pitch(plan.key.tonic, 45, 38, 53), base) for t in hits]
            parts.append(_part(layer, plan.voices["perc"], perc, role="perc"))
        return parts
    voice = {"melody": plan.voices["lead"], "harmony": plan.voices["pad"], "bass": plan.voices["bass"]}[kind]
    return [_part(layer, voice, notes)]


def _bridge_parts(plan: Plan, layer: str, kind: str) -> list[Part]:
    """A riser: repeated chords and bass quickening from eighths to sixteenths, a rising run, a snare roll."""
    L = plan.length
    e = eighth(plan.meter)
    base = base_velocity(plan)
    notes: list[Note] = []

    def pulse_grid(t: Fraction) -> Fraction:
        return e if t < L / 2 else e / 2

    if kind == "drums":
        t = F(0)
        while t < L:
            r = pulse_grid(t)
            notes.append(Note(t, r, 38, max(1, min(127, int(base - 25 + 40 * (t / L))))))
            if t % plan.bar_beats in {p for p, _ in pulses(plan.meter)}:
                notes.append(Note(t, r, 36, base))
            t += r
        parts = [_part(layer, plan.voices["kit"] if layer == "drums" else Voice("percussion", 0, is_drum=True), notes)]
        if layer == "drums" and "perc" in plan.voices:
            parts.append(_part(layer, plan.voices["perc"], drums_mod.write_perc(plan), role="perc"))
        return parts
    if kind == "melody":
        lo, hi = plan.style.register["melody"]
        goal = nearest_pitch(plan.events[-1].chord.root, hi - 4, lo, hi)
        steps = int(L / e)
        d_goal = pitch_degree(plan.key, goal)
        for k in range(steps):
            p = degree_pitch(plan.key, d_goal - (steps - 1 - k))
            p = p if p >= lo else p + 12
            last = k == steps - 1
            if last:
                p = goal
            notes.append(Note(k * e, e, p, max(1, min(127, int(base - 10 + 20 * k / max(1, steps))))))
        return [_part(layer, plan.voices["lead"], notes)]
    lo, hi = plan.style.register["bass" if kind == "bass" else "harmony"]
    vs = voicings(plan, plan.events, low=lo, high=hi, voices=1 if kind == "bass" else 3)
    for ev, v in zip(plan.events, vs):
        pitches = [nearest_pitch(ev.chord.root, lo + 7, lo, hi)] if kind == "bass" else list(v)
        t = ev.start
        while t < ev.end:
            r = pulse_grid(t)
            for p in pitches:
                notes.append(Note(t, min(r * F(3, 4), ev.end - t), p, max(1, min(127, int(base - 20 + 35 * (t / L))))))
            t += r
    voice = plan.voices["bass"] if kind == "bass" else plan.voices["pad"]
    return [_part(layer, voice, notes)]


# -- finishing -------------------------------------------------------------------------------------


def _dynamics(plan: Plan, t: Fraction) -> float:
    L = plan.length
    if plan.role == "intro":
        return 0.7 if t < 0 else 0.62 + 0.38 * float(t / L)
    if plan.role == "outro":
        return 1.0 - 0.3 * float(t / L)
    return 1.0


def _finish(plan: Plan, part: Part, entry: Fraction, pickup: Fraction) -> list[Note]:
    """Entry gating (intro), swing, dynamics, and the hard bounds [-pickup, length)."""
    out = []
    swing = plan.style.swing
    unit = 2 * eighth(plan.meter)
    do_swing = swing != F(1, 2) and plan.meter.unit <= 4
    for n in part.notes:
        start, end = n.start, n.start + n.duration
        if entry > 0 and start < entry:
            if end - entry < eighth(plan.meter) * 2:
                continue
            start = entry  # a held chord the layer enters into sounds from the entry
        if start < -pickup or start >= plan.length:
            continue
        if do_swing:
            start, end = swing_time(start, swing, unit), swing_time(end, swing, unit)
        end = min(end, plan.length)
        if end <= start:
            continue
        v = max(1, min(127, int(round(n.velocity * _dynamics(plan, start)))))
        out.append(Note(start, end - start, n.pitch, v))
    return out


def _ring_out(plan: Plan, score: Score) -> None:
    """The outro's last bar: every layer holds one final sound from the downbeat to the end."""
    t = F((plan.bars - 1) * plan.bar_beats)
    L = plan.length
    tonic = plan.tonic_chord
    level = 0.75
    by_layer: dict[str, list[Part]] = {}
    for part in score.parts:
        by_layer.setdefault(part.layer, []).append(part)
    for layer, parts in by_layer.items():
        kind = _kind(layer)
        for idx, part in enumerate(parts):
            before = [n for n in part.notes if n.start < t]
            part.notes = before
            if not before and idx > 0:
                continue
            last = max(before, key=lambda n: (n.start, n.pitch), default=None)
            vel = max(1, int((last.velocity if last else base_velocity(plan)) * level))
            if part.is_drum or (kind == "drums" and part.program in (47, 116)):
                if part.is_drum:
                    keys = (81,) if plan.style.name == "ambient" else (49, 36)
                    if plan.style.name == "horror":
                        keys = (41, 36)
                    part.notes += [Note(t, L - t, k, vel) for k in keys]
                else:
                    part.notes.append(Note(t, L - t, nearest_pitch(plan.key.tonic, 45, 36, 53), vel))
            elif kind == "bass":
                p = nearest_pitch(plan.key.tonic, last.pitch if last else 40, *plan.style.register["bass"])
                part.notes.append(Note(t, L - t, p, vel))
            elif kind == "harmony" and idx == 0:
                lo, hi = plan.style.register["harmony"]
                prev = tuple(sorted({n.pitch for n in before if n.start + n.duration >= t - eighth(plan.meter)}))[-4:] or None
                v = voice_lead(prev, tonic, low=lo, high=hi, voices=max(3, plan.style.harmony_voices))
                part.notes += [Note(t, L - t, p, vel) for p in v]
            elif kind == "melody" and idx == 0 and part.name == plan.voices["lead"].name:
                lo, hi = plan.style.register["melody"]
                p = nearest_pitch(plan.key.tonic, last.pitch if last else (lo + hi) / 2, lo, hi)
                part.notes.append(Note(t, L - t, p, vel))
