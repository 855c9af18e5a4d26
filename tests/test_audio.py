"""Loudness against an independent meter, true peak, the limiter, fades and atomic writes."""

import os

import numpy as np
import pyloudnorm
import pytest

from soundtrack.audio import fade_curve, integrated_loudness, limit, normalize_loudness, read_audio, true_peak_dbtp, write_audio
from soundtrack.errors import AudioError


def _music_like(sr: int, seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    tones = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) / (i + 1) for i, f in enumerate((110, 220, 330, 1760, 5000)))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 0.7 * t) ** 2
    noise = rng.standard_normal(t.size) * 0.05
    left = 0.2 * tones * env + noise
    right = np.roll(left, 100) * 0.7
    return np.stack([left, right], axis=1).astype(np.float32)


@pytest.mark.parametrize("sr", [44_100, 48_000])
@pytest.mark.parametrize("seed", [0, 1])
def test_integrated_loudness_matches_pyloudnorm(sr, seed):
    x = _music_like(sr, 6.0, seed)
    x[: sr // 2] *= 0.001  # a near-silent start exercises the gates
    ours = integrated_loudness(x, sr)
    theirs = pyloudnorm.Meter(sr).integrated_loudness(x.astype(np.float64))
    assert abs(ours - theirs) < 0.1, (ours, theirs)


def test_silence_and_short_audio():
    assert integrated_loudness(np.zeros((48_000, 2), np.float32), 48_000) == -70.0
    assert integrated_loudness(np.ones((100, 2), np.float32), 48_000) == -70.0


def test_true_peak_sees_inter_sample_peaks():
    sr = 48_000
    n = np.arange(sr)
    x = np.sin(2 * np.pi * (sr / 4) * n / sr + np.pi / 4).astype(np.float32)  # samples at +-0.707
    assert np.max(np.abs(x)) == pytest.approx(0.7071, abs=1e-3)
    assert true_peak_dbtp(x) == pytest.approx(0.0, abs=0.2)


@pytest.mark.parametrize("chunk", [1, 7, 1000, 1 << 16])
def test_true_peak_in_chunks_equals_one_whole_pass(monkeypatch, chunk):
    from scipy.signal import resample_poly

    import soundtrack.audio as audio_mod

    rng = np.random.default_rng(chunk)
    x = (rng.standard_normal((3 * 1000 + 17, 2)) * 0.1).astype(np.float32)
    for edge in (999, 1000, 1001, 2999, 3000, 7, 0, x.shape[0] - 1):  # spikes at and beside chunk edges
        x[edge] = (0.9, -0.9)
    whole = resample_poly(x.astype(np.float64), 4, 1, axis=0)
    expected = 20 * np.log10(max(float(np.max(np.abs(whole))), float(np.max(np.abs(x)))))
    monkeypatch.setattr(audio_mod, "_TP_CHUNK", chunk)
    assert true_peak_dbtp(x) == expected  # exactly: the overlap carries the filter's whole reach


@pytest.mark.parametrize("target", [-23.0, -16.0, -14.0])
def test_normalize_hits_target_with_true_peak_ceiling(target):
    sr = 48_000
    x = _music_like(sr, 5.0, 3) * 3.0
    y, gain, peak = normalize_loudness(x, sr, target_lufs=target, true_peak_db=-1.0)
    assert y.shape == x.shape and y.dtype == np.float32
    assert pyloudnorm.Meter(sr).integrated_loudness(y.astype(np.float64)) == pytest.approx(target, abs=0.5)
    assert peak == true_peak_dbtp(y) and peak <= -1.0
    assert gain == pytest.approx(target - integrated_loudness(x, sr))


def test_normalize_without_a_target_keeps_the_level_and_still_limits():
    sr = 48_000
    quiet = _music_like(sr, 3.0, 6) * 0.3
    y, gain, peak = normalize_loudness(quiet, sr, target_lufs=None, true_peak_db=-1.0)
    assert gain == 0.0 and np.array_equal(y, quiet) and peak == true_peak_dbtp(quiet) < -1.0
    loud = _music_like(sr, 3.0, 6) * 2.0  # over 0 dBTP
    y, gain, peak = normalize_loudness(loud, sr, target_lufs=None, true_peak_db=-1.0)
    assert gain == 0.0 and peak == true_peak_dbtp(y) <= -1.0 < true_peak_dbtp(loud)


def test_limiter_leaves_quiet_audio_untouched_and_catches_peaks():
    sr = 48_000
    quiet = _music_like(sr, 2.0, 4) * 0.3
    assert np.max(np.abs(quiet)) < 0.89
    out = limit(quiet, sr, ceiling_db=-1.0)
    assert np.array_equal(out, quiet)
    loud = quiet.copy()
    loud[sr // 2 : sr // 2 + 200] *= 6.0  # a burst well over the ceiling
    out = limit(loud, sr, ceiling_db=-1.0)
    assert np.max(np.abs(out)) <= 10 ** (-1 / 20) + 1e-6
    # far from the burst nothing changed; near it the gain moves smoothly (no step)
    assert np.array_equal(out[: sr // 4], loud[: sr // 4])
    gain = out[:, 0].astype(np.float64) / np.where(np.abs(loud[:, 0]) > 1e-4, loud[:, 0], np.nan)
    step = np.nanmax(np.abs(np.diff(gain[sr // 2 - 300 : sr // 2 + 500])))
    assert step < 0.05


@pytest.mark.parametrize("curve", ["linear", "equal-power", "s-curve"])
def test_fade_curves(curve):
    up = fade_curve(1000, curve)
    down = fade_curve(1000, curve, fade_in=False)
    assert up.dtype == np.float32 and up[0] < 0.01 and up[-1] > 0.99 and np.all(np.diff(up) >= 0)
    assert np.array_equal(down, up[::-1])
    if curve == "equal-power":
        np.testing.assert_allclose(up.astype(np.float64) ** 2 + down.astype(np.float64) ** 2, 1.0, atol=1e-6)
    elif curve == "linear":
        np.testing.assert_allclose(up + down, 1.0, atol=1e-6)
    with pytest.raises(AudioError, match="curve='cubic' must be one of linear, equal-power, s-curve"):
        fade_curve(10, "cubic")  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_write_read_round_trip(tmp_path, suffix):
    x = _music_like(48_000, 0.5, 5) * 0.5
    p = write_audio(tmp_path / f"a{suffix}", x, 48_000)
    y, sr = read_audio(p)
    assert sr == 48_000 and y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=0 if suffix == ".wav" else 2e-7 * 8)
    assert [f.name for f in tmp_path.iterdir()] == [f"a{suffix}"]


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path):
    good = np.zeros((10, 2), np.float32)
    write_audio(tmp_path / "x.wav", good, 48_000)
    before = (tmp_path / "x.wav").read_bytes()
    with pytest.raises(Exception):
        write_audio(tmp_path / "x.wav", np.ones((10, 2), np.float32), 48_000, subtype="NOT_A_SUBTYPE")
    assert [f.name for f in tmp_path.iterdir()] == ["x.wav"]
    assert (tmp_path / "x.wav").read_bytes() == before
    with pytest.raises(AudioError, match="unsupported suffix '.xyz'"):
        write_audio(tmp_path / "x.xyz", good, 48_000)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_written_files_get_the_umask_mode_like_any_file(tmp_path, umask_022, suffix):
    p = write_audio(tmp_path / "sub" / f"a{suffix}", np.zeros((10, 2), np.float32), 48_000)
    assert p.stat().st_mode & 0o777 == 0o644  # not the 0o600 of a temporary file
    assert [f.name for f in p.parent.iterdir()] == [p.name]
