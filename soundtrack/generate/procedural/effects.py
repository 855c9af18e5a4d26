"""Per-layer effects: a deterministic convolution reverb, pan and gain.

The reverb's impulse response is seeded noise under an exponential decay (a different noise per
channel, so a mono send comes back wide), band-limited so it is warm rather than hissy. It is a
pure function of (sample rate, decay time), and the convolution is linear and time-invariant,
which is what lets the renderer fold a main loop's tail back onto its start.
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
    n = int(round(seconds * sample_rate))
    predelay = int(round(0.012 * sample_rate))
    rng = np.random.default_rng(IR_SEED)
    t = np.arange(n, dtype=np.float64) / sample_rate
    decay = np.exp(-6.907755 * t / seconds)  # -60 dB at t = seconds
    noise = rng.standard_normal((n, 2))
    # warm it: high-pass the mud, low-pass the fizz; later parts darker via a second, slower decay
    sos = butter(2, [180.0, min(7000.0, 0.45 * sample_rate)], btype="band", fs=sample_rate, output="sos")
    noise = sosfilt(sos, noise, axis=0)
    dark = sosfilt(butter(1, 1500.0, btype="low", fs=sample_rate, output="sos"), noise, axis=0)
    mixw = np.exp(-t / (0.35 * seconds))[:, None]
    body = (mixw * noise + (1.0 - mixw) * dark) * decay[:, None]
    # a short fade-in so the onset of the tail is not a click
    ramp = min(n, int(0.004 * sample_rate))
    body[:ramp] *= np.linspace(0.0, 1.0, ramp, endpoint=False)[:, None]
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


def reverb(send: np.ndarray, *, sample_rate: int, seconds: float) -> np.ndarray:
    """Convolve a mono send (frames,) with the stereo IR: returns (frames + ir - 1, 2) float64.

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
    return y[:out_len].astype(np.float64)


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power pan law: -1 = left, 0 = centre (-3 dB each side), +1 = right."""
    p = min(1.0, max(-1.0, float(pan)))
    angle = (p + 1.0) * np.pi / 4.0
    return float(np.cos(angle)), float(np.sin(angle))
