"""Stem specs and stems: what a generator is asked for and what it returns.

A `StemSpec` is pure data (it is hashed into the bank's cache key). A `Stem` is audio per layer,
their mix, and a `StemGrid` that says, in integer frames, where bar 1 beat 1 is (`entry`: audio
before it is a pickup), where the last bar ends (`exit`: audio after it is the tail) and how long
the audio is (`frames`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any, Protocol

import numpy as np

from soundtrack.errors import SoundtrackError, SpecError, TimingError
from soundtrack.pitch import Key
from soundtrack.roles import DEFAULT_BARS, ROLES, Role
from soundtrack.timing import DEFAULT_SAMPLE_RATE, BeatGrid, Meter, check_sample_rate, parse_bpm

DEFAULT_LAYERS: tuple[str, ...] = ("drums", "bass", "harmony", "melody")
MAX_BARS = 256
MAX_STINGER_BEATS = 64


@dataclass(frozen=True)
class StemSpec:
    """Everything a generator needs to make one stem; no hidden inputs.

    `tempo`, `meter` and `key` are explicit values that win over the prompt; left as None, the
    generator takes them from the prompt, else from the style. `bars` is the musical length;
    `beats`, when given, gives it in beats instead (a stinger's usual form; see `length`).
    `variant` numbers alternative main loops that share key, tempo and feel.
    """

    prompt: str
    role: Role = "main"
    bars: int = DEFAULT_BARS
    tempo: Fraction | None = None
    meter: Meter | None = None
    key: Key | None = None
    layers: tuple[str, ...] = DEFAULT_LAYERS
    seed: int = 0
    variant: int = 0
    sample_rate: int = DEFAULT_SAMPLE_RATE
    beats: int | None = None
    soundfont: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str):
            raise TypeError(f"prompt must be a string, got {self.prompt!r}")
        if self.role not in ROLES:
            raise SpecError(f"role={self.role!r} must be one of {', '.join(ROLES)}")
        if isinstance(self.bars, bool) or not isinstance(self.bars, int):
            raise TypeError(f"bars must be an int, got {self.bars!r}")
        if self.beats is None and not 1 <= self.bars <= MAX_BARS:
            raise SpecError(f"bars={self.bars} must be between 1 and {MAX_BARS}")
        if self.beats is not None and not 1 <= self.beats <= MAX_STINGER_BEATS:
            raise SpecError(f"beats={self.beats} must be between 1 and {MAX_STINGER_BEATS}")
        try:
            if self.tempo is not None:
                object.__setattr__(self, "tempo", parse_bpm(self.tempo))
            if self.meter is not None:
                object.__setattr__(self, "meter", Meter.parse(self.meter))
            if self.key is not None:
                object.__setattr__(self, "key", Key.parse(self.key))
            check_sample_rate(self.sample_rate)
        except SoundtrackError as e:
            raise SpecError(str(e)) from None
        layers = tuple(self.layers)
        if not layers or len(set(layers)) != len(layers) or not all(isinstance(x, str) and x for x in layers):
            raise SpecError(f"layers={list(layers)!r} must be distinct non-empty names")
        object.__setattr__(self, "layers", layers)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SpecError(f"seed={self.seed!r} must be a non-negative int")

    def length(self, meter: Meter) -> tuple[int, int]:
        """(bars, beats) of the music in `meter`, bar 1 beat 1 to the exit: `beats` when given, in
        as many bars as hold them (the last may be partial), else `bars` whole bars. Every
        generator sizes its stem with this."""
        if self.beats is not None:
            return -(-self.beats // meter.beats), self.beats
        return self.bars, self.bars * meter.beats

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe, canonical form (the bank hashes it)."""
        d = asdict(self)
        d["tempo"] = None if self.tempo is None else str(self.tempo)
        d["meter"] = None if self.meter is None else str(self.meter)
        d["key"] = None if self.key is None else str(self.key)
        d["layers"] = list(self.layers)
        return d

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class StemGrid:
    """Where a stem's music sits in its audio, in frames (see module docstring)."""

    sample_rate: int
    bpm: Fraction
    meter: Meter
    entry: int
    exit: int
    frames: int
    bars: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "bpm", parse_bpm(self.bpm))
        if not 0 <= self.entry <= self.exit <= self.frames:
            raise TimingError(f"stem grid needs 0 <= entry ({self.entry}) <= exit ({self.exit}) <= frames ({self.frames})")

    @property
    def beat_grid(self) -> BeatGrid:
        """The stem's beat grid, bar 1 beat 1 at `entry`."""
        return BeatGrid(self.sample_rate, self.bpm, self.meter, self.entry)

    @property
    def body_frames(self) -> int:
        """Frames from entry to exit: one loop cycle for a main stem."""
        return self.exit - self.entry

    @property
    def tail_frames(self) -> int:
        return self.frames - self.exit

    def to_dict(self) -> dict[str, Any]:
        return {
            "sample_rate": self.sample_rate,
            "bpm": str(self.bpm),
            "meter": str(self.meter),
            "entry": self.entry,
            "exit": self.exit,
            "frames": self.frames,
            "bars": self.bars,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StemGrid:
        return cls(
            sample_rate=int(d["sample_rate"]),
            bpm=Fraction(d["bpm"]),
            meter=Meter.parse(d["meter"]),
            entry=int(d["entry"]),
            exit=int(d["exit"]),
            frames=int(d["frames"]),
            bars=int(d["bars"]),
        )


@dataclass(frozen=True, eq=False)
class Stem:
    """Audio per layer (float32, frames x channels), their mix, the grid and what was made.

    The mix is the float32 sum of the layers in `layers` order, so fading layers in the
    sequencer reproduces the mix exactly at full gain.
    """

    spec: StemSpec
    grid: StemGrid
    layers: dict[str, np.ndarray]
    mix: np.ndarray
    key: Key
    style: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    midi: bytes | None = None

    def __post_init__(self) -> None:
        if self.mix.dtype != np.float32 or self.mix.ndim != 2:
            raise TypeError(f"mix must be float32 (frames, channels), got {self.mix.dtype} {self.mix.shape}")
        if self.mix.shape[0] != self.grid.frames:
            raise TimingError(f"mix has {self.mix.shape[0]} frames, grid says {self.grid.frames}")
        for name, a in self.layers.items():
            if a.shape != self.mix.shape or a.dtype != np.float32:
                raise TypeError(f"layer {name!r} is {a.dtype} {a.shape}, mix is float32 {self.mix.shape}")
        # A bank hands the same Stem to every sequencer and session: an in-place edit by one
        # would be heard by all, so the audio is read-only (copy it to change it).
        self.mix.setflags(write=False)
        for a in self.layers.values():
            a.setflags(write=False)

    @classmethod
    def from_layers(cls, spec: StemSpec, grid: StemGrid, layers: dict[str, np.ndarray], **kw: Any) -> Stem:
        """Build a stem whose mix is the sum of `layers` (in insertion order)."""
        arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in layers.items()}
        if not arrays:
            raise SpecError("a stem needs at least one layer")
        mix = np.zeros_like(next(iter(arrays.values())))
        for a in arrays.values():
            mix += a
        return cls(spec=spec, grid=grid, layers=arrays, mix=mix, **kw)

    @property
    def sample_rate(self) -> int:
        return self.grid.sample_rate

    @property
    def channels(self) -> int:
        return int(self.mix.shape[1])

    def info(self) -> dict[str, Any]:
        """The JSON sidecar: what a tool needs to place this audio on a grid."""
        return {
            "sample_rate": self.grid.sample_rate,
            "tempo": float(self.grid.bpm),
            "tempo_exact": str(self.grid.bpm),
            "meter": str(self.grid.meter),
            "key": str(self.key),
            "bars": self.grid.bars,
            "entry_frame": self.grid.entry,
            "exit_frame": self.grid.exit,
            "frames": self.grid.frames,
            "channels": self.channels,
            "layers": list(self.layers),
            "style": self.style,
            "role": self.spec.role,
            "seed": self.spec.seed,
            "variant": self.spec.variant,
            **{k: v for k, v in self.meta.items() if k not in ("style",)},
        }


