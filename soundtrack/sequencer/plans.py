"""What the sequencer's commands answer: when a stinger, a parameter change or a tempo switch
will sound (a transition answers with `resolver.TransitionPlan`)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class StingerPlan:
    """When a stinger will sound: its entry on `frame` (bar:beat `position`); audio from `start`."""

    accepted: bool
    name: str
    posted_frame: int
    frame: int = -1
    start: int = -1
    position: str = ""
    reason: str = ""


@dataclass(frozen=True)
class ParamChange:
    """A parameter change: the ramp to the layer `gains` starts at `frame` and lasts `ramp_frames`."""

    name: str
    value: float
    frame: int
    position: str
    ramp_frames: int
    gains: dict[str, float]


@dataclass(frozen=True)
class TempoChange:
    """A tempo switch: the state plays its `bpm` take from the bar at `frame` (or why not)."""

    accepted: bool
    requested: Fraction
    bpm: Fraction | None = None
    frame: int = -1
    position: str = ""
    reason: str = ""
