"""Synthetic stems on exact grids for the sequencer tests (not a test module).

Every layer is a sine whose frequency is distinct per state and layer; pickups rise from silence
and tails decay to silence with raised-cosine envelopes. A main loop holds a whole number of
cycles and is stored as the bank stores loops, head and tail apart: its tail (cos^2) continues
the sine past the exit, and its head rises over the same frames (sin^2), so a repeat (the next
head plus this tail, as the sequencer plays it) is the steady sine exactly, and a change of
variant is a smooth crossfade. So the stems contain no jumps of their own, and the output can be
compared sample for sample with what should be playing (`steady` gives it for a main).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from soundtrack.graph import Graph, parse_graph
from soundtrack.pitch import Key
from soundtrack.stem import Stem, StemGrid, StemSet, StemSpec
from soundtrack.timing import BeatGrid, Meter

SR = 8000
LAYERS = ("drums", "bass", "harmony", "melody")


def tone_stem(role: str, *, bpm: Fraction | int, bars: int = 0, beats: int | None = None, pickup: int = 0,
              tail: int = 0, freq: float = 220.0, meter: Meter = Meter(4, 4), sr: int = SR,
              layers: tuple[str, ...] = LAYERS, amp: float = 0.08) -> Stem:
    bpm = Fraction(bpm)
    g = BeatGrid(sr, bpm, meter)
    nbeats = beats if beats is not None else bars * meter.beats
    body = g.beats_to_frames(nbeats)
    entry, exit_ = pickup, pickup + body
    frames = exit_ + tail
    t = np.arange(frames, dtype=np.float64)
    env = np.ones(frames)
    if pickup:
        env[:pickup] = np.sin(0.5 * np.pi * (np.arange(pickup) + 0.5) / pickup) ** 2
    if tail:
        env[exit_:] = np.cos(0.5 * np.pi * (np.arange(tail) + 0.5) / tail) ** 2
        if role == "main":  # the head rises as the tail of the cycle before falls
            n = min(tail, body)
            env[:n] = np.sin(0.5 * np.pi * (np.arange(n) + 0.5) / tail) ** 2
    out = {}
    for i, name in enumerate(layers):
        f = freq * (1 + 0.5 * i)
        if role == "main":
            f = max(1, round(f * body / sr)) * sr / body  # whole cycles per loop: seamless wrap
        sig = amp * np.sin(2 * np.pi * f * (t - entry) / sr) * env
        out[name] = np.stack([sig, 0.9 * sig], axis=1).astype(np.float32)
    spec = StemSpec(prompt=f"tone {freq}", role=role, bars=max(1, bars), beats=beats, tempo=bpm, meter=meter,
                    sample_rate=sr, layers=layers)
    grid = StemGrid(sr, bpm, meter, entry, exit_, frames, max(1, bars))
    return Stem.from_layers(spec, grid, out, key=Key.parse("C major"))


GRAPH_TOML = """
[soundtrack]
name = "synth"
tempo = 120
meter = "4/4"
start = "calm"
sample_rate = 8000

[states.calm]
prompt = "calm"
tempo = 120
intro = 1
main = 2
variants = 3
outro = 1
cues = { half = "bar 2", late = "2:3" }

[states.fight]
prompt = "fight"
tempo = 150
intro = 1
main = 2
variants = 2
outro = 1
tempi = [135, 165]

[states.boss]
prompt = "boss"
tempo = 100
intro = 0
main = 1
outro = 0

[states.win]
prompt = "win"
tempo = 120
main = 1
terminal = true

[stingers.hit]
prompt = "hit"
beats = 2
sync = "beat"
min_interval = 2

[stingers.fanfare]
prompt = "fanfare"
beats = 4
sync = "bar"

[bridges.riser]
prompt = "riser"
bars = 1
tempo = 120

[[transitions]]
from = "calm"
to = "fight"
on = "spotted"
sync = "bar"
fade = 1

[[transitions]]
from = "fight"
to = "calm"
on = "lost"
sync = "bar"
fade = "2 beats"
outro = true

[[transitions]]
from = "*"
to = "boss"
on = "boss"
sync = "beat"
fade = 0

[[transitions]]
from = "boss"
to = "win"
on = "victory"
sync = "end"
fade = "0.25s"

[[transitions]]
from = "calm"
to = "fight"
on = "ambush"
sync = "cue:half"
fade = 0
intro = false

[[transitions]]
from = "fight"
to = "boss"
on = "escalate"
sync = "phrase"
phrase = 2
fade = "1 bars"
bridge = "riser"
curve = "s-curve"

[params.intensity]
default = 0.5
layers = { drums = [0.3, 0.5], melody = [0.6, 0.8] }
quantize = "beat"
ramp = "1 beats"
"""

PICKUP = {"intro": 700, "outro": 300, "bridge": 500, "stinger": 200}
TAIL = {"intro": 900, "outro": 1600, "bridge": 800, "stinger": 1000, "main": 1200}


def synth_graph(text: str = GRAPH_TOML) -> Graph:
    return parse_graph(text, path="synth.toml")


def synth_stems(graph: Graph, *, sr: int = SR, tempo_variants: bool = True, base: float = 200.0, amp: float = 0.08) -> StemSet:
    """Stems for every segment of `graph`, with the pickups and tails above."""
    stems = StemSet()
    for i, (name, s) in enumerate(graph.states.items()):
        bpm = s.tempo or graph.tempo
        meter = s.meter or graph.meter or Meter(4, 4)
        for v in range(s.variants):
            f = base * (1.25 ** i) * (1 + 0.1 * v)
            stems.add(name, "main", tone_stem("main", bpm=bpm, bars=s.main, tail=TAIL["main"], freq=f, meter=meter, sr=sr,
                                               layers=s.layers, amp=amp), v)
            if tempo_variants:
                for tb in s.tempi:
                    stems.add(name, "main", tone_stem("main", bpm=tb, bars=s.main, tail=TAIL["main"], freq=f, meter=meter,
                                                      sr=sr, layers=s.layers, amp=amp), v, tempo=tb)
        for role in ("intro", "outro"):
            bars = getattr(s, role)
            if bars:
                stems.add(name, role, tone_stem(role, bpm=bpm, bars=bars, pickup=PICKUP[role], tail=TAIL[role],
                                                freq=base * (1.25 ** i) * 0.75, meter=meter, sr=sr, layers=s.layers, amp=amp))
                for tb in s.tempi if tempo_variants else ():  # the bank makes every segment's takes
                    stems.add(name, role, tone_stem(role, bpm=tb, bars=bars, pickup=PICKUP[role], tail=TAIL[role],
                                                    freq=base * (1.25 ** i) * 0.75, meter=meter, sr=sr, layers=s.layers,
                                                    amp=amp), tempo=tb)
    for name, st in graph.stingers.items():
        stems.add(name, "stinger", tone_stem("stinger", bpm=st.tempo or graph.tempo, beats=st.beats,
                                             pickup=PICKUP["stinger"], tail=TAIL["stinger"], freq=base * 4.4, sr=sr,
                                             layers=st.layers, amp=amp))
    for name, b in graph.bridges.items():
        stems.add(name, "bridge", tone_stem("bridge", bpm=b.tempo or graph.tempo, bars=b.bars, pickup=PICKUP["bridge"],
                                            tail=TAIL["bridge"], freq=base * 1.65, sr=sr, layers=b.layers, amp=amp))
    return stems
