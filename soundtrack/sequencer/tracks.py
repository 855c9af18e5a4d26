"""The sequencer's bookkeeping of what plays: scheduled plans and the logical voices they start.

A `Rec` is one scheduled plan (a transition, the start, or a tempo switch) and tells whether it
was cancelled or superseded; a `Track` is a logical voice (a one-shot segment or a looping main)
with the `Clip`s it is playing and the envelope they share.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from soundtrack.sequencer.clips import Clip, Envelope, Table
from soundtrack.sequencer.resolver import Playhead
from soundtrack.stem import Stem


@dataclass
class Rec:
    """One scheduled plan (a transition, the start, or a tempo switch)."""

    id: int
    kind: str
    commit: int
    prev_head: Playhead | None
    cancelled: bool = False
    superseded: int | None = None

    def dead_at(self, frame: int) -> bool:
        return self.cancelled or (self.superseded is not None and frame >= self.superseded)


class Track:
    """A logical voice: a one-shot segment or a looping main, with the clips it is playing."""

    def __init__(self, rec: int, state: str | None, role: str, *, music: bool = True) -> None:
        self.rec = rec
        self.state = state
        self.role = role
        self.music = music
        self.clips: list[Clip] = []
        self.env = Envelope(1.0)
        self.stopped_at: int | None = None
        self.fade: Table | None = None
        # main loops only
        self.stems: list[Stem] = []
        self.variant = 0
        self.bpm: Fraction | None = None

    def stop(self, frame: int, table: Table) -> None:
        """Fade out from output frame `frame` along `table` (1 -> 0); clips end with the fade."""
        if self.stopped_at is not None and self.stopped_at <= frame:
            return
        self.stopped_at, self.fade = frame, table
        # the track's own envelope too: a loop stopped right on its end has no clip playing
        # past `frame`, but the tail that then rings copies this envelope and must fade with it
        self.env.scale_from(frame, table, 0.0)
        seen: set[int] = {id(self.env)}
        for c in self.clips:
            if c.out1 <= frame:
                continue
            if id(c.env) not in seen:
                seen.add(id(c.env))
                c.env.scale_from(frame, table, 0.0)
            c.out1 = min(c.out1, frame + len(table))

    def add_clip(self, clip: Clip) -> None:
        """Play `clip` from its `out0` on (dropping clips that ended by then); on a stopped track
        it ends with the fade, past which it would only be mixed at gain 0."""
        if self.stopped_at is not None and self.fade is not None:
            clip.out1 = min(clip.out1, self.stopped_at + len(self.fade))
        self.clips = [c for c in self.clips if c.out1 > clip.out0] + [clip]

    def finished(self, frame: int) -> bool:
        if self.stopped_at is not None and self.fade is not None and frame >= self.stopped_at + len(self.fade):
            return True
        return self.role != "main" and all(c.out1 <= frame for c in self.clips) and bool(self.clips)
