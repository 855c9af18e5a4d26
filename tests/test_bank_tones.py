"""A tiny deterministic generator for the bank tests (sine tones and clicks on the grid), and
checks that it is what the bank tests assume it is.

Bank tests refer to it as ``"test_bank_tones:ToneGenerator"``: worker processes and Dask workers
import it by that reference (the tests put this folder on PYTHONPATH), as they would a
third-party generator.
"""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np

from soundtrack.pitch import Key
from soundtrack.stem import ROLES, Stem, StemGrid, StemSpec
from soundtrack.timing import BeatGrid, Meter

REF = "test_bank_tones:ToneGenerator"
SLOW_REF = "test_bank_tones:SlowToneGenerator"


class ToneGenerator:
    """One sine per layer (pitch and level from the seed) and loud clicks on every beat in a
    "drums" layer, so loudness matching has to limit. An intro has a one-beat pickup; outros
    and stingers a quarter-second tail."""

    name = "test-tones"
    version = "1"
    delay = 0.0

    def generate(self, spec: StemSpec) -> Stem:
        if self.delay:
            time.sleep(self.delay)
        sr = spec.sample_rate
        bpm = spec.tempo or Fraction(120)
        meter = spec.meter or Meter(4, 4)
        grid = BeatGrid(sr, bpm, meter, 0)
        beats = spec.beats if spec.beats is not None else spec.bars * meter.beats
        entry = grid.beats_to_frames(1) if spec.role == "intro" else 0
        exit_ = entry + grid.beats_to_frames(beats)
        frames = exit_ + (sr // 4 if spec.role in ("outro", "stinger") else 0)
        rng = np.random.default_rng([spec.seed, ROLES.index(spec.role), spec.variant])
        t = np.arange(frames) / sr
        layers = {}
        for i, name in enumerate(spec.layers):
            if name == "drums":
                x = np.zeros(frames)
                for b in range(beats + 1):
                    f0 = entry + grid.beats_to_frames(b)
                    n = min(sr // 200, frames - f0)
                    if n > 0:
                        x[f0:f0 + n] = np.exp(-np.arange(n) / (sr / 2000)) * (1 if b % 2 else -1)
            else:
                freq = 110 * 2 ** (int(rng.integers(0, 24)) / 12)
                x = 0.03 * (i + 1) * float(rng.uniform(0.5, 1.5)) * np.sin(2 * np.pi * freq * t)
            pan = float(rng.uniform(-0.5, 0.5))
            layers[name] = np.stack([x * (1 - pan) / 2, x * (1 + pan) / 2], axis=1).astype(np.float32)
        bars = -(-beats // meter.beats)
        return Stem.from_layers(
            spec, StemGrid(sr, bpm, meter, entry, exit_, frames, bars), layers,
            key=spec.key or Key(9, "minor"), style="tones", meta={"chords": [[9, "min"]]},
        )


class SlowToneGenerator(ToneGenerator):
    """The same stems, 0.4 s each: slow enough to kill a build half-way."""

    delay = 0.4


def test_tone_generator_is_deterministic_and_on_its_grid() -> None:
    spec = StemSpec("x", role="intro", bars=2, tempo=150, layers=("drums", "pad"), seed=5, sample_rate=48000)
    a, b = ToneGenerator().generate(spec), ToneGenerator().generate(spec)
    assert all(np.array_equal(a.layers[k], b.layers[k]) for k in a.layers)
    # one beat of pickup at 150 bpm is 19200 frames; 8 beats of body
    assert (a.grid.entry, a.grid.exit, a.grid.frames) == (19200, 19200 + 8 * 19200, 9 * 19200)
    assert np.abs(a.layers["drums"][19200]).sum() > 0.9  # a click on bar 1 beat 1
