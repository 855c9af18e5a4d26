"""Nothing clicks at a seam: loop repeats, variant changes, intro -> main, tempo takes, transitions.

Two kinds of evidence:

- on synthetic stems (tests/seqstems.py), the sequencer's output equals an oracle that places
  every cycle's head and tail where the segment markers say, sample for sample: each cycle's
  tail rings under whatever follows, and nothing else is added;
- on the real procedural banks of graphs/podcast.toml and graphs/dungeon.toml (tests/conftest.py),
  the click detector (tests/clicks.py) finds nothing at any seam, loop repeat, edit point or in
  any transition's fade window, for every state and every transition of both graphs, beyond
  what the stems playing there contain themselves (the generator's own tests hold it to none).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from clicks import find_clicks
from seqstems import synth_graph, synth_stems

from soundtrack.sequencer import Sequencer

SYNTH_SR = 8000

ONE_LOOP = """
[soundtrack]
name = "one"
tempo = 120
meter = "4/4"
start = "solo"
sample_rate = 8000

[states.solo]
prompt = "solo"
intro = 1
main = 1
outro = 1

[states.pair]
prompt = "pair"
intro = 0
main = 1
variants = 2
terminal = true

[[transitions]]
from = "solo"
to = "pair"
on = "go"
sync = "end"
fade = 0
intro = false
"""


def oracle(stems, markers, frames: int, channels: int = 2) -> np.ndarray:
    """What the sequencer must play: each segment's whole stem (head and tail) from its marker."""
    out = np.zeros((frames, channels))
    for m in markers:
        if m.kind != "segment":
            continue
        role = m.detail["role"]
        stem = stems.stem(m.detail["name"], role, m.detail.get("variant", 0))
        start = m.frame - stem.grid.entry
        a = stem.mix.astype(np.float64)
        n = min(a.shape[0], frames - start)
        out[start : start + n] += a[:n]
    return out


def test_every_cycle_rings_on_under_the_next_one_whatever_it_is() -> None:
    """A -> A (one variant), A -> B (variants), intro -> main: the output is the sum of the
    stems placed where the markers say, tails included, and nothing more (a doubled or missing
    tail would be a whole tail's worth off)."""
    graph = synth_graph(ONE_LOOP)
    stems = synth_stems(graph)
    s = Sequencer(graph, stems, seed=1)
    s.start("solo")
    out = s.render(5 * 16_000)
    markers = s.pop_markers()
    mains = [m for m in markers if m.kind == "segment" and m.detail["role"] == "main"]
    assert len(mains) >= 4 and len({m.detail.get("variant", 0) for m in mains}) == 1  # A -> A -> A
    np.testing.assert_allclose(out, oracle(stems, markers, out.shape[0]), atol=1e-5)  # the 1 ms ramps at a main's first cycle are the only difference
    # and a state with two variants: A -> B -> A
    s.post("go")
    out2 = s.render(6 * 16_000)
    m2 = s.pop_markers()
    pair = [m for m in m2 if m.kind == "segment" and m.state == "pair"]
    assert len({m.detail["variant"] for m in pair}) == 2
    begin = pair[0].frame + 1200  # after the solo loop's last tail
    ref = oracle(stems, [m for m in m2 if m.state == "pair"], 5 * 16_000 + out2.shape[0])[5 * 16_000 :]
    np.testing.assert_allclose(out2[begin - 5 * 16_000 :], ref[begin - 5 * 16_000 :], atol=1e-5)  # the 1 ms ramps at a main's first cycle are the only difference


# -- real procedural banks ----------------------------------------------------------------------


def _seams(markers, plans=()) -> tuple[list[int], list[tuple[int, int]]]:
    """Frames to check (segment starts, transitions, tempo switches, stingers) and windows
    (a transition's edit point to its fade's end)."""
    frames = [m.frame for m in markers if m.kind in ("segment", "transition", "tempo", "stinger")]
    windows = [(p.edit_frame, p.edit_frame + p.fade_frames) for p in plans if getattr(p, "accepted", False)]
    return frames, windows


_OWN: dict[int, list[int]] = {}


def _own_clicks(stem) -> list[int]:
    """Stem frames where the stem itself clicks (cached): the generator's business, not a seam's."""
    key = id(stem)
    if key not in _OWN:
        _OWN[key] = [c.frame for c in find_clicks(stem.mix, stem.sample_rate, limit=10_000)]
    return _OWN[key]


