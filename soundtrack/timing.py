"""Exact musical time: meters, tempi and beat grids in integer frames.

Positions inside the engine are integer frames. Tempo is kept as an exact `Fraction` of beats
per minute, so frames per beat is an exact rational and beat *n* is always
``origin + round(n * frames_per_beat)``: a grid never drifts, however long it runs.

A *beat* is the meter's lower note (an eighth in 7/8, a quarter in 4/4), and tempo counts
those beats, as FMOD and Wwise do. Seconds, beats and bars are accepted at the edges
(`parse_bpm`, `parse_duration`, `parse_time`) and converted once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from soundtrack.errors import TimingError

DEFAULT_SAMPLE_RATE = 48_000
MIN_BPM = 20
MAX_BPM = 300
SAMPLE_RATES = (22_050, 24_000, 32_000, 44_100, 48_000, 88_200, 96_000)
_METER_UNITS = (1, 2, 4, 8, 16, 32)


def round_half_up(x: Fraction) -> int:
    """floor(x + 1/2), exactly, for a Fraction (no float on the way)."""
    return (2 * x.numerator + x.denominator) // (2 * x.denominator)


def as_fraction(value: int | float | str | Fraction) -> Fraction:
    """A number as an exact Fraction; floats go through their shortest repr (123.7 -> 1237/10)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TimingError(f"expected a finite number, got {value!r}")
        return Fraction(repr(value))
    if isinstance(value, str):
        try:
            return Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            raise TimingError(f"expected a number, got {value!r}") from None
    raise TypeError(f"expected a number, got {type(value).__name__} {value!r}")


def check_sample_rate(sample_rate: int) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int):
        raise TypeError(f"sample_rate must be an int, got {sample_rate!r}")
    if not 8_000 <= sample_rate <= 192_000:
        raise TimingError(f"sample_rate={sample_rate} must be between 8000 and 192000 Hz")
    return sample_rate


def parse_bpm(value: int | float | str | Fraction) -> Fraction:
    """Tempo in beats per minute as an exact Fraction; accepts ``120``, ``123.7``, ``"96 bpm"``."""
    if isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(?:bpm)?\s*", value, re.IGNORECASE)
        if not m:
            raise TimingError(f"tempo={value!r} must be a number of beats per minute, e.g. 96 or '96 bpm'")
        value = m.group(1)
    bpm = as_fraction(value)
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise TimingError(f"tempo={float(bpm):g} bpm must be between {MIN_BPM} and {MAX_BPM} bpm")
    return bpm


@dataclass(frozen=True, order=True)
class Meter:
    """A time signature: `beats` per bar of `unit` notes (7/8 = 7 eighths)."""

    beats: int = 4
    unit: int = 4

    def __post_init__(self) -> None:
        if isinstance(self.beats, bool) or not isinstance(self.beats, int):
            raise TypeError(f"Meter.beats must be an int, got {self.beats!r}")
        if not 1 <= self.beats <= 32:
            raise TimingError(f"meter beats={self.beats} must be between 1 and 32")
        if self.unit not in _METER_UNITS:
            raise TimingError(f"meter unit={self.unit} must be one of {', '.join(map(str, _METER_UNITS))}")

    @classmethod
    def parse(cls, text: str | Meter) -> Meter:
        """``"4/4"``, ``"7/8"``, ``"3/4"`` -> Meter."""
        if isinstance(text, Meter):
            return text
        if not isinstance(text, str):
            raise TypeError(f"meter must be a string such as '4/4', got {text!r}")
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not m:
            raise TimingError(f"meter={text!r} must look like '4/4', '3/4' or '7/8'")
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.beats}/{self.unit}"


@dataclass(frozen=True)
class Position:
    """A musical position: 1-based bar and beat, plus the frames past that beat."""

    bar: int
    beat: int
    offset: int = 0

    def __str__(self) -> str:
        return f"{self.bar}:{self.beat}"


