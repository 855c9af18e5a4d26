"""The sequencer on synthetic stems: what lands where, what is heard, what is refused."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from seqstems import PICKUP, TAIL, synth_graph, synth_stems

from soundtrack.errors import SequencerError
from soundtrack.sequencer import Sequencer
from soundtrack.sequencer.clips import Clip, Envelope, ramp_table
from soundtrack.sequencer.limiter import Limiter
from soundtrack.sequencer.tracks import Track

SR = 8000
GRAPH = synth_graph()
STEMS = synth_stems(GRAPH)
O = 16_700  # calm main's first downbeat after start(): intro pickup 700 + one 120 bpm bar


def seq(seed: int = 3, **kw) -> Sequencer:
    s = Sequencer(GRAPH, STEMS, seed=seed, **kw)
    s.start()
    return s


def played(markers, kind: str, **detail):
    return [m for m in markers if m.kind == kind and all(m.detail.get(k) == v for k, v in detail.items())]


def layers_sum(stem, names=("drums", "bass", "harmony")):
    acc = stem.layers[names[0]].copy()
    for n in names[1:]:
        acc += stem.layers[n]
    return acc


def test_start_plays_the_intro_pickup_then_loops_the_main_exactly() -> None:
    s = seq()
    out = s.render(O + 2 * 32_000 + 5000)
    m = s.pop_markers()
    assert played(m, "segment", role="intro")[0].frame == PICKUP["intro"]
    mains = played(m, "segment", role="main")
    assert [x.frame for x in mains] == [O, O + 32_000, O + 64_000]
    # intensity 0.5 (default): drums in, melody out; after the intro's tail only the main sounds
    v0 = mains[0].detail["variant"]
    want = layers_sum(STEMS.stem("calm", "main", v0))
    a = O + TAIL["intro"]
    assert np.array_equal(out[a : O + 32_000], want[a - O : 32_000])
    # bars and beats follow the grid: bar 1 of the intro, then the main's bars every 16000 frames
    bars = [x.frame for x in played(m, "bar")]
    assert bars == [700, O, O + 16_000, O + 32_000, O + 48_000, O + 64_000]
    assert [x.position for x in played(m, "beat")][:6] == ["pre1:1", "pre1:2", "pre1:3", "pre1:4", "1:1", "1:2"]  # the intro counts down to bar 1


def test_variants_never_repeat_and_the_seed_decides_them() -> None:
    def sequence(seed: int) -> list[int]:
        s = seq(seed)
        s.render(O + 32_000 * 40 + 1)
        return [x.detail["variant"] for x in played(s.pop_markers(), "segment", role="main")]

    a = sequence(1)
    assert len(a) == 41 and all(x != y for x, y in zip(a, a[1:]))
    assert set(a) == {0, 1, 2}
    assert sequence(1) == a
    assert sequence(2) != a


def test_a_transition_lands_its_intro_on_the_bar_and_the_tail_rings_under_the_fade() -> None:
    s = seq()
    s.render(40_000)
    plan = s.post("spotted")
    # lookahead = the fight intro's 700-frame pickup; next calm bar at or after 40700 is 48700
    assert (plan.edit_frame, plan.position, plan.fade_frames) == (48_700, "3:1", 4000)
    assert [(x.role, x.start, x.entry, x.exit) for x in plan.segments] == [("intro", 48_000, 48_700, 61_500)]
    out = s.render(61_500 + 20_000 - 40_000)
    m = s.pop_markers()
    assert played(m, "transition")[0].frame == 48_700
    assert played(m, "state")[-1].state == "fight"
    intro = layers_sum(STEMS.stem("fight", "intro"))
    # the edit was on calm's loop end, so calm's tail (1200 frames) rang under the 4000-frame fade;
    # once that is over only the fight intro sounds, sample for sample where the plan put it
    a, b = 48_700 + 4000, 61_500
    assert np.array_equal(out[a - 40_000 : b - 40_000], intro[a - 48_000 : b - 48_000])
    main = played(m, "segment", role="main", name="fight")[0]
    assert main.frame == 61_500
    want = layers_sum(STEMS.stem("fight", "main", main.detail["variant"]))
    a = 61_500 + TAIL["intro"]
    assert np.array_equal(out[a - 40_000 : 81_500 - 40_000], want[a - 61_500 : 20_000])
    # beats after the edit follow the incoming grid (150 bpm: 3200 frames), from the edit point
    beats = [x.frame for x in played(m, "beat") if x.frame >= 48_700][:5]
    assert beats == [48_700, 51_900, 55_100, 58_300, 61_500]


def test_the_outgoing_fades_over_the_fade_and_nothing_else_changes() -> None:
    s = seq()
    s.render(20_000)
    plan = s.post("boss")  # from *, sync beat, fade 0 -> a 1 ms (8-frame) equal-power ramp
    assert (plan.edit_frame, plan.fade_frames, plan.segments) == (20_700, 8, ())
    out = s.render(20_000)
    boss = STEMS.stem("boss", "main")
    want = layers_sum(boss)
    e = 20_700 - 20_000
    tail = Envelope(1.0)
    tail.add(20_700, ramp_table(8, "equal-power", fade_in=True), 1.0)
    gain = tail.render(20_700, 20_708)
    # the boss main fades in over the same 8 frames, then is exactly the stem
    assert np.allclose(out[e + 8 : e + 4000], want[8:4000], atol=0)
    assert gain[0] < 0.2 and gain[-1] > 0.98


def test_a_newer_event_replaces_a_pending_plan_before_it_sounds() -> None:
    s = seq()
    s.render(20_000)
    first = s.post("spotted")  # edit 32700, its pickup from 32000
    assert first.commit_frame == 32_000
    s.render(5000)
    second = s.post("boss")  # before anything of `first` sounds: replaces it
    assert second.source == "calm" and second.edit_frame == 28_700
    s.render(20_000)
    m = s.pop_markers()
    assert len(played(m, "cancelled")) == 1
    assert [(x.frame, x.detail["to"]) for x in played(m, "transition")] == [(28_700, "boss")]
    assert not played(m, "segment", name="fight")


def test_a_newer_event_queues_behind_a_plan_that_already_sounds() -> None:
    s = seq()
    s.render(20_000)
    first = s.post("spotted")
    s.render(first.commit_frame + 100 - 20_000)  # the fight intro's pickup is playing
    second = s.post("lost")  # resolved from fight, after fight's entry
    assert second.accepted and second.source == "fight"
    assert second.edit_frame >= first.segments[0].entry
    s.render(second.main_frame + 1000 - s.frame)
    m = s.pop_markers()
    assert [x.detail["to"] for x in played(m, "transition")] == ["fight", "calm"]
    assert not played(m, "cancelled")


def test_refused_and_unknown_events_are_reported_not_dropped() -> None:
    s = seq()
    plan = s.post("victory")
    assert not plan.accepted and "'calm' has no transition on 'victory'" in plan.reason
    s.render(10)
    assert played(s.pop_markers(), "rejected")[0].detail["event"] == "victory"
    with pytest.raises(SequencerError, match="event 'dance' is not in graph 'synth'"):
        s.post("dance")
    with pytest.raises(SequencerError, match="at_frame=5 is in the past"):
        s.post("spotted", at_frame=5)
    with pytest.raises(SequencerError, match="not started"):
        Sequencer(GRAPH, STEMS).post("spotted")


def test_post_at_a_future_frame_is_sample_exact() -> None:
    s = seq()
    plan = s.post("boss", at_frame=O + 4000 * 3 + 1)
    assert plan.edit_frame == O + 4000 * 4
    s.render(plan.edit_frame + 10)
    assert played(s.pop_markers(), "transition")[0].frame == O + 16_000


def test_layers_follow_the_parameter_from_the_next_beat() -> None:
    s = seq()
    s.render(O + 1000)
    ch = s.set_param("intensity", 0.9)
    assert (ch.frame, ch.position, ch.ramp_frames, ch.gains) == (O + 4000, "1:2", 4000, {"drums": 1.0, "melody": 1.0})
    assert s.layer_gains(O + 3999)["melody"] == 0.0
    assert 0.0 < s.layer_gains(O + 6000)["melody"] < 1.0
    out = s.render(32_000 - 1000)
    v = played(s.pop_markers(), "segment", role="main")[0].detail["variant"]
    full = layers_sum(STEMS.stem("calm", "main", v), ("drums", "bass", "harmony", "melody"))
    assert np.array_equal(out[O + 8000 - (O + 1000) :], full[8000:32_000])  # all four layers: the whole mix
    ch = s.set_param("intensity", 0.7, ramp="0.5s")
    assert ch.ramp_frames == 4000 and ch.gains["melody"] == pytest.approx(0.5)
    with pytest.raises(SequencerError, match=r"param intensity=2 must be a number between 0 and 1"):
        s.set_param("intensity", 2)
    with pytest.raises(SequencerError, match="params are intensity"):
        s.set_param("loudness", 0.5)


def test_steady_partial_layer_gains_mix_exactly_in_small_blocks_and_leave_the_stems_alone() -> None:
    # intensity 0.4: drums held at half gain (smoothstep of 0.5), melody out; many small blocks
    # reuse the precomputed sum of the constant-gain layers, which must give the same bits
    calm = [STEMS.stem("calm", "main", v) for v in range(GRAPH.states["calm"].variants)]
    before = [{k: v.copy() for k, v in stem.layers.items()} for stem in calm]
    whole, chunked = seq(), seq()
    for s in (whole, chunked):
        s.render(O + 1000)
        s.set_param("intensity", 0.4)
    out = whole.render(3 * 32_000)
    parts = [chunked.render(300) for _ in range(3 * 32_000 // 300)]
    parts.append(chunked.render(3 * 32_000 - 300 * len(parts)))
    assert np.array_equal(np.concatenate(parts), out)
    mains = played(whole.pop_markers(), "segment", role="main")
    m = [x for x in mains if x.frame > O + 1000][0]  # the first cycle after the ramp: half drums + bass + harmony, bit for bit
    stem = STEMS.stem("calm", "main", m.detail["variant"])
    want = stem.layers["drums"] * np.float32(0.5) + stem.layers["bass"] + stem.layers["harmony"]
    a = m.frame - (O + 1000) + TAIL["main"]  # after the previous variant's tail
    assert np.array_equal(out[a : a + 32_000 - TAIL["main"]], want[TAIL["main"] : 32_000])
    assert all(np.array_equal(stem.layers[k], v) for stem, b in zip(calm, before) for k, v in b.items())


def test_a_stinger_overlaps_the_music_on_the_beat_and_is_guarded() -> None:
    s = seq()
    ref = seq()
    s.render(O + 100)
    ref.render(O + 100)
    st = s.post("hit")  # a stinger's name works as an event
    assert st.accepted and st.frame == O + 4000 and st.start == O + 4000 - PICKUP["stinger"]
    again = s.stinger("hit")
    assert not again.accepted and "min_interval = 2s" in again.reason
    out, music = s.render(20_000), ref.render(20_000)
    stem = STEMS.stem("hit", "stinger")
    a = st.start - (O + 100)
    # music + stinger: the music is not replaced (the stinger has its own 1 ms ramps at both ends)
    got = out[a + 8 : a + stem.grid.frames - 8] - music[a + 8 : a + stem.grid.frames - 8]
    assert np.allclose(got, stem.layers["melody"][8:-8], atol=1e-6)
    s.render(2 * SR)
    assert s.stinger("hit").accepted


def test_a_tempo_parameter_switches_to_the_stretched_take_on_the_next_bar() -> None:
    s = seq()
    s.render(1000)
    plan = s.post("spotted")  # fight at 150 bpm, tempi 135 and 165
    s.render(plan.main_frame + 100 - s.frame)
    ch = s.set_param("tempo", 138)
    assert ch.accepted and ch.bpm == 135 and ch.frame == plan.main_frame + 12_800
    s.render(ch.frame + 20_000 - s.frame)
    m = s.pop_markers()
    assert played(m, "tempo")[0].frame == ch.frame
    beats = [x.frame for x in played(m, "beat") if x.frame >= ch.frame][:4]
    fpb = Fraction(SR * 60, 135)
    assert [b - ch.frame for b in beats] == [round(k * fpb) for k in range(4)]
    assert not s.set_tempo(136).accepted  # already there
    calm = seq()
    assert "no tempo variants" in calm.set_tempo(100).reason


def test_the_limiter_keeps_peaks_under_the_ceiling_and_leaves_quiet_audio_alone() -> None:
    loud = synth_stems(GRAPH, amp=0.5)
    s = Sequencer(GRAPH, loud, seed=1)
    s.start()
    s.set_param("intensity", 1.0)
    out = s.render(60_000)
    assert np.abs(out).max() <= 10 ** (-1 / 20) + 1e-7
    q1, q2 = Sequencer(GRAPH, STEMS, seed=1), Sequencer(GRAPH, STEMS, seed=1, ceiling_db=20.0)
    q1.start(), q2.start()
    a, b = q1.render(60_000), q2.render(60_000)
    assert np.abs(b).max() < 10 ** (-1 / 20) and np.array_equal(a, b)


def _limit_in_blocks(x: np.ndarray, sizes: list[int]) -> np.ndarray:
    lim, parts, pos = Limiter(), [], 0
    for n in sizes:
        part = x[pos : pos + n].copy()
        lim.process(part, x[pos + n : pos + n + lim.lookahead])
        parts.append(part)
        pos += n
    return np.concatenate(parts)


def test_the_limiter_is_block_size_independent_and_ramps_its_gain() -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((20_000, 2)) * 0.2).astype(np.float32)
    x[5000:5100] *= 8  # a burst 10 dB over the ceiling
    whole = _limit_in_blocks(x, [20_000])
    assert np.array_equal(_limit_in_blocks(x, [1, 999, 4096, 3, 7000, 20_000]), whole)
    assert np.abs(whole).max() <= 10 ** (-1 / 20)
    # the gain ramps down over the look-ahead before the burst instead of stepping at it
    gain = np.abs(whole[:, 0].astype(np.float64)) / np.maximum(np.abs(x[:, 0]), 1e-9)
    g = gain[4800:5300][np.abs(x[4800:5300, 0]) > 0.05]
    assert g.min() < 0.4
    before = gain[5000 - 96 : 5000][np.abs(x[5000 - 96 : 5000, 0]) > 0.05]
    assert before.min() < 0.9 and np.all(np.diff(np.log(before)) < 0.05)  # ramping, not a step
    assert np.array_equal(whole[:4800], x[:4800])  # untouched before the look-ahead


def test_fade_curves_are_what_they_say() -> None:
    n = 1001
    assert ramp_table(n, "equal-power", fade_in=True)[500] == pytest.approx(np.sqrt(0.5), abs=1e-3)
    assert ramp_table(n, "linear", fade_in=True)[500] == pytest.approx(0.5, abs=1e-3)
    s = ramp_table(n, "s-curve", fade_in=True)
    assert s[500] == pytest.approx(0.5, abs=1e-3) and s[50] < 0.05 * 1.2
    fi, fo = ramp_table(n, "equal-power", fade_in=True), ramp_table(n, "equal-power", fade_in=False)
    assert np.allclose(fi**2 + fo**2, 1.0, atol=1e-6)  # equal power across the crossfade


def test_fade_out_scales_the_limited_output_per_sample_then_plays_exact_silence() -> None:
    ref = Sequencer(GRAPH, synth_stems(GRAPH, amp=0.5), seed=2)  # loud: the limiter works, fade after it
    ref.start()
    want = ref.render(80_000)
    for blocks in ([80_000], [1, 19_999, 777, 20_000, 39_223]):
        s = Sequencer(GRAPH, synth_stems(GRAPH, amp=0.5), seed=2)
        s.start()
        assert s.silent_from is None
        assert s.fade_out(4000, at_frame=30_000) == 4000 and s.silent_from == 34_000
        out = np.concatenate([s.render(n) for n in blocks])
        gains = ramp_table(4000, "equal-power", fade_in=False)
        assert np.array_equal(out[:30_000], want[:30_000])
        assert np.array_equal(out[30_000:34_000], want[30_000:34_000] * gains[:, None])
        assert not np.any(out[34_000:]) and not np.signbit(out[34_000:]).any()
        bars = [m.frame for m in played(s.pop_markers(), "bar")]  # the clock and its markers go on
        assert bars[-1] >= 64_000
    with pytest.raises(SequencerError, match="already fading out: silent from frame 34000"):
        s.fade_out(100)
    s2 = seq()
    assert s2.fade_out(0) == 8  # never shorter than the 1 ms ramp (8 frames at 8 kHz)
    with pytest.raises(SequencerError, match="in the past"):
        seq().fade_out(10, at_frame=-1)


def test_param_ramps_chosen_by_a_client_are_not_cached() -> None:
    s = seq()
    s.render(20_000)
    before = len(s.player._tables)
    for i in range(50):  # a long server session: every ramp a different length
        s.set_param("intensity", 0.1 + 0.01 * i, ramp=f"{100 + i}ms")
    assert len(s.player._tables) == before


def test_a_loop_cycle_starting_under_a_fade_out_ends_with_the_fade() -> None:
    stem = STEMS.stem("calm", "main")  # one cycle: 32000 frames
    t = Track(1, "calm", "main")
    t.add_clip(Clip(stem, 0, stem.grid.exit, 0, env=t.env))
    t.add_clip(Clip(stem, 0, stem.grid.exit, 32_000, env=t.env))  # the next cycle; the first has ended
    assert [(c.out0, c.out1) for c in t.clips] == [(32_000, 64_000)]
    t.stop(40_000, ramp_table(500, "equal-power", fade_in=False))
    t.add_clip(Clip(stem, 0, stem.grid.exit, 40_200, env=t.env))  # past 40500 it would only be gain 0
    assert [(c.out0, c.out1) for c in t.clips] == [(32_000, 40_500), (40_200, 40_500)]


def test_long_fades_are_computed_as_they_play_with_the_same_values() -> None:
    from soundtrack.sequencer.clips import EAGER_MAX, Ramp, fade_table

    for curve in ("equal-power", "linear", "s-curve"):
        for fade_in in (True, False):
            n = 50_001
            whole = ramp_table(n, curve, fade_in=fade_in)
            lazy = Ramp(n, curve, fade_in)
            got = np.concatenate([lazy[a : a + 777] for a in range(0, n, 777)])
            np.testing.assert_array_equal(got, whole)
            v0, d = np.float32(0.8), np.float32(-0.55)
            np.testing.assert_array_equal(lazy.shifted(v0, d)[100:9000], (v0 + d * whole)[100:9000].astype(np.float32))
            np.testing.assert_array_equal(lazy.scaled(v0)[-5000:], (v0 * whole)[-5000:].astype(np.float32))
    assert isinstance(fade_table(EAGER_MAX, "linear", True), np.ndarray)
    big = fade_table(64 * 4 * 3 * 48_000, "equal-power", False)  # 64 bars at 20 bpm: 36.9 M frames
    assert isinstance(big, Ramp) and len(big) == 36_864_000
    env = Envelope(1.0)
    env.scale_from(1000, big, 0.0)  # a stop with that fade costs no table
    assert env.render(2_000_000, 2_001_024).nbytes == 4096
    assert float(env.value_at(1000 + 36_864_000 - 1)) < 1e-6 and env.value_at(40_000_000) == 0.0
