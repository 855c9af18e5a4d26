"""M4A/AAC exports decode to exactly the samples given, aligned, at any length and rate; encoded
exports land all or nothing, with the mode of any new file."""

from __future__ import annotations

import importlib
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundtrack.errors import Mp4Error, PodcastError
from soundtrack.podcast import Chapter
from soundtrack.podcast.export import export
from soundtrack.podcast.mp4gapless import lead_pad, trim_edit_list

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def _decode(path: Path, channels: int) -> np.ndarray:
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "f32le", "-"],
                       capture_output=True, check=True)
    return np.frombuffer(r.stdout, np.float32).reshape(-1, channels)


def _ffprobe(path: Path, entry: str) -> str:
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", entry, "-of", "default=nw=1:nk=1", str(path)],
                       capture_output=True, check=True, text=True)
    return r.stdout.split()[0]


def _tone(frames: int, sr: int, channels: int = 2) -> np.ndarray:
    # seeded noise (a sharp autocorrelation: any shift of the decoded audio shows) under a chirp
    t = np.arange(frames) / sr
    noise = np.random.default_rng(frames).standard_normal(frames)
    x = 0.15 * np.sin(2 * np.pi * (220 * t + 400 * t * t)) + 0.05 * noise
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)


def test_lead_pad_fills_the_last_frame() -> None:
    assert [lead_pad(n) for n in (1, 1023, 1024, 1025, 48_000, 0)] == [1023, 1, 0, 1023, 128, 0]
    assert all((n + lead_pad(n)) % 1024 == 0 for n in range(0, 5000, 37))


@pytest.mark.parametrize("frames,sr", [(48_000, 48_000), (48_500, 48_000), (1_024, 48_000), (2_047, 48_000),
                                       (44_100 * 3 + 1, 44_100), (96_001, 44_100)])
@pytest.mark.parametrize("suffix", [".m4a", ".aac"])
def test_aac_exports_decode_to_exact_length_aligned(tmp_path, frames, sr, suffix) -> None:
    src = _tone(frames, sr)
    p = tmp_path / f"x{suffix}"
    export(src, sr, p, target_lufs=None)
    out = _decode(p, 2)
    assert out.shape[0] == frames
    # the container says the same: the track's duration in samples and ffprobe's format duration
    assert int(_ffprobe(p, "stream=duration_ts")) == frames
    assert float(_ffprobe(p, "format=duration")) == pytest.approx(frames / sr, abs=1e-6)
    # no shift: the decoded audio lines up with the source at lag 0 (within codec error)
    a, b = src[:, 0].astype(np.float64), out[:, 0].astype(np.float64)
    lags = range(-8, 9)
    corr = [np.dot(a[max(0, -k):frames - max(0, k)], b[max(0, k):frames - max(0, -k)]) for k in lags]
    assert list(lags)[int(np.argmax(corr))] == 0
    assert np.corrcoef(a, b)[0, 1] > 0.9  # white noise loses its top octave to the encoder


def test_aac_export_keeps_chapters_on_time(tmp_path) -> None:
    sr = 48_000
    p = tmp_path / "ep.m4a"
    export(_tone(sr * 6 + 333, sr), sr, p, chapters=[Chapter(0.0, "A"), Chapter(2.5, "B")], target_lufs=-16)
    r = subprocess.run(["ffprobe", "-v", "error", "-show_chapters", "-of", "csv=p=0", str(p)], capture_output=True,
                       text=True, check=True)
    starts = [round(float(line.split(",")[3]), 3) for line in r.stdout.splitlines()]
    assert starts == [0.0, 2.5]
    assert _decode(p, 2).shape[0] == sr * 6 + 333


@pytest.mark.parametrize("suffix", [".m4a", ".mp3", ".wav"])
def test_exports_get_the_umask_mode_like_any_file(tmp_path, suffix) -> None:
    old = os.umask(0o022)
    try:
        p = export(_tone(4_800, 48_000), 48_000, tmp_path / "out" / f"ep{suffix}", target_lufs=None).path
    finally:
        os.umask(old)
    assert p.stat().st_mode & 0o777 == 0o644  # not the 0o600 of a temporary file
    assert [f.name for f in p.parent.iterdir()] == [p.name]


@pytest.mark.parametrize("error", [Mp4Error("no moov box"), KeyboardInterrupt()])
def test_a_failed_encode_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, error) -> None:
    p = tmp_path / "ep.m4a"
    p.write_bytes(b"the old episode")

    def fail(*args: object) -> None:
        raise error

    # the encoder module, where every export patches its AAC edit list
    monkeypatch.setattr(importlib.import_module("soundtrack.podcast.encode"), "trim_edit_list", fail)
    with pytest.raises(PodcastError if isinstance(error, Mp4Error) else KeyboardInterrupt):
        export(_tone(4_800, 48_000), 48_000, p, target_lufs=None)
    assert [f.name for f in tmp_path.iterdir()] == ["ep.m4a"] and p.read_bytes() == b"the old episode"


def _encode_plain(tmp_path: Path, *extra: str) -> Path:
    src = tmp_path / "in.wav"
    sf.write(src, _tone(4_800, 48_000), 48_000)
    out = tmp_path / "plain.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-c:a", "aac", *extra, "-f", "ipod",
                    str(out)], check=True)
    return out


def test_trim_refuses_a_file_without_an_edit_list(tmp_path) -> None:
    p = _encode_plain(tmp_path, "-use_editlist", "0")
    before = p.read_bytes()
    with pytest.raises(Mp4Error, match="no edit list"):
        trim_edit_list(p, 4_800, 0)
    assert p.read_bytes() == before  # refused before writing: the file is untouched


def test_trim_refuses_a_timescale_that_cannot_say_the_length(tmp_path) -> None:
    p = _encode_plain(tmp_path)  # ffmpeg's default movie timescale is 1000
    with pytest.raises(Mp4Error, match="movie timescale 1000 cannot express 4801 samples"):
        trim_edit_list(p, 4_801, 0)


def test_trim_refuses_garbage(tmp_path) -> None:
    p = tmp_path / "junk.m4a"
    p.write_bytes(struct.pack(">I4s", 4, b"moov") + b"\0" * 16)
    with pytest.raises(Mp4Error, match="bad size"):
        trim_edit_list(p, 10, 0)
