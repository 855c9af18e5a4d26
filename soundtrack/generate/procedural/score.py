"""The symbolic score: what the composer writes and the renderer plays.

Times are exact `Fraction` beats counted from bar 1 beat 1 (the stem's entry); negative times
are a pickup before it. A beat is the meter's lower note, as in `soundtrack.timing`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from soundtrack.pitch import Key
from soundtrack.timing import Meter


@dataclass(frozen=True, order=True)
class Note:
    start: Fraction  # beats from bar 1 beat 1 (negative = pickup)
    duration: Fraction  # beats; the renderer releases the note after it
    pitch: int  # MIDI note number (for drums: the GM percussion key)
    velocity: int = 90  # 1..127
    nudge: Fraction = Fraction(0)  # the performer's micro-timing (beats, a few ms): heard, not written


@dataclass
class Part:
    """One instrument of one layer. A layer may hold several parts (e.g. pad + arpeggio)."""

    layer: str  # which stem layer it renders into: drums, bass, harmony, melody, ...
    name: str  # human name, e.g. "harp", "taiko"
    program: int = 0  # General MIDI program 0..127 (ignored when `synth` is set)
    is_drum: bool = False  # GM percussion channel (bank 128)
    synth: str | None = None  # a built-in synthesized voice instead of the SoundFont, e.g. "pulse"
    notes: list[Note] = field(default_factory=list)
    gain_db: float = 0.0
    pan: float = 0.0  # -1 left .. +1 right
    reverb: float = 0.2  # send amount 0..1
    role: str = ""  # pad | arp | lead | bass | kit | perc: what the mix does with it (EQ, width)
    legato: bool = False  # a sustained line: joined notes, expression swells (CC11) and vibrato
    vibrato_cents: float = 0.0  # depth of the vibrato on held notes of a legato part
    expression: tuple[tuple[Fraction, int], ...] = ()  # CC11 breakpoints (beat, 0..127), linear between

    def add(self, start: Fraction | int, duration: Fraction | int, pitch: int, velocity: int = 90) -> None:
        self.notes.append(Note(Fraction(start), Fraction(duration), int(pitch), int(velocity)))


@dataclass
class Score:
    """A composed stem: parts on a grid of `bars` bars, with an optional pickup before bar 1.

    `loop` is True for a main loop: the music from bar 1 to the end of the last bar repeats, so
    the renderer folds the tail onto the start. `chords` records the harmony per bar (root pitch
    class and chord quality), for analysis and tests.
    """

    bpm: Fraction
    meter: Meter
    key: Key
    bars: int
    role: str
    style: str
    parts: list[Part] = field(default_factory=list)
    pickup_beats: Fraction = Fraction(0)
    loop: bool = False
    chords: list[tuple[int, str]] = field(default_factory=list)
    reverb_seconds: float = 1.8  # the room's decay time (RT60)
    borrowed: list[int] = field(default_factory=list)  # 0-based bars whose chord is a deliberate non-diatonic borrowing
    choices: list[str] = field(default_factory=list)  # what the composer chose and why, one line each

    @property
    def total_beats(self) -> Fraction:
        return Fraction(self.bars * self.meter.beats)

    def layers(self) -> list[str]:
        seen: list[str] = []
        for p in self.parts:
            if p.layer not in seen:
                seen.append(p.layer)
        return seen
