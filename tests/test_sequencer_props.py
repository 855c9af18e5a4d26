"""Property tests (Hypothesis) over random sessions: chunked == whole, same seed == same output,
exact lengths, no NaN, no clipping, no jump at an edit beyond what the stems contain, and every
transition on its grid point."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seqstems import synth_graph, synth_stems

from soundtrack.sequencer import Sequencer
from soundtrack.sequencer.resolver import TransitionPlan

GRAPH = synth_graph()
# low tones, so a hard cut (a jump of the full amplitude) stands far above the stems' own steps
STEMS = synth_stems(GRAPH, base=40.0, amp=0.2)
CEILING = 10 ** (-1 / 20)

COMMANDS = st.one_of(
    st.tuples(st.just("post"), st.sampled_from(["spotted", "lost", "boss", "victory", "ambush", "escalate"])),
    st.tuples(st.just("param"), st.floats(0.0, 1.0)),
    st.tuples(st.just("stinger"), st.sampled_from(["hit", "fanfare"])),
    st.tuples(st.just("tempo"), st.sampled_from([130, 150, 160])),
)
SESSION = st.lists(st.tuples(st.integers(0, 30_000), COMMANDS), min_size=1, max_size=8)
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def stem_step() -> float:
    """The largest sample-to-sample step any stem contains (edges from and to silence included)."""
    worst = 0.0
    for stem in STEMS._stems.values():
        a = np.concatenate([np.zeros((1, 2), np.float32), stem.mix, np.zeros((1, 2), np.float32)])
        worst = max(worst, float(np.abs(np.diff(a, axis=0)).max()))
    return worst


STEP = stem_step()


def play(session, blocks: list[int], seed: int = 5):
    s = Sequencer(GRAPH, STEMS, seed=seed)
    s.start()
    chunks, results, bi = [], [], 0

    def render_to(frame: int) -> None:
        nonlocal bi
        while s.frame < frame:
            n = min(blocks[bi % len(blocks)], frame - s.frame)
            bi += 1
            chunks.append(s.render(n))

    frame = 0
    for delay, (kind, arg) in session:
        frame += delay
        render_to(frame)
        if kind == "post":
            results.append(s.post(arg))
        elif kind == "param":
            results.append(s.set_param("intensity", arg))
        elif kind == "stinger":
            results.append(s.stinger(arg))
        else:
            results.append(s.set_tempo(arg))
    render_to(frame + 60_000)
    return np.concatenate(chunks), s.pop_markers() if False else None, results, s


@SETTINGS
@given(SESSION, st.lists(st.integers(1, 5000), min_size=1, max_size=6))
def test_chunked_render_equals_whole_and_same_seed_same_output(session, blocks) -> None:
    whole, _, r1, s1 = play(session, [10**9])
    chunked, _, r2, s2 = play(session, blocks)
    assert whole.shape == chunked.shape == (sum(d for d, _ in session) + 60_000, 2)
    assert np.array_equal(whole, chunked)
    assert r1 == r2
    again, _, _, _ = play(session, blocks)
    assert np.array_equal(again, whole)


@SETTINGS
@given(SESSION)
def test_no_nan_no_clipping_no_jumps_and_transitions_on_the_grid(session) -> None:
    out, _, results, s = play(session, [1024])
    assert np.isfinite(out).all()
    assert np.abs(out).max() <= CEILING + 1e-7
    # at most a handful of voices overlap; each moves at most STEP per sample, ramps included
    assert float(np.abs(np.diff(out, axis=0)).max()) <= 4 * STEP
    for plan in results:
        if not isinstance(plan, TransitionPlan) or not plan.accepted:
            continue
        assert plan.edit_frame >= plan.posted_frame and plan.commit_frame >= plan.posted_frame
        entry = plan.edit_frame
        for seg in plan.segments:
            assert seg.entry == entry and seg.start == entry - STEMS.stem(seg.name, seg.role).grid.entry
            entry = seg.exit
        assert plan.main_frame == entry
    # every sounded transition's edit frame is a beat of the outgoing music: a whole number of
    # beats (exact rational grid, rounded once) after the previous beat marker of that music
    s2 = Sequencer(GRAPH, STEMS, seed=5)
    markers = replay_markers(session)
    beats = [m for m in markers if m.kind == "beat"]
    for t in (m for m in markers if m.kind == "transition"):
        if t.detail["sync"] == "immediate":
            continue
        before = [b for b in beats if b.frame < t.frame and b.state == t.state]
        if not before:
            continue
        last = before[-1]
        fpb = Fraction(8000 * 60) / Fraction(last.detail["bpm"])
        k = round((t.frame - last.frame) / fpb)
        assert k >= 1 and abs((t.frame - last.frame) - k * fpb) < 1, (t, last)
        if t.detail["sync"] in ("bar", "phrase", "end") and last.detail["role"] == "main":
            beat_in_bar = int(last.position.split(":")[1])
            assert (beat_in_bar - 1 + k) % 4 == 0, (t, last)
    del s2


def replay_markers(session):
    s = Sequencer(GRAPH, STEMS, seed=5)
    s.start()
    frame = 0
    for delay, (kind, arg) in session:
        frame += delay
        s.render(frame - s.frame)
        if kind == "post":
            s.post(arg)
        elif kind == "param":
            s.set_param("intensity", arg)
        elif kind == "stinger":
            s.stinger(arg)
        else:
            s.set_tempo(arg)
    s.render(frame + 60_000 - s.frame)
    return s.pop_markers()
