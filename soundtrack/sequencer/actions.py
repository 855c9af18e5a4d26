"""What the sequencer schedules: typed, frozen actions at exact frames, and the queue of them.

A command (`start`, `post`, `stinger`, `set_tempo`) is turned into actions at the frames where
they must happen; the player runs each when the mix reaches its frame. At one frame, edits and
tempo switches run first, so that what they replace (a main loop's next cycle, an older plan's
main) sees them and rings out instead of starting; otherwise actions run in the order made.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

from soundtrack.sequencer.grid import Marker
from soundtrack.sequencer.resolver import TransitionPlan
from soundtrack.sequencer.tracks import Rec, Track
from soundtrack.stem import Stem


@dataclass(frozen=True, eq=False, slots=True)
class Emit:
    """Hand `marker` out, unless the plan `rec` it belongs to is dead by then."""

    marker: Marker
    rec: Rec | None = None


@dataclass(frozen=True, eq=False, slots=True)
class StartTrack:
    """Start sounding a one-shot track (a segment of `rec`, or a stinger when `rec` is None)."""

    rec: Rec | None
    track: Track


@dataclass(frozen=True, eq=False, slots=True)
class Edit:
    """A transition's edit point: the state changes, what played before fades out."""

    rec: Rec
    plan: TransitionPlan


@dataclass(frozen=True, eq=False, slots=True)
class StartMain:
    """A state's main loop starts (a variant drawn from `variants`), fading in over `fade`."""

    rec: Rec
    state: str
    variants: tuple[Stem, ...]
    fade: int
    curve: str


@dataclass(frozen=True, eq=False, slots=True)
class Cycle:
    """A main loop cycle ends: loop, change variant, or ring out."""

    track: Track


@dataclass(frozen=True, eq=False, slots=True)
class SwitchTempo:
    """A state's loop switches to the tempo take `stems` at `bpm`, on state beat `beat`."""

    rec: Rec
    state: str
    stems: tuple[Stem, ...]
    beat: int
    bpm: Fraction
    position: str


Action = Emit | StartTrack | Edit | StartMain | Cycle | SwitchTempo
LIVE = (StartTrack, Edit, StartMain, SwitchTempo)  # something is still on its way while one of these waits


class Schedule:
    """Actions by frame (see the module docstring)."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, int, Action]] = []
        self._seq = itertools.count()

    def at(self, frame: int, action: Action) -> None:
        first = 0 if isinstance(action, (Edit, SwitchTempo)) else 1
        heapq.heappush(self._heap, (frame, first, next(self._seq), action))

    def next_frame(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def due(self, frame: int) -> Iterator[Action]:
        """Pop and yield every action at or before `frame`, in order."""
        heap = self._heap
        while heap and heap[0][0] <= frame:
            yield heapq.heappop(heap)[3]

    def pending(self) -> Iterator[Action]:
        return (entry[3] for entry in self._heap)
