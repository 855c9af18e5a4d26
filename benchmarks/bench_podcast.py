"""Podcast benchmarks: fill speed (30 s, 5 min, 60 min) against a naive pydub stitch of the same
segments, scoring a one-hour episode with 12 chapters and a voice track, and loudness + export.

Uses graphs/podcast.toml's bank (loops/podcast, built first if missing). Speeds are x real time
(seconds of audio per second of wall time).
"""

from __future__ import annotations

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
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