@dataclass(frozen=True)
class BeatGrid:
    """Tempo + meter + the frame of the first downbeat (`origin`, bar 1 beat 1).

    Beat ``n`` (0-based, negative before the origin) is at ``origin + round(n * frames_per_beat)``
    with exact rational arithmetic, so positions are the same however far from the origin.
    """

    sample_rate: int
    bpm: Fraction
    meter: Meter = Meter()
    origin: int = 0

    def __post_init__(self) -> None:
        check_sample_rate(self.sample_rate)
        object.__setattr__(self, "bpm", parse_bpm(self.bpm))
        object.__setattr__(self, "origin", int(self.origin))

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def frames_per_beat(self) -> Fraction:
        return Fraction(self.sample_rate * 60) / self.bpm

    @property
    def frames_per_bar(self) -> Fraction:
        return self.frames_per_beat * self.meter.beats

    @property
    def beats_per_bar(self) -> int:
        return self.meter.beats

    def beats_to_frames(self, beats: int | Fraction) -> int:
        """Frames from the origin to a (possibly fractional) beat position."""
        return round_half_up(as_fraction(beats) * self.frames_per_beat)

    def seconds_to_frames(self, seconds: int | float | Fraction) -> int:
        return round_half_up(as_fraction(seconds) * self.sample_rate)

    # -- grid points ---------------------------------------------------------------------------
    def beat_frame(self, n: int) -> int:
        """Frame of beat ``n`` (0 = the origin)."""
        return self.origin + self.beats_to_frames(n)

    def bar_frame(self, n: int) -> int:
        """Frame of the downbeat of bar index ``n`` (0 = the origin, i.e. bar 1)."""
        return self.beat_frame(n * self.meter.beats)

    def beat_index_at(self, frame: int) -> int:
        """The last beat index whose frame is at or before `frame`."""
        n = math.floor(Fraction(frame - self.origin) / self.frames_per_beat)
        while self.beat_frame(n + 1) <= frame:
            n += 1
        while self.beat_frame(n) > frame:
            n -= 1
        return n

    def beat_at_or_after(self, frame: int) -> int:
        """The first beat index whose frame is at or after `frame`."""
        n = self.beat_index_at(frame)
        return n + 1 if self.beat_frame(n) < frame else n

    def next_beat(self, frame: int, *, every: int = 1) -> int:
        """First frame at or after `frame` that is a beat whose index is a multiple of `every`."""
        if every < 1:
            raise TimingError(f"every={every} must be >= 1")
        n = self.beat_at_or_after(frame)
        n = -(-n // every) * every
        return self.beat_frame(n)

    def next_bar(self, frame: int, *, every: int = 1) -> int:
        """First downbeat at or after `frame` whose bar index is a multiple of `every` (a phrase)."""
        return self.next_beat(frame, every=every * self.meter.beats)

    def position(self, frame: int) -> Position:
        """Bar:beat (1-based) of `frame`, with the frames past that beat."""
        n = self.beat_index_at(frame)
        bar, beat = divmod(n, self.meter.beats)
        return Position(bar + 1, beat + 1, frame - self.beat_frame(n))

    def shifted(self, origin: int) -> BeatGrid:
        return BeatGrid(self.sample_rate, self.bpm, self.meter, origin)


# -- values at the edges -----------------------------------------------------------------------
DurationUnit = Literal["beats", "bars", "seconds"]

_DURATION_RE = re.compile(
    r"\s*([0-9]+(?:\.[0-9]+)?)\s*(beats?|bars?|s|sec|secs|seconds?|ms)?\s*", re.IGNORECASE
)


@dataclass(frozen=True)
class Duration:
    """A length given in beats, bars or seconds; converted to frames once, against a grid."""

    amount: Fraction
    unit: DurationUnit = "beats"

    def to_frames(self, grid: BeatGrid) -> int:
        if self.unit == "beats":
            return grid.beats_to_frames(self.amount)
        if self.unit == "bars":
            return grid.beats_to_frames(self.amount * grid.meter.beats)
        return grid.seconds_to_frames(self.amount)

    def __str__(self) -> str:
        return f"{float(self.amount):g} {self.unit}"


def parse_duration(value: int | float | str | Duration, *, default_unit: DurationUnit = "beats") -> Duration:
    """``1.0`` (beats by default), ``"2 bars"``, ``"1.5 beats"``, ``"0.5s"``, ``"250ms"``."""
    if isinstance(value, Duration):
        return value
    if isinstance(value, (int, float, Fraction)) and not isinstance(value, bool):
        amount = as_fraction(value)
        if amount < 0:
            raise TimingError(f"duration={value!r} must not be negative")
        return Duration(amount, default_unit)
    if not isinstance(value, str):
        raise TypeError(f"duration must be a number or a string such as '2 bars', got {value!r}")
    m = _DURATION_RE.fullmatch(value)
    if not m:
        raise TimingError(f"duration={value!r} must look like 1.5, '2 bars', '3 beats', '0.5s' or '250ms'")
    amount = Fraction(m.group(1))
    unit = (m.group(2) or "").lower()
    if unit == "":
        return Duration(amount, default_unit)
    if unit.startswith("beat"):
        return Duration(amount, "beats")
    if unit.startswith("bar"):
        return Duration(amount, "bars")
    if unit == "ms":
        return Duration(amount / 1000, "seconds")
    return Duration(amount, "seconds")


@dataclass(frozen=True)
class TimePoint:
    """A point in a session, in seconds or as a bar (and beat): ``"12.5s"``, ``"bar 9"``, ``"9:3"``."""

    seconds: Fraction | None = None
    bar: int | None = None
    beat: int = 1

    def to_frame(self, grid: BeatGrid) -> int:
        if self.seconds is not None:
            return grid.seconds_to_frames(self.seconds)
        assert self.bar is not None  # constructed by parse_time
        return grid.beat_frame((self.bar - 1) * grid.meter.beats + (self.beat - 1))


def parse_time(value: int | float | str) -> TimePoint:
    """Seconds (a number, ``"12.5s"``) or a bar position (``"bar 9"``, ``"bar 9 beat 3"``, ``"9:3"``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        secs = as_fraction(value)
        if secs < 0:
            raise TimingError(f"time={value!r} must not be negative")
        return TimePoint(seconds=secs)
    if not isinstance(value, str):
        raise TypeError(f"time must be seconds or a string such as 'bar 9', got {value!r}")
    text = value.strip().lower()
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*(s|sec|secs|seconds?|ms)?", text)
    if m:
        secs = Fraction(m.group(1))
        return TimePoint(seconds=secs / 1000 if m.group(2) == "ms" else secs)
    m = re.fullmatch(r"bar\s*([0-9]+)(?:\s*,?\s*beat\s*([0-9]+))?|([0-9]+):([0-9]+)", text)
    if m:
        bar = int(m.group(1) or m.group(3))
        beat = int(m.group(2) or m.group(4) or 1)
        if bar < 1 or beat < 1:
            raise TimingError(f"time={value!r}: bars and beats count from 1")
        return TimePoint(bar=bar, beat=beat)
    raise TimingError(f"time={value!r} must look like '12.5s', 'bar 9', 'bar 9 beat 3' or '9:3'")
