"""Graphs are untrusted input: every parse failure is one GraphError line naming the file, every
duration and gain has a documented bound, and the mutants that used to load (and then broke a
session or put NaN into PCM) are refused. See docs/security.md, section "Graphs"."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from soundtrack.errors import GraphError
from soundtrack.graph import MAX_GRAPH_BYTES, load_graph, parse_graph, rows

BASE = """
[soundtrack]
name = "t"
tempo = 120
seed = 1
start = "a"

[states.a]
prompt = "calm"
intro = 1
main = 4
outro = 1
cues = { half = "bar 3" }

[states.b]
prompt = "fight"

[stingers.hit]
prompt = "hit"
min_interval = 2
gain_db = -3

[[transitions]]
from = "a"
to = "b"
on = "go"
fade = 1

[[transitions]]
from = "b"
to = "a"
on = "back"

[params.intensity]
default = 0.5
layers = { drums = [0.2, 0.4] }
ramp = "1 beats"
"""


def _err(text: str, path: str = "graphs/x.toml") -> str:
    with pytest.raises(GraphError) as e:
        parse_graph(text, path=path)
    msg = str(e.value)
    assert "\n" not in msg and "\r" not in msg, msg
    assert msg.startswith(f"{path}: "), msg
    return msg


def _sub(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def test_base_loads() -> None:
    g = parse_graph(BASE, path="x")
    assert g.stingers["hit"].gain_db == -3.0 and g.transitions[0].on == "go"


# -- parse failures: one line naming the file ----------------------------------------------------

def test_deep_nesting_is_one_line() -> None:
    assert "nested too deeply" in _err(BASE + "\nx = " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested too deeply" in _err(BASE + "\nx = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n")


@pytest.mark.parametrize("old,new,where", [
    ("seed = 1", "seed = " + "9" * 5000, "integer"),
    ("fade = 1", "fade = " + "9" * 5000, "integer"),
    ("fade = 1", 'fade = "' + "9" * 5000 + ' bars"', "transitions[0].fade"),
    ('ramp = "1 beats"', 'ramp = "' + "9" * 5000 + '"', "[params.intensity].ramp"),
    ("min_interval = 2", "min_interval = '" + "9" * 5000 + "s'", "[stingers.hit].min_interval"),
    ('cues = { half = "bar 3" }', 'cues = { half = "bar ' + "9" * 5000 + '" }', "[states.a].cues.half"),
    ('cues = { half = "bar 3" }', 'cues = { half = "' + "9" * 5000 + ':1" }', "[states.a].cues.half"),
    ("main = 4", "main = 1" + "0" * 4400, "integer"),
])
def test_huge_integers_are_one_line(old: str, new: str, where: str) -> None:
    msg = _err(_sub(old, new))
    assert where in msg and len(msg) < 400, msg


def test_huge_integer_value_in_range_check_is_echoed_short() -> None:
    msg = _err(_sub("seed = 1", "seed = " + "9" * 4000))
    assert "[soundtrack].seed" in msg and len(msg) < 300


def _load_in_thread(path: Path, timeout: float = 10.0) -> BaseException | object:
    box: list[BaseException | object] = []

    def run() -> None:
        try:
            box.append(load_graph(path))
        except BaseException as e:  # noqa: BLE001 - the test inspects what came out
            box.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert box, f"load_graph({path}) did not return within {timeout} s"
    return box[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "x.toml"
    os.mkfifo(fifo)
    e = _load_in_thread(fifo)
    assert isinstance(e, GraphError) and str(e) == f"{fifo}: is not a regular file", e


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_dev_zero_is_refused() -> None:
    e = _load_in_thread(Path("/dev/zero"))
    assert isinstance(e, GraphError) and str(e) == "/dev/zero: is not a regular file", e


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GraphError, match=r"is not a regular file"):
        load_graph(tmp_path)


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_text(BASE + "#" * MAX_GRAPH_BYTES + "\n")
    with pytest.raises(GraphError, match=rf"big.toml: is larger than {MAX_GRAPH_BYTES // 1024} KiB"):
        load_graph(big)
    with pytest.raises(GraphError, match=r"larger than"):
        parse_graph(BASE + "#" * MAX_GRAPH_BYTES, path="t")


def test_a_symlink_to_a_graph_loads(tmp_path: Path) -> None:
    real = tmp_path / "real.toml"
    real.write_text(BASE)
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    assert load_graph(link).name == "t"


def test_undecodable_bytes_are_one_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_bytes(b"[soundtrack]\nname = \"\xff\xfe\"\n")
    with pytest.raises(GraphError, match=r"bad.toml: cannot read graph file: .*utf-8"):
        load_graph(p)


# -- accepted-but-wrong mutants are refused ------------------------------------------------------

@pytest.mark.parametrize("old,new,expected", [
    ("gain_db = -3", "gain_db = nan", "[stingers.hit].gain_db = nan must be a finite number of dB between -60 and 12"),
    ("gain_db = -3", "gain_db = inf", "[stingers.hit].gain_db = inf must be a finite"),
    ("gain_db = -3", "gain_db = 1e308", "[stingers.hit].gain_db = 1e+308 must be a finite"),
    ("gain_db = -3", "gain_db = 12.5", "between -60 and 12"),
    ("gain_db = -3", "gain_db = -61", "between -60 and 12"),
    ("fade = 1", "fade = 1e300", "transitions[0].fade = 1e+300 must be at most 64 bars, 256 beats or 60 seconds"),
    ("fade = 1", 'fade = "65 bars"', "transitions[0].fade = '65 bars' must be at most 64 bars"),
    ("fade = 1", "fade = 257", "transitions[0].fade = 257 must be at most"),
    ("fade = 1", 'fade = "61s"', "transitions[0].fade = '61s' must be at most"),
    ("fade = 1", 'fade = "60001ms"', "must be at most"),
    ("fade = 1", "fade = nan", "transitions[0].fade = nan is invalid"),
    ("fade = 1", "fade = -1", "transitions[0].fade = -1 is invalid"),
    ('ramp = "1 beats"', 'ramp = "1000 bars"', "[params.intensity].ramp = '1000 bars' must be at most 64 bars"),
    ('ramp = "1 beats"', "ramp = inf", "[params.intensity].ramp = inf is invalid"),
    ("min_interval = 2", "min_interval = 61", "[stingers.hit].min_interval = 61 must be at most 60 seconds"),
    ("min_interval = 2", "min_interval = 1e300", "must be at most 60 seconds"),
    ('on = "go"', 'on = ""', "transitions[0].on = '' must be a name"),
    ('on = "go"', 'on = "go now"', "transitions[0].on = 'go now' must be a name"),
    ('on = "go"', 'on = "go\\n"', "transitions[0].on = 'go\\n' must be a name"),
    ("default = 0.5", "default = 0.5\nmin = -inf", "[params.intensity].min = -inf must be a finite number"),
    ("default = 0.5", "default = 0.5\nmax = inf", "[params.intensity].max = inf must be a finite number"),
    ("default = 0.5", "default = 0.5\nmax = 1e300", "[params.intensity].max = 1e+300 must be a finite number"),
    ("default = 0.5", "default = nan", "[params.intensity].default = nan must be a finite number"),
    ("[states.b]", '[states."b\\n"]', "must start with a letter or _"),
    ("[stingers.hit]", '[stingers."hit\\n"]', "must start with a letter or _"),
    ('cues = { half = "bar 3" }', 'cues = { "half\\n" = "bar 3" }', "must start with a letter or _"),
    ('intro = 1', 'intro = 1\nlayers = ["drums\\n"]', "[states.a].layers"),
    ('name = "t"', 'name = "t\\n"', "[soundtrack].name"),
    ('on = "go"', 'on = "' + "e" * 65 + '"', "at most 64 characters"),
    ('prompt = "calm"', 'prompt = "' + "p" * 5000 + '"', "[states.a].prompt"),
    ('cues = { half = "bar 3" }', 'cues = { half = "3:5" }', "[states.a].cues.half = '3:5' is beat 5 of a 4-beat bar"),
    ('intro = 1', 'intro = 1\nlayers = [' + ", ".join(f'"l{i}"' for i in range(17)) + "]", "at most 16"),
    ('intro = 1', 'intro = 1\ntempi = [' + ", ".join(str(60 + i) for i in range(17)) + "]", "at most 16"),
    ("layers = { drums = [0.2, 0.4] }", "layers = { drums = [0.2, nan] }", "[params.intensity].layers.drums"),
])
def test_wrong_values_are_refused(old: str, new: str, expected: str) -> None:
    assert expected in _err(_sub(old, new))


@pytest.mark.parametrize("old,new", [
    ("gain_db = -3", "gain_db = 12"),
    ("gain_db = -3", "gain_db = -60"),
    ("fade = 1", 'fade = "64 bars"'),
    ("fade = 1", "fade = 256"),
    ("fade = 1", 'fade = "60s"'),
    ("fade = 1", "fade = 0"),
    ('ramp = "1 beats"', 'ramp = "64 bars"'),
    ("min_interval = 2", "min_interval = 60"),
    ('on = "go"', 'on = "' + "e" * 64 + '"'),
    ('cues = { half = "bar 3" }', 'cues = { half = "3:4" }'),
])
def test_the_bounds_themselves_are_accepted(old: str, new: str) -> None:
    parse_graph(_sub(old, new), path="x")


def test_bounds_are_documented_constants() -> None:
    assert (rows.MAX_FADE_BARS, rows.MAX_FADE_BEATS, rows.MAX_FADE_SECONDS) == (64, 256, 60)
    assert (rows.MIN_GAIN_DB, rows.MAX_GAIN_DB) == (-60.0, 12.0)
    doc = (Path(__file__).resolve().parent.parent / "docs" / "security.md").read_text()
    section = doc[doc.index("## Graphs"):]
    for needle in ("64 bars", "256 beats", "60 s", "-60", "+12 dB", f"{MAX_GRAPH_BYTES // 1024} KiB", "FIFO"):
        assert needle in section, needle


def test_echoed_values_are_cut_to_80_characters() -> None:
    msg = _err(_sub('on = "go"', 'on = "' + "x " * 50_000 + '"'))
    assert len(msg) < 250 and "..." in msg
    msg = _err(_sub("[states.b]", '[states."' + "q" * 100_000 + '"]'))
    assert len(msg) < 300 and "..." in msg
    msg = _err(_sub('intro = 1', 'intro = 1\nbogus' + "k" * 10_000 + ' = 1'))
    assert len(msg) < 600 and "is not a known key" in msg


def test_every_message_is_one_line_even_for_control_characters() -> None:
    msg = _err(_sub("[states.b]", '[states."b\\r\\nc\\u0007"]'))
    assert "\\r" in msg or "\\n" in msg
