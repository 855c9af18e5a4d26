"""Podcast benchmarks: fill speed (30 s, 5 min, 60 min) against a naive pydub stitch of the same
segments, scoring a one-hour episode with 12 chapters and a voice track, and loudness + export;
then the whole commands as a user runs them, each in its own process, with its peak memory (the
maximum resident set size the kernel reports for it): a 60 min fill to FLAC, a 60 min episode of
music only to FLAC, and a 60 min episode with 12 chapters and a voice track to MP3.

Uses graphs/podcast.toml's bank (loops/podcast, built first if missing). Speeds are x real time
(seconds of audio per second of wall time).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GRAPH = ROOT / "graphs" / "podcast.toml"


def _row(name: str, value: float, unit: str, peer: str | None = None, peer_value: float | None = None,
         note: str = "") -> dict:
    ratio = value / peer_value if peer_value else None
    return {"name": name, "value": value, "unit": unit, "peer": peer, "peer_value": peer_value, "ratio": ratio,
            "note": note}


def _pydub_stitch(source, state: str, seconds: float, sr: int) -> int:
    """The naive peer: pydub concatenating intro + main loops + outro, then cut to length (it
    neither lands a cadence on the end nor keeps the grid)."""
    from pydub import AudioSegment

    def seg(role: str, v: int = 0) -> AudioSegment:
        s = source.stem(state, role, v)
        body = s.mix[: s.grid.exit] if role != "outro" else s.mix
        pcm = (np.clip(body, -1, 1) * 32767).astype("<i2")
        return AudioSegment(pcm.tobytes(), frame_rate=sr, sample_width=2, channels=s.channels)

    intro, main, outro = seg("intro"), seg("main"), seg("outro")
    out = intro
    while len(out) + len(outro) < seconds * 1000:
        out = out + main
    out = (out + outro)[: int(seconds * 1000)]
    return int(out.frame_count())


def run() -> list[dict]:
    from soundtrack.podcast import Chapter, duck, export, fill, mix_voice, open_stems, score_episode

    graph, source = open_stems(GRAPH)
    sr = graph.sample_rate
    rows = []
    for seconds, label in ((30.0, "30 s"), (300.0, "5 min"), (3600.0, "60 min")):
        t = time.perf_counter()
        r = fill(graph, seconds, source=source, state="bed", sink=(lambda b: None) if seconds > 600 else None)
        ours = time.perf_counter() - t
        t = time.perf_counter()
        _pydub_stitch(source, "bed", seconds, sr)
        peer = time.perf_counter() - t
        s = r.plan.sections[0]
        rows.append(_row(f"fill {label} (x real time)", seconds / ours, "x", "pydub naive stitch", seconds / peer,
                         f"exact {r.plan.frames} frames, form {s.form}, stretch {float(s.ratio - 1) * 100:+.3f} %; "
                         "pydub lands to the ms, cuts the outro"))
    # a one-hour episode, 12 chapters, a voice track (speech-like bursts: 4 s on, 1.5 s off)
    dur = 3600.0
    starts = [0.0] + sorted(float(x) for x in np.linspace(240, 3300, 11) + np.arange(11) * 7.3)
    chapters = [Chapter(t, f"Chapter {i + 1}") for i, t in enumerate(starts)]
    n = int(dur * sr)
    rng = np.random.default_rng(1)
    tt = np.arange(n) / sr
    voice = (0.1 * rng.standard_normal(n) * ((tt % 5.5) < 4.0)).astype(np.float32)[:, None]
    t = time.perf_counter()
    ep = score_episode(graph, chapters, duration=dur, source=source)
    t_score = time.perf_counter() - t
    t = time.perf_counter()
    music = duck(ep.audio, voice, sr)
    t_duck = time.perf_counter() - t
    t = time.perf_counter()
    mix = mix_voice(music, voice)
    t_mix = time.perf_counter() - t
    # what `soundtrack score --voice` does before export: music per chapter, ducked, voice mixed in
    rows.append(_row("score 1 h episode, 12 chapters, voice track (x real time)", dur / (t_score + t_duck + t_mix), "x",
                     note=f"score {dur / t_score:.0f}x + duck {dur / t_duck:.0f}x + mix; "
                          f"{len(ep.plan.sections)} sections, each stretched once with Rubber Band R3 (max "
                          f"{ep.plan.max_ratio_error * 100:.2f} %); voice: noise bursts 4 s on, 1.5 s off"))
    rows.append(_row("score 1 h episode, 12 chapters, music only (x real time)", dur / t_score, "x",
                     note="chapter transitions on exact frames"))
    rows.append(_row("duck 1 h under a voice (x real time)", dur / t_duck, "x", note="10 dB, 0.4/0.6 s, per-sample gain"))
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in (".wav", ".mp3", ".m4a"):
            clip = mix[: 600 * sr]
            t = time.perf_counter()
            export(clip, sr, Path(tmp) / f"ep{suffix}", chapters=chapters[:3])
            rows.append(_row(f"loudness -16 LUFS + export {suffix}, 10 min (x real time)", 600 / (time.perf_counter() - t),
                             "x", note="BS.1770 measure, true-peak limit, encode (ffmpeg for mp3/m4a)"))
    rows += whole_commands(graph, source)
    return rows


_PEAK = """
import atexit, runpy, sys
def _peak():
    with open("/proc/self/status") as f:
        hwm = next(line.split()[1] for line in f if line.startswith("VmHWM:"))
    sys.stderr.write(f"\\nVmHWM {hwm}\\n")
