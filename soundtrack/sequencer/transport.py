"""The sequencer's output stage: master volume, pause/resume and the final fade-out.

All positions are frames of the **music clock** (the sequencer's `frame`), which stops while the
session is paused; `output` counts every frame handed out, paused silence included.

- The master volume is a gain envelope applied to the mix before the safety limiter (so raising
  it can never clip), ramped per sample.
- `pause` fades the limited output out from a frame, then stops the music clock where the fade
  ends; `resume` restarts it there, fading in: the music after a resume is exactly the music that
  would have followed, only the fades differ. Paused output is digital silence.
- `fade_out` (a session's stop, a podcast's cut tail) fades the output to silence for good; from
  its end no clip is mixed.

Every gain is a function of the music frame, so block sizes never change the output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from soundtrack.errors import SequencerError
from soundtrack.sequencer.clips import F32, Envelope, Table, fade_table

MIN_VOLUME_DB = -120.0  # at or below: silence (gain 0)
MAX_VOLUME_DB = 12.0


def volume_gain(db: float) -> float:
    return 0.0 if db <= MIN_VOLUME_DB else 10.0 ** (db / 20.0)


@dataclass(frozen=True)
class VolumeChange:
    """The master volume ramps to `db` from music frame `frame` over `ramp_frames`."""

    db: float
    frame: int
    ramp_frames: int


@dataclass(frozen=True)
class PauseChange:
    """A pause (or resume): its fade runs over music frames [frame, frame + fade_frames); a pause
    stops the music clock at `frame + fade_frames`, a resume starts it at `frame`."""

    paused: bool
    frame: int
    fade_frames: int


class Transport:
    """Volume, pause/resume and fade-out for one sequencer (see the module docstring)."""

    def __init__(self) -> None:
        self.volume = Envelope(1.0)  # pre-limiter master gain
        self.volume_db = 0.0
        self.gain = Envelope(1.0)  # post-limiter: pause/resume fades and the final fade-out
        self.halt_at: int | None = None  # a pause stops the music clock here
        self.paused = False
        self.output = 0  # frames handed out, paused silence included
        self.silent_from: int | None = None  # the final fade-out's end: nothing is mixed after it

    # -- commands ------------------------------------------------------------------------------
    def set_volume(self, db: float, t: int, n: int) -> VolumeChange:
        if isinstance(db, bool) or not isinstance(db, (int, float)) or math.isnan(db):
            raise SequencerError(f"volume={db!r} must be a number of dB between {MIN_VOLUME_DB:g} and {MAX_VOLUME_DB:g}")
        db = float(db)
        if db == -math.inf:
            db = MIN_VOLUME_DB
        if not MIN_VOLUME_DB <= db <= MAX_VOLUME_DB:
            raise SequencerError(f"volume={db:g} dB must be between {MIN_VOLUME_DB:g} and {MAX_VOLUME_DB:g}")
        self.volume.ramp(t, n, volume_gain(db), fade_table(n, "s-curve", True))
        self.volume_db = db
        return VolumeChange(db, t, n)

    def pause(self, t: int, n: int) -> PauseChange:
        if self.paused or self.halt_at is not None:
            raise SequencerError("already paused: call resume() first")
        if self.silent_from is not None:
            raise SequencerError("the session is fading out for good (stop): it cannot pause")
        self.gain.scale_from(t, fade_table(n, "equal-power", False), 0.0)
        self.halt_at = t + n
        return PauseChange(True, t, n)

    def resume(self, t: int, n: int) -> PauseChange:
        """Resume: from where the clock stopped, or, during the pause's own fade, from `t` (the
        gain goes back up from wherever the fade has got to)."""
        if self.halt_at is None:
            raise SequencerError("not paused: nothing to resume")
        if self.paused:
            t = self.halt_at
        self.gain.ramp(t, n, 1.0, fade_table(n, "equal-power", True))
        self.halt_at, self.paused = None, False
        return PauseChange(False, t, n)

    def fade_out(self, t: int, table: Table) -> None:
        self.gain.scale_from(t, table, 0.0)
        self.silent_from = t + len(table)

    # -- rendering -----------------------------------------------------------------------------
    def music_frames(self, frame: int, wanted: int) -> int:
        """How many of `wanted` output frames from music frame `frame` carry music (the rest are
        paused silence); marks the session paused when the clock reaches the pause's end."""
        if self.paused:
            return 0
        if self.halt_at is None:
            return wanted
        n = max(0, min(wanted, self.halt_at - frame))
        return n

    def reached(self, frame: int) -> None:
        if self.halt_at is not None and frame >= self.halt_at:
            self.paused = True

    def apply_volume(self, block: np.ndarray, a: int, b: int) -> None:
        if not self.volume.segs and self.volume.initial == 1.0:  # the usual case, per block: unity
            return
        g = self.volume.render(a, b)
        if isinstance(g, np.ndarray):
            block *= g[:, None]
        elif g != 1.0:
            block *= g

    def apply_gain(self, block: np.ndarray, a: int, b: int) -> None:
        if not self.gain.segs and self.gain.initial == 1.0 and self.silent_from is None:  # unity, nothing stopping
            return
        g = self.gain.render(a, b)
        if isinstance(g, np.ndarray):
            block *= g[:, None]
        elif g != 1.0:
            block *= g
        if self.silent_from is not None and b > self.silent_from:
            block[max(0, self.silent_from - a) :] = F32(0.0)

    def prune(self, frame: int) -> None:
        self.volume.prune(frame)
        self.gain.prune(frame)
