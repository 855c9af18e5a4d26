"""Transport control in the pure sequencer: pause/resume, master volume, snapshot/restore, and
segments that follow the playing tempo take."""

from __future__ import annotations

from fractions import Fraction

import msgpack
import numpy as np
import pytest
from clicks import find_clicks
from seqstems import SR, synth_graph, synth_stems

from soundtrack.errors import SequencerError
from soundtrack.sequencer import Sequencer

GRAPH = synth_graph()
STEMS = synth_stems(GRAPH)


def seq(seed: int = 3) -> Sequencer:
    s = Sequencer(GRAPH, STEMS, seed=seed)
    s.start()
    return s


def test_pause_then_resume_continues_with_exactly_the_frames_that_would_have_followed() -> None:
    ref = seq()
    whole = ref.render(200_000)
    s = seq()
    s.render(30_001)
    change = s.pause()
    n = change.fade_frames
    assert n == SR // 100 and change.frame == s.earliest_frame  # 10 ms, from the first frame it can act on
    halt = change.frame + n
    b = s.render(20_000)  # the fade, then silence: the music clock stops where the fade ends
    assert s.paused and s.frame == halt and s.output_frame == 50_001
    lead = halt - 30_001
    np.testing.assert_array_equal(b[lead:], 0.0)
    np.testing.assert_array_equal(b[: change.frame - 30_001], whole[30_001 : change.frame])  # untouched before
    gains = b[change.frame - 30_001 : lead, 0] / np.where(whole[change.frame : halt, 0] == 0, 1, whole[change.frame : halt, 0])
    assert np.all(np.abs(gains) <= 1.0 + 1e-6)
    c = s.render(30_000)  # still paused: nothing moves, nothing is heard
    assert s.frame == halt and not c.any()
    up = s.resume()
    assert up.frame == halt and not s.paused
    d = s.render(60_000)
    # after the resume's fade-in, exactly what the unpaused session played from the same music frame
    np.testing.assert_array_equal(d[up.fade_frames :], whole[halt + up.fade_frames : halt + 60_000])
    assert s.frame == halt + 60_000 and s.output_frame == 50_001 + 30_000 + 60_000
    # markers are on the music clock: the same as the unpaused session's
    m_ref = [(m.kind, m.frame) for m in ref.pop_markers() if m.frame < halt + 60_000]
    m_s = [(m.kind, m.frame) for m in s.pop_markers()]
    assert m_s == m_ref
    with pytest.raises(SequencerError, match="not paused"):
        s.resume()


def test_pause_and_resume_do_not_click_on_real_music(real_bank) -> None:
    graph, bank = real_bank("podcast")
    s = Sequencer(graph, bank, seed=1)
    s.start("bed")
    out = [s.render(300_000)]
    p = s.pause()
    out.append(s.render(48_000))
    r = s.resume()
    out.append(s.render(48_000))
    audio = np.concatenate(out)
    quiet = 300_000 + (p.frame + p.fade_frames - 300_000)
    assert not audio[quiet : 348_000].any()
    assert not find_clicks(audio, 48_000, at=[p.frame, p.frame + p.fade_frames, 348_000, 348_000 + r.fade_frames], radius=600)


def test_volume_ramps_per_sample_before_the_limiter() -> None:
    ref = seq().render(80_000)
    s = seq()
    a = s.render(20_000)
    v = s.set_volume(-6.0, ramp="0.25s")
    assert (v.frame, v.ramp_frames, s.volume_db) == (s.earliest_frame, 2000, -6.0)
    b = s.render(60_000)
    out = np.concatenate([a, b])
    g = 10 ** (-6 / 20)
    np.testing.assert_allclose(out[v.frame + 2000 :], ref[v.frame + 2000 :] * np.float32(g), atol=2e-7)
    np.testing.assert_array_equal(out[: v.frame], ref[: v.frame])
    ratio = out[v.frame : v.frame + 2000, 0] / np.where(ref[v.frame : v.frame + 2000, 0] == 0, 1, ref[v.frame : v.frame + 2000, 0])
    mask = np.abs(ref[v.frame : v.frame + 2000, 0]) > 1e-3
    assert np.all(np.diff(ratio[mask]) <= 1e-4)  # falling smoothly, never up, no step
    with pytest.raises(SequencerError, match="between -120 and 12"):
        s.set_volume(30.0)
    with pytest.raises(SequencerError, match="must be a number"):
        s.set_volume(float("nan"))


