"""Sidechain ducking: lower the music under a voice track, per sample, click-free.

The detector measures the voice's RMS over 50 ms windows every 10 ms (the control rate). A window
is speech when it is above `threshold_db` (default: 30 dB under the voice's loud windows, its
95th percentile, and never below -60 dBFS). Speech regions are joined across pauses shorter
than `hold`, so the music comes back up only in pauses longer than that. The gain then moves in
dB with fixed slopes: down by `depth_db` over `attack` seconds, ending where the speech starts
(the file is offline, so the detector looks ahead and the first syllable is already over ducked
music), and back up over `release` seconds from where the pause starts. Between control points
the gain is interpolated per sample, so no step is ever heard.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from soundtrack.audio import as_frames
from soundtrack.errors import PodcastError

CONTROL_HZ = 100
WINDOW_SECONDS = 0.05
CHUNK_FRAMES = 1 << 20


@dataclass(frozen=True)
class DuckSettings:
    """Ducking depth in dB (positive), attack and release in seconds, `hold`: pauses shorter than
    this keep the music down; `threshold_db`: speech level in dBFS RMS (None: relative)."""

    depth_db: float = 10.0
    attack: float = 0.4
    release: float = 0.6
    hold: float = 0.8
    threshold_db: float | None = None

    def __post_init__(self) -> None:
        for name, lo, hi in (("depth_db", 0.0, 60.0), ("attack", 0.0, 10.0), ("release", 0.0, 10.0), ("hold", 0.0, 60.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                raise PodcastError(f"duck {name}={v!r} must be a number between {lo:g} and {hi:g}")


def hop_energy(voice: np.ndarray, sample_rate: int, *, start: int = 0) -> np.ndarray:
    """Sum of squares of the voice's mono mix over each control hop (1/CONTROL_HZ s) of `voice`,
    a block that starts at frame `start` (a multiple of the hop) of the whole track."""
    v = as_frames(voice)
    mono = v.mean(axis=1, dtype=np.float64) if v.shape[1] > 1 else v[:, 0].astype(np.float64)
    hop = sample_rate // CONTROL_HZ
    if start % hop:
        raise ValueError(f"start={start} must be a multiple of the control hop ({hop} frames)")
    steps = -(-mono.shape[0] // hop)
    sq = np.zeros(steps * hop)
    sq[: mono.shape[0]] = mono * mono
    return sq.reshape(steps, hop).sum(axis=1)


def gate_from_energy(energy: np.ndarray, frames: int, sample_rate: int, settings: DuckSettings) -> np.ndarray:
    """The speech gate (`speech_gate`) from the per-hop energies of a track of `frames` frames:
    the RMS over the 50 ms around each hop (5 hops), above the threshold, pauses < hold bridged."""
    hop = sample_rate // CONTROL_HZ
    k = max(1, int(round(WINDOW_SECONDS * CONTROL_HZ)))
    steps = energy.shape[0]
    csum = np.concatenate([[0.0], np.cumsum(energy)])
    counts = np.full(steps, float(hop))
    if steps:
        counts[-1] = frames - hop * (steps - 1)
    ccount = np.concatenate([[0.0], np.cumsum(counts)])
    idx = np.arange(steps)
    a = np.clip(idx - k // 2, 0, steps)
    b = np.clip(idx + k - k // 2, 0, steps)
    ms = (csum[b] - csum[a]) / np.maximum(ccount[b] - ccount[a], 1)
    db = 10 * np.log10(np.maximum(ms, 1e-12))
    thr = settings.threshold_db
    if thr is None:
        loud = np.percentile(db, 95) if db.size else -120.0
        thr = max(-60.0, float(loud) - 30.0)
    gate = db > thr
    # bridge pauses shorter than `hold`
    h = int(round(settings.hold * CONTROL_HZ))
    if h > 0 and gate.any():
        on = np.nonzero(gate)[0]
        gaps = np.nonzero(np.diff(on) > 1)[0]
        for g in gaps:
            s, e = on[g] + 1, on[g + 1]
            if e - s < h:
                gate[s:e] = True
    return gate


def speech_gate(voice: np.ndarray, sample_rate: int, settings: DuckSettings) -> np.ndarray:
    """A bool per control step (1/CONTROL_HZ s): is the voice speaking (pauses < hold bridged)?"""
    v = as_frames(voice)
    return gate_from_energy(hop_energy(v, sample_rate), v.shape[0], sample_rate, settings)


def envelope(gate: np.ndarray, settings: DuckSettings) -> np.ndarray:
    """Ducking amount 0..1 per control step: a clipped integrator with attack/release slopes,
    the gate moved `attack` earlier so the music is fully down when speech starts."""
    n = gate.shape[0]
    lead = int(round(settings.attack * CONTROL_HZ))
    g = gate.copy()
    if lead > 0 and n:
        on = np.nonzero(gate & ~np.concatenate([[False], gate[:-1]]))[0]
        for o in on:
            g[max(0, o - lead) : o] = True
    up = 1.0 / max(1, settings.attack * CONTROL_HZ)
    down = 1.0 / max(1, settings.release * CONTROL_HZ)
    out = np.empty(n)
    x = 0.0
    # a Python loop at 100 Hz: 360 000 steps for an hour
    for i, on in enumerate(g.tolist()):
        x = min(1.0, x + up) if on else max(0.0, x - down)
        out[i] = x
    return out


def duck_gain(voice: np.ndarray, sample_rate: int, frames: int, settings: DuckSettings = DuckSettings(), *,
              start: int = 0, stop: int | None = None) -> np.ndarray:
    """The music's gain (float32, linear) for frames [start, stop) of `frames`, from `voice`."""
    stop = frames if stop is None else stop
    gate = speech_gate(voice, sample_rate, settings)
    amount = envelope(gate, settings)
    hop = sample_rate // CONTROL_HZ
    xs = np.arange(amount.shape[0]) * hop
    t = np.arange(start, stop)
    a = np.interp(t, xs, amount, left=amount[0] if amount.size else 0.0, right=0.0) if amount.size else np.zeros(stop - start)
    return (10.0 ** (-settings.depth_db * a / 20.0)).astype(np.float32)


