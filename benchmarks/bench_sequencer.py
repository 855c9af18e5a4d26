"""Sequencer speed: rendering (x real time, 48 kHz stereo, 1024-frame blocks, two voices
crossfading, four layers with one ramping) against stitching the same session with pydub, and
the time `post()` takes to plan a transition.

Stems come from the procedural generator (two 2-bar states at 48 kHz, four layers each).
"""

from __future__ import annotations

import time

import numpy as np

from soundtrack.graph import parse_graph
from soundtrack.sequencer import Sequencer
from soundtrack.stem import StemSet, StemSpec

SR = 48_000
BLOCK = 1024
SECONDS = 20

GRAPH = f"""
[soundtrack]
name = "bench"
start = "a"
sample_rate = {SR}
[states.a]
prompt = "dark ambient exploration, harp, strings"
tempo = 60
main = 2
[states.b]
prompt = "epic orchestral combat, taiko, brass"
tempo = 60
main = 2
[[transitions]]
from = "a"
to = "b"
on = "go"
sync = "beat"
fade = "5 bars"
[[transitions]]
from = "b"
to = "a"
on = "back"
sync = "beat"
fade = "5 bars"
[params.intensity]
default = 0.5
layers = {{ drums = [0.3, 0.5], melody = [0.6, 0.8] }}
ramp = "4 bars"
"""


def _stems(graph):
    from soundtrack.generate import get_generator

    gen = get_generator("procedural")
    stems = StemSet()
    for name, s in graph.states.items():
        stems.add(name, "main", gen.generate(StemSpec(prompt=s.prompt, role="main", bars=2, tempo=s.tempo,
                                                      sample_rate=SR, seed=3)))
    return stems


