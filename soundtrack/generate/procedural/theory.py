"""Music theory for the composer: chords, roman numerals, voice leading, meter grouping, swing.

Everything here is pure and exact: pitches are MIDI numbers, pitch classes 0..11 (0 = C), times
are `Fraction` beats (a beat is the meter's lower note).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from fractions import Fraction

from soundtrack.errors import SpecError
from soundtrack.pitch import Key
from soundtrack.timing import Meter

#: Semitones above the root of every chord quality the composer writes (names used in Score.chords).
QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
    "5": (0, 7),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "dom7": (0, 4, 7, 10),
    "min7b5": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9),
    "add9": (0, 4, 7, 14),
    "madd9": (0, 3, 7, 14),
    "maj9": (0, 4, 7, 11, 14),
    "min9": (0, 3, 7, 10, 14),
    "dom9": (0, 4, 7, 10, 14),
    "sus2add4": (0, 2, 5, 7),
}

_NUMERALS = {"i": 0, "ii": 2, "iii": 4, "iv": 5, "v": 7, "vi": 9, "vii": 11}
_ROMAN_RE = re.compile(r"^(b|#)?(iii|ii|iv|i|vii|vi|v|III|II|IV|I|VII|VI|V)(.*?)(!)?$")


@dataclass(frozen=True)
class Chord:
    """A chord: root pitch class, quality name (a key of `QUALITIES`), and whether it is borrowed.

    `borrowed` marks a deliberate non-diatonic chord of the style (a harmonic-minor V, a rock
    bVII in major, a horror chromatic mediant); every other chord is diatonic to the key.
    """

    root: int
    quality: str
    borrowed: bool = False
    symbol: str = ""

    @property
    def intervals(self) -> tuple[int, ...]:
        return QUALITIES[self.quality]

    @property
    def pcs(self) -> tuple[int, ...]:
        """Pitch classes, root first."""
        return tuple((self.root + i) % 12 for i in self.intervals)

    @property
    def fifth(self) -> int:
        """Pitch class of the chord's fifth (perfect, diminished or augmented as the quality has it)."""
        for i in self.intervals:
            if i in (6, 7, 8):
                return (self.root + i) % 12
        return (self.root + 7) % 12

    @property
    def third(self) -> int | None:
        for i in self.intervals:
            if i in (3, 4):
                return (self.root + i) % 12
        return None

    def as_tuple(self) -> tuple[int, str]:
        return (self.root, self.quality)


def parse_roman(token: str, key: Key) -> Chord:
    """A roman numeral relative to the MAJOR scale of the key's tonic -> Chord.

    ``"i"``, ``"bVI"``, ``"V7"`` (dom7), ``"ii7"`` (min7), ``"Imaj7"``, ``"viio"`` (dim),
    ``"viiø7"`` (min7b5), ``"IVsus2"``, ``"i5"`` (power), ``"vi9"`` (min9), ``"V!"`` (a deliberate
    borrowing: accepted even when not diatonic). Upper case = major third, lower case = minor.
    """
    m = _ROMAN_RE.match(token)
    if not m:
        raise SpecError(f"chord symbol {token!r} is not a roman numeral such as 'i', 'bVII', 'V7'")
    acc, num, suffix, bang = m.groups()
    root = (key.tonic + _NUMERALS[num.lower()] + (-1 if acc == "b" else 1 if acc == "#" else 0)) % 12
    upper = num.isupper()
    table = {
        "": "maj" if upper else "min",
        "o": "dim",
        "°": "dim",
        "+": "aug",
        "7": "dom7" if upper else "min7",
        "maj7": "maj7",
        "ø7": "min7b5",
        "m7b5": "min7b5",
        "o7": "dim7",
        "sus2": "sus2",
        "sus4": "sus4",
        "5": "5",
        "add9": "add9" if upper else "madd9",
        "9": "dom9" if upper else "min9",
        "maj9": "maj9",
        "sus24": "sus2add4",
    }
    if suffix not in table:
        raise SpecError(f"chord symbol {token!r}: suffix {suffix!r} must be one of {', '.join(repr(s) for s in table)}")
    chord = Chord(root, table[suffix], borrowed=False, symbol=token)
    return Chord(root, chord.quality, borrowed=bool(bang) and not is_diatonic(chord, key), symbol=token)


def is_diatonic(chord: Chord | tuple[int, str], key: Key) -> bool:
    """True when every pitch class of the chord is in the key's scale."""
    if isinstance(chord, tuple):
        chord = Chord(chord[0], chord[1])
    return key.pcs.issuperset(chord.pcs)


def diatonic_chord(key: Key, degree: int, *, sevenths: bool = False) -> Chord:
    """The chord stacked in thirds on scale degree `degree` (0-based) of the key."""
    pcs = [key.degree_pc(degree + 2 * k) for k in range(4 if sevenths else 3)]
    ints = tuple(sorted((pc - pcs[0]) % 12 for pc in pcs))
    for name, q in QUALITIES.items():
        if q == ints:
            return Chord(pcs[0], name)
    # an unusual stack (harmonic minor's III+maj7): fall back to its triad
    return diatonic_chord(key, degree) if sevenths else Chord(pcs[0], "maj")


def degree_pitch(key: Key, degree: int) -> int:
    """MIDI pitch of absolute scale degree `degree`; degree 0 is the tonic in the octave from C4."""
    return key.degree_pitch(degree, base=60 + key.tonic)


