"""Mutation checks: the suite's important guardrails must fail when the engine is broken.

Each test puts a known fault into the engine (a one-frame cut instead of the 1 ms minimum ramp,
a loop tail folded into its head as bank format 1 did, an edit point one frame late) and asserts
that the very checks the real tests use catch it, while the same checks pass on the real code.
"""

from __future__ import annotations

import numpy as np
import pytest
from clicks import find_clicks

import soundtrack.sequencer.resolver as transitions
from soundtrack.generate.procedural.render import steady_cycle
from soundtrack.sequencer import Sequencer
from soundtrack.stem import Stem, StemGrid
from soundtrack.timing import BeatGrid


def _stop_session(graph, bank) -> tuple[np.ndarray, int]:
    """explore (sustained ambient strings and harp), stopped with no fade: the minimum ramp."""
    s = Sequencer(graph, bank, seed=2)
    s.start("explore")
    a = s.render(s.source.stem("explore", "intro").grid.exit + 123_457)
    at = s.earliest_frame
    s.fade_out(0)
    return np.concatenate([a, s.render(48_000)]), at


def test_a_one_frame_cut_is_caught(real_bank, monkeypatch) -> None:
    graph, bank = real_bank("dungeon")
    out, at = _stop_session(graph, bank)
    assert not find_clicks(out, 48_000, at=[at], radius=100)
    monkeypatch.setattr(transitions, "MIN_RAMP_SECONDS", 1e-9)  # every 1 ms ramp becomes 1 frame
    assert transitions.min_ramp_frames(48_000) == 1
    bad, at2 = _stop_session(graph, bank)
    assert at2 == at
    assert find_clicks(bad, 48_000, at=[at], radius=100)


class Folded:
    """A stem source that serves every main loop as bank format 1 stored it: the loop's own
    tail folded onto its head (right only when the loop follows itself)."""

    def __init__(self, source) -> None:
        self.source = source
        self.cache: dict = {}

    def stem(self, name, role, variant=0, *, tempo=None):
        s = self.source.stem(name, role, variant, tempo=tempo)
        if role != "main":
            return s
        key = (name, variant, tempo)
        if key not in self.cache:
            g = s.grid
            layers = {}
            for k, a in s.layers.items():
                head = steady_cycle(a.astype(np.float64), g.exit).astype(np.float32)
                rest = a[g.exit :].astype(np.float64)
                tail = np.zeros_like(rest)
                for i in range(0, rest.shape[0], g.exit):
                    tail[: rest.shape[0] - i] += rest[i:]
                layers[k] = np.concatenate([head, tail.astype(np.float32)])
            self.cache[key] = Stem.from_layers(s.spec, StemGrid(g.sample_rate, g.bpm, g.meter, 0, g.exit, g.frames, g.bars),
                                               layers, key=s.key, style=s.style, meta=s.meta)
        return self.cache[key]


def _bed_session(graph, source) -> tuple[np.ndarray, list[int]]:
    s = Sequencer(graph, source, seed=4)
    s.start("bed")
    out = s.render(s.source.stem("bed", "intro").grid.frames + 5 * s.source.stem("bed", "main").grid.exit)
    seams = [m.frame for m in s.pop_markers() if m.kind == "segment" and m.detail["role"] == "main"][1:]
    return out, seams


def test_a_doubled_tail_at_a_variant_change_is_caught(real_bank) -> None:
    """The podcast bed, the state where the click was first heard: its variant changes."""
    graph, bank = real_bank("podcast")
    good, seams = _bed_session(graph, bank)
    assert len(seams) >= 4
    assert not find_clicks(good, 48_000, at=seams)
    bad, seams2 = _bed_session(graph, Folded(bank))
    assert seams2 == seams
    assert find_clicks(bad, 48_000, at=seams)


def _bar_transition(plan_rule_shift: int, monkeypatch) -> tuple[int, int]:
    """(edit frame, the independent bar frame it must equal) for a sync=bar transition."""
    from seqstems import synth_graph, synth_stems

    graph = synth_graph()
    stems = synth_stems(graph)
    if plan_rule_shift:
        real = transitions.edit_point

        def late(*a, **kw):
            return real(*a, **kw) + plan_rule_shift

        monkeypatch.setattr(transitions, "edit_point", late)
    s = Sequencer(graph, stems, seed=3)
    s.start()
    s.render(40_000)
    plan = s.post("spotted")  # calm -> fight, sync bar, lookahead = the fight intro's pickup
    main = stems.stem("calm", "main").grid
    grid = BeatGrid(8000, main.bpm, main.meter, 700 + 16_000)  # calm's first main downbeat
    earliest = s.earliest_frame + stems.stem("fight", "intro").grid.entry
    bar = next(grid.bar_frame(k) for k in range(100) if grid.bar_frame(k) >= earliest)
    return plan.edit_frame, bar


def test_an_edit_one_frame_late_is_caught(monkeypatch) -> None:
    edit, bar = _bar_transition(0, monkeypatch)
    assert edit == bar
    if not hasattr(transitions, "edit_point"):
        pytest.fail("transitions.edit_point is the one function that chooses edit points")
    edit, bar = _bar_transition(1, monkeypatch)
    assert edit != bar
