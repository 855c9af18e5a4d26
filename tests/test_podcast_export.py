"""Exports that never crash or leak, and work that is bounded: OGG of any length, a killed export
(a real process, a real signal) leaves nothing behind, every option is refused before any work.

Uses the small bank of tests/test_podcast.py (its `banks` fixture), and fresh copies of its graph
with no bank at all where a test checks that nothing was built.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_podcast import SMALL, banks  # noqa: F401  (the session fixture)

from soundtrack.podcast import Chapter, export

pytestmark = pytest.mark.skipif(subprocess.run(["which", "ffmpeg"], capture_output=True).returncode != 0,
                                reason="ffmpeg is not installed")
ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "soundtrack", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=env)


def _ffmpeg_frames(path: Path) -> int:
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1", "-"],
                       capture_output=True, check=True)
    return len(r.stdout) // 4


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def test_a_45_s_ogg_fill_decodes_to_the_exact_length(banks, tmp_path) -> None:  # noqa: F811
    _, _, graph = banks[48_000]
    # --max-stretch 0: no Rubber Band, this is about the encoder (a part-way entry lands it exactly)
    r = _cli("fill", str(graph), "--duration", "45", "--out", "bed.ogg", "--state", "bed", "--max-stretch", "0",
             cwd=tmp_path)
    assert r.returncode == 0, r.stderr  # was: exit 139 (libvorbis overflowing its stack on one huge write)
    p = tmp_path / "bed.ogg"
    assert sf.info(str(p)).frames == 45 * 48_000 == _ffmpeg_frames(p)
    assert _leftovers(tmp_path, {"bed.ogg"}) == []


def test_a_10_minute_ogg_export_decodes_to_the_exact_length(tmp_path) -> None:
    sr = 48_000
    n = 600 * sr + 123
    t = np.arange(n, dtype=np.float64) / sr
    x = (0.2 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.1 * t))).astype(np.float32)
    del t
    rep = export(x, sr, tmp_path / "long.ogg", target_lufs=-16.0, chapters=[Chapter(0, "A"), Chapter(300, "B")])
    assert rep.frames == n and abs(rep.lufs + 16) < 0.5 and rep.true_peak_db <= -1.0
    assert sf.info(str(tmp_path / "long.ogg")).frames == n == _ffmpeg_frames(tmp_path / "long.ogg")
    assert _leftovers(tmp_path, {"long.ogg", "long.chapters.json"}) == []


def _wait_for(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig,out,stage", [(signal.SIGINT, "long.flac", "render"), (signal.SIGTERM, "long.mp3", "encode")])
def test_a_killed_export_leaves_no_part_file(banks, tmp_path, sig, out, stage) -> None:  # noqa: F811
    _, _, graph = banks[48_000]
    (tmp_path / out).write_bytes(b"the old file")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "soundtrack", "fill", str(graph), "--duration", "1800", "--out", out,
                          "--state", "bed", "--max-stretch", "0"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        def scratch() -> list[Path]:
            return [q for q in tmp_path.iterdir() if q.name.endswith(".part")]

        def started() -> bool:
            if stage == "render":  # the float master is being written in the scratch folder
                return any((d / "master.wav").is_file() and (d / "master.wav").stat().st_size > 10_000_000
                           for d in scratch() if d.is_dir())
            return any(f.is_file() and f.stat().st_size > 100_000 for f in scratch())  # ffmpeg is writing

        assert _wait_for(started, 240), p.stderr.read1().decode() if p.poll() is not None else "not started"
        p.send_signal(sig)
        rc = p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert rc == (130 if sig == signal.SIGINT else 128 + sig)
    assert _leftovers(tmp_path, {out}) == []  # no .part file, no scratch folder
    assert (tmp_path / out).read_bytes() == b"the old file"
    assert not any(f"{tmp_path}" in line and "ffmpeg" in line
                   for line in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines())


def _fresh_graph(tmp_path: Path) -> Path:
    """A copy of the small graph with no bank anywhere: building one would take seconds and leave loops/."""
    g = tmp_path / "g" / "small.toml"
    g.parent.mkdir()
    g.write_text(SMALL.format(sr=48_000))
    return g


def test_a_duration_of_1e9_is_refused_at_once(tmp_path) -> None:
    g = _fresh_graph(tmp_path)
    t = time.monotonic()
    r = _cli("fill", str(g), "--duration", "1e9", "--out", "x.wav", cwd=tmp_path, timeout=60)
    assert r.returncode == 2 and time.monotonic() - t < 15
    assert r.stderr.strip().splitlines() == ["soundtrack fill: error: --duration='1e9' is too long: the maximum is 86400 s (24 h)"]
    assert not (g.parent / "loops").exists() and not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize("args,message", [
    (["--duck-db", "-3"], "duck depth_db=-3.0 must be a number between 0 and 60"),
    (["--bed", "6,18"], "--bed speech=6 LU must be at least pause=18 LU"),
    (["--bed", "loud"], "--bed 'loud': 'loud' is not a number of LU"),
    (["--voice-lufs", "3"], "--voice-lufs 3.0 must be between -40 and -5 LUFS"),
    (["--loudness", "3"], "target_lufs=3.0 must be between -40 and -5 LUFS"),
    (["--sample-rate", "12345"], "sample_rate=12345 must be one of"),
    (["--bitrate", "5k"], "bitrate='5k' must be between 32k and 320k"),
    (["--artwork", "nope.jpg"], "--artwork nope.jpg: no such file"),
    (["--music", "middle=3"], "--music 'middle=3' must be all, intro=SECONDS"),
    (["--sting", "gong"], "--sting 'gong' is not a stinger of graph 'smallcast'; stingers are chime"),
    (["--mix", "m.xyz"], "--mix m.xyz: unsupported format '.xyz'"),
    (["--mix", "m.mp3"], "--mix needs --voice"),
    (["--voice", "missing.wav"], "--voice missing.wav: no such file"),
    (["--voice", "junk.mp3"], "--voice junk.mp3: cannot read audio: "),
    (["--duration", "25:00:00"], "--duration='25:00:00' is too long: the maximum is 86400 s (24 h)"),
])
def test_every_score_option_is_refused_in_one_line_before_any_work(tmp_path, args, message) -> None:
    g = _fresh_graph(tmp_path)
    (tmp_path / "ch.txt").write_text("0\t0\tHello\n10\t10\tBreak\n")
    (tmp_path / "junk.mp3").write_text("this is not audio\n" * 100)
    base = ["score", str(g), "--chapters", "ch.txt", "--out", "music.wav"]
    if "--voice" not in args and "--duration" not in args:
        base += ["--duration", "30"]
    r = _cli(*base, *args, cwd=tmp_path, timeout=60)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and message in lines[0], r.stderr
    assert lines[0].startswith("soundtrack score: error: ")
    # refused before anything: no bank built, nothing written
    assert not (g.parent / "loops").exists()
    assert _leftovers(tmp_path, {"g", "ch.txt", "junk.mp3"}) == []


def test_fill_refuses_an_unknown_state_before_building_the_bank(tmp_path) -> None:
    g = _fresh_graph(tmp_path)
    r = _cli("fill", str(g), "--duration", "10", "--out", "x.wav", "--state", "nope", cwd=tmp_path, timeout=60)
    assert r.returncode == 2 and "--state 'nope' is not in graph 'smallcast'; states are bed, break" in r.stderr
    assert not (g.parent / "loops").exists()