def _placed_clicks(seq: Sequencer, markers) -> set[int]:
    """Output frames where a stem that plays there clicks in itself (`_own_clicks`, placed)."""
    graph, out = seq.graph, set()
    for m in markers:
        if m.kind == "segment":
            d = m.detail
            tempo = None
            if d["role"] == "main" and graph.states[d["name"]].tempi:
                base = seq.source.stem(d["name"], "main", d.get("variant", 0)).grid.bpm
                tempo = None if Fraction(d["bpm"]) == base else Fraction(d["bpm"])
            stem = seq.source.stem(d["name"], d["role"], d.get("variant", 0), tempo=tempo)
            origin = m.frame - (stem.grid.entry if d["role"] != "main" else d.get("offset", 0))
        elif m.kind == "stinger":
            stem = seq.source.stem(m.detail["name"], "stinger")
            origin = m.detail["start"]
        else:
            continue
        out.update(origin + f for f in _own_clicks(stem))
    return out


def _check(out: np.ndarray, sr: int, frames: list[int], windows: list[tuple[int, int]], what: str,
           own: set[int] = frozenset()) -> None:
    frames = sorted({f for f in frames if 0 < f < out.shape[0] - 10})
    clicks = find_clicks(out, sr, at=frames)
    for a, b in windows:
        mid, half = (a + b) // 2, (b - a) // 2 + 240
        clicks += find_clicks(out, sr, at=[mid], radius=half)
    clicks = [c for c in clicks if not any(abs(c.frame - f) <= 4 for f in own)]
    assert not clicks, f"{what}: clicks at " + ", ".join(
        f"frame {c.frame} ({c.frame / sr:.3f} s, {c.ratio:.0f}x)" for c in clicks[:6])


def _loop_frames(seq: Sequencer, state: str) -> int:
    g = seq.source.stem(state, "main").grid
    return g.exit - g.entry


@pytest.mark.parametrize("name", ["podcast", "dungeon"])
def test_no_clicks_at_loop_repeats_and_variant_changes_of_every_state(real_bank, name) -> None:
    graph, bank = real_bank(name)
    for state, sdef in graph.states.items():
        s = Sequencer(graph, bank, seed=4)
        s.start(state)
        cycles = 4 if sdef.variants > 1 else 3
        n = s.source.stem(state, "intro").grid.frames if sdef.intro else 0
        out = s.render(n + cycles * _loop_frames(s, state) + 24_000)
        markers = s.pop_markers()
        mains = [m for m in markers if m.kind == "segment" and m.detail["role"] == "main"]
        assert len(mains) >= cycles
        if sdef.variants > 1:
            assert len({m.detail["variant"] for m in mains}) > 1
        frames, _ = _seams(markers)
        _check(out, s.sample_rate, frames, [], f"{name}.{state} loops", _placed_clicks(s, markers))


@pytest.mark.parametrize("name", ["podcast", "dungeon"])
def test_no_clicks_in_any_transition_of_the_graph(real_bank, name) -> None:
    """Every transition rule (with and without fades, outros, intros, bridges), posted mid-loop
    and just before a loop end, heard from the pickup to the target's second cycle."""
    graph, bank = real_bank(name)
    for rule in graph.transitions:
        sources = [rule.source] if rule.source != "*" else [x for x in graph.states if x != rule.target
                                                             and not graph.states[x].terminal][:2]
        for source in sources:
            for where in (0.45, 0.97):
                s = Sequencer(graph, bank, seed=7)
                s.start(source)
                first = [m for m in s.pop_markers()]
                loop = _loop_frames(s, source)
                intro = s.source.stem(source, "intro").grid.exit if graph.states[source].intro else 0
                out = [s.render(intro + int(where * loop))]
                plan = s.post(rule.on)
                assert plan.accepted, (rule, plan.reason)
                tgt_loop = _loop_frames(s, rule.target)
                out.append(s.render(plan.main_frame - s.frame + tgt_loop + 24_000))
                audio = np.concatenate(out)
                markers = first + s.pop_markers()
                frames, windows = _seams(markers, [plan])
                _check(audio, s.sample_rate, frames + [plan.edit_frame], windows,
                       f"{name}: {source} -{rule.on}-> {rule.target} at {where:.0%} of the loop",
                       _placed_clicks(s, markers))


def test_no_clicks_when_the_combat_tempo_take_changes(real_bank) -> None:
    graph, bank = real_bank("dungeon")
    s = Sequencer(graph, bank, seed=3)
    s.start("combat")
    loop = _loop_frames(s, "combat")
    out = [s.render(s.source.stem("combat", "intro").grid.exit + loop // 3)]
    plans = []
    for bpm in (150, 130, 140):
        plans.append(s.set_tempo(bpm))
        assert plans[-1].accepted
        out.append(s.render(loop))
    audio = np.concatenate(out)
    markers = s.pop_markers()
    frames, _ = _seams(markers)
    assert len([p for p in plans if p.accepted]) == 3
    _check(audio, s.sample_rate, frames, [], "combat tempo takes", _placed_clicks(s, markers))
