"""A click detector that can fail: a sample that music cannot predict and its neighbourhood can.

Audio restoration finds clicks the same way (Vaseghi, Godsill & Rayner): a short-term linear
predictor (an AR model fitted to each block) predicts every sample from the ones before it; music,
even a sharp attack, is predictable to within a residual that is about as large as the residuals
around it, while a discontinuity (a cut with no ramp, a tail that starts or stops dead, a doubled
reverb stepping in) leaves one residual spike in an otherwise predictable neighbourhood.

A click at frame n: |e[n]| > k x max(median |e| over the `window_ms` before n, median |e| over the
`window_ms` after n), |e[n]| > PEERS x every other |e| in that window (outside n's own few
frames), |e[n]| > `floor` and |e[n]| > RELATIVE x the music's peak in the window. Taking the larger side keeps onsets out of silence from tripping
it (the residuals after an onset are as large as the onset's); the peers keep periodic edges
(a triangle wave's corners, a drum roll) out; the absolute floor keeps dither-level wiggles in
near-silence out.

`k` was calibrated on the 40 stems of the dungeon and podcast banks (tests/test_mutations.py keeps
it honest): of everything standing 6x or more above its neighbourhood, a single detection lay
within 0.6 ms of a sixteenth-note grid point (an onset, at 19x); all others, 792, were note cuts in
the SoundFont player 64 frames after a restrike (its envelope moves in 64-frame blocks), i.e.
real clicks. The loop seams of the folded-tail bug reached 20-40x, a one-frame cut to silence 14x
and more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_toeplitz
from scipy.ndimage import maximum_filter, median_filter
from scipy.signal import lfilter

K_DEFAULT = 8.0
WINDOW_MS = 5.0
FLOOR = 1e-3  # residual below -60 dBFS: inaudible as a click at the levels stems play at
RELATIVE = 0.02  # ... or below -34 dB under the music's own peak around it: masked by it
ORDER = 24  # AR model order
BLOCK = 4096  # frames per AR fit (~85 ms at 48 kHz: music is stationary enough over it)
GUARD = 12  # frames either side of a candidate that belong to it (the predictor's own ringing)
PEERS = 2.0  # ... and stand at least this far above every other residual in the window


@dataclass(frozen=True)
class Click:
    frame: int
    residual: float  # |e| at the click, the larger over channels
    neighbourhood: float  # the larger side median of |e| around it
    ratio: float


def _ar_residual(x: np.ndarray, phase: int) -> np.ndarray:
    n, ch = x.shape
    out = np.zeros((n, ch))
    for c in range(ch):
        s = x[:, c]
        for b0 in range(-phase, n, BLOCK):
            b0, b1 = max(0, b0), min(n, b0 + BLOCK)
            # fit on the block with half a block either side, windowed (autocorrelation method)
            w = s[max(0, b0 - BLOCK // 2) : min(n, b1 + BLOCK // 2)]
            w = w * np.hanning(w.shape[0])
            r = np.array([np.dot(w[: w.shape[0] - k], w[k:]) for k in range(ORDER + 1)])
            if r[0] <= 1e-18:
                continue
            r[0] *= 1.0 + 1e-9  # a touch of white noise keeps the Toeplitz system well posed
            a = solve_toeplitz(r[:ORDER], r[1:])
            lo = max(0, b0 - ORDER)
            e = lfilter(np.concatenate([[1.0], -a]), [1.0], s[lo:b1])
            out[b0:b1, c] = e[b0 - lo :]
    return np.abs(out).max(axis=1)


def ar_residual(x: np.ndarray) -> np.ndarray:
    """|prediction error| of `x` (frames, channels; float64) under a per-block AR(ORDER) model,
    the larger over channels: (frames,). Two fits with blocks half a block apart, the smaller
    residual kept: a real discontinuity is unpredictable under both, a poor fit near a block's
    edge only under one (so the verdict does not depend on where an excerpt starts)."""
    return np.minimum(_ar_residual(x, 0), _ar_residual(x, BLOCK // 2))


def _side_medians(e: np.ndarray, half: int) -> np.ndarray:
    """max(median of e over [n - half, n), median over (n, n + half]), edges shrunk."""
    m = median_filter(e, size=half, mode="nearest")  # centred windows of `half`
    c = half // 2 + 1  # a centred window this far away covers only one side of n
    before = np.concatenate([np.full(c, m[0]), m[:-c]]) if e.shape[0] > c else m
    after = np.concatenate([m[c:], np.full(c, m[-1])]) if e.shape[0] > c else m
    return np.maximum(before, after)


def _peers(e: np.ndarray, half: int) -> np.ndarray:
    """The largest e over [n - half, n + half] outside n's own few frames: a periodic edge (a
    triangle's corner, a pulse wave's step, a roll's strokes) has peers as large as itself, an
    isolated click has none."""
    foot = np.ones(2 * half + 1, bool)
    foot[half - GUARD : half + GUARD + 1] = False
    return maximum_filter(e, footprint=foot, mode="nearest")


def _scan(x: np.ndarray, sample_rate: int, k: float, window_ms: float, floor: float) -> list[Click]:
    half = max(4, int(round(window_ms / 1000 * sample_rate)))
    e = ar_residual(x)
    ref = _side_medians(e, half)
    peers = _peers(e, half)
    level = maximum_filter(np.abs(x).max(axis=1), size=2 * half + 1, mode="nearest")
    hit = np.flatnonzero((e > floor) & (e > RELATIVE * level) & (e > k * ref) & (e > PEERS * peers))
    return [Click(int(i), float(e[i]), float(ref[i]), float(e[i] / ref[i]) if ref[i] > 0 else float("inf")) for i in hit]


def find_clicks(audio: np.ndarray, sample_rate: int, *, k: float = K_DEFAULT, window_ms: float = WINDOW_MS,
                floor: float = FLOOR, at: list[int] | np.ndarray | None = None, radius: int | None = None,
                limit: int = 20) -> list[Click]:
    """Clicks in `audio` (frames[, channels]), strongest first, at most `limit`.

    With `at`, only frames within `radius` (default: the window) of those frames are examined
    (seams, edit points, loop repeats), each on a short excerpt around it, so long renders stay
    cheap.
    """
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[0] < 2 * ORDER:
        return []
    half = max(4, int(round(window_ms / 1000 * sample_rate)))
    r = half if radius is None else int(radius)
    found: list[Click] = []
    if at is None:
        found = _scan(x, sample_rate, k, window_ms, floor)
    else:
        pad = 2 * BLOCK + half
        for f in sorted({int(v) for v in np.asarray(at, dtype=np.int64)}):
            lo, hi = max(0, f - r - pad), min(x.shape[0], f + r + pad)
            if hi - lo < 2 * ORDER:
                continue
            for c in _scan(x[lo:hi], sample_rate, k, window_ms, floor):
                frame = c.frame + lo
                if abs(frame - f) <= r:
                    found.append(Click(frame, c.residual, c.neighbourhood, c.ratio))
    uniq = {c.frame: c for c in found}
    return sorted(uniq.values(), key=lambda c: -c.ratio)[:limit]


def worst_ratio(audio: np.ndarray, sample_rate: int, **kw) -> float:
    """The largest residual-to-neighbourhood ratio (k = 0): for calibration and messages."""
    c = find_clicks(audio, sample_rate, k=0.0, limit=1, **kw)
    return c[0].ratio if c else 0.0


def assert_no_clicks(audio: np.ndarray, sample_rate: int, *, what: str = "", **kw) -> None:
    """Fail with where the clicks are (frame, seconds, ratio) if there are any."""
    clicks = find_clicks(audio, sample_rate, **kw)
    if clicks:
        shown = ", ".join(f"frame {c.frame} ({c.frame / sample_rate:.4f} s) {c.ratio:.0f}x" for c in clicks[:5])
        raise AssertionError(f"{what or 'audio'}: {len(clicks)} click(s): {shown}")
