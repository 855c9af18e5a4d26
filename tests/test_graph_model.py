"""The graph model: deeply immutable data, modes with one tuple each, one table-driven validator
(`load_graph` refuses what `graph check` refuses), generator options passed through as data."""

from __future__ import annotations

import ast
import dataclasses
import pickle
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from soundtrack.errors import GraphError
from soundtrack.graph import (
    CURVES,
    QUANTIZE,
    STINGER_SYNCS,
    SYNCS,
    Curve,
    Graph,
    Quantize,
    StingerSync,
    Sync,
    load_graph,
    parse_graph,
    rows,
)

ROOT = Path(__file__).resolve().parent.parent
DUNGEON = ROOT / "graphs" / "dungeon.toml"


@pytest.fixture(scope="module")
def dungeon() -> Graph:
    return load_graph(DUNGEON)


def test_the_graph_is_deeply_immutable(dungeon: Graph) -> None:
    g = dungeon
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.start = "combat"  # type: ignore[misc]
    for mapping in (g.states, g.stingers, g.bridges, g.params, g.generator_options, g.states["explore"].cues,
                    g.states["explore"].files, g.params["intensity"].layers):
        with pytest.raises(TypeError):
            mapping["x"] = 1  # type: ignore[index]
        with pytest.raises((TypeError, AttributeError)):
            del mapping["x"]  # type: ignore[attr-defined]
        assert not hasattr(mapping, "update") and not hasattr(mapping, "pop")
    assert isinstance(g.transitions, tuple) and isinstance(g.states["explore"].layers, tuple)
    assert isinstance(g.states["combat"].tempi, tuple)
    assert all(isinstance(v, tuple) for v in g.params["intensity"].layers.values())


def test_immutable_maps_still_read_like_dicts(dungeon: Graph) -> None:
    p = dungeon.params["intensity"]
    assert p.layers == {"drums": (0.3, 0.5), "melody": (0.6, 0.8)} and dict(p.layers) == p.layers
    assert list(dungeon.states) == ["explore", "tension", "combat", "boss", "victory"]  # file order
    assert dungeon.states.get("nope") is None and "boss" in dungeon.states and len(dungeon.states) == 5
    assert {**dungeon.states["explore"].cues}.keys() == {"midpoint"}


def test_a_graph_is_hashable_and_pickles(dungeon: Graph) -> None:
    assert hash(dungeon) == hash(load_graph(DUNGEON)) and dungeon == load_graph(DUNGEON)
    back = pickle.loads(pickle.dumps(dungeon))
    assert back == dungeon and type(back.states) is type(dungeon.states)


def test_replace_with_plain_dicts_is_frozen_again(dungeon: Graph) -> None:
    """Code that derives a graph (the podcast planner) passes dicts; the result is still immutable."""
    s = dungeon.states["explore"]
    g = dataclasses.replace(dungeon, states={"explore": dataclasses.replace(s, files={"main": "x.wav"})}, params={})
    with pytest.raises(TypeError):
        g.states["other"] = s  # type: ignore[index]
    with pytest.raises(TypeError):
        g.states["explore"].files["intro"] = "y.wav"  # type: ignore[index]


def test_modes_are_literals_with_one_tuple_each() -> None:
    from soundtrack import audio

    assert CURVES is audio.CURVES and typing.get_args(Curve) == CURVES
    assert typing.get_args(Sync) == SYNCS + ("cue",)
    assert typing.get_args(StingerSync) == STINGER_SYNCS == ("immediate", "beat", "bar")
    assert typing.get_args(Quantize) == QUANTIZE == ("immediate", "beat", "bar")
    src = (ROOT / "soundtrack" / "graph").rglob("*.py")
    assert not any("CURVES =" in p.read_text() or "CURVES: " in p.read_text() for p in src)


def test_one_bpm_range() -> None:
    from soundtrack import beats, timing

    assert (timing.MIN_BPM, timing.MAX_BPM) == (20, 300)
    assert not hasattr(beats, "MIN_BPM") and not hasattr(beats, "MAX_BPM")
    assert timing.MIN_BPM <= beats.DETECT_MIN_BPM < beats.DETECT_MAX_BPM <= timing.MAX_BPM


