"""Loudness matching for bank stems: one gain (and one limiter curve) shared by every layer.

A stem's layers are scaled together so their mix reaches the bank's integrated loudness target
(ITU-R BS.1770, LUFS) with true peak at or under the ceiling (dBTP). When the gain alone would
push the true peak over the ceiling, a look-ahead limiter's gain curve is computed on the mix and
applied to every layer, so the layers still sum to the mix; the gain is then raised again until
the limited mix meets the target (limiting lowers loudness). Then the layers are quantized to
24-bit, the resolution the bank stores, so what is measured is what a loader gets back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from soundtrack.audio import SILENCE_LUFS, db_to_gain, integrated_loudness, limiter_gain, true_peak_dbtp

PCM24_SCALE = float(2**23)
MAX_GAIN_DB = 40.0  # never lift near-silence by more than this (it is not music, it is noise)
_TP_MARGIN_DB = 0.05  # aim just under the ceiling so 24-bit rounding cannot cross it
_LU_TOLERANCE = 0.1


@dataclass(frozen=True)
class LoudnessResult:
    """What matching did: the measured result on the stored (24-bit) mix, and the gain used."""

    loudness_lufs: float | None  # None: silence (or too short to measure even tiled)
    true_peak_dbtp: float
    gain_db: float
    limited: bool


def measure_loudness(mix: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness of `mix` (frames, channels) in LUFS; audio shorter than one 400 ms
    BS.1770 block (a very short stinger) is measured as if looped to one second."""
    a = np.asarray(mix)
    need = sample_rate  # one second holds seven overlapping blocks
    if 0 < a.shape[0] < need:
        a = np.tile(a, (-(-need // a.shape[0]), 1))
    return integrated_loudness(a, sample_rate)


def quantize_pcm24(audio: np.ndarray) -> np.ndarray:
    """Round float audio to the nearest 24-bit step, clipped to full scale, as int32 in [-2^23, 2^23)."""
    q = np.rint(np.asarray(audio, dtype=np.float64) * PCM24_SCALE)
    return np.clip(q, -PCM24_SCALE, PCM24_SCALE - 1).astype(np.int32)


def _mix(layers: dict[str, np.ndarray]) -> np.ndarray:
    """The float32 sum in layer order, exactly as `Stem.from_layers` makes it."""
    arrays = list(layers.values())
    mix = np.zeros_like(arrays[0], dtype=np.float32)
    for a in arrays:
        mix += a
    return mix


def match_loudness(
    layers: dict[str, np.ndarray], sample_rate: int, *, target_lufs: float, ceiling_dbtp: float
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], LoudnessResult]:
    """Scale `layers` (float32, frames x channels each) by one shared gain curve; see module doc.

    Returns (float32 layers as stored, int32 24-bit layers to write, the result). The float32
    layers are exactly the decoded 24-bit files.
    """
    mix = _mix(layers).astype(np.float64)
    measured = measure_loudness(mix, sample_rate)
    gain_db = 0.0 if measured <= SILENCE_LUFS else min(MAX_GAIN_DB, target_lufs - measured)
    curve = np.ones(mix.shape[0])
    limited = False
    if measured > SILENCE_LUFS:
        margin = _TP_MARGIN_DB
        for _ in range(10):
            scaled = mix * db_to_gain(gain_db)
            ceiling = db_to_gain(ceiling_dbtp - margin)
            curve = limiter_gain(scaled, sample_rate, ceiling=ceiling)
            out = scaled * curve[:, None]
            if true_peak_dbtp(out) > ceiling_dbtp - _TP_MARGIN_DB:
                margin += 0.2  # inter-sample peaks: limit the samples a little harder
                continue
            limited = bool(curve.min() < 1.0)
            miss = target_lufs - measure_loudness(out, sample_rate)
            if abs(miss) <= _LU_TOLERANCE or gain_db + miss > MAX_GAIN_DB:
                break
            gain_db += miss
    g = db_to_gain(gain_db) * curve[:, None]
    ints = {name: quantize_pcm24(a.astype(np.float64) * g) for name, a in layers.items()}
    stored = {name: (q / PCM24_SCALE).astype(np.float32) for name, q in ints.items()}
    final_mix = _mix(stored)
    lufs = measure_loudness(final_mix, sample_rate)
    return stored, ints, LoudnessResult(
        loudness_lufs=None if lufs <= SILENCE_LUFS else round(lufs, 3),
        true_peak_dbtp=round(true_peak_dbtp(final_mix), 3),
        gain_db=round(gain_db, 3),
        limited=limited,
    )
