"""The transition resolver, pinned exhaustively: every sync x fade x curve x outro/bridge/intro
combination gives the frames worked out here by hand (8 kHz, 120 bpm: 4000 frames a beat)."""

from __future__ import annotations

import dataclasses
import itertools
import math
from fractions import Fraction

import pytest
from seqstems import PICKUP, synth_graph, synth_stems

from soundtrack.errors import SequencerError
from soundtrack.sequencer.resolver import Playhead, find_rule, plan_rule, resolve
from soundtrack.timing import BeatGrid, parse_duration

SR = 8000
BEAT = 4000  # calm: 120 bpm
BAR = 4 * BEAT
O = 16_700  # calm's first main downbeat in output frames (after its 1-bar intro, pickup 700)
FIGHT_BAR = 4 * 3200  # fight: 150 bpm

GRAPH = synth_graph()
STEMS = synth_stems(GRAPH, tempo_variants=False)


def grids(name: str, role: str):
    return STEMS.stem(name, role).grid


def calm_head(origin: int = O, origin_beat: int = 0) -> Playhead:
    return Playhead("calm", BeatGrid(SR, Fraction(120), origin=origin), origin_beat, 8, entry=0)


def ceil_to(x: int, origin: int, step: int, phase: int = 0) -> int:
    """First origin + phase + k*step >= x (any integer k)."""
    return origin + phase + math.ceil((x - origin - phase) / step) * step


def expected_edit(sync: str, t: int) -> int:
    if sync == "immediate":
        return t
    if sync == "beat":
        return ceil_to(t, O, BEAT)
    if sync == "bar":
        return ceil_to(t, O, BAR)
    if sync == "phrase":  # phrase = 2 bars
        return ceil_to(t, O, 2 * BAR)
    if sync == "end":  # end of the intro (= O), else of the current 2-bar loop cycle
        return max(O, ceil_to(t, O, 2 * BAR))
    if sync == "cue:half":  # bar 2 of the loop
        return max(O + BAR, ceil_to(t, O, 2 * BAR, BAR))
    if sync == "cue:late":  # bar 2 beat 3
        return max(O + BAR + 2 * BEAT, ceil_to(t, O, 2 * BAR, BAR + 2 * BEAT))
    raise AssertionError(sync)


SYNCS = ["immediate", "beat", "bar", "phrase", "end", "cue:half", "cue:late"]
FADES = {0: 8, 1: BEAT, "1 bars": BAR, "0.25s": 2000, "3 beats": 3 * BEAT}
CURVES = ["equal-power", "linear", "s-curve"]
TIMES = [O - 5000, O - 700, O, O + 1, O + BEAT - 300, O + 2 * BAR - 1, O + 2 * BAR + 12_345]
BASE = find_rule(GRAPH, "calm", "spotted")


@pytest.mark.parametrize("sync", SYNCS)
def test_every_combination_lands_on_the_expected_frames(sync: str) -> None:
    n = 0
    for fade, curve, outro, bridge, intro, t in itertools.product(FADES, CURVES, (False, True), (False, True),
                                                                  (False, True), TIMES):
        kind, _, cue = sync.partition(":")
        rule = dataclasses.replace(BASE, sync=kind, cue=cue or None, phrase=2, fade=parse_duration(fade), curve=curve,
                                   outro=outro, bridge="riser" if bridge else None, intro=intro)
        plan = plan_rule(GRAPH, calm_head(), rule, t, grids, sample_rate=SR, event="spotted")
        chain = ([("calm", "outro", PICKUP["outro"], BAR)] if outro else []) + \
                ([("riser", "bridge", PICKUP["bridge"], BAR)] if bridge else []) + \
                ([("fight", "intro", PICKUP["intro"], FIGHT_BAR)] if intro else [])
        lookahead = chain[0][2] if chain else 0
        edit = expected_edit(sync, t + lookahead)
        assert plan.accepted and plan.edit_frame == edit, (sync, fade, outro, bridge, intro, t)
        assert plan.fade_frames == FADES[fade]
        assert plan.curve == curve
        entry = edit
        got = [(s.name, s.role, s.start, s.entry, s.exit) for s in plan.segments]
        want = []
        for name, role, pickup, body in chain:
            want.append((name, role, entry - pickup, entry, entry + body))
            entry += body
        assert got == want
        assert plan.main_frame == entry
        assert plan.commit_frame == (want[0][2] if want else edit)
        assert plan.commit_frame >= t  # a pickup never starts in the past
        assert plan.target_grid is not None and plan.target_grid.origin == entry and plan.target_grid.bpm == 150
        n += 1
    assert n == len(FADES) * len(CURVES) * 8 * len(TIMES)


