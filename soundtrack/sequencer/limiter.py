"""The safety limiter at the end of the sequencer's output (see `Limiter`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from soundtrack.audio import frame_peaks
from soundtrack.sequencer.clips import F32


@dataclass
class Limiter:
    """A look-ahead safety peak limiter whose state is one integer, so it is block-size
    independent bit for bit.

    The attenuation needed at frame n is computed in integer milli-dB (rounded up). Each need is
    approached along a linear ramp (in dB) over the `lookahead` frames before it, and released
    at `release_mdb_per_frame` per frame after it:
    ``a[n] = max(max_{0<=k<=L} need[n+k] * (L-k) / L,  a[n-1] - release)``. The gain therefore
    never steps (an instant gain change on loud music is itself a click), and the ceiling holds
    at every peak. `process` is given the `lookahead` frames that follow the block (mixed but not
    yet output). Audio that never exceeds the ceiling, and that follows no gain reduction still
    releasing, passes through untouched.
    """

    ceiling_db: float = -1.0
    lookahead: int = 96  # frames (2 ms at 48 kHz)
    release_mdb_per_frame: int = 1  # 48 dB/s at 48 kHz: a 6 dB reduction recovers in 125 ms
    state: int = 0  # attenuation (milli-dB) at the last frame processed

    def __post_init__(self) -> None:
        self._ceiling = float(np.float32(10.0 ** (self.ceiling_db / 20.0)))
        if self.lookahead < 1:
            raise ValueError(f"lookahead={self.lookahead} must be at least 1 frame")

    @property
    def ceiling(self) -> float:
        return self._ceiling

    def reset(self) -> None:
        self.state = 0

    def _need(self, a: np.ndarray) -> np.ndarray:
        peak = frame_peaks(a).astype(np.float64) / self._ceiling
        need = np.zeros(a.shape[0], dtype=np.int64)
        hot = peak > 1.0
        need[hot] = np.ceil(20000.0 * np.log10(peak[hot])).astype(np.int64)
        return need

    def process(self, block: np.ndarray, ahead: np.ndarray, *, joined: np.ndarray | None = None) -> None:
        """Limit `block` (frames x channels, float32) in place, seeing `ahead` (up to
        `lookahead` frames that follow it; fewer only at the very end of the audio). `joined`,
        when the caller has it, is one array holding `block` then `ahead` (saves a copy)."""
        n = block.shape[0]
        if n == 0:
            return
        c = self._ceiling
        both = joined if joined is not None else (np.concatenate([block, ahead]) if ahead.shape[0] else block)
        r = self.release_mdb_per_frame
        if self.state <= 0 and float(both.max()) <= c and float(both.min()) >= -c:
            return
        L = self.lookahead
        need = self._need(both)
        m = need.shape[0]
        cone = need[:n].copy()
        if need.any():
            for k in range(1, min(L, m - 1) + 1):  # the ramps towards the needs ahead
                lim = min(n, m - k)
                np.maximum(cone[:lim], (need[k : k + lim] * (L - k) + L - 1) // L, out=cone[:lim])
        idx = np.arange(n, dtype=np.int64)
        atten = np.maximum.accumulate(cone + idx * r) - idx * r
        atten = np.maximum(atten, self.state - (idx + 1) * r)
        atten = np.maximum(atten, 0)
        self.state = int(atten[-1])
        if not atten.any():
            return
        gain = np.power(10.0, -atten / 20000.0).astype(F32)
        block *= gain[:, None]
        np.clip(block, -c, c, out=block)  # float rounding of gain * peak
