"""Generation speed of the procedural generator: x real time per style for an 8-bar, 4-layer main.

`run()` returns one row per style: seconds of music (entry to exit) per second of wall time,
single process (the FFTs run on one worker; tinysoundfont is single-threaded), best of 3 after a
warm-up that loads the SoundFont and fills the reverb caches. The goal is >= 20x real time;
`ratio` is the speed over that goal.
"""

from __future__ import annotations

import time

GOAL_X_REALTIME = 20.0


def run() -> list[dict]:
    from soundtrack.generate.procedural import ProceduralGenerator
    from soundtrack.generate.procedural.styles import STYLES
    from soundtrack.stem import StemSpec

    gen = ProceduralGenerator()
    rows = []
    for style in STYLES:
        spec = StemSpec(f"{style} music", role="main", bars=8, layers=("drums", "bass", "harmony", "melody"), seed=1)
        stem = gen.generate(spec)  # warm-up
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            stem = gen.generate(spec)
            best = min(best, time.perf_counter() - t0)
        music_s = stem.grid.body_frames / stem.sample_rate
        x = music_s / best
        rows.append({
            "name": f"generate main 8 bars x real time: {style}",
            "value": round(x, 1),
            "unit": "x real time",
            "peer": None,
            "peer_value": None,
            "ratio": round(x / GOAL_X_REALTIME, 2),
            "note": (f"{music_s:.1f} s of music ({float(stem.grid.bpm):g} bpm, {len(stem.layers)} layers: "
                     f"{', '.join(stem.layers)}) in {best * 1000:.0f} ms; ratio = speed / {GOAL_X_REALTIME:g}x goal"),
        })
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']}: {row['value']} {row['unit']} (ratio to goal {row['ratio']}) - {row['note']}")