class StemSource(Protocol):
    """Where the sequencer gets its stems: a built `Bank`, or a `StemSet` in memory.

    `name` is a state, stinger or bridge name; `role` is intro, main or outro for a state,
    "stinger" for a stinger and "bridge" for a bridge. `tempo` picks a tempo variant made at
    bank-build time (None = the state's own tempo).
    """

    def stem(self, name: str, role: str, variant: int = 0, *, tempo: Fraction | None = None) -> Stem: ...


class StemSet:
    """An in-memory StemSource: stems keyed by (name, role, variant, tempo)."""

    def __init__(self) -> None:
        self._stems: dict[tuple[str, str, int, Fraction | None], Stem] = {}

    def add(self, name: str, role: str, stem: Stem, variant: int = 0, *, tempo: Fraction | None = None) -> None:
        self._stems[(name, role, variant, None if tempo is None else Fraction(tempo))] = stem

    def stem(self, name: str, role: str, variant: int = 0, *, tempo: Fraction | None = None) -> Stem:
        try:
            return self._stems[(name, role, variant, None if tempo is None else Fraction(tempo))]
        except KeyError:
            what = f"{name} {role}" + (f" variant {variant}" if variant else "") + (f" at {tempo} bpm" if tempo else "")
            raise SpecError(f"no stem for {what}") from None

    def __len__(self) -> int:
        return len(self._stems)