def test_positions_are_bar_beat_on_the_outgoing_grid() -> None:
    rule = dataclasses.replace(BASE, sync="beat", intro=False)
    assert plan_rule(GRAPH, calm_head(), rule, O + 2 * BEAT - 10, grids, sample_rate=SR).position == "1:3"
    assert plan_rule(GRAPH, calm_head(), rule, O + 9 * BEAT, grids, sample_rate=SR).position == "3:2"
    assert plan_rule(GRAPH, calm_head(), rule, O - 3 * BEAT, grids, sample_rate=SR).position == "pre1:2"


def test_phrase_and_cues_count_from_the_state_not_from_a_tempo_change() -> None:
    # after a tempo change at state beat 4 (bar 2), bars still count from the first downbeat
    head = Playhead("calm", BeatGrid(SR, Fraction(96), origin=50_000), 4, 8)
    fpb = 5000  # 96 bpm at 8 kHz
    rule = dataclasses.replace(BASE, sync="phrase", phrase=2, intro=False)
    assert plan_rule(GRAPH, head, rule, 50_001, grids, sample_rate=SR).edit_frame == 50_000 + 4 * fpb  # state beat 8
    rule = dataclasses.replace(BASE, sync="cue", cue="late", intro=False)  # state beat 6 mod 8
    assert plan_rule(GRAPH, head, rule, 50_000, grids, sample_rate=SR).edit_frame == 50_000 + 2 * fpb


def test_grid_points_on_a_fractional_tempo_never_drift() -> None:
    head = Playhead("calm", BeatGrid(SR, Fraction(1237, 10), origin=0), 0, 8)
    rule = dataclasses.replace(BASE, sync="beat", intro=False)
    fpb = Fraction(SR * 60) / Fraction(1237, 10)
    t = 10**9
    k = math.ceil(t / fpb)
    edit = plan_rule(GRAPH, head, rule, t, grids, sample_rate=SR).edit_frame
    assert edit == (2 * k * fpb.numerator + fpb.denominator) // (2 * fpb.denominator)


def test_the_most_specific_rule_wins_and_a_wildcard_never_restarts_its_target() -> None:
    assert find_rule(GRAPH, "calm", "spotted").target == "fight"
    assert find_rule(GRAPH, "calm", "boss").source == "*"
    assert find_rule(GRAPH, "boss", "boss") is None
    text = GRAPH.path
    g = synth_graph(open_text_with_exact_boss_rule())
    rule = find_rule(g, "fight", "boss")
    assert rule.source == "fight" and rule.sync == "bar", text


def open_text_with_exact_boss_rule() -> str:
    from seqstems import GRAPH_TOML

    return GRAPH_TOML + '\n[[transitions]]\nfrom = "fight"\nto = "boss"\non = "boss"\nsync = "bar"\n'


def test_an_event_with_no_transition_is_refused_with_a_reason() -> None:
    plan = resolve(GRAPH, calm_head(), "victory", 100, grids, sample_rate=SR)
    assert not plan.accepted
    assert "'calm' has no transition on 'victory'" in plan.reason and "spotted" in plan.reason
    boss = Playhead("boss", BeatGrid(SR, Fraction(100)), 0, 4)
    plan = resolve(GRAPH, boss, "boss", 0, grids, sample_rate=SR)
    assert not plan.accepted and "victory" in plan.reason


def test_an_unknown_event_raises_and_names_the_valid_ones() -> None:
    with pytest.raises(SequencerError, match=r"event 'nope' is not in graph 'synth'; events are ambush, boss"):
        resolve(GRAPH, calm_head(), "nope", 0, grids, sample_rate=SR)


def test_a_transition_waits_for_the_playhead_entry() -> None:
    head = dataclasses.replace(calm_head(), entry=O + 5 * BEAT)
    plan = resolve(GRAPH, head, "spotted", 0, grids, sample_rate=SR)
    assert plan.edit_frame == O + 2 * BAR  # first bar at or after entry + the intro's pickup