def test_snapshot_restore_comes_back_in_the_same_music_sample_exact() -> None:
    ref = seq(seed=9)
    ref.set_param("intensity", 0.9, ramp="1 beats")
    ref.render(16_700 + 3 * 32_000 + 400)  # just after a loop boundary: the last cycle's tail rings
    snap = ref.snapshot()
    assert snap["exact"] and snap["state"] == "calm" and snap["rings"]
    snap = msgpack.unpackb(msgpack.packb(snap))  # what a client stores and sends back
    f = ref.earliest_frame
    tail = ref.render(f - ref.frame + 5 * 32_000)[f - ref.frame :]
    variants_ref = [m.detail["variant"] for m in ref.pop_markers() if m.kind == "segment" and m.frame >= f]
    s = Sequencer(GRAPH, STEMS, seed=1234)  # another seed: the snapshot's generator state wins
    s.restore(snap)
    out = s.render(5 * 32_000)
    n = SR // 100
    np.testing.assert_array_equal(out[n:], tail[n:])
    markers = [m for m in s.pop_markers() if m.kind == "segment"]
    assert markers[0].frame == 0 and markers[0].detail["offset"] == snap["main"]["offset"]  # where it resumed
    assert [m.detail["variant"] for m in markers[1:]] == variants_ref
    assert s.params() == {"intensity": 0.9}
    with pytest.raises(SequencerError, match="already started"):
        s.restore(snap)
    with pytest.raises(SequencerError, match="malformed|not a soundtrack-snapshot"):
        Sequencer(GRAPH, STEMS).restore({**snap, "main": {"variant": "x"}})
    with pytest.raises(SequencerError, match="state 'nowhere'"):
        Sequencer(GRAPH, STEMS).restore({**snap, "state": "nowhere"})


def test_a_snapshot_while_something_is_in_flight_is_inexact_but_restores_the_state() -> None:
    s = seq()
    s.render(40_000)
    s.post("spotted")
    s.render(10_000)  # the fight intro plays, its main has not started: there is no loop to save
    with pytest.raises(SequencerError, match="no state's loop"):
        s.snapshot()
    s.render(30_000)
    s.set_param("intensity", 1.0, ramp="2 bars")
    s.render(100)
    snap = s.snapshot()
    assert snap["state"] == "fight" and not snap["exact"]  # a parameter ramp is under way
    r = Sequencer(GRAPH, STEMS)
    r.restore(snap)
    out = r.render(20_000)
    assert r.state == "fight" and np.abs(out[2000:]).max() > 0.05 and r.params() == {"intensity": 1.0}


def test_outros_and_intros_follow_the_tempo_take() -> None:
    s = Sequencer(GRAPH, STEMS, seed=2)
    s.start("fight")
    s.render(30_000)
    t = s.set_tempo(165)
    assert t.accepted and t.bpm == 165
    s.render(t.frame - s.frame + 1000)
    plan = s.post("lost")  # fight -> calm, outro first: the 165 bpm take of the outro
    outro = next(x for x in plan.segments if x.role == "outro")
    assert outro.exit - outro.entry == STEMS.stem("fight", "outro", tempo=Fraction(165)).grid.body_frames
    s.render(plan.main_frame - s.frame + 40_000)
    back = s.post("spotted")  # calm -> fight again: the intro of the take the game asked for
    intro = next(x for x in back.segments if x.role == "intro")
    assert intro.exit - intro.entry == STEMS.stem("fight", "intro", tempo=Fraction(165)).grid.body_frames
    assert intro.exit - intro.entry != STEMS.stem("fight", "intro").grid.body_frames


def test_a_malformed_snapshot_is_one_clear_error() -> None:
    s = seq()
    s.render(16_700 + 40_000)
    snap = s.snapshot()
    for bad in ({**snap, "params": "x"}, {**snap, "rings": [{"variant": 0}]}, {**snap, "head": None},
                {**snap, "rings": [{"variant": 99, "tempo": None, "offset": 0}]}, {**snap, "main": []}):
        with pytest.raises(SequencerError, match="restore: "):
            Sequencer(GRAPH, STEMS).restore(bad)