def duck(music: np.ndarray, voice: np.ndarray, sample_rate: int, *, depth_db: float = DuckSettings.depth_db,
         attack: float = DuckSettings.attack, release: float = DuckSettings.release, hold: float = DuckSettings.hold,
         threshold_db: float | None = DuckSettings.threshold_db) -> np.ndarray:
    """`music` (float32, frames x channels) lowered by `depth_db` under `voice` (same rate; any
    channels; shorter or longer than the music); the defaults are `DuckSettings`'. Returns a new
    array of the music's shape."""
    m = as_frames(music)
    settings = DuckSettings(depth_db, attack, release, hold, threshold_db)
    gate = speech_gate(voice, sample_rate, settings)
    amount = envelope(gate, settings)
    hop = sample_rate // CONTROL_HZ
    xs = np.arange(amount.shape[0]) * hop
    out = np.empty_like(m)
    for s in range(0, m.shape[0], CHUNK_FRAMES):
        e = min(m.shape[0], s + CHUNK_FRAMES)
        a = np.interp(np.arange(s, e), xs, amount, right=0.0) if amount.size else np.zeros(e - s)
        g = (10.0 ** (-depth_db * a / 20.0)).astype(np.float32)
        out[s:e] = m[s:e] * g[:, None]
    return out


def mix_voice(music: np.ndarray, voice: np.ndarray) -> np.ndarray:
    """Voice over music: the voice cut or padded with silence to the music's length and mapped to
    its channels (mono voice to both sides). float32 (frames, channels), not normalized."""
    m = as_frames(music)
    n, ch = m.shape
    v = as_frames(voice, ch)
    v = v[:n] if v.shape[0] >= n else np.pad(v, ((0, n - v.shape[0]), (0, 0)))
    return (m + v).astype(np.float32)
