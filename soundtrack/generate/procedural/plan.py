"""Resolving a StemSpec into a composition plan: tempo, key, meter, harmony, orchestration, seeds.

The harmony (`progression`) depends on the seed and what the prompt says, never on the role or
the variant, so a state's intro, main loops and outro share one progression and join musically.
Seeds come from SHA-256 of canonical text (Python's `hash()` is salted per process).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np

from soundtrack.errors import SpecError
from soundtrack.generate.procedural.keysense import key_fits
from soundtrack.generate.procedural.prompt import PromptInfo, parse_prompt
from soundtrack.generate.procedural.styles import INSTRUMENTS, STYLES, Style, Voice
from soundtrack.generate.procedural.theory import Chord, diatonic_chord, is_diatonic, parse_roman
from soundtrack.generate.prompt import find_phrase
from soundtrack.pitch import Key
from soundtrack.stem import StemSpec
from soundtrack.timing import MAX_BPM, MIN_BPM, Meter

#: fallback progressions as scale degrees (0 = tonic), for modes where no style pattern fits
_DEGREE_PATTERNS = ((0, 5, 3, 4), (0, 3, 4, 3), (0, 5, 6, 4), (0, 3, 6, 4), (0, 6, 5, 6), (0, 1, 0, 6),
                    (0, 3, 0, 6), (0, 2, 3, 4), (0, 1, 6, 1), (0, 3, 0, 1), (0, 4, 3, 4), (0, 5, 3, 6))


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from the text of `parts` (stable across processes and platforms)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@dataclass(frozen=True)
class ChordEvent:
    start: Fraction  # beats
    duration: Fraction
    chord: Chord

    @property
    def end(self) -> Fraction:
        return self.start + self.duration


@dataclass
class Plan:
    """Everything the part writers need; built once per `compose` call."""

    spec: StemSpec
    info: PromptInfo
    style: Style
    key: Key
    meter: Meter
    bpm: Fraction
    role: str
    bars: int
    length: Fraction  # beats from bar 1 beat 1 to the end of the stem's music
    intensity: float
    progression: list[Chord]  # one chord per bar of the main loop's period
    events: list[ChordEvent] = field(default_factory=list)
    voices: dict[str, Voice] = field(default_factory=dict)
    extra: dict[str, list[Voice]] = field(default_factory=dict)  # doublings named in the prompt
    harmony_mode: str = "pad"
    bass_mode: str = "root"
    groove: str = "standard"
    ensemble: str = "standard"
    choices: list[str] = field(default_factory=list)  # what was chosen and why, one line each
    solo: bool = False  # only the named instruments play
    sparse: bool = False  # no drone, pad or drums unless named
    named: dict[str, str] = field(default_factory=dict)  # named instrument -> the role it plays
    front: set[str] = field(default_factory=set)  # roles a prompt puts in front ("harp arpeggios")
    arp: bool = False
    drums_asked: bool = False  # the prompt names drums or percussion
    harmony_seed: int = 0
    motif_seed: int = 0
    role_seed: int = 0

    @property
    def bar_beats(self) -> int:
        return self.meter.beats

    def rng(self, *salt: object) -> np.random.Generator:
        """A generator for one writer of this stem (role- and variant-specific)."""
        return np.random.default_rng(stable_seed(self.role_seed, *salt))

    def chord_at(self, t: Fraction) -> Chord:
        for ev in self.events:
            if ev.start <= t < ev.end:
                return ev.chord
        return self.events[-1].chord if t >= 0 else self.events[0].chord

    @property
    def tonic_chord(self) -> Chord:
        """The stable tonic the outro and stinger end on: the progression's first chord, minus any sus."""
        first = self.progression[0]
        if first.quality in ("sus2", "sus4", "sus2add4") or first.root != self.key.tonic:
            return diatonic_chord(self.key, 0)
        return first

    @property
    def cadence_chord(self) -> Chord:
        """The chord before the final tonic (V, IV, bVII... as the style and mode allow)."""
        cands = self.style.cadences_minor if self.key.is_minor else self.style.cadences_major
        for sym in cands:
            c = parse_roman(sym, self.key)
            if is_diatonic(c, self.key) or c.borrowed:
                return c
        return self.progression[-1]


