"""Graphs parse from TOML; every error names the file, the table, the key and what is valid."""

from fractions import Fraction
from pathlib import Path

import pytest

from soundtrack.errors import GraphError
from soundtrack.graph import load_graph, parse_graph
from soundtrack.pitch import Key
from soundtrack.timing import Meter

ROOT = Path(__file__).resolve().parent.parent

BASE = """
[soundtrack]
name = "t"
tempo = 120
key = "A minor"
seed = 1
start = "a"

[states.a]
prompt = "calm ambient"
intro = 1
main = 4
outro = 1

[states.b]
prompt = "epic orchestral combat"
tempo = 140
meter = "3/4"
variants = 2

[[transitions]]
from = "a"
to = "b"
on = "go"

[[transitions]]
from = "b"
to = "a"
on = "back"
sync = "phrase"
phrase = 2
fade = "2 bars"
outro = false
"""


def test_shipped_graphs_load():
    dungeon = load_graph(ROOT / "graphs" / "dungeon.toml")
    assert {"explore", "tension", "combat", "boss", "victory"} <= set(dungeon.states)
    assert dungeon.start == "explore" and dungeon.states["victory"].terminal
    podcast = load_graph(ROOT / "graphs" / "podcast.toml")
    assert {"theme", "bed", "break", "outro"} <= set(podcast.states)


def test_states_inherit_and_override():
    g = parse_graph(BASE, path="t.toml")
    a, b = g.states["a"], g.states["b"]
    assert a.tempo == Fraction(120) and b.tempo == Fraction(140)
    assert a.key == Key.parse("A minor") and b.meter == Meter(3, 4) and a.meter is None
    assert (a.intro, a.main, a.outro, a.variants) == (1, 4, 1, 1) and b.variants == 2
    assert a.layers == ("drums", "bass", "harmony", "melody")
    t = g.transitions[1]
    assert (t.source, t.target, t.on, t.sync, t.phrase, str(t.fade)) == ("b", "a", "back", "phrase", 2, "2 bars")
    assert g.source_sha256 and g.sample_rate == 48_000 and g.loudness == -18.0


def _err(text: str) -> str:
    with pytest.raises(GraphError) as e:
        parse_graph(text, path="graphs/x.toml")
    assert isinstance(e.value, ValueError)
    return str(e.value)


@pytest.mark.parametrize(
    "old,new,expected",
    [
        ('sync = "phrase"', 'sync = "bars"', "graphs/x.toml: transitions[1].sync = 'bars' must be one of immediate, beat, bar, phrase, end, cue:NAME"),
        ("tempo = 140", "tempo = 500", "graphs/x.toml: [states.b].tempo = 500 is invalid: tempo=500 bpm must be between 20 and 300"),
        ('key = "A minor"', 'key = "H minor"', "graphs/x.toml: [soundtrack].key = 'H minor' is invalid"),
        ('meter = "3/4"', 'meter = "3/5"', "[states.b].meter = '3/5' is invalid: meter unit=5"),
        ('to = "b"', 'to = "c"', "transitions[0].to = 'c' is not a state; use one of a, b"),
        ('from = "b"', 'from = "z"', "transitions[1].from = 'z' is not a state; use one of a, b or '*'"),
        ('prompt = "calm ambient"\n', "", "[states.a].prompt is missing"),
        ("main = 4", "main = 0", "[states.a].main = 0 must be between 1 and 256"),
        ("main = 4", 'main = "four"', "[states.a].main = 'four' must be an integer"),
        ("intro = 1", "intorr = 1", "[states.a].intorr is not a known key; valid keys are prompt, intro"),
        ('fade = "2 bars"', 'fade = "2 weeks"', "transitions[1].fade = '2 weeks' is invalid"),
        ("outro = false", "outro = true", "transitions[1].outro = true but state 'b' has no outro"),
        ('start = "a"', 'start = "q"', "[soundtrack].start = 'q' is not a state; states are a, b"),
        ('sync = "phrase"', 'sync = "cue:drop"', "names cue 'drop', which no source state defines"),
    ],
)
def test_errors_name_file_table_key(old, new, expected):
    assert old in BASE
    assert expected in _err(BASE.replace(old, new, 1))


def test_invalid_toml_names_the_file_and_line():
    msg = _err(BASE + "\n[states.c\n")
    assert msg.startswith("graphs/x.toml: is not valid TOML") and "line" in msg


def test_unknown_table():
    assert "[stinger] is not a known table; valid tables are soundtrack, generator, states, stingers" in _err(BASE + "\n[stinger.x]\nprompt='x'\n")


def test_event_with_two_meanings_in_one_state():
    text = BASE + '\n[states.c]\nprompt = "x"\n[[transitions]]\nfrom = "a"\nto = "c"\non = "go"\n[[transitions]]\nfrom = "c"\nto = "a"\non = "back"\n'
    msg = _err(text)
    assert "transitions[2].on = 'go' gives event 'go' a second meaning in state 'a'" in msg
    assert "transitions[0] already goes to 'b'" in msg


def test_unreachable_state():
    assert "[states.c] is unreachable from the start state 'a'" in _err(BASE + '\n[states.c]\nprompt = "x"\n[[transitions]]\nfrom = "c"\nto = "a"\non = "x"\n')


def test_state_with_no_way_out_unless_terminal():
    text = BASE + '\n[states.c]\nprompt = "x"\n[[transitions]]\nfrom = "a"\nto = "c"\non = "end"\n'
    assert "[states.c] has no way out" in _err(text)
    g = parse_graph(text.replace('[states.c]\nprompt = "x"', '[states.c]\nprompt = "x"\nterminal = true'), path="x")
    assert g.states["c"].terminal


def test_star_source_reaches_everything():
    text = BASE + '\n[states.c]\nprompt = "x"\n[[transitions]]\nfrom = "*"\nto = "c"\non = "boom"\n[[transitions]]\nfrom = "c"\nto = "a"\non = "calm"\n'
    g = parse_graph(text, path="x")
    assert {t.target for t in g.transitions_from("b")} == {"a", "c"}


def test_param_layers_and_ranges():
    text = BASE + '\n[params.intensity]\ndefault = 0.5\nlayers = { drums = [0.4, 0.6] }\n'
    p = parse_graph(text, path="x").params["intensity"]
    assert p.layers == {"drums": (0.4, 0.6)} and p.quantize == "beat"
    assert "[params.intensity].layers.drums = [0.7, 0.6] must be [from, to]" in _err(text.replace("[0.4, 0.6]", "[0.7, 0.6]"))
    assert "[params.intensity].layers.pads is not a layer of any state" in _err(text.replace("drums", "pads"))


def test_missing_file():
    with pytest.raises(GraphError, match="nope.toml: no such graph file"):
        load_graph("nope.toml")
