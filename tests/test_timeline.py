"""Event scripts, the offline session runner, the timeline plot, and graph check / show."""

from __future__ import annotations

import numpy as np
import pytest
from seqstems import synth_graph, synth_stems

from soundtrack.cli import main
from soundtrack.errors import GraphError, ScriptError
from soundtrack.graph import parse_graph
from soundtrack.graphplot import check_graph, draw_graph
from soundtrack.timeline import parse_script, plot_timeline, run_session

GRAPH = synth_graph()
STEMS = synth_stems(GRAPH)

SCRIPT = """
duration = "20s"
seed = 4

[[events]]
at = "bar 3"
event = "spotted"

[[events]]
at = "6:3"
param = "intensity"
value = 0.9

[[events]]
at = "11s"
stinger = "fanfare"

[[events]]
at = "13s"
event = "victory"
"""


def test_a_script_plays_each_event_at_its_exact_frame() -> None:
    res = run_session(GRAPH, STEMS, parse_script(SCRIPT))
    assert res.audio.shape == (20 * 8000, 2) and res.audio.dtype == np.float32
    bars = [m for m in res.markers if m.kind == "bar"]
    posted = {ev.index: (f, r) for f, ev, r in res.results if ev.index >= 0}
    f, plan = posted[0]
    assert f == bars[2].frame  # "bar 3": the third downbeat heard
    f, change = posted[1]
    bar6 = next(m for m in bars if m.detail["session_bar"] == 6)
    beats = [m.frame for m in res.markers if m.kind == "beat" and m.frame >= bar6.frame]
    assert f == beats[2]  # beat 3 of bar 6
    assert posted[2][0] == 88_000 and posted[2][1].accepted
    assert not posted[3][1].accepted  # fight has no victory: refused, and the session goes on
    assert [m.detail["to"] for m in res.markers if m.kind == "transition"] == ["fight"]
    assert res.gains["melody"][-1] == 1.0


def test_the_same_script_renders_the_same_audio() -> None:
    a = run_session(GRAPH, STEMS, parse_script(SCRIPT)).audio
    b = run_session(GRAPH, STEMS, parse_script(SCRIPT)).audio
    assert np.array_equal(a, b)


def test_the_timeline_plot_is_a_png(tmp_path) -> None:
    res = run_session(GRAPH, STEMS, parse_script(SCRIPT))
    p = plot_timeline(res, tmp_path / "t.png")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 20_000


@pytest.mark.parametrize("text, message", [
    ('duration = "5s"\nend = "bar 3"', "exactly one of duration"),
    ('duration = "5s"\n[[events]]\nat = "soon"\nevent = "x"', "events\\[0\\].at = 'soon'"),
    ('duration = "5s"\n[[events]]\nat = "1s"\nparam = "intensity"', "value is missing"),
    ('duration = "5s"\n[[events]]\nat = "1s"\nevent = "x"\nstinger = "y"', "exactly one of event"),
    ('duration = "5s"\nspeed = 2', "speed is not a known key"),
])
def test_bad_scripts_name_the_entry_and_the_fix(text: str, message: str) -> None:
    with pytest.raises(ScriptError, match=message):
        parse_script(text, path="s.toml")


def test_events_out_of_order_are_an_error() -> None:
    script = parse_script('duration = "5s"\n[[events]]\nat = "3s"\nevent = "spotted"\n[[events]]\nat = "1s"\nevent = "boss"')
    with pytest.raises(ScriptError, match=r"events\[1\].at is at frame 8000, before the previous event"):
        run_session(GRAPH, STEMS, script)


def test_graph_check_adds_whole_graph_rules() -> None:
    report = check_graph(GRAPH)
    assert report.states == 4 and "spotted" in report.events
    text = GRAPH_TEXT_WITH_WILD_CUE
    with pytest.raises(GraphError, match=r"cue:half' cannot be played from fight, boss"):
        check_graph(parse_graph(text, path="w.toml"))


GRAPH_TEXT_WITH_WILD_CUE = """
[soundtrack]
name = "w"
start = "calm"
[states.calm]
prompt = "calm"
cues = { half = "bar 2" }
[states.fight]
prompt = "fight"
outro = 0
[states.boss]
prompt = "boss"
terminal = true
[[transitions]]
from = "calm"
to = "fight"
on = "go"
[[transitions]]
from = "*"
to = "calm"
on = "back"
sync = "cue:half"
outro = true
[[transitions]]
from = "fight"
to = "boss"
on = "boss"
"""


def test_graph_cli_check_and_show(tmp_path, capsys) -> None:
    assert main(["graph", "check", "graphs/dungeon.toml"]) == 0
    assert "OK: 5 states, 8 transitions, 7 events" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text(GRAPH_TEXT_WITH_WILD_CUE)
    assert main(["graph", "check", str(bad)]) == 2
    assert "cannot be played from fight, boss" in capsys.readouterr().err
    out = tmp_path / "g.png"
    assert main(["graph", "show", "graphs/dungeon.toml", "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    draw_graph(GRAPH, tmp_path / "s.png")