def test_importing_the_graph_does_not_load_a_generator() -> None:
    code = "import sys, soundtrack.graph; print(sorted(m for m in sys.modules if m.startswith('soundtrack.generate')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_no_graph_function_is_long() -> None:
    """parse_graph was 158 lines; each table now has its own reader."""
    for path in sorted((ROOT / "soundtrack" / "graph").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                assert n <= 60, f"{path.name}:{node.lineno} {node.name} is {n} lines"


# -- the table ------------------------------------------------------------------------------------

def test_every_table_key_has_one_row() -> None:
    from soundtrack.graph.values import READERS, default_value

    assert set(READERS) == set(rows.KINDS)
    for name, table in rows.TABLES.items():
        keys = [r.key for r in table]
        assert len(keys) == len(set(keys)), name
        for r in table:
            assert r.doc and r.kind in rows.KINDS, (name, r.key)
            if r.default is not None:
                default_value(r)  # every default passes its own row


BASE = """
[soundtrack]
name = "t"
tempo = 120
start = "a"
[states.a]
prompt = "calm"
main = 4
outro = 1
[states.b]
prompt = "fight"
[stingers.hit]
prompt = "hit"
[bridges.rise]
prompt = "rise"
[[transitions]]
from = "a"
to = "b"
on = "go"
[[transitions]]
from = "b"
to = "a"
on = "back"
[params.p]
layers = { drums = [0.2, 0.4] }
"""

_HEADERS = {"soundtrack": "[soundtrack]", "states": "[states.a]", "stingers": "[stingers.hit]",
            "bridges": "[bridges.rise]", "transitions": "[[transitions]]", "params": "[params.p]"}
_WHERE = {"soundtrack": "[soundtrack]", "states": "[states.a]", "stingers": "[stingers.hit]",
          "bridges": "[bridges.rise]", "transitions": "transitions[0]", "params": "[params.p]"}


def _with(table: str, key: str, value: str) -> str:
    """BASE with `key = value` set in the first table of kind `table` (replacing it if present)."""
    head = _HEADERS[table]
    i = BASE.index(head) + len(head) + 1
    j = BASE.find("\n[", i)
    body = "\n".join(line for line in BASE[i:j].splitlines() if not line.startswith(f"{key} ="))
    return BASE[:i] + body + f"\n{key} = {value}" + BASE[j:]


def _bad_values(row: rows.Row) -> list[str]:
    """TOML values the row must refuse: a wrong type, and just past each bound."""
    wrong_type = {"int": '"1"', "number": '"1"', "bool": '"yes"', "string": "1", "name": "1", "names": '"drums"',
                  "bpm": "true", "key": "1", "meter": "4", "duration": "true", "seconds": "true", "choice": "1",
                  "sync": "1", "bpms": "120", "cues": "1", "files": "1", "param_layers": "1", "state": "1",
                  "source": "1", "bridge": "1", "generator": "1"}
    out = [wrong_type[row.kind]]
    if row.lo is not None:
        out.append(repr(row.lo - 1) if isinstance(row.lo, int) else repr(row.lo - 0.5))
    if row.hi is not None:
        out.append(repr(row.hi + 1) if isinstance(row.hi, int) else repr(row.hi + 0.5))
    if row.choices:
        out.append('"nope"')
    return out


@pytest.mark.parametrize("table", list(_HEADERS))
def test_every_row_refuses_naming_file_table_and_key(table: str) -> None:
    parse_graph(BASE, path="t.toml")
    for row in rows.TABLES[table]:
        for value in _bad_values(row):
            with pytest.raises(GraphError) as e:
                parse_graph(_with(table, row.key, value), path="graphs/t.toml")
            msg = str(e.value)
            assert msg.startswith(f"graphs/t.toml: {_WHERE[table]}.{row.key}"), (row.key, value, msg)


def test_unknown_keys_list_the_rows() -> None:
    msg = str(pytest.raises(GraphError, parse_graph, _with("stingers", "gain", "1"), path="t").value)
    assert msg.endswith("[stingers.hit].gain is not a known key; valid keys are " + ", ".join(r.key for r in rows.STINGER))


# -- one validator: what `graph check` refuses, `load_graph` refuses --------------------------------

WILD_CUE = """
[soundtrack]
name = "w"
tempo = 100
start = "calm"
[states.calm]
prompt = "calm"
cues = { half = "bar 2" }
[states.fight]
prompt = "fight"
[states.boss]
prompt = "boss"
[[transitions]]
from = "calm"
to = "fight"
on = "go"
[[transitions]]
from = "fight"
to = "boss"
on = "up"
[[transitions]]
from = "*"
to = "calm"
on = "reset"
sync = "cue:half"
"""


def test_a_star_rule_to_a_cue_some_sources_lack_is_refused_on_load(tmp_path: Path) -> None:
    p = tmp_path / "w.toml"
    p.write_text(WILD_CUE)
    with pytest.raises(GraphError, match=r"w.toml: transitions\[2\].sync = 'cue:half' cannot be played from fight, boss: "
                                         r"they define no cue 'half'"):
        load_graph(p)
    # the target itself need not define it (a '*' rule never leaves its own target)
    ok = WILD_CUE.replace('[states.fight]\nprompt = "fight"', '[states.fight]\nprompt = "fight"\ncues = { half = "bar 1" }')
    ok = ok.replace('[states.boss]\nprompt = "boss"', '[states.boss]\nprompt = "boss"\ncues = { half = "bar 1" }')
    ok = ok.replace('cues = { half = "bar 2" }', "")
    assert parse_graph(ok, path="w.toml").transitions[2].cue == "half"


def test_graph_check_cli_and_load_agree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from soundtrack.cli import main

    p = tmp_path / "w.toml"
    p.write_text(WILD_CUE)
    assert main(["graph", "check", str(p)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot be played from fight, boss" in err[0]


def test_graph_check_warnings_are_not_duplicates_of_load_errors(dungeon: Graph) -> None:
    from soundtrack.graphplot import check_graph

    r = check_graph(dungeon)
    assert r.warnings == () and r.states == 5


# -- generator options are data ---------------------------------------------------------------------

GEN = '[soundtrack]\nname = "g"\n{t}\n[states.a]\nprompt = "x"\n'


def test_generator_options_pass_through_as_an_immutable_mapping() -> None:
    g = parse_graph(GEN.format(t='[generator]\nmodel = "m"\ndevice = "gpu"\nguidance_scale = 4\nextra = [1, 2]'), path="g")
    assert g.generator_options == {"model": "m", "device": "gpu", "guidance_scale": 4, "extra": (1, 2)}
    with pytest.raises(TypeError):
        g.generator_options["model"] = "n"  # type: ignore[index]
    assert parse_graph(GEN.format(t=""), path="g").generator_options == {}


@pytest.mark.parametrize("table,msg", [
    ("[generator]\nmodel = nan", r"g.toml: \[generator\].model = nan must be a string, a finite number, true or false"),
    ("[generator]\nm = { a = 1 }", r"\[generator\].m = .* must be a string, a finite number"),
    ('[generator]\n"bad key" = 1', r"\[generator\] name 'bad key' must start with a letter"),
])
def test_generator_options_are_plain_values(table: str, msg: str) -> None:
    with pytest.raises(GraphError, match=msg):
        parse_graph(GEN.format(t=table), path="g.toml")
    with pytest.raises(GraphError, match=r"g.toml: \[generator\] must be a table"):
        parse_graph("generator = 3\n" + GEN.format(t=""), path="g.toml")


def test_the_generator_validates_its_own_options() -> None:
    from soundtrack.errors import SpecError
    from soundtrack.generate.base import validate_options

    g = parse_graph(GEN.format(t='[generator]\nmodel = "facebook/musicgen-small"\ndevice = "auto"\nguidance_scale = 4'))
    assert validate_options("musicgen", g.generator_options) == {"model": "facebook/musicgen-small", "guidance_scale": 4.0}
    with pytest.raises(SpecError, match=r"g.toml: \[generator\].device = 'gpu' must be one of auto, cpu, cuda, cuda:N, mps"):
        validate_options("musicgen", {"device": "gpu"}, where="g.toml: [generator]")
    assert validate_options("procedural", {}) == {}
    with pytest.raises(SpecError, match=r"\[generator\].model is not an option of generator 'procedural'"):
        validate_options("procedural", {"model": "x"})


def test_a_bank_build_has_the_generator_check_the_graphs_options() -> None:
    from soundtrack.bank.build import generator_options
    from soundtrack.errors import SpecError

    text = GEN.format(t='generator = "musicgen"\n[generator]\ndevice = "auto"\nguidance_scale = 4')
    assert generator_options(parse_graph(text, path="g.toml")) == {"guidance_scale": 4.0}
    with pytest.raises(SpecError, match=r"^g.toml: \[generator\].device = 'gpu' must be one of auto, cpu"):
        generator_options(parse_graph(text.replace('"auto"', '"gpu"'), path="g.toml"))
