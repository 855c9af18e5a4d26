"""The RPC session over synthetic stems with tempo variants: stop and status follow the tempo
that is actually playing, not the state's base tempo."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from seqstems import SR, synth_graph, synth_stems

from soundtrack.ipc.hub import Hub
from soundtrack.ipc.session import Source
from soundtrack.sequencer import Sequencer
from soundtrack.sequencer.clips import ramp_table
from soundtrack.timing import BeatGrid

GRAPH = synth_graph()
STEMS = synth_stems(GRAPH)


def session() -> Hub:
    s = Hub(Source(GRAPH, STEMS, "synth"), make_sequencer=lambda src, seed: Sequencer(src.graph, src.bank, seed=seed))
    s.connect(1, lambda data, droppable: True)
    s.call(1, "load", [{"seed": 3}])
    s.dispatch(1, "start", [])
    return s


def pull(s: Hub, frames: int) -> np.ndarray:
    out = []
    while frames > 0:
        n = min(frames, 4096)
        r = s.dispatch(1, "render", [n])
        out.append(np.frombuffer(r["pcm"], "<f4").reshape(n, r["channels"]).copy())  # pcm is a view of a reused buffer
        frames -= n
    return np.concatenate(out)


def test_stop_during_a_tempo_variant_fades_over_a_bar_at_that_tempo() -> None:
    s = session()
    pull(s, 1000)
    plan = s.dispatch(1, "event", ["spotted"])  # fight: 150 bpm, takes at 135 and 165
    pull(s, plan["main_frame"] + 100 - s.session.seq.frame)
    s.dispatch(1, "set_param", ["tempo", 165])
    switch = s.session.seq.next_bar_frame()
    pull(s, switch + 10 - s.session.seq.frame)
    status = s.dispatch(1, "status", [])
    assert (status["tempo_exact"], status["state"]) == ("165", "fight")

    stop = s.dispatch(1, "stop", [{"fade": "1 bars"}])
    bar165 = BeatGrid(SR, Fraction(165)).beats_to_frames(4)  # 4/4 at 165 bpm, 8 kHz: 11636 frames
    assert stop["fade_frames"] == bar165 != BeatGrid(SR, Fraction(150)).beats_to_frames(4)
    assert stop["frame"] == switch + bar165  # the next downbeat on the 165 bpm grid
    # what is heard: the sequencer's own output under the per-sample fade, then silence
    ref = Sequencer(GRAPH, STEMS, seed=3)
    ref.start()
    ref.render(1000)
    ref.post("spotted")
    ref.render(plan["main_frame"] + 100 - ref.frame)
    ref.set_param("tempo", 165)
    ref.render(s.session.seq.frame - ref.frame)
    n = stop["end_frame"] + 2000 - s.session.seq.frame
    got, want = pull(s, n), ref.render(n)
    a = stop["frame"] - (s.session.seq.frame - n)
    np.testing.assert_array_equal(got[:a], want[:a])
    np.testing.assert_array_equal(got[a:a + bar165], want[a:a + bar165] * ramp_table(bar165, "equal-power", fade_in=False)[:, None])
    assert not np.any(got[a + bar165:])


def test_while_stopping_events_and_a_second_stop_are_refused_and_status_says_so() -> None:
    from soundtrack.errors import RpcError
    from soundtrack.ipc.protocol import ErrorCode

    s = session()
    pull(s, 1000)
    assert s.dispatch(1, "status", [])["stopping"] is False
    stop = s.dispatch(1, "stop", [{"fade": 0}])  # no fade asked: still the 1 ms ramp
    assert stop["fade_frames"] == 8 and stop["end_frame"] == stop["frame"] + 8
    assert s.dispatch(1, "status", [])["stopping"] is True
    for method, args, msg in (("event", ["spotted"], "event: the session is stopping at frame"),
                              ("stop", [], "stop: already stopping at frame")):
        with pytest.raises(RpcError) as e:
            s.dispatch(1, method, args)
        assert e.value.code == ErrorCode.REJECTED and str(e.value).startswith(f"{msg} {stop['end_frame']}")