atexit.register(_peak)
sys.argv = ["soundtrack", *sys.argv[1:]]
runpy.run_module("soundtrack", run_name="__main__")
"""


def _run_measured(args: list[str], cwd: Path) -> tuple[float, float, str]:
    """Run `soundtrack ARGS` and read its own peak RSS: VmHWM of its address space, written as
    it exits. Not wait4's ru_maxrss, which Linux carries over from the parent at fork and exec
    (a child of a 12 GB benchmark process reports 12 GB whatever it uses)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", _PEAK, *args], cwd=cwd, env=env, capture_output=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"soundtrack {' '.join(args)} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    hwm = [line for line in p.stderr.decode().splitlines() if line.startswith("VmHWM ")]
    return wall, int(hwm[-1].split()[1]) / 1024, p.stdout.decode()


def _voice_file(path: Path, seconds: float, sr: int) -> None:
    """An hour of speech-like voice: noise shaped into syllables (4 s of talk, 1.5 s pauses), 16-bit FLAC."""
    import soundfile as sf

    rng = np.random.default_rng(7)
    block = 60 * sr
    with sf.SoundFile(str(path), "w", sr, 1, subtype="PCM_16", format="FLAC") as f:
        for s in range(0, int(seconds * sr), block):
            n = min(block, int(seconds * sr) - s)
            t = (np.arange(s, s + n) / sr)
            env = ((t % 5.5) < 4.0) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2)
            f.write((0.08 * rng.standard_normal(n) * env).astype(np.float32))


def whole_commands(graph, source) -> list[dict]:
    """The commands a podcaster runs, timed end to end with their peak memory."""
    dur = 3600.0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        wall, rss, _ = _run_measured(["fill", str(GRAPH), "--duration", "3600", "--state", "bed", "--out", "fill.flac"], d)
        rows.append(_row("fill 60 min -> .flac, whole command (x real time)", dur / wall, "x",
                         note=f"peak memory {rss:.0f} MB; render in blocks into a float scratch file, then limit, encode "
                              "and decode-measure in blocks"))
        rows.append(_row("fill 60 min -> .flac, whole command: peak memory", rss, "MB",
                         note="peak resident set size of the command's own process (VmHWM), ffmpeg and Rubber Band children not included"))
        starts = [0.0] + sorted(float(x) for x in np.linspace(240, 3300, 11) + np.arange(11) * 7.3)
        (d / "ch.json").write_text(__import__("json").dumps(
            {"version": "1.2.0", "chapters": [{"startTime": t, "title": f"Chapter {i + 1}"} for i, t in enumerate(starts)]}))
        wall, rss, _ = _run_measured(["score", str(GRAPH), "--chapters", "ch.json", "--duration", "3600",
                                      "--out", "music.flac"], d)
        rows.append(_row("score 60 min episode, 12 chapters, music only -> .flac, whole command (x real time)", dur / wall,
                         "x", note=f"peak memory {rss:.0f} MB"))
        rows.append(_row("score 60 min episode, 12 chapters, music only: peak memory", rss, "MB",
                         note="peak resident set size of the command's own process (VmHWM)"))
        _voice_file(d / "voice.flac", dur, graph.sample_rate)
        wall, rss, out = _run_measured(["score", str(GRAPH), "--chapters", "ch.json", "--voice", "voice.flac",
                                        "--mix", "episode.mp3"], d)
        lufs = out.split(" LUFS")[0].rsplit(", ", 1)[-1] if " LUFS" in out else "?"
        rows.append(_row("score 60 min episode, 12 chapters, voice track -> .mp3, whole command (x real time)", dur / wall,
                         "x", note=f"peak memory {rss:.0f} MB; decode voice, render, set the bed under the voice, master "
                                   f"to -16 LUFS, encode MP3, decode and measure ({lufs} LUFS on the decoded file)"))
        rows.append(_row("score 60 min episode, 12 chapters, voice track -> .mp3: peak memory", rss, "MB",
                         note="peak resident set size of the command's own process (VmHWM)"))
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