def _tempo(spec: StemSpec, info: PromptInfo, style: Style, seed: int) -> Fraction:
    if spec.tempo is not None:
        return spec.tempo
    if info.tempo is not None:
        return info.tempo
    lo, hi = style.tempo
    if info.pace is not None:
        pos = info.pace
    else:
        pos = 0.3 + 0.4 * info.intensity
    bpm = round(lo + (hi - lo) * pos)
    if info.pace is not None and (info.pace < 0.05 or info.pace > 0.95):
        bpm = round(bpm * (0.85 if info.pace < 0.5 else 1.15))
    return Fraction(max(MIN_BPM, min(MAX_BPM, bpm)))


def _key(spec: StemSpec, info: PromptInfo, style: Style, seed: int) -> Key:
    if spec.key is not None:
        return spec.key
    if info.key is not None:
        return info.key
    mode = info.mode or ("minor" if style.prefers_minor else "major")
    # a tonic that suits the style's usual register, varied by the seed
    tonics = (2, 9, 4, 0, 7, 5) if mode != "major" else (0, 7, 2, 5, 9, 3)
    return Key(tonics[stable_seed(seed, style.name, mode) % len(tonics)], mode)


def _meter(spec: StemSpec, info: PromptInfo, style: Style) -> Meter:
    if spec.meter is not None:
        return spec.meter
    return info.meter or style.meter


def _valid(chords: list[Chord], key: Key, style: Style) -> bool:
    if chords[-1].root == key.tonic:
        return False  # the loop must lead back, not sit on the tonic
    for c in chords:
        if not (is_diatonic(c, key) or c.borrowed):
            return False
        if c.quality in ("dim", "aug", "dim7") and not (style.allow_dim or c.borrowed):
            return False
    return True


def _flavour(key: Key, degree: int, style: Style) -> Chord:
    """A diatonic chord on `degree` coloured the style's way (sevenths, power chords, sus2)."""
    if style.harmony == "power":
        c = Chord(key.degree_pc(degree), "5")
        return c if is_diatonic(c, key) else diatonic_chord(key, degree)
    if style.harmony == "comp":
        return diatonic_chord(key, degree, sevenths=True)
    return diatonic_chord(key, degree)


def choose_progression(key: Key, style: Style, seed: int) -> list[Chord]:
    """One chord per harmonic step: a style pattern that fits the key's mode, else a diatonic one."""
    rng = np.random.default_rng(seed)
    pats = style.progressions_minor if key.is_minor else style.progressions_major
    good = [cs for p in pats if _valid(cs := [parse_roman(t, key) for t in p.split()], key, style)]
    if not good:
        good = [cs for d in _DEGREE_PATTERNS if _valid(cs := [_flavour(key, x, style) for x in d], key, style)]
    if not good:
        raise SpecError(f"key={key} has no usable chord progression for style {style.name!r}")
    pick = int(rng.integers(len(good)))
    if key.mode in ("major", "minor"):
        # harmony that says its key: of the style's patterns, those whose chords a key finder
        # hears in the declared key (with the loop's dominant turnaround in minor), by the seed
        clear = [cs for cs in good if key_margin(cs, key) > 0.03]
        if clear:
            return clear[pick % len(clear)]
        return max(good, key=lambda cs: key_margin(cs, key))
    return good[pick]


def key_margin(chords: list[Chord], key: Key) -> float:
    """How much better the declared key fits `chords` than any other major or minor key
    (Krumhansl-Kessler profile correlation of a chord-tone histogram: roots weigh double, the
    first chord (the loop's downbeat) and a minor loop's V turnaround count as a listener hears them)."""
    hist = np.zeros(12)
    seq = list(chords)
    if key.mode == "minor":
        seq = seq + [Chord((key.tonic + 7) % 12, "maj")]  # the turnaround compose adds
    for i, c in enumerate(seq):
        w = 1.5 if i == 0 else 1.0
        for j, pc in enumerate(c.pcs):
            hist[pc] += w * (2.0 if j == 0 else 1.0)
    scores = key_fits(hist)
    want = scores.pop((key.tonic, "minor" if key.mode == "minor" else "major"))
    return want - max(scores.values())


