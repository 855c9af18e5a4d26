"""The sequencer's musical grid: which beat grid rules each stretch of output, and its markers.

A `Span` says "from output frame `start`, beats follow `grid`"; `SpanGrid` keeps the spans in
frame order, answers bar:beat and next-beat questions, and emits the beat and bar `Marker`s of
each rendered range. Integer frames throughout; spans added later replace the ones they cover.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from soundtrack.timing import BeatGrid

MARKER_KINDS = ("beat", "bar", "segment", "transition", "state", "stinger", "param", "tempo", "rejected", "cancelled")


@dataclass(frozen=True)
class Marker:
    """Something that happens at an output frame: a beat, a bar, a segment entry, a transition's
    edit point, a state change, a stinger's entry, a parameter ramp's start, a tempo change, or
    a refused / replaced command. `position` is bar:beat of the music playing there."""

    kind: str
    frame: int
    position: str
    state: str | None
    detail: dict[str, Any] = field(default_factory=dict)


def position_label(beat: int, beats_per_bar: int) -> str:
    """bar:beat of state beat index `beat` (0 = bar 1 beat 1 of the main loop): ``"3:2"``; beats
    before the main (an intro, a bridge, a pickup) count down as ``"pre2:1"``, ``"pre1:4"``.
    The one labelling used by plans, markers and status."""
    bar, beat = divmod(beat, beats_per_bar)
    return f"{bar + 1}:{beat + 1}" if beat >= 0 and bar >= 0 else f"pre{-bar}:{beat + 1}"


@dataclass
class Span:
    """From output frame `start`, beats follow `grid`; state beat index at grid.origin is
    `origin_beat` (for intro/outro/bridge spans beats count from the segment's bar 1)."""

    start: int
    rec: int
    state: str | None
    role: str
    name: str
    grid: BeatGrid
    origin_beat: int = 0

    def label(self, frame: int) -> str:
        return position_label(self.grid.beat_index_at(frame) + self.origin_beat, self.grid.meter.beats)


class SpanGrid:
    """The spans of one session and a cursor on the next beat to mark (see the module doc)."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.session_bars = 0  # bar markers emitted so far
        self._nb: tuple[int, int, int] | None = None  # (span index, beat index on its grid, frame)

    def add(self, span: Span) -> None:
        """Add `span`; it replaces the spans of other plans that start at or after it."""
        self.spans = [s for s in self.spans if s.start < span.start or s.rec == span.rec] + [span]
        self.spans.sort(key=lambda s: s.start)
        self._nb = None

    def drop_rec(self, rec: int) -> None:
        """Forget the spans of plan `rec` (it was cancelled)."""
        self.spans = [s for s in self.spans if s.rec != rec]
        self._nb = None

    def index(self, frame: int) -> int | None:
        idx = None
        for i, s in enumerate(self.spans):
            if s.start <= frame:
                idx = i
            else:
                break
        return idx

    def at(self, frame: int) -> Span | None:
        """The span ruling output frame `frame`, if any."""
        i = self.index(frame)
        return None if i is None else self.spans[i]

    def label_at(self, frame: int) -> str:
        """bar:beat at output frame `frame` ("" before anything plays)."""
        s = self.at(frame)
        return s.label(frame) if s else ""

    @staticmethod
    def next_grid(span: Span, frame: int, every: int) -> int:
        """First beat of `span`'s grid at or after `frame` whose index is a multiple of `every`."""
        n = span.grid.beat_at_or_after(frame) + span.origin_beat
        n += (-n) % every
        return span.grid.beat_frame(n - span.origin_beat)

    def next_beat_frame(self, frame: int, *, bar: bool) -> int | None:
        """Output frame of the next beat (or downbeat) at or after `frame`; None if no spans."""
        nb = self._seek(frame)
        while nb is not None:
            idx, k, f = nb
            span = self.spans[idx]
            if not bar or (k + span.origin_beat) % span.grid.meter.beats == 0:
                return f
            nb = self._advance(nb)
        return None

    def _seek(self, frame: int) -> tuple[int, int, int] | None:
        i = self.index(frame)
        if i is None:
            if not self.spans:
                return None
            i, frame = 0, self.spans[0].start
        span = self.spans[i]
        k = span.grid.beat_at_or_after(frame)
        return self._fix((i, k, span.grid.beat_frame(k)))

    def _fix(self, nb: tuple[int, int, int]) -> tuple[int, int, int]:
        i, k, f = nb
        while i + 1 < len(self.spans) and f >= self.spans[i + 1].start:
            i += 1
            s = self.spans[i]
            k, f = 0, s.start
        return (i, k, f)

    def _advance(self, nb: tuple[int, int, int]) -> tuple[int, int, int]:
        i, k, _ = nb
        return self._fix((i, k + 1, self.spans[i].grid.beat_frame(k + 1)))

    def markers(self, a: int, b: int, out: list[Marker]) -> None:
        """Append the bar and beat markers of output frames [a, b) to `out`, in frame order."""
        nb = self._nb
        if nb is None or nb[2] < a:
            nb = self._nb = self._seek(a)
        if nb is None or nb[2] >= b:  # the common case: no beat in this block
            return
        while self._nb is not None and self._nb[2] < b:
            i, k, f = self._nb
            span = self.spans[i]
            bpb = span.grid.meter.beats
            n = k + span.origin_beat
            pos = position_label(n, bpb)
            detail = {"role": span.role, "name": span.name, "bpm": str(span.grid.bpm)}
            if n % bpb == 0:
                self.session_bars += 1
                out.append(Marker("bar", f, pos, span.state, {**detail, "session_bar": self.session_bars}))
            out.append(Marker("beat", f, pos, span.state, detail))
            self._nb = self._advance(self._nb)
