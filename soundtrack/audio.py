"""Audio buffers: float32 arrays of shape (frames, channels). Reading, writing, gain curves,
loudness (ITU-R BS.1770-4 integrated LUFS, true peak) and a transparent safety limiter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from soundtrack.errors import AudioError
from soundtrack.files import atomic_path

Curve = Literal["linear", "equal-power", "s-curve"]
CURVES: tuple[str, ...] = ("linear", "equal-power", "s-curve")
SILENCE_LUFS = -70.0


def as_frames(audio: np.ndarray, channels: int | None = None) -> np.ndarray:
    """A C-contiguous float32 (frames, channels) view or copy of `audio` (1-D means mono)."""
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise AudioError(f"audio must be (frames, channels), got shape {a.shape}")
    if channels is not None and a.shape[1] != channels:
        if a.shape[1] == 1:
            a = np.repeat(a, channels, axis=1)
        elif channels == 1:
            a = a.mean(axis=1, keepdims=True)
        else:
            raise AudioError(f"cannot map {a.shape[1]} channels to {channels}")
    return np.ascontiguousarray(a)


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def gain_to_db(gain: float) -> float:
    return float(20.0 * np.log10(max(gain, 1e-12)))


# -- files -------------------------------------------------------------------------------------


def read_audio(path: str | Path, *, channels: int | None = None) -> tuple[np.ndarray, int]:
    """Read a file soundfile understands (WAV, FLAC, OGG, MP3, ...) as float32 (frames, channels)."""
    import soundfile as sf

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise AudioError(f"{path}: cannot read audio: {e}") from None
    return as_frames(data, channels), int(sr)


def write_audio(path: str | Path, audio: np.ndarray, sample_rate: int, *, subtype: str | None = None) -> Path:
    """Write audio atomically (see `soundtrack.files.atomic_path`).

    The format follows the suffix (.wav float32 by default so nothing is lost, .flac 24-bit,
    .ogg Vorbis). A crash never leaves a half-written file behind a valid name.
    """
    import soundfile as sf

    path = Path(path)
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3"}.get(path.suffix.lower())
    if fmt is None:
        raise AudioError(f"{path}: unsupported suffix {path.suffix!r}; use .wav, .flac, .ogg or .mp3")
    if subtype is None:
        subtype = {"WAV": "FLOAT", "FLAC": "PCM_24", "OGG": "VORBIS", "MP3": "MPEG_LAYER_III"}[fmt]
    with atomic_path(path) as tmp:
        sf.write(tmp, as_frames(audio), sample_rate, format=fmt, subtype=subtype)
    return path


# -- gain curves -------------------------------------------------------------------------------


def fade_curve(n: int, curve: Curve = "equal-power", *, fade_in: bool = True) -> np.ndarray:
    """`n` gains (float32) rising 0 -> 1 (or falling, with fade_in=False), one per sample.

    equal-power: sin/cos, so a crossfade keeps constant power (-3 dB at the midpoint);
    linear: constant amplitude sum; s-curve: smoothstep in amplitude.
    """
    if n <= 0:
        return np.zeros(0, dtype=np.float32)
    t = (np.arange(n, dtype=np.float64) + 0.5) / n
    if curve == "linear":
        g = t
    elif curve == "equal-power":
        g = np.sin(0.5 * np.pi * t)
    elif curve == "s-curve":
        g = t * t * (3.0 - 2.0 * t)
    else:
        raise AudioError(f"curve={curve!r} must be one of {', '.join(CURVES)}")
    if not fade_in:
        g = g[::-1]
    return g.astype(np.float32)


# -- loudness (ITU-R BS.1770-4) ----------------------------------------------------------------


def _k_weighting(sample_rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two K-weighting biquads (high shelf + high pass), derived for any sample rate."""
    # high shelf: +4 dB above ~1.7 kHz (head effects)
    g, q, fc = 3.999843853973347, 0.7071752369554196, 1681.974450955533
    a_ = 10 ** (g / 40.0)
    w0 = 2 * np.pi * fc / sample_rate
    alpha = np.sin(w0) / (2 * q)
    cw = np.cos(w0)
    b1 = np.array([a_ * ((a_ + 1) + (a_ - 1) * cw + 2 * np.sqrt(a_) * alpha),
                   -2 * a_ * ((a_ - 1) + (a_ + 1) * cw),
                   a_ * ((a_ + 1) + (a_ - 1) * cw - 2 * np.sqrt(a_) * alpha)])
    a1 = np.array([(a_ + 1) - (a_ - 1) * cw + 2 * np.sqrt(a_) * alpha,
                   2 * ((a_ - 1) - (a_ + 1) * cw),
                   (a_ + 1) - (a_ - 1) * cw - 2 * np.sqrt(a_) * alpha])
    # high pass at ~38 Hz (RLB weighting)
    q, fc = 0.5003270373238773, 38.13547087602444
    w0 = 2 * np.pi * fc / sample_rate
    alpha = np.sin(w0) / (2 * q)
    cw = np.cos(w0)
    b2 = np.array([(1 + cw) / 2, -(1 + cw), (1 + cw) / 2])
    a2 = np.array([1 + alpha, -2 * cw, 1 - alpha])
    return [(b1 / a1[0], a1 / a1[0]), (b2 / a2[0], a2 / a2[0])]


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS (BS.1770-4: K-weighting, 400 ms blocks, -70 / -10 LU gates).

    Returns SILENCE_LUFS (-70) for silence or audio shorter than one block.
    """
    from scipy.signal import lfilter

    x = as_frames(audio).astype(np.float64)
    for b, a in _k_weighting(sample_rate):
        x = lfilter(b, a, x, axis=0)
    block = int(round(0.4 * sample_rate))
    hop = int(round(0.1 * sample_rate))
    if x.shape[0] < block:
        return SILENCE_LUFS
    # mean square per 400 ms block (75 % overlap) via a cumulative sum
    csum = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x * x, axis=0)])
    starts = np.arange(0, x.shape[0] - block + 1, hop)
    z = (csum[starts + block] - csum[starts]) / block  # (blocks, channels)
    power = z.sum(axis=1)  # channel weights are 1 for L, R, C
    with np.errstate(divide="ignore"):
        lk = -0.691 + 10 * np.log10(power)
    gated = power[lk > SILENCE_LUFS]
    if gated.size == 0:
        return SILENCE_LUFS
    rel = -0.691 + 10 * np.log10(gated.mean()) - 10.0
    final = power[(lk > SILENCE_LUFS) & (lk > rel)]
    if final.size == 0:
        return SILENCE_LUFS
    return float(-0.691 + 10 * np.log10(final.mean()))


def peak_dbfs(audio: np.ndarray) -> float:
    """Sample peak in dBFS."""
    a = np.asarray(audio)
    return gain_to_db(float(np.max(np.abs(a))) if a.size else 0.0)


# BS.1770-4 true peak: 4x oversampling, measured this many input frames at a time so a long
# file never needs its whole oversampled copy (an hour of 48 kHz stereo would be 11 GB in float64)
_TP_UP = 4
_TP_CHUNK = 1 << 16
# input frames of context on each side of a chunk: resample_poly's 81-tap filter reaches 10 at
# 4x, so every kept oversampled sample is computed exactly as in one whole-signal pass and the
# peak is bit-identical (with 9 some samples near a chunk's edge differ)
_TP_CONTEXT = 32


def true_peak_dbtp(audio: np.ndarray) -> float:
    """True peak in dBTP: the peak of the signal 4x oversampled (BS.1770-4 Annex 2)."""
    from scipy.signal import resample_poly

    a = as_frames(audio)
    if a.size == 0:
        return gain_to_db(0.0)
    n = a.shape[0]
    peak = float(np.max(np.abs(a)))
    for start in range(0, n, _TP_CHUNK):
        stop = min(n, start + _TP_CHUNK)
        lo, hi = max(0, start - _TP_CONTEXT), min(n, stop + _TP_CONTEXT)
        up = resample_poly(a[lo:hi].astype(np.float64), _TP_UP, 1, axis=0)
        peak = max(peak, float(np.max(np.abs(up[(start - lo) * _TP_UP:(stop - lo) * _TP_UP]))))
    return gain_to_db(peak)


def limiter_gain(audio: np.ndarray, sample_rate: int, *, ceiling: float, lookahead_ms: float = 2.0) -> np.ndarray:
    """Per-frame gain (float64, frames) that keeps every sample of `audio` under `ceiling` (linear).

    Gain reduction starts `lookahead_ms` before a peak and releases over the same time, as a
    smooth per-sample curve (a minimum filter then a moving average), so it never clicks; 1.0
    everywhere when nothing needs limiting. One curve can be applied to several layers alike.
    """
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    peak = np.max(np.abs(audio), axis=1).astype(np.float64)
    need = np.minimum(1.0, ceiling / np.maximum(peak, 1e-12))
    if need.size == 0 or float(need.min()) >= 1.0:
        return np.ones(peak.shape[0])
    n = max(1, int(round(lookahead_ms * 1e-3 * sample_rate)))
    g = minimum_filter1d(need, size=2 * n + 1, mode="nearest")
    g = uniform_filter1d(g, size=n, mode="nearest")
    return np.minimum(g, need)  # the moving average can only lower the gain further; make it exact


def limit(audio: np.ndarray, sample_rate: int, *, ceiling_db: float = -1.0, lookahead_ms: float = 2.0) -> np.ndarray:
    """A transparent look-ahead peak limiter: audio already under the ceiling is returned unchanged
    (see `limiter_gain` for the curve)."""
    a = as_frames(audio)
    if a.size == 0:
        return a
    g = limiter_gain(a, sample_rate, ceiling=db_to_gain(ceiling_db), lookahead_ms=lookahead_ms)
    if float(g.min()) >= 1.0:
        return a
    return (a * g[:, None]).astype(np.float32)


class Normalized(NamedTuple):
    """What `normalize_loudness` returns: the audio, the gain applied (dB) and the audio's true peak (dBTP)."""

    audio: np.ndarray
    gain_db: float
    true_peak_db: float


def normalize_loudness(
    audio: np.ndarray, sample_rate: int, *, target_lufs: float | None, true_peak_db: float = -1.0
) -> Normalized:
    """Gain `audio` to `target_lufs` integrated (None: keep its level), then limit so true peak
    <= `true_peak_db`.

    Returns the audio, the gain applied in dB and the true peak it measured on the result (so
    callers need not measure again). Silence is returned unchanged.
    """
    a = as_frames(audio)
    measured = integrated_loudness(a, sample_rate)
    if measured <= SILENCE_LUFS:
        return Normalized(a, 0.0, true_peak_dbtp(a))
    gain_db = 0.0 if target_lufs is None else target_lufs - measured
    out = (a * db_to_gain(gain_db)).astype(np.float32)
    peak = true_peak_dbtp(out)
    # the limiter works on samples; leave a margin for inter-sample peaks, tightened until it holds
    margin = 0.3
    for _ in range(6):
        if peak <= true_peak_db:
            break
        out = limit((a * db_to_gain(gain_db)).astype(np.float32), sample_rate, ceiling_db=true_peak_db - margin)
        peak = true_peak_dbtp(out)
        margin += 0.3
    return Normalized(out, gain_db, peak)