_SUSTAINED = {"strings", "pad", "choir", "organ", "synth pad", "tremolo strings", "viola", "synth strings", "accordion", "voice"}
_COMPING = {"rhodes", "piano", "electric guitar"}


_POLYPHONIC = {"piano", "rhodes", "acoustic guitar", "electric guitar", "harp", "organ", "accordion", "marimba",
               "vibraphone", "celesta", "music box", "koto", "mandolin", "banjo", "glockenspiel", "bells"}


#: dB over a named instrument's usual level, by how the prompt names it (`PromptInfo.prominence`)
_PROMINENCE_DB = {"front": 3.0, "named": 1.5, "back": -5.0}
#: dB on the melodic parts the prompt does not name, when it names some: they accompany
_UNNAMED_DB = -2.0


def _orchestrate(plan: Plan) -> None:
    """Voices per role: the style's, then its chosen ensemble's, then every instrument the prompt
    names (which always plays, in the role it names or its usual one); solo and sparse prompts
    thin the rest out. Each decision is written to `plan.choices`."""
    from soundtrack.generate.procedural.ensembles import choose_ensemble, choose_groove

    style, info = plan.style, plan.info
    text = " ".join(plan.spec.prompt.lower().split())

    def found(word: str) -> bool:
        return bool(find_phrase(word, text))

    if info.fallback:
        plan.choices.append(f"style {style.name!r}: no genre word recognised, fell back to the default style")
    elif info.genre:
        plan.choices.append(f"style {style.name!r}: the prompt says {info.genre!r}")
    else:
        plan.choices.append(f"style {style.name!r}: from the prompt's mood and instrument words")
    plan.voices = dict(style.voices)
    plan.harmony_mode = style.harmony
    plan.bass_mode = style.bass
    plan.arp = style.arp
    ens, why = choose_ensemble(style.name, found, stable_seed("ensemble", plan.spec.seed, *info.words))
    plan.ensemble = ens.name
    plan.voices.update(ens.voices)
    plan.harmony_mode = ens.harmony or plan.harmony_mode
    plan.bass_mode = ens.bass or plan.bass_mode
    plan.choices.append(why)
    plan.groove, why = choose_groove(style.name, found, stable_seed("groove", plan.spec.seed, *info.words))
    plan.choices.append(why)
    seen: set[str] = set()
    how = dict(info.prominence)
    for name, role in info.roles:
        voice = INSTRUMENTS[name].voice
        # a named instrument is what a listener should hear: it sits over the unnamed parts
        voice = replace(voice, gain_db=voice.gain_db + _PROMINENCE_DB[how.get(name, "named")])
        if how.get(name) == "front" and role != "kit":
            plan.front.add(role)
        if role == "kit":
            plan.drums_asked = True
            plan.named[name] = "drums"
            continue
        if role == "arp":
            plan.arp = True
        if role in seen:
            plan.extra.setdefault(role, []).append(voice)
            plan.named[name] = f"{role} (trading phrases)" if role == "lead" else f"{role} (doubling)"
            continue
        seen.add(role)
        plan.named[name] = role
        if role == "pad":
            if name in _SUSTAINED and plan.harmony_mode in ("power", "strum", "chip_arp", "comp"):
                plan.harmony_mode = "pad"
            elif name in _COMPING and plan.harmony_mode in ("pad", "power", "chip_arp", "cluster"):
                plan.harmony_mode = "comp"
            elif name == "acoustic guitar":
                plan.harmony_mode = "strum"
            elif name == "distorted guitar":
                plan.harmony_mode = "power"
        if role == "perc":
            plan.drums_asked = True
        plan.voices[role] = voice
    plan.solo, plan.sparse = info.solo, info.sparse
    if plan.solo:
        names = [n for n, r in info.roles if r != "kit"]
        poly = [n for n in names if n in _POLYPHONIC]
        if poly:
            v = INSTRUMENTS[poly[0]].voice
            plan.voices["pad"] = Voice(v.name, v.program, synth=v.synth, gain_db=-4, pan=v.pan - 0.1, reverb=v.reverb)
            plan.voices["bass"] = Voice(v.name, v.program, synth=v.synth, gain_db=-5, pan=v.pan - 0.15, reverb=v.reverb)
            plan.harmony_mode, plan.bass_mode = "comp" if poly[0] != "harp" else "arp", "root"
        if names and "lead" not in {r for _, r in info.roles}:
            plan.voices["lead"] = INSTRUMENTS[names[0]].voice
        plan.arp = False
        plan.choices.append(f"solo: only {', '.join(names)} play" + (f" ({poly[0]} also takes the chords and the bass)" if poly else
                                                                     "; no chords, bass or drums"))
    elif plan.sparse:
        if plan.bass_mode in ("drone", "ostinato", "pump"):
            plan.bass_mode = "root"
        if plan.harmony_mode in ("pad", "cluster", "ostinato") and not any(r == "pad" for _, r in info.roles):
            plan.harmony_mode = "arp"
        plan.arp = plan.arp and any(r == "arp" for _, r in info.roles)
        plan.choices.append("sparse: no drone, pad or drums unless the prompt names them")
    for name, role in plan.named.items():
        level = how.get(name, "named")
        where = {"front": ", in front", "back": ", in the background"}.get(level, "")
        plan.choices.append(f"{name}: named in the prompt, plays the {role} part{where} ({_PROMINENCE_DB[level]:+g} dB)")
    named_roles = {r for _, r in info.roles if r != "kit"}
    quiet = [r for r in ("pad", "lead", "arp", "perc") if r in plan.voices and r not in named_roles]
    if named_roles and quiet and not plan.solo:
        for role in quiet:
            plan.voices[role] = replace(plan.voices[role], gain_db=plan.voices[role].gain_db + _UNNAMED_DB)
        plan.choices.append(f"mix: the parts the prompt does not name ({', '.join(quiet)}) sit {-_UNNAMED_DB:g} dB under")
    for role in ("pad", "lead", "bass", "arp", "perc"):
        if role in plan.voices:
            plan.choices.append(f"{role}: {plan.voices[role].name}"
                                + (f" (GM {plan.voices[role].program})" if not plan.voices[role].synth else
                                   f" (synth {plan.voices[role].synth})"))


