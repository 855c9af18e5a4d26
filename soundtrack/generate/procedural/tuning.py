"""Pitched percussion tuned by ear: the pitch a taiko or timpani sample is heard at is
measured, not assumed.

A General MIDI taiko sounds at pitches its key numbers do not say (FluidR3_GM's follows the
keyboard at half speed: key C2 is heard as E), and that pitch pulls a listener's (and a key
finder's) sense of the key: an epic C minor cue with a taiko on "C" is heard in F. Each
candidate (key, pitch-wheel) is rendered once, alone, its pitch class measured from a
semitone-band spectrum, and the nearest one heard at the written pitch class is played.
Measurements are cached per preset, key and bend (a few ms each).

Tuning the kit's kicks and toms the same way (onto the tonic or dominant) was tried and left
out: it changed no key heard over the listening proxy's 96 stems (80 of 96 either way).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from soundtrack.analysis import chroma

BEND_CENTRE = 8192
BEND_PER_SEMITONE = 4096  # the GM default pitch-wheel range: +-2 semitones
MAX_BEND = 2  # semitones either way (the default range every back end honours)
PROBE_SECONDS = 0.5

Probe = Callable[[int, int], np.ndarray]  # (key, bend) -> mono float audio of that hit alone


def heard_pitch_class(y: np.ndarray, sample_rate: int) -> tuple[int, float]:
    """The pitch class a hit is heard at, and how clearly (its share over the mean): the hit's
    chroma from A0 to ~4 kHz in one frame of ~0.2 Hz bins (`analysis.chroma`)."""
    y = np.asarray(y, dtype=np.float64)
    if y.size < 64 or not np.any(y):
        return 0, 0.0
    c = chroma(y, sample_rate, fmin=26.0, fmax=4200.0, resolution_hz=0.2)
    mean = float(c.mean())
    if mean <= 0:
        return 0, 0.0
    pc = int(np.argmax(c))
    return pc, float(c[pc] / mean)


class Tuner:
    """Measures hits through `probe` (cached by key and bend) and picks retunings."""

    def __init__(self, probe: Probe, sample_rate: int) -> None:
        self.probe = probe
        self.sample_rate = sample_rate
        self._heard: dict[tuple[int, int], tuple[int, float]] = {}
        self.probes = 0  # hits rendered so far (each runs on the caller's synth)

    def heard(self, key: int, bend: int) -> tuple[int, float]:
        hit = self._heard.get((key, bend))
        if hit is None:
            hit = heard_pitch_class(self.probe(key, bend), self.sample_rate)
            self.probes += 1
            self._heard[(key, bend)] = hit
        return hit

    def pitched(self, written: int, low: int, high: int) -> tuple[int, int]:
        """(key, bend) at which a pitched-percussion patch is heard at `written`'s pitch class:
        the written key if it already is, else the nearest key in [low, high] (then the least
        bend) that is; the written key unbent when none is."""
        target = written % 12
        if self.heard(written, BEND_CENTRE)[0] == target:
            return written, BEND_CENTRE
        best: tuple[int, int, int, int] | None = None  # (|bend|, |key - written|, key, bend)
        for key in range(low, high + 1):
            for k in range(-MAX_BEND, MAX_BEND + 1):
                bend = BEND_CENTRE + k * BEND_PER_SEMITONE - (1 if k == MAX_BEND else 0)
                cand = (abs(k), abs(key - written), key, bend)
                if best is not None and cand >= best:
                    continue
                if self.heard(key, bend)[0] == target:
                    best = cand
        return (best[2], best[3]) if best is not None else (written, BEND_CENTRE)
