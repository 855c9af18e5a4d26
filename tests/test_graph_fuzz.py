"""A seeded fuzz of the graph loader (issue 16): mutants of graphs/*.toml are either refused by
`soundtrack graph check` with exit code 2 and one line that names the file (and the table and key,
unless the TOML itself does not parse), or accepted, and then a few seconds of them play with the
real sequencer on synthetic stems and come out finite and within full scale.

Bounded to ~20 s on a loaded 2-core machine: stems are made lazily (only what the sequencer asks
for) and cached across mutants, at 8 kHz. A mutant whose played stem would be longer than
`MAX_STEM_FRAMES` (256 bars at 20 bpm is legal and 51 minutes long) is counted, not rendered.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import tomllib
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from seqstems import PICKUP, TAIL, tone_stem

from soundtrack.cli import main
from soundtrack.errors import SoundtrackError
from soundtrack.graph import Graph, load_graph
from soundtrack.sequencer import Sequencer
from soundtrack.stem import Stem
from soundtrack.timing import Meter

ROOT = Path(__file__).resolve().parent.parent
SEEDS = [p for p in sorted((ROOT / "graphs").glob("*.toml")) if "soundtrack" in tomllib.loads(p.read_text())]
SEED = 16
MUTANTS = 1000
SR = 8000
RENDER_FRAMES = 3 * SR
MAX_STEM_FRAMES = 150 * SR

VALUES = [
    "nan", "inf", "-inf", "1e308", "-1e308", "1e300", "1e-300", "0", "-1", "1", "2", "3", "8", "16", "17", "64", "65",
    "256", "257", "2147483648", "9" * 5000, "0.5", "-0.5", "12", "13", "-60", "-61", "true", "false", "[]", "{}",
    '""', '"x\\n"', '"a b"', '"é"', '"' + "x" * 300 + '"', '"2 bars"', '"64 bars"', '"65 bars"', '"1000 bars"',
    '"0.5s"', '"60s"', '"61s"', '"250ms"', '"3 beats"', '"' + "9" * 5000 + ' bars"', '"cue:nope"', '"cue:midpoint"',
    '"bar 99"', '"bar 1"', '"3:9"', '"2:2"', '"beat"', '"bar"', '"phrase"', '"end"', '"immediate"', '"linear"',
    '"s-curve"', '"*"', '"explore"', '"combat"', '"boss"', '"bed"', '"theme"', '"D minor"', '"H major"', '"7/8"',
    '"3/4"', '"3/5"', '"96 bpm"', "20", "300", "19", "301", "0.25", "[0.2, 0.4]", "[0.9, 0.1]", "[0.2, nan]",
    '["drums"]', '["drums", "drums"]', '["bass", "melody"]', "[120, 60]", '{ half = "bar 2" }', '{ a = "9:1" }',
    "[" * 3000 + "]" * 3000, "{a = " * 200 + "1" + "}" * 200, '"alarm"', '"nope"', '"enemy_spotted"', '"talk"',
]
KEYS = ["name", "tempo", "meter", "key", "seed", "start", "sample_rate", "loudness", "generator", "layers", "prompt",
        "intro", "main", "variants", "outro", "terminal", "cues", "files", "tempi", "beats", "sync", "min_interval",
        "gain_db", "bars", "from", "to", "on", "phrase", "fade", "curve", "bridge", "default", "min", "max",
        "quantize", "ramp", "model", "intorr"]
HEADERS = ["[soundtrack]", "[states.extra]", "[stingers.boom]", "[bridges.b2]", "[[transitions]]", "[params.p2]",
           "[generator]", "[nope]", '[states."bad\\n"]', "[states.explore]", "[[events]]"]
CHARS = ['"', "[", "]", "=", "\n", "\x00", "é", "{", "#", "\\", "'", "0"]
_ASSIGN = re.compile(r"^(\s*)([A-Za-z_][\w-]*|\"[^\"]*\")(\s*=\s*)(.*)$")
_WHERE = re.compile(r"\[(soundtrack|generator|states|stingers|bridges|params)[.\]]|transitions(\[\d+\])?|"
                    r"\[[^\]]*\] is not a known table")


_OPS = ("value",) * 12 + ("key", "drop", "drop", "dup", "header", "insert", "insert", "cut", "char")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_STRING = re.compile(r'"[^"\n]*"')


def _near(value: str, strings: list[str], rng: random.Random) -> str:
    """A plausible neighbour of TOML value `value`: a scaled or shifted number, another string of the
    same file (a state's name where an event was, a fade where a sync was, ...)."""
    if _NUMBER.fullmatch(value.strip()):
        x = float(value)
        y = rng.choice((0, x * 2, x * 10, x + 1, x - 1, -x, x / 2, x * 1000))
        return repr(int(y)) if "." not in value and y == int(y) else repr(y)
    if value.startswith('"') and strings:
        return rng.choice(strings)
    return value


def mutate(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    strings = sorted(set(_STRING.findall(text)))
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        op = rng.choice(_OPS)
        i = rng.randrange(len(lines))
        assigns = [j for j, line in enumerate(lines) if _ASSIGN.match(line)]
        if op == "value" and assigns:
            j = rng.choice(assigns)
            m = _ASSIGN.match(lines[j])
            assert m
            value = rng.choice(VALUES) if rng.random() < 0.4 else _near(m.group(4), strings, rng)
            lines[j] = m.group(1) + m.group(2) + m.group(3) + value
        elif op == "key" and assigns:
            j = rng.choice(assigns)
            m = _ASSIGN.match(lines[j])
            assert m
            lines[j] = m.group(1) + rng.choice(KEYS) + m.group(3) + m.group(4)
        elif op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "header":
            lines.insert(i, rng.choice(HEADERS))
        elif op == "insert":
            lines.insert(i, f"{rng.choice(KEYS)} = {rng.choice(VALUES)}")
        elif op == "cut":
            return "\n".join(lines)[: rng.randrange(len(text))]
        elif op == "char":
            flat = "\n".join(lines)
            k = rng.randrange(len(flat))
            lines = (flat[:k] + rng.choice(CHARS) + flat[k:]).split("\n")
        if not lines:
            lines = [""]
    return "\n".join(lines)


class TooLong(SoundtrackError):
    """A stem the fuzz would not make: longer than MAX_STEM_FRAMES (legal, only slow to synthesise)."""


@lru_cache(maxsize=48)  # a few MB each
def _stem(role: str, bpm: Fraction, bars: int, beats: int | None, meter: Meter, layers: tuple[str, ...],
          freq: float) -> Stem:
    nbeats = beats if beats is not None else bars * meter.beats
    if nbeats * 60 * SR / bpm > MAX_STEM_FRAMES:
        raise TooLong(f"{role} of {nbeats} beats at {bpm} bpm")
    return tone_stem(role, bpm=bpm, bars=bars, beats=beats, pickup=PICKUP.get(role, 0), tail=TAIL[role], freq=freq,
                     meter=meter, sr=SR, layers=layers)


class LazyStems:
    """A StemSource that makes (and caches) each synthetic stem the first time it is asked for."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.tempo = graph.tempo or Fraction(120)  # a graph may leave tempo to the generator

    def stem(self, name: str, role: str, variant: int = 0, *, tempo: Fraction | None = None) -> Stem:
        g = self.graph
        if role == "stinger":
            st = g.stingers[name]
            return _stem(role, st.tempo or self.tempo, 1, st.beats, Meter(4, 4), st.layers, 880.0)
        if role == "bridge":
            b = g.bridges[name]
            return _stem(role, b.tempo or self.tempo, b.bars, None, b.meter or g.meter or Meter(4, 4), b.layers, 330.0)
        s = g.states[name]
        bpm = tempo if tempo is not None else (s.tempo or self.tempo)
        bars = {"intro": s.intro, "main": s.main, "outro": s.outro}[role]
        freq = 200.0 * (1.25 ** list(g.states).index(name)) * (1 + 0.1 * variant if role == "main" else 0.75)
        return _stem(role, Fraction(bpm), bars, None, s.meter or g.meter or Meter(4, 4), s.layers, freq)


def play(graph: Graph, rng: random.Random) -> np.ndarray:
    seq = Sequencer(graph, LazyStems(graph), sample_rate=SR, seed=rng.randrange(1000))
    seq.start()
    events = sorted(graph.events()) + sorted(graph.stingers)
    out, done = [], 0
    while done < RENDER_FRAMES:
        if events and rng.random() < 0.25:
            seq.post(rng.choice(events))
        if graph.params and rng.random() < 0.15:
            p = graph.params[rng.choice(sorted(graph.params))]
            seq.set_param(p.name, rng.uniform(p.minimum, p.maximum))
        n = min(rng.choice((64, 512, 1000, 4096)), RENDER_FRAMES - done)
        out.append(seq.render(n))
        done += n
    return np.concatenate(out)


def check_refusal(path: Path, err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, f"{path.name}: {len(lines)} lines on stderr:\n{err[:2000]}"
    line = lines[0]
    prefix = f"soundtrack graph: error: {path}: "
    assert line.startswith(prefix) and "Traceback" not in line, line[:500]
    msg = line[len(prefix):]
    assert 0 < len(msg) <= 500, msg[:600]
    if not msg.startswith(("is not valid TOML", "is nested too deeply")):
        assert _WHERE.search(msg), f"names no table or key: {msg}"
    return msg


@pytest.mark.slow
def test_mutated_graphs_are_refused_in_one_line_or_play_finite_audio(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(SEED)
    texts = [p.read_text() for p in SEEDS]
    refused, played, too_long = [], 0, 0
    for i in range(MUTANTS):
        path = tmp_path / f"m{i:03d}.toml"
        path.write_text(mutate(rng.choice(texts), rng), encoding="utf-8", errors="surrogatepass")
        rc = main(["graph", "check", str(path)])
        out, err = capsys.readouterr()
        if rc == 2:
            refused.append(check_refusal(path, err))
            continue
        assert rc == 0 and err == "" and ": OK: " in out, (rc, out, err)
        graph = load_graph(path)
        try:
            audio = play(graph, rng)
        except TooLong:
            too_long += 1
            continue
        assert audio.shape == (RENDER_FRAMES, 2) and audio.dtype == np.float32
        assert np.isfinite(audio).all(), f"{path.name}: non-finite samples\n{path.read_text()[:3000]}"
        assert float(np.abs(audio).max()) <= 1.0, path.name
        played += 1
    print(f"graph fuzz: {len(refused)} refused, {played} played, {too_long} too long to synthesise")
    assert len(refused) >= MUTANTS // 4 and played >= MUTANTS // 8
    assert too_long <= MUTANTS // 20


def test_graph_check_exits_2_as_a_process(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SEEDS[0].read_text().replace('fade = 0.5', 'fade = 1e300', 1))
    run = subprocess.run([sys.executable, "-m", "soundtrack", "graph", "check", str(bad)], capture_output=True, text=True,
                         cwd=ROOT)
    assert run.returncode == 2 and run.stdout == ""
    assert check_refusal(bad, run.stderr).startswith("transitions[2].fade = 1e+300 must be at most 64 bars")