def make_plan(spec: StemSpec, take: int = 0) -> Plan:
    """Resolve tempo, meter and key (spec, then prompt, then style), the progression and voices.

    `take` > 0 draws another progression and tune for the same spec (`compose` asks for one when
    the first is not heard in the declared key); take 0 is the spec's own first draw."""
    info = parse_prompt(spec.prompt)
    style = STYLES[info.style]
    base = (spec.seed,) + info.words
    key = _key(spec, info, style, spec.seed)
    meter = _meter(spec, info, style)
    bpm = _tempo(spec, info, style, spec.seed)
    again = ("take", take) if take else ()
    harmony_seed = stable_seed("harmony", *base, key, meter, *again)
    steps = choose_progression(key, style, harmony_seed)
    per_chord = style.bars_per_chord
    progression = [c for c in steps for _ in range(per_chord)]
    bars, beats = spec.length(meter)
    plan = Plan(
        spec=spec,
        info=info,
        style=style,
        key=key,
        meter=meter,
        bpm=bpm,
        role=spec.role,
        bars=bars,
        length=Fraction(beats),
        intensity=info.intensity,
        progression=progression,
        harmony_seed=harmony_seed,
        motif_seed=stable_seed("motif", *base, key, meter, spec.variant, *again),
        role_seed=stable_seed("role", *base, key, meter, spec.role, spec.variant, spec.bars, spec.beats),
    )
    _orchestrate(plan)
    return plan
