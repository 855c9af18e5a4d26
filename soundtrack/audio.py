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


def frame_peaks(audio: np.ndarray) -> np.ndarray:
    """Each frame's largest |sample| over its channels: ``np.abs(a).max(axis=1)``, same values
    and dtype, computed column by column (numpy's reduction across a short last axis runs per
    row and is ~60x slower on stereo)."""
    a = np.abs(audio)
    if a.ndim == 1:
        return a
    out = a[:, 0].copy()
    for c in range(1, a.shape[1]):
        np.maximum(out, a[:, c], out=out)
    return out


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


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """`audio` (frames[, channels]) from `sr_in` to `sr_out` Hz: float32 of the same rank, exactly
    ``round_half_up(frames * sr_out / sr_in)`` frames. A polyphase windowed-sinc filter (scipy's
    resample_poly with the ratio in lowest terms); the same rate returns the input as float32."""
    import math

    from scipy.signal import resample_poly

    if sr_in <= 0 or sr_out <= 0:
        raise AudioError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    x = np.asarray(audio)
    if sr_in == sr_out:
        return x.astype(np.float32, copy=False)
    g = math.gcd(int(sr_in), int(sr_out))
    n = (2 * x.shape[0] * sr_out + sr_in) // (2 * sr_in)
    y = resample_poly(x.astype(np.float64), sr_out // g, sr_in // g, axis=0)
    if y.shape[0] < n:
        y = np.concatenate([y, np.zeros((n - y.shape[0],) + y.shape[1:])])
    return np.ascontiguousarray(y[:n], dtype=np.float32)


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


# audio is measured this many frames at a time: a long file never needs a whole float64 copy
_LOUDNESS_CHUNK = 1 << 18


class LoudnessMeter:
    """BS.1770-4 loudness measured piece by piece: `add` audio (frames, channels) in blocks of
    any size, then read `integrated()` (LUFS) or the 400 ms block powers.

    Memory stays flat with duration (the K-weighting filters keep their state between pieces;
    only the running sum of squares is kept, at every 100 ms hop), and the result is bit for bit
    what one pass over the whole signal gives (`integrated_loudness`).
    """

    def __init__(self, sample_rate: int, channels: int) -> None:
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.block = int(round(0.4 * sample_rate))
        self.hop = int(round(0.1 * sample_rate))
        self._filters = _k_weighting(self.sample_rate)
        self._zi = [np.zeros((max(len(a), len(b)) - 1, self.channels)) for b, a in self._filters]
        self._carry = np.zeros(self.channels)
        self._pos = 0
        # running sums of squares at k * hop and at k * hop + block (k = 0, 1, ...)
        self._at_hop: list[np.ndarray] = [np.zeros((1, self.channels))]
        self._at_end: list[np.ndarray] = []

    @property
    def frames(self) -> int:
        return self._pos

    def add(self, audio: np.ndarray) -> None:
        """Measure the next frames (float, (frames, channels) or 1-D for mono)."""
        from scipy.signal import lfilter

        a = np.asarray(audio)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2 or a.shape[1] != self.channels:
            raise AudioError(f"LoudnessMeter for {self.channels} channel(s) got audio of shape {a.shape}")
        for s in range(0, a.shape[0], _LOUDNESS_CHUNK):
            x = np.asarray(a[s : s + _LOUDNESS_CHUNK], dtype=np.float32).astype(np.float64)
            for i, (b, aa) in enumerate(self._filters):
                x, self._zi[i] = lfilter(b, aa, x, axis=0, zi=self._zi[i])
            c = np.cumsum(np.concatenate([self._carry[None, :], x * x]), axis=0)  # c[j]: sum to pos + j
            p0, p1 = self._pos, self._pos + x.shape[0]
            hop, block = self.hop, self.block
            k0, k1 = p0 // hop + 1, p1 // hop  # hop marks in (p0, p1]
            if k1 >= k0:
                self._at_hop.append(c[np.arange(k0, k1 + 1) * hop - p0])
            j0 = max(0, -(-(p0 + 1 - block) // hop))  # k * hop + block in (p0, p1]
            j1 = (p1 - block) // hop if p1 >= block else -1
            if j1 >= j0:
                self._at_end.append(c[np.arange(j0, j1 + 1) * hop + block - p0])
            self._carry = c[-1].copy()
            self._pos = p1

    def block_powers(self) -> np.ndarray:
        """Mean-square power (channel-summed, K-weighted) of each 400 ms block, one every 100 ms
        (block k starts at frame k * hop): float64 (blocks,)."""
        if not self._at_end:
            return np.zeros(0)
        ends = np.concatenate(self._at_end)
        starts = np.concatenate(self._at_hop)[: ends.shape[0]]
        return ((ends - starts) / self.block).sum(axis=1)

    def integrated(self) -> float:
        """Integrated loudness (LUFS) of everything added; SILENCE_LUFS for silence or < 400 ms."""
        return gated_loudness(self.block_powers())


def gated_loudness(power: np.ndarray, select: np.ndarray | None = None) -> float:
    """BS.1770 gated loudness (LUFS) of 400 ms block powers (`LoudnessMeter.block_powers`),
    over the blocks where `select` is True (all by default): -70 LUFS absolute gate, then -10 LU
    relative gate. SILENCE_LUFS when nothing passes."""
    power = np.asarray(power, dtype=np.float64)
    if select is not None:
        power = power[np.asarray(select, dtype=bool)[: power.shape[0]]]
    if power.size == 0:
        return SILENCE_LUFS
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


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS (BS.1770-4: K-weighting, 400 ms blocks, -70 / -10 LU gates).

    Returns SILENCE_LUFS (-70) for silence or audio shorter than one block. Measured in chunks
    (`LoudnessMeter`), so an hour of audio needs no float64 copy of itself.
    """
    a = np.asarray(audio)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise AudioError(f"audio must be (frames, channels), got shape {a.shape}")
    m = LoudnessMeter(sample_rate, a.shape[1])
    m.add(a)
    return m.integrated()


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


def _tp_envelope(x: np.ndarray) -> np.ndarray:
    """Per-frame true peak of `x` (float64, frames x channels): the largest of its sample and the
    4x-oversampled samples from it to the next frame, over channels. Near the ends of `x` the
    filter lacks context: callers keep `_TP_CONTEXT` frames on each side."""
    from scipy.signal import resample_poly

    up = np.abs(resample_poly(x, _TP_UP, 1, axis=0))
    env = up.reshape(x.shape[0], _TP_UP, x.shape[1]).max(axis=(1, 2))
    return np.maximum(env, frame_peaks(x))


class TruePeakMeter:
    """True peak (dBTP, BS.1770-4 4x oversampling) measured piece by piece: `add` blocks of any
    size, read `dbtp()` after the last. The same value as `true_peak_dbtp` of the whole signal."""

    def __init__(self) -> None:
        self._buf: np.ndarray | None = None  # unmeasured frames, after up to _TP_CONTEXT of context
        self._left = 0  # frames of context at the start of _buf
        self._peak = 0.0

    def add(self, audio: np.ndarray) -> None:
        a = as_frames(audio)
        self._buf = a.copy() if self._buf is None else np.concatenate([self._buf, a])
        self._measure(final=False)

    def _measure(self, *, final: bool) -> None:
        from scipy.signal import resample_poly

        b = self._buf
        if b is None:
            return
        stop = b.shape[0] if final else b.shape[0] - _TP_CONTEXT  # frames of b measurable now
        if stop > self._left:
            self._peak = max(self._peak, float(np.max(np.abs(b[self._left : stop]))))
            for s in range(self._left, stop, _TP_CHUNK):
                e = min(stop, s + _TP_CHUNK)
                lo, hi = max(0, s - _TP_CONTEXT), min(b.shape[0], e + _TP_CONTEXT)
                up = resample_poly(b[lo:hi].astype(np.float64), _TP_UP, 1, axis=0)
                self._peak = max(self._peak, float(np.max(np.abs(up[(s - lo) * _TP_UP : (e - lo) * _TP_UP]))))
            keep = min(_TP_CONTEXT, stop)
            self._buf = b[stop - keep :]
            self._left = keep

    def dbtp(self) -> float:
        self._measure(final=True)
        self._buf = self._buf[-_TP_CONTEXT:] if self._buf is not None else None
        if self._buf is not None:
            self._left = self._buf.shape[0]
        return gain_to_db(self._peak)


_TP_SEGMENT = 4096  # limit_blocks oversamples only the segments of this many frames that come near the ceiling
_TP_NEAR_DB = 3.0  # ...within this many dB (a 4x-oversampled peak of real audio is under 3 dB above its samples)


def limit_blocks(read, frames: int, sample_rate: int, *, gain_db: float = 0.0, ceiling_db: float = -1.0,
                 block: int = 1 << 16, lookahead_ms: float = 2.0, margin_db: float = 0.05):
    """Gain and true-peak-limit audio that `read(start, stop)` returns (float (frames, channels),
    random access), yielding float32 blocks of `block` frames in order over [0, frames).

    The limiter works like `limiter_gain` but on each frame's true peak (4x oversampled) rather
    than its sample peak, so the result's true peak lands at the ceiling (less `margin_db`), not
    just its samples. Only segments whose samples come within `_TP_NEAR_DB` of the ceiling are
    oversampled (elsewhere a frame's sample peak stands for it); each block is computed from the
    frames around it (enough for the filters' whole reach), so the output is the same whatever
    `block` is, and memory stays flat. Callers that must be sure measure the result (`encode`
    decodes and measures every export, and limits once more if it is over).
    """
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    g_lin = db_to_gain(gain_db)
    ceil = db_to_gain(ceiling_db - margin_db)
    near = ceil * db_to_gain(-_TP_NEAR_DB)
    n_look = max(1, int(round(lookahead_ms * 1e-3 * sample_rate)))
    ctx = 2 * n_look + 2 * _TP_CONTEXT
    for s in range(0, frames, block):
        e = min(frames, s + block)
        lo, hi = max(0, s - ctx), min(frames, e + ctx)
        x = np.asarray(read(lo, hi), dtype=np.float64) * g_lin
        if x.ndim == 1:
            x = x[:, None]
        if x.size == 0 or float(np.max(np.abs(x))) < near:
            yield x[s - lo : e - lo].astype(np.float32)
            continue
        env = frame_peaks(x)
        for a in range(0, x.shape[0], _TP_SEGMENT):
            b = min(x.shape[0], a + _TP_SEGMENT)
            if float(env[a:b].max()) >= near:
                c0, c1 = max(0, a - _TP_CONTEXT), min(x.shape[0], b + _TP_CONTEXT)
                env[a:b] = _tp_envelope(x[c0:c1])[a - c0 : b - c0]
        need = np.minimum(1.0, ceil / np.maximum(env, 1e-12))
        if float(need.min()) >= 1.0:
            yield x[s - lo : e - lo].astype(np.float32)
            continue
        g = minimum_filter1d(need, size=2 * n_look + 1, mode="nearest")
        g = np.minimum(uniform_filter1d(g, size=n_look, mode="nearest"), need)
        yield (x[s - lo : e - lo] * g[s - lo : e - lo, None]).astype(np.float32)


def limiter_gain(audio: np.ndarray, sample_rate: int, *, ceiling: float, lookahead_ms: float = 2.0) -> np.ndarray:
    """Per-frame gain (float64, frames) that keeps every sample of `audio` under `ceiling` (linear).

    Gain reduction starts `lookahead_ms` before a peak and releases over the same time, as a
    smooth per-sample curve (a minimum filter then a moving average), so it never clicks; 1.0
    everywhere when nothing needs limiting. One curve can be applied to several layers alike.
    """
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    peak = frame_peaks(audio).astype(np.float64)
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
    <= `true_peak_db` (`limit_blocks`: a true-peak look-ahead limiter).

    Returns the audio, the gain applied in dB and the true peak it measured on the result (so
    callers need not measure again). Silence is returned unchanged; audio already under the
    ceiling after the gain is only gained.
    """
    a = as_frames(audio)
    measured = integrated_loudness(a, sample_rate)
    if measured <= SILENCE_LUFS:
        return Normalized(a, 0.0, true_peak_dbtp(a))
    gain_db = 0.0 if target_lufs is None else target_lufs - measured
    out = a if gain_db == 0.0 else (a * db_to_gain(gain_db)).astype(np.float32)
    peak = true_peak_dbtp(out)
    margin = 0.05
    for _ in range(4):  # the limiter aims at the true peak itself: one pass, rarely a second
        if peak <= true_peak_db:
            break
        out = np.concatenate(list(limit_blocks(lambda lo, hi: a[lo:hi], a.shape[0], sample_rate, gain_db=gain_db,
                                               ceiling_db=true_peak_db, margin_db=margin)))
        peak = true_peak_dbtp(out)
        margin += 0.1
    return Normalized(out, gain_db, peak)
