"""Per-layer effects: a deterministic room reverb (convolution), pan and gain.

The impulse response is built the way a room answers a clap (a convolution reverb, as game
audio and DAWs use with measured rooms): a pre-delay, a cluster of discrete early reflections
(first-order image sources of a shoebox room sized from the decay time, different for the two
ears), then a diffuse tail whose echo density builds up over the first ~80 ms and whose high
frequencies die faster than its lows (three bands with their own RT60: 1.15x below 500 Hz,
1x, 0.45x above 4 kHz), decorrelated between channels. It is a pure function of (sample rate,
decay time), and convolution is linear and time-invariant: a loop's tail is exactly the
continuation of its head.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft as sfft
from scipy.signal import butter, sosfilt

from soundtrack.errors import GenerationError

IR_SEED = 20_240_601
MIN_REVERB_SECONDS = 0.1
MAX_REVERB_SECONDS = 6.0
_BANDS = ((None, 500.0, 1.15), (500.0, 4000.0, 1.0), (4000.0, None, 0.45))  # (lo, hi, RT60 factor)


def _early(sample_rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """First-order reflections of a shoebox room (walls, floor, ceiling) for each ear: (taps, 2)."""
    size = 4.0 + 9.0 * min(1.0, seconds / 4.0)  # a larger room rings longer
    dims = np.array([size, size * 0.72, 3.0 + 0.5 * size / 4])
    src = dims * np.array([0.38, 0.55, 0.4])
    n = int(0.12 * sample_rate)
    out = np.zeros((n, 2))
    for ch, ear in enumerate((np.array([0.62, 0.42, 0.45]), np.array([0.64, 0.44, 0.45]))):
        lis = dims * ear
        direct = np.linalg.norm(src - lis)
        for axis in range(3):
            for wall in (0.0, dims[axis]):
                img = src.copy()
                img[axis] = 2 * wall - src[axis]
                d = np.linalg.norm(img - lis)
                delay = (d - direct) / 343.0
                k = int(round(delay * sample_rate))
                if 0 < k < n:
                    out[k, ch] += (direct / d) * (0.75 + 0.1 * rng.random()) * (1 if rng.random() < 0.8 else -1)
    # a soft low-pass: walls absorb the highs of every bounce
    return sosfilt(butter(1, 6000.0, btype="low", fs=sample_rate, output="sos"), out, axis=0)


@lru_cache(maxsize=16)
def reverb_ir(sample_rate: int, seconds: float) -> np.ndarray:
    """A stereo impulse response, float64 (frames, 2), decaying by 60 dB over `seconds` (RT60).

    Its energy is normalised to 1 per channel, so a send of 1.0 returns about as much energy as
    it receives. Read-only: callers must not modify it.
    """
    if not MIN_REVERB_SECONDS <= seconds <= MAX_REVERB_SECONDS:
        raise GenerationError(
            f"reverb_seconds={seconds:g} must be between {MIN_REVERB_SECONDS} and {MAX_REVERB_SECONDS} s"
        )
    n = int(round(seconds * 1.15 * sample_rate))
    predelay = int(round(min(0.025, 0.006 + 0.004 * seconds) * sample_rate))
    rng = np.random.default_rng(IR_SEED)
    t = np.arange(n, dtype=np.float64) / sample_rate
    noise = rng.standard_normal((n, 2))
    tail = np.zeros((n, 2))
    for lo, hi, factor in _BANDS:
        if lo is None:
            sos = butter(2, hi, btype="low", fs=sample_rate, output="sos")
        elif hi is None:
            sos = butter(2, min(lo, 0.45 * sample_rate), btype="high", fs=sample_rate, output="sos")
        else:
            sos = butter(2, [lo, hi], btype="band", fs=sample_rate, output="sos")
        rt = seconds * factor
        tail += sosfilt(sos, noise, axis=0) * np.exp(-6.907755 * t / rt)[:, None]
    tail = sosfilt(butter(2, 60.0, btype="high", fs=sample_rate, output="sos"), tail, axis=0)
    # echo density builds up: the diffuse tail fades in behind the early reflections
    build = min(n, int(0.08 * sample_rate))
    tail[:build] *= (np.linspace(0.0, 1.0, build, endpoint=False) ** 1.5)[:, None]
    tail /= np.sqrt(np.sum(tail * tail, axis=0, keepdims=True))
    early = _early(sample_rate, seconds, rng)
    e_energy = np.sqrt(np.sum(early * early, axis=0, keepdims=True)) + 1e-12
    early = early / e_energy * 0.55  # early energy ~ -5 dB under the tail's
    body = tail
    body[: early.shape[0]] += early[: min(early.shape[0], n)]
    # the last 5 % of the IR fades to zero, so nothing stops dead
    m = max(1, n // 20)
    body[-m:] *= np.linspace(1.0, 0.0, m)[:, None]
    body /= np.sqrt(np.sum(body * body, axis=0, keepdims=True))
    ir = np.zeros((predelay + n, 2))
    ir[predelay:] = body
    ir.flags.writeable = False
    return ir


@lru_cache(maxsize=4)
def _ir_spectrum(sample_rate: int, seconds: float, nfft: int) -> np.ndarray:
    spec = sfft.rfft(reverb_ir(sample_rate, seconds).astype(np.float32), n=nfft, axis=0)
    spec.flags.writeable = False
    return spec


def reverb(send: np.ndarray, *, sample_rate: int, seconds: float, frames: int | None = None) -> np.ndarray:
    """Convolve a mono send (frames,) with the stereo IR: returns (frames + ir - 1, 2) float64
    (its first `frames` frames when given, zero-padded if that is longer).

    One forward FFT of the send and one inverse per output channel, in single precision (the
    wet signal sits 20+ dB under the dry one, so float32's -140 dB noise floor is inaudible) and
    single-threaded, so the result does not depend on the machine's core count.
    """
    x = np.asarray(send, dtype=np.float32)
    if x.ndim != 1:
        raise GenerationError(f"reverb send must be mono (frames,), got shape {x.shape}")
    ir_len = reverb_ir(sample_rate, seconds).shape[0]
    out_len = x.size + ir_len - 1
    nfft = sfft.next_fast_len(out_len, real=True)
    xs = sfft.rfft(x, n=nfft, workers=1)
    spec = _ir_spectrum(sample_rate, seconds, nfft)
    y = sfft.irfft(xs[:, None] * spec, n=nfft, axis=0, workers=1)
    if frames is None:
        return y[:out_len].astype(np.float64)
    out = np.zeros((frames, 2))
    k = min(frames, out_len)
    out[:k] = y[:k]
    return out


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power pan law: -1 = left, 0 = centre (-3 dB each side), +1 = right."""
    p = min(1.0, max(-1.0, float(pan)))
    angle = (p + 1.0) * np.pi / 4.0
    return float(np.cos(angle)), float(np.sin(angle))
