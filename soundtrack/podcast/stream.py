"""Audio that never has to fit in memory: scratch files written block by block and read back at
random (`Scratch`), and readers that map channels (`mapped_reader`) or change the sample rate
(`resampled_reader`) on the fly.

A *reader* is a function ``read(start, stop) -> float32 (stop - start, channels)`` over a known
number of frames; frames past the end read as silence. Long fills and episodes go through
readers from render to encoder, so memory stays flat with duration: the float master lives in a
scratch file (about 1.4 GB per hour of 48 kHz stereo, beside the output, removed afterwards).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from soundtrack.audio import LoudnessMeter, TruePeakMeter

Reader = Callable[[int, int], np.ndarray]
BLOCK = 1 << 16  # frames per block through every streamed pass


class Scratch:
    """A float32 RF64 file written block by block (its loudness measured as it goes), then read
    at random. `path` is usually inside a `files.scratch_dir`."""

    def __init__(self, path: str | Path, sample_rate: int, channels: int, *, measure: bool = True) -> None:
        import soundfile as sf

        self.path = Path(path)
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self._w = sf.SoundFile(str(self.path), "w", self.sample_rate, self.channels, subtype="FLOAT", format="RF64")
        self._r: sf.SoundFile | None = None
        self.frames = 0
        self.loudness = LoudnessMeter(self.sample_rate, self.channels) if measure else None

    def write(self, block: np.ndarray) -> None:
        b = np.ascontiguousarray(block, dtype=np.float32)
        if b.ndim != 2 or b.shape[1] != self.channels:
            raise ValueError(f"scratch {self.path.name}: block of shape {b.shape}, expected (n, {self.channels})")
        for s in range(0, b.shape[0], BLOCK):
            self._w.write(b[s : s + BLOCK])
        if self.loudness is not None:
            self.loudness.add(b)
        self.frames += b.shape[0]

    def close(self) -> "Scratch":
        import soundfile as sf

        if self._w is not None:
            self._w.close()
            self._w = None
            self._r = sf.SoundFile(str(self.path), "r")
        return self

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames [start, stop) (silence past the end)."""
        if self._r is None:
            self.close()
        start, stop = max(0, int(start)), max(0, int(stop))
        out = np.zeros((max(0, stop - start), self.channels), np.float32)
        a, b = min(start, self.frames), min(stop, self.frames)
        if b > a:
            r = self._r
            assert r is not None, f"scratch {self.path.name}: read after release"
            r.seek(a)
            out[: b - a] = r.read(b - a, dtype="float32", always_2d=True)
        return out

    def release(self) -> None:
        for f in (self._w, self._r):
            if f is not None:
                f.close()
        self._w = self._r = None


def array_reader(audio: np.ndarray) -> Reader:
    """A reader over an in-memory (frames, channels) array."""
    a = audio

    def read(start: int, stop: int) -> np.ndarray:
        out = np.zeros((max(0, stop - start), a.shape[1]), np.float32)
        lo, hi = max(0, start), min(a.shape[0], stop)
        if hi > lo:
            out[lo - start : hi - start] = a[lo:hi]
        return out

    return read


def mapped_reader(read: Reader, channels_in: int, channels_out: int) -> Reader:
    """Mono to stereo by copying, stereo (or more) to mono by averaging; else unchanged."""
    if channels_in == channels_out:
        return read
    if channels_out == 1:
        return lambda a, b: read(a, b).mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    if channels_in == 1:
        return lambda a, b: np.repeat(read(a, b), channels_out, axis=1)
    if channels_out < channels_in:  # more to stereo: the first pair
        return lambda a, b: np.ascontiguousarray(read(a, b)[:, :channels_out])
    raise ValueError(f"cannot map {channels_in} channels to {channels_out}")


@dataclass(frozen=True)
class _Ratio:
    up: int
    down: int
    context: int  # input frames of filter reach, a multiple of `down`


def _ratio(sr_in: int, sr_out: int) -> _Ratio:
    g = math.gcd(int(sr_in), int(sr_out))
    up, down = int(sr_out) // g, int(sr_in) // g
    # scipy's resample_poly filter: half length 10 * max(up, down) samples at the upsampled rate
    reach = 10 * max(up, down) / up + 2
    return _Ratio(up, down, int(math.ceil(reach / down)) * down)


def resampled_frames(frames: int, sr_in: int, sr_out: int) -> int:
    """The exact output length of `frames` at another rate: round(frames x sr_out / sr_in), half up."""
    return (2 * int(frames) * int(sr_out) + int(sr_in)) // (2 * int(sr_in))


def resampled_reader(read: Reader, frames: int, sr_in: int, sr_out: int) -> tuple[Reader, int]:
    """(reader at `sr_out`, its exact length `resampled_frames`): polyphase resampling
    (scipy's `resample_poly`) computed per block from input aligned to the ratio, with the
    filter's whole reach on each side, so any block equals the same frames of one whole pass."""
    if sr_in == sr_out:
        return read, frames
    from scipy.signal import resample_poly

    r = _ratio(sr_in, sr_out)
    n_out = resampled_frames(frames, sr_in, sr_out)

    def out(start: int, stop: int) -> np.ndarray:
        q0, q1 = start // r.up, -(-stop // r.up)  # whole ratio periods covering [start, stop)
        i0, i1 = max(0, q0 * r.down - r.context), min(frames, q1 * r.down + r.context)
        i0 -= i0 % r.down
        x = read(i0, max(i0, i1)).astype(np.float64)
        if x.shape[0] == 0:
            return np.zeros((stop - start, 1 if x.ndim < 2 else x.shape[1]), np.float32)
        y = resample_poly(x, r.up, r.down, axis=0)
        o = i0 // r.down * r.up
        res = np.zeros((stop - start, x.shape[1]), np.float32)
        lo, hi = max(start, o), min(stop, o + y.shape[0], n_out)
        if hi > lo:
            res[lo - start : hi - start] = y[lo - o : hi - o]
        return res

    return out, n_out


def measure(read: Reader, frames: int, sample_rate: int, channels: int) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) of a reader, in one streamed pass."""
    m = LoudnessMeter(sample_rate, channels)
    p = TruePeakMeter()
    for s in range(0, frames, BLOCK):
        b = read(s, min(frames, s + BLOCK))
        m.add(b)
        p.add(b)
    return m.integrated(), p.dbtp()
