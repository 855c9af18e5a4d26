"""Time-stretching with Rubber Band R3: exact lengths, beats on the new grid, pitch unchanged."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from clicks import find_clicks
from seqstems import tone_stem

from soundtrack.errors import AudioError
from soundtrack.stretch import stretch_stem, time_stretch
from soundtrack.timing import BeatGrid

SR = 16_000


def clicks(sr: int, fpb: Fraction, n: int) -> np.ndarray:
    g = BeatGrid(sr, Fraction(sr * 60) / fpb)
    a = np.zeros((g.beat_frame(n) + sr // 4, 1), np.float32)
    burst = (np.hanning(24) * np.sin(np.arange(24) * 1.3)).astype(np.float32)
    for k in range(n):
        f = g.beat_frame(k)
        a[f : f + 24, 0] = burst
    return a


def centroids(a: np.ndarray, expected: list[int], window: int) -> list[float]:
    """Energy centroid of each click near its expected frame (robust to a smeared attack)."""
    p = a[:, 0].astype(np.float64) ** 2
    out = []
    for e in expected:
        lo = max(0, e - window)
        seg = p[lo : e + window]
        out.append(lo + float((np.arange(len(seg)) * seg).sum() / seg.sum()))
    return out


@pytest.mark.parametrize("target", [11_111, 30_000, 24_000])
def test_time_stretch_returns_exactly_the_frames_asked_for(target: int) -> None:
    a = clicks(SR, Fraction(4000), 5)
    assert time_stretch(a, SR, target_frames=target).shape == (target, 1)


def test_ratio_gives_the_rounded_length_and_bad_ratios_are_refused() -> None:
    a = np.zeros((10_001, 2), np.float32)
    assert time_stretch(a, SR, ratio=1.25).shape == (12_501, 2)
    with pytest.raises(AudioError, match=r"ratio=5 must be between 0.25 and 4"):
        time_stretch(a, SR, ratio=5)
    with pytest.raises(AudioError, match="exactly one of"):
        time_stretch(a, SR)


def test_beats_land_on_the_new_grid_within_a_millisecond() -> None:
    SR = 48_000  # R3 works in hops of samples: at 16 kHz its timing is ~2 ms coarse
    fpb = Fraction(SR * 60, 120)
    a = clicks(SR, fpb, 8)
    ratio = Fraction(6, 5)  # 120 -> 100 bpm
    out = time_stretch(a, SR, ratio=ratio)
    new = BeatGrid(SR, Fraction(100))
    want = [new.beat_frame(k) for k in range(8)]
    old = [BeatGrid(SR, Fraction(120)).beat_frame(k) for k in range(8)]
    # the click's own centroid offset, stretched, is where it should sit after each new beat
    offset = [c - o for c, o in zip(centroids(a, old, 1200), old)]
    got = centroids(out, want, 1200)
    err_ms = [abs(g - w - float(ratio) * d) * 1000 / SR for g, w, d in zip(got, want, offset)]
    assert max(err_ms) < 1.0, err_ms


def test_stretch_stem_keeps_pitch_and_gives_an_exact_grid() -> None:
    stem = tone_stem("intro", bpm=120, bars=1, pickup=1000, tail=1500, freq=440.0, sr=SR, layers=("bass", "melody"))
    out = stretch_stem(stem, 100)
    g = out.grid
    assert (g.bpm, g.entry, g.exit, g.frames, g.bars) == (100, 1200, 1200 + 38_400, 1200 + 38_400 + 1800, 1)
    assert out.mix.shape == (g.frames, 2)
    total = out.layers["bass"] + out.layers["melody"]
    assert np.array_equal(out.mix, total)  # layers stretched together still sum to the mix
    x = out.layers["bass"][g.entry + 2000 : g.exit - 2000, 0].astype(np.float64)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), 8 * len(x)))
    k = int(np.argmax(spec))
    f = k * SR / (8 * len(x))
    assert abs(1200 * np.log2(f / 440.0)) < 5  # cents


def test_a_stretched_main_loop_still_repeats_seamlessly_with_its_tail() -> None:
    stem = tone_stem("main", bpm=120, bars=1, tail=800, freq=300.0, sr=SR, layers=("bass",))
    out = stretch_stem(stem, 96)
    g = out.grid
    assert (g.entry, g.exit, g.frames) == (0, 40_000, 41_000)
    # played as the sequencer plays a loop: each head from the previous exit, tails ringing on
    e, a = g.exit, out.mix.astype(np.float64)
    played = np.zeros((3 * e + a.shape[0], a.shape[1]))
    for k in range(3):
        played[k * e : k * e + a.shape[0]] += a
    assert not find_clicks(played, SR, at=[e, 2 * e])
    # no doubling and no dip: around each seam the level is the level inside the loop
    inside = np.sqrt(np.mean(played[e + 4000 : e + 8000, 0] ** 2))
    for seam in (e, 2 * e):
        around = np.sqrt(np.mean(played[seam - 400 : seam + 1200, 0] ** 2))
        assert abs(20 * np.log10(around / inside)) < 0.5
    assert stretch_stem(stem, 120) is stem


def _sine(level: float) -> np.ndarray:
    return (level * np.sin(2 * np.pi * 440.0 * np.arange(SR) / SR)).astype(np.float32)[:, None]


def _ideal(level: float) -> np.ndarray:
    """The stretch of a half-scale sine, scaled to `level`: stretching should commute with gain
    (to within Rubber Band's own sensitivity to the last bit of its input, about -60 dB)."""
    return time_stretch(_sine(0.5), SR, ratio=1.25).astype(np.float64) * (level / 0.5)


def test_a_stretch_above_full_scale_is_not_clipped() -> None:
    out = time_stretch(_sine(1.5), SR, ratio=1.25)  # +3.5 dBFS: the CLI clips at full scale
    assert np.abs(out).max() > 1.4
    assert np.abs(out - _ideal(1.5)).max() < 2e-3 * 1.5


def test_a_quiet_stretch_keeps_more_than_16_bit_resolution() -> None:
    level = 10 ** (-70 / 20)  # a -70 dBFS sine spans only about +-10 steps of 16 bits
    out = time_stretch(_sine(level), SR, ratio=1.25)
    assert np.abs(out - _ideal(level)).max() < 2e-3 * level  # 16-bit steps would be 0.1 x level
    steps = out[2000:-2000, 0].astype(np.float64) * 32768
    assert np.mean(np.abs(steps - np.round(steps))) > 0.2  # not on a 16-bit grid
