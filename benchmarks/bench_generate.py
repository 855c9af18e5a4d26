"""Generation speed of the procedural generator: x real time per style for an 8-bar, 4-layer main.

`run()` returns one row per style: seconds of music (entry to exit) per second of CPU time of
this process (`time.process_time`, so other processes sharing the cores do not count), best of
3 after a warm-up that loads the SoundFont and fills the reverb caches. Wall time is measured in
the same runs and reported in the note. Single process (the FFTs run on one worker;
tinysoundfont is single-threaded). The goal is >= 20x real time on one core; `ratio` is the
speed over that goal.
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
        best_cpu = best_wall = float("inf")
        for _ in range(3):
            c0, w0 = time.process_time(), time.perf_counter()
            stem = gen.generate(spec)
            best_cpu = min(best_cpu, time.process_time() - c0)
            best_wall = min(best_wall, time.perf_counter() - w0)
        music_s = stem.grid.body_frames / stem.sample_rate
        x = music_s / best_cpu
        x_wall = music_s / best_wall
        rows.append({
            "name": f"generate main 8 bars x real time (CPU): {style}",
            "value": round(x, 1),
            "unit": "x real time",
            "peer": None,
            "peer_value": None,
            "ratio": round(x / GOAL_X_REALTIME, 2),
            "note": (f"{music_s:.1f} s of music ({float(stem.grid.bpm):g} bpm, {len(stem.layers)} layers: "
                     f"{', '.join(stem.layers)}) in {best_cpu * 1000:.0f} ms CPU, {best_wall * 1000:.0f} ms wall "
                     f"({x_wall:.1f}x real time by wall clock); ratio = CPU speed / {GOAL_X_REALTIME:g}x goal"),
        })
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']}: {row['value']} {row['unit']} (ratio to goal {row['ratio']}) - {row['note']}")