def _session(graph, stems):
    seq = Sequencer(graph, stems, seed=1)
    seq.start()
    seq.render(SR)
    seq.post("go")  # next beat; a 5-bar (20 s) crossfade: both voices play throughout
    seq.render(SR // 2)
    seq.set_param("intensity", 0.75)  # melody ramps over 4 bars while drums stay up
    seq.render(SR // 2)
    return seq


def _bare_mix(stems, n: int, rings: bool = False) -> float:
    """x real time (CPU) of mixing the same session's clips with numpy alone. `rings`: also
    each voice's ring (the tail of its previous cycle, which sounds over the next cycle's head
    for as long as the session plays it), under the same gains."""
    a = stems.stem("a", "main")
    b = stems.stem("b", "main")
    a_mix = a.mix[: a.grid.exit]
    b_layers = [v[: b.grid.exit] for v in b.layers.values()]
    a_ring = a.mix[a.grid.exit :]
    b_ring = [v[b.grid.exit :] for v in b.layers.values()]
    a_loop, b_loop = a.grid.exit - a.grid.entry, b.grid.exit - b.grid.entry
    total = n * BLOCK
    fade = np.linspace(0.0, 1.0, total, dtype=np.float32)
    ga, gb = np.cos(fade * np.pi / 2)[:, None].astype(np.float32), np.sin(fade * np.pi / 2)[:, None].astype(np.float32)
    gm = np.linspace(0.3, 1.0, total, dtype=np.float32)[:, None]
    out = np.empty((BLOCK, 2), np.float32)
    acc = np.empty((BLOCK, 2), np.float32)
    tmp = np.empty((BLOCK, 2), np.float32)

    def incoming(layers: list, k: int, s: int, e: int) -> None:
        """Voice b's four layers at frame k, the melody ramping, under b's fade, into out."""
        np.add(layers[0][k : k + BLOCK], layers[1][k : k + BLOCK], out=acc)
        np.add(acc, layers[2][k : k + BLOCK], out=acc)
        np.multiply(layers[3][k : k + BLOCK], gm[s:e], out=tmp)
        np.add(acc, tmp, out=acc)
        np.multiply(acc, gb[s:e], out=acc)
        np.add(out, acc, out=out)

    best = float("inf")
    for _ in range(5):
        c0 = time.process_time()
        for i in range(n):
            s, e = i * BLOCK, (i + 1) * BLOCK
            ia, ib = s % (a_mix.shape[0] - BLOCK), s % (b_layers[0].shape[0] - BLOCK)
            np.multiply(a_mix[ia : ia + BLOCK], ga[s:e], out=out)
            incoming(b_layers, ib, s, e)
            if rings:
                ra, rb = s % a_loop, s % b_loop
                if ra + BLOCK <= a_ring.shape[0]:
                    np.multiply(a_ring[ra : ra + BLOCK], ga[s:e], out=tmp)
                    out += tmp
                if rb + BLOCK <= b_ring[0].shape[0]:
                    incoming(b_ring, rb, s, e)
        best = min(best, time.process_time() - c0)
    return n * BLOCK / SR / best


def run() -> list[dict]:
    graph = parse_graph(GRAPH, path="bench.toml")
    stems = _stems(graph)
    # ours: render SECONDS in 1024-frame blocks, mid-crossfade, melody ramping
    # Best of 5, in CPU time (this process only: other jobs share the cores) and wall time.
    best_cpu = best_wall = float("inf")
    n = SECONDS * SR // BLOCK
    buf = np.empty((BLOCK, 2), np.float32)  # the caller's buffer, reused (render(out=...))
    for _ in range(5):
        seq = _session(graph, stems)
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            seq.render(BLOCK, out=buf)
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - t0)
    voices = len({id(c.owner) for c in seq.player.clips if c.out0 < seq.player.mixed})  # tracks sounding
    ours = n * BLOCK / SR / best_cpu
    ours_wall = n * BLOCK / SR / best_wall

    # peer 2: a bare numpy mix of the same clips in the same blocks: two voices under
    # per-sample crossfade gains, four layers of the incoming one with one ramping, no limiter,
    # no scheduling, preallocated buffers (the floor any Python mixer of these clips pays)
    bare = _bare_mix(stems, n)
    bare_rings = _bare_mix(stems, n, rings=True)
    seq = _session(graph, stems)
    clips = 0
    for _ in range(n):  # how many clips the session mixes per block (voices and their rings)
        seq.render(BLOCK, out=buf)
        clips += sum(1 for c in seq.player.clips if c.out0 < seq.player.mixed)  # sounding (not a cycle's rest yet to come)
    clips_per_block = clips / n

    # peer: the same session stitched with pydub (loop both mains, crossfade, overlay a layer)
    from pydub import AudioSegment

    def seg(a: np.ndarray) -> AudioSegment:
        pcm = (np.clip(a, -1, 1) * 32767).astype("<i2")
        return AudioSegment(pcm.tobytes(), frame_rate=SR, sample_width=2, channels=2)

    a_mix = stems.stem("a", "main").mix[: stems.stem("a", "main").grid.exit]
    b_stem = stems.stem("b", "main")
    b_layers = {k: v[: b_stem.grid.exit] for k, v in b_stem.layers.items()}
    total_ms = SECONDS * 1000 + 2000
    c0 = time.process_time()
    a_seg, b_seg = seg(a_mix), seg(sum(v for k, v in b_layers.items() if k != "melody"))
    mel = seg(b_layers["melody"])
    a_long = a_seg * (total_ms // len(a_seg) + 2)
    b_long = (b_seg * (total_ms // len(b_seg) + 2)).overlay(mel * (total_ms // len(mel) + 2))
    out = a_long[: 1000 + SECONDS * 1000].append(b_long, crossfade=SECONDS * 1000)
    peer_secs = time.process_time() - c0
    peer = (len(out) / 1000) / peer_secs

    # post(): plan a transition (each post replaces the previous pending one)
    seq = Sequencer(graph, stems, seed=1)
    seq.start()
    seq.render(SR)
    # the median of single calls: a mean over a batch swung 40-170 us with where the garbage
    # collector's passes fell, whichever tree ran
    times = []
    for i in range(300):
        t0 = time.perf_counter()
        seq.post("go")
        times.append(time.perf_counter() - t0)
    post_us = float(np.median(times)) * 1e6
    return [
        {"name": "sequencer render speed beside a bare numpy mix (CPU time)", "value": ours, "unit": "x real time",
         "peer": "bare numpy mix of the same clips", "peer_value": bare, "ratio": ours / bare,
         "note": "aim >= 2000x real time and >= 0.5x the bare mix; the bare mix: per-sample crossfade of two voices, "
                 "4 layers (1 ramping), preallocated buffers, no scheduling, markers or limiter, and without the "
                 f"rings of finished cycles the session also plays ({clips_per_block:.2f} clips per block)"},
        {"name": "sequencer render speed beside a bare numpy mix with the rings (CPU time)", "value": ours,
         "unit": "x real time", "peer": "bare numpy mix of the same clips and rings", "peer_value": bare_rings,
         "ratio": ours / bare_rings,
         "note": "the same bare mix, plus each voice's ring (its previous cycle's tail under the next head, 4.0 s "
                 "and 2.8 s of each 8 s loop here) under the same gains: the clips the session mixes"},
        {"name": "sequencer render speed (CPU time)", "value": ours, "unit": "x real time", "peer": "pydub stitching",
         "peer_value": peer, "ratio": ours / peer,
         "note": f"48 kHz stereo, {BLOCK}-frame blocks, {voices} voices crossfading, 4 layers (1 ramping), "
                 f"safety limiter on; best of 5 in process CPU time; "
                 f"pydub: loop + append(crossfade) + overlay of the same session, CPU time"},
        {"name": "sequencer render speed (wall time)", "value": ours_wall, "unit": "x real time", "peer": None,
         "peer_value": None, "ratio": None,
         "note": "the same renders timed on the wall clock (other processes share the cores)"},
        {"name": "post() plans a transition", "value": post_us, "unit": "µs", "peer": None, "peer_value": None,
         "ratio": None, "note": "resolve + schedule, replacing the pending plan each time; median of 300 calls"},
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
