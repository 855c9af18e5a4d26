"""Keys and modes: ``"D minor"``, ``"F# dorian"``, ``"Bb"`` -> a tonic pitch class and a scale."""

from __future__ import annotations

import re
from dataclasses import dataclass

from soundtrack.errors import KeyNameError

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_LETTER_PC = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}

#: Scale steps (semitones above the tonic) of every mode the engine understands.
MODES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "harmonic minor": (0, 2, 3, 5, 7, 8, 11),
}
#: Church-mode names of modes in `MODES`: like the mode names, safe to look for in prose.
MODE_SYNONYMS = {"aeolian": "minor", "ionian": "major"}
# Short forms a key name may use ("Am", "C maj") but prose uses for other things ("I am", "harmonic").
_MODE_SHORTHANDS = {
    "maj": "major",
    "min": "minor",
    "m": "minor",
    "natural minor": "minor",
    "harmonic": "harmonic minor",
    "harm minor": "harmonic minor",
}
_MODE_ALIASES = {**MODE_SYNONYMS, **_MODE_SHORTHANDS}
# An accidental after a note letter: a sign, or a word ("F sharp", "E-flat", "Bflat").
_ACCIDENTAL = r"#|♯|♭|\s*-?\s*(?i:sharp|flat)|b(?![a-z])"


@dataclass(frozen=True)
class Key:
    """A tonic pitch class (0 = C) and a mode name from `MODES`."""

    tonic: int = 0
    mode: str = "major"

    def __post_init__(self) -> None:
        if not 0 <= self.tonic < 12:
            raise KeyNameError(f"key tonic={self.tonic} must be a pitch class 0..11")
        if self.mode not in MODES:
            raise KeyNameError(f"key mode={self.mode!r} must be one of {', '.join(MODES)}")

    @classmethod
    def parse(cls, text: str | Key) -> Key:
        """Parse ``"D minor"``, ``"f# dorian"``, ``"Bb"``, ``"Am"``, ``"C major"``, ``"B flat major"``."""
        if isinstance(text, Key):
            return text
        if not isinstance(text, str):
            raise TypeError(f"key must be a string such as 'D minor', got {text!r}")
        m = re.fullmatch(r"\s*([A-Ga-g])(" + _ACCIDENTAL + r")?\s*(.*?)\s*", text)
        if not m:
            raise KeyNameError(f"key={text!r} must be a note name and a mode, e.g. 'D minor', 'F# dorian', 'Bb major'")
        pc = _LETTER_PC[m.group(1).lower()]
        acc = re.sub(r"[\s-]", "", m.group(2) or "").lower()
        if acc in ("#", "♯", "sharp"):
            pc += 1
        elif acc in ("b", "♭", "flat"):
            pc -= 1
        mode = re.sub(r"\s+", " ", m.group(3).lower().replace("-", " ")) or "major"
        mode = _MODE_ALIASES.get(mode, mode)
        if mode not in MODES:
            raise KeyNameError(
                f"key={text!r}: mode {m.group(3)!r} is unknown; valid modes are {', '.join(MODES)}"
            )
        return cls(pc % 12, mode)

    @property
    def scale(self) -> tuple[int, ...]:
        return MODES[self.mode]

    @property
    def is_minor(self) -> bool:
        """True when the third above the tonic is minor (minor, dorian, phrygian, harmonic minor)."""
        return self.scale[2] == 3

    @property
    def pcs(self) -> frozenset[int]:
        """The pitch classes of the key's scale."""
        return frozenset((self.tonic + s) % 12 for s in self.scale)

    def degree_pc(self, degree: int) -> int:
        """Pitch class of scale degree `degree` (0-based, any integer; wraps by octave)."""
        octave, step = divmod(degree, 7)
        return (self.tonic + self.scale[step]) % 12

    def degree_pitch(self, degree: int, base: int = 60) -> int:
        """MIDI pitch of scale degree `degree`, counted from the tonic at or just below `base`."""
        octave, step = divmod(degree, 7)
        tonic_pitch = base - ((base - self.tonic) % 12)
        return tonic_pitch + 12 * octave + self.scale[step]

    def __str__(self) -> str:
        return f"{NOTE_NAMES[self.tonic]} {self.mode}"