def pitch_degree(key: Key, pitch: int) -> int:
    """The absolute scale degree at or just below `pitch` (inverse of `degree_pitch` on the scale)."""
    octave, rel = divmod(pitch - 60 - key.tonic, 12)
    step = max(i for i, s in enumerate(key.scale) if s <= rel)
    return octave * 7 + step


def nearest_pitch(pc: int, target: float, low: int, high: int) -> int:
    """The pitch of class `pc` nearest to `target`, inside [low, high] when the range allows."""
    best = None
    for p in range(low, high + 1):
        if p % 12 == pc and (best is None or abs(p - target) < abs(best - target)):
            best = p
    if best is None:
        base = int(round(target))
        best = base + ((pc - base) % 12)
        if best - target > 6:
            best -= 12
    return best


def voice_lead(
    prev: tuple[int, ...] | None,
    chord: Chord,
    *,
    low: int,
    high: int,
    voices: int,
    omit_root: bool = False,
    allow_seconds: bool = False,
) -> tuple[int, ...]:
    """A voicing of `chord` in [low, high] with `voices` notes that moves least from `prev`.

    The third and seventh (the notes that define the quality) are required, the root too unless
    `omit_root` (a rootless jazz voicing: the bass has it). Adjacent voices a semitone apart are
    avoided unless `allow_seconds` (clusters). Without `prev`, the voicing nearest the middle of
    the range is chosen. Returns sorted MIDI pitches.
    """
    pcs = list(dict.fromkeys(chord.pcs))
    ints = chord.intervals
    required = set()
    for i, pc in zip(ints, chord.pcs):
        if i in (3, 4, 10, 11, 2, 5) or (i == 0 and not omit_root):
            required.add(pc)
    if chord.quality == "5":
        required = set(pcs)
    voices = max(min(voices, len(pcs) + 2), 2)
    if len(required) > voices:
        # keep the guide tones (third, seventh) first
        order = sorted(required, key=lambda pc: (chord.intervals[chord.pcs.index(pc)] in (0, 2, 5), pc))
        required = set(order[:voices])
    cands = [p for p in range(low, high + 1) if p % 12 in pcs and not (omit_root and p % 12 == chord.root and len(pcs) > 3)]
    centre = (low + high) / 2
    best: tuple[float, tuple[int, ...]] | None = None
    for combo in itertools.combinations(cands, voices):
        if not required.issubset({p % 12 for p in combo}):
            continue
        if combo[-1] - combo[0] > 19:
            continue
        if not allow_seconds and any(b - a < 2 for a, b in zip(combo, combo[1:])):
            continue
        cost: float
        if prev is not None and len(prev) == voices:
            cost = sum(abs(a - b) for a, b in zip(combo, prev))
        elif prev is not None:
            cost = sum(min(abs(p - q) for q in prev) for p in combo)
        else:
            cost = 0.0
        cost += 0.15 * abs(sum(combo) / voices - centre)
        if best is None or cost < best[0]:
            best = (cost, combo)
    if best is None:
        # the range is too narrow for the request: stack the chord tones upward from low
        out = []
        p = low
        for pc in pcs[:voices]:
            p = p + ((pc - p) % 12)
            out.append(p)
        return tuple(sorted(out))
    return best[1]


# -- meter ---------------------------------------------------------------------------------------


def pulses(meter: Meter) -> list[tuple[int, int]]:
    """The felt beats of a bar as (start beat, length in beats).

    Simple meters (x/4, x/2) pulse on every beat. Eighth-note meters group their beats in 2s and
    3s: 6/8 = 3+3, 7/8 = 2+2+3, 5/8 = 2+3, 8/8 = 3+3+2, 9/8 = 3+3+3.
    """
    n = meter.beats
    if meter.unit <= 4:
        return [(b, 1) for b in range(n)]
    if n % 3 == 0:
        groups = [3] * (n // 3)
    elif n == 8:
        groups = [3, 3, 2]
    elif n % 2 == 0:
        groups = [2] * (n // 2)
    else:
        groups = [2] * ((n - 3) // 2) + [3]
    out, t = [], 0
    for g in groups:
        out.append((t, g))
        t += g
    return out


def backbeat(meter: Meter) -> list[str]:
    """Kick ("K") or snare ("S") for each pulse: alternate, and an odd count ends on two snares
    (3/4 = K S S, 5/4 = K S K S S, 7/8 = K S S); a single pulse is a kick."""
    n = len(pulses(meter))
    out = ["K" if i % 2 == 0 else "S" for i in range(n)]
    if n > 1 and n % 2 == 1:
        out[-1] = "S"
    return out


def eighth(meter: Meter) -> Fraction:
    """The length of an eighth note in beats (1/2 in x/4, 1 in x/8)."""
    return Fraction(meter.unit, 8)


def quarters(q: Fraction | int, meter: Meter) -> Fraction:
    """A length in quarter notes as beats of `meter`."""
    return Fraction(q) * Fraction(meter.unit, 4)


def swing_time(t: Fraction, amount: Fraction, unit: Fraction) -> Fraction:
    """Swing a time: inside each `unit` (a pulse of two eighths), the midpoint moves to
    `amount` of the unit (1/2 = straight, 2/3 = triplet swing). Monotonic; unit boundaries stay put."""
    if amount == Fraction(1, 2):
        return t
    k, f = divmod(t, unit)
    f = f / unit
    if f <= Fraction(1, 2):
        g = f * 2 * amount
    else:
        g = amount + (f - Fraction(1, 2)) * 2 * (1 - amount)
    return k * unit + g * unit
