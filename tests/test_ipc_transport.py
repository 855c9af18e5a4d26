"""Transport control over the protocol: pause/resume (sample-exact, the output clock counting
the silence), master volume with a ramp, snapshot/restore, and independent sessions; each the
same audio as the sequencer driven directly, with every frame converted to output frames."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import numpy as np
import pytest
from seqstems import SR, synth_graph, synth_stems

from soundtrack.errors import RpcError
from soundtrack.ipc.hub import Hub
from soundtrack.ipc.protocol import ErrorCode, Limits
from soundtrack.ipc.session import Source
from soundtrack.sequencer import Sequencer

GRAPH = synth_graph()
STEMS = synth_stems(GRAPH)
LOOK = SR // 500  # the limiter's 2 ms look-ahead: commands act from here after a render


def make_hub(**kw: Any) -> tuple[Hub, list[tuple[str, dict[str, Any]]]]:
    notes: list[tuple[str, dict[str, Any]]] = []

    def send(data: bytes, droppable: bool) -> bool:
        msg = msgpack.unpackb(data, raw=False)
        notes.append((msg[1], msg[2][0]))
        return True

    hub = Hub(Source(GRAPH, STEMS, "synth"), make_sequencer=lambda src, seed: Sequencer(src.graph, src.bank, seed=seed), **kw)
    hub.connect(1, send)
    hub.call(1, "hello", [{"role": "controller"}])
    hub.call(1, "subscribe", [])
    return hub, notes


def call(hub: Hub, method: str, **named: Any) -> Any:
    return hub.call(1, method, [named] if named else [])


def pull(hub: Hub, frames: int, session: int = 0) -> np.ndarray:
    out = []
    while frames > 0:
        n = min(frames, 1000)
        r = call(hub, "render", frames=n, session=session)
        out.append(np.frombuffer(r["pcm"], "<f4").reshape(n, r["channels"]).copy())  # pcm is a reused buffer
        frames -= n
    return np.concatenate(out)


def reference(seed: int = 3) -> Sequencer:
    seq = Sequencer(GRAPH, STEMS, seed=seed)
    seq.start()
    return seq


def render(seq: Sequencer, frames: int) -> np.ndarray:
    return np.concatenate([seq.render(min(1000, frames - i)).copy() for i in range(0, frames, 1000)])


def started(seed: int = 3, **kw: Any) -> tuple[Hub, list[tuple[str, dict[str, Any]]]]:
    hub, notes = make_hub(**kw)
    call(hub, "load", seed=seed)
    call(hub, "start")
    return hub, notes


# -- pause / resume -----------------------------------------------------------------------------


def test_pause_and_resume_are_the_sequencers_and_the_output_clock_counts_the_silence() -> None:
    hub, notes = started()
    a = pull(hub, 5000)
    paused = call(hub, "pause", fade="20ms")
    assert paused["paused"] and paused["frame"] == 5000 + LOOK and paused["fade_frames"] == 160
    assert paused["end_frame"] == paused["frame"] + 160
    b = pull(hub, 3000)
    status = call(hub, "status")
    assert status["paused"] and status["frame"] == 8000  # output frames go on counting the silence
    assert not np.any(b[paused["end_frame"] - 5000 :])  # paused output is digital silence
    resumed = call(hub, "resume", fade="20ms")
    assert resumed["paused"] is False and resumed["frame"] == 8000 and resumed["end_frame"] == 8000 + 160
    c = pull(hub, 12000)

    ref = reference()
    want = [render(ref, 5000)]
    ref.pause(fade="20ms")
    want.append(render(ref, 3000))
    ref.resume(fade="20ms")
    want.append(render(ref, 12000))
    np.testing.assert_array_equal(np.concatenate([a, b, c]), np.concatenate(want))  # bit for bit

    # the music after the resume is the music that would have followed, later by the pause
    paused_for = 8000 - paused["end_frame"]
    solo = render(reference(), 20000)
    after = 8000 + 160 + 50
    np.testing.assert_allclose(c[after - 8000 :], solo[after - paused_for : 20000 - paused_for], atol=1e-6)
    # and so are its markers: the same ones, at output frames moved by the pause
    plain_hub, plain_notes = started()
    pull(plain_hub, 20000)
    moved = {(k, p["frame"] - paused_for, p["position"]) for k, p in notes if k in ("beat", "bar") and p["frame"] >= after}
    plain = {(k, p["frame"], p["position"]) for k, p in plain_notes if k in ("beat", "bar")}
    assert moved and moved <= plain


def test_an_event_posted_while_paused_sounds_at_the_output_frame_its_plan_says() -> None:
    hub, notes = started()
    pull(hub, 4000)
    call(hub, "pause")
    pull(hub, 2500)
    plan = call(hub, "event", event="spotted")
    assert plan["posted_frame"] == 6500
    call(hub, "resume")
    pull(hub, plan["main_frame"] + 1000 - 6500)
    transition = [p for k, p in notes if k == "transition"]
    assert [t["frame"] for t in transition] == [plan["edit_frame"]]
    assert [p["frame"] for k, p in notes if k == "segment" and p["role"] == "main" and p["name"] == "fight"][:1] == [plan["main_frame"]]


def test_pause_and_resume_refuse_what_makes_no_sense() -> None:
    hub, _ = started()
    with pytest.raises(RpcError) as e:
        call(hub, "resume")
    assert e.value.code == ErrorCode.REJECTED and "not paused" in e.value.message
    call(hub, "pause")
    with pytest.raises(RpcError) as e:
        call(hub, "pause")
    assert e.value.code == ErrorCode.REJECTED
    for bad in ("61s", "100 bars", 1e300, -1, "x"):
        with pytest.raises(RpcError) as e:
            call(hub, "resume", fade=bad)
        assert e.value.code == ErrorCode.OUT_OF_RANGE, bad
    fresh, _ = make_hub()
    call(fresh, "load")
    with pytest.raises(RpcError) as e:
        call(fresh, "pause")
    assert e.value.code == ErrorCode.NOT_LOADED


# -- volume ---------------------------------------------------------------------------------------


def test_volume_ramps_the_master_gain_like_the_sequencer_and_bounds_its_input() -> None:
    hub, _ = started()
    a = pull(hub, 3000)
    v = call(hub, "volume", db=-6.0, ramp="100ms")
    assert v == {"db": -6.0, "frame": 3000 + LOOK, "ramp_frames": 800, "end_frame": 3000 + LOOK + 800}
    b = pull(hub, 6000)
    ref = reference()
    want = [render(ref, 3000)]
    ref.set_volume(-6.0, ramp="100ms")
    want.append(render(ref, 6000))
    np.testing.assert_array_equal(np.concatenate([a, b]), np.concatenate(want))
    assert call(hub, "status")["volume_db"] == -6.0
    for db in (1e300, float("nan"), float("inf"), 12.5, -121, 2**60, 10**400):
        with pytest.raises(RpcError) as e:
            call(hub, "volume", db=db)
        assert e.value.code == ErrorCode.OUT_OF_RANGE, db
    with pytest.raises(RpcError) as e:
        call(hub, "volume", db="loud")
    assert e.value.code == ErrorCode.INVALID_PARAMS
    assert call(hub, "volume", db=-120.0)["db"] == -120.0  # the floor is silence


# -- snapshot / restore ---------------------------------------------------------------------------


def test_restore_continues_where_the_snapshot_was_taken_in_another_session() -> None:
    hub, _ = started(seed=7)
    pull(hub, 9000)
    call(hub, "event", event="spotted")
    pull(hub, 40_000)
    snap = call(hub, "snapshot")
    assert snap["frame"] == 49_000 + LOOK  # the music after what is already mixed
    saved = json.loads(json.dumps(snap["snapshot"]))  # kept in a save game as JSON
    went_on = pull(hub, 16_000)

    sid = call(hub, "open_session", seed=1)["session"]  # another instance: restore replaces it
    call(hub, "start", state="boss", session=sid)
    pull(hub, 3000, session=sid)
    r = call(hub, "restore", snapshot=saved, session=sid)
    assert r["restored"] and r["state"] == "fight" and r["session"] == sid
    back = pull(hub, 16_000, session=sid)

    ref = Sequencer(GRAPH, STEMS, seed=7)
    ref.restore(saved["sequencer"])
    np.testing.assert_array_equal(back, render(ref, 16_000))  # the protocol adds nothing
    fade = SR // 10
    np.testing.assert_allclose(back[fade : -LOOK], went_on[LOOK + fade :], atol=1e-5)  # the same music, after a fade-in
    status = call(hub, "status", session=sid)
    assert status["state"] == "fight" and r["frame"] == 0 and status["frame"] == 16_000


def test_restore_refuses_what_is_not_a_snapshot_of_this_graph() -> None:
    hub, _ = started()
    pull(hub, 500)
    with pytest.raises(RpcError) as e:  # the intro still plays: no loop to describe yet
        call(hub, "snapshot")
    assert e.value.code == ErrorCode.REJECTED and "no state's loop" in e.value.message
    pull(hub, 20_000)
    snap = call(hub, "snapshot")["snapshot"]
    cases = [
        ({"format": "nope"}, ErrorCode.OUT_OF_RANGE),
        ({**snap, "graph_sha256": "0" * 64}, ErrorCode.REJECTED),
        ({**snap, "seed": -1}, ErrorCode.OUT_OF_RANGE),
        ({**snap, "sequencer": {"bogus": 1}}, ErrorCode.OUT_OF_RANGE),
    ]
    for bad, code in cases:
        with pytest.raises(RpcError) as e:
            call(hub, "restore", snapshot=bad)
        assert e.value.code == code, e.value.message
    # every part of the sequencer's snapshot replaced by nonsense: refused or restored, never a bug
    for key in snap["sequencer"]:
        for junk in ("x", 10**30, -1, None, [], {}, [[1e308] * 3], 1e300):
            bad = {**snap, "sequencer": {**snap["sequencer"], key: junk}}
            try:
                call(hub, "restore", snapshot=bad)
            except RpcError as e:
                assert e.code in (ErrorCode.OUT_OF_RANGE, ErrorCode.REJECTED), (key, junk, e.message)
    with pytest.raises(RpcError) as e:
        call(hub, "restore", snapshot="nope")
    assert e.value.code == ErrorCode.INVALID_PARAMS


# -- sessions -------------------------------------------------------------------------------------


def test_sessions_are_independent_music_instances() -> None:
    hub, notes = started(seed=3)
    sid = call(hub, "open_session", seed=8)["session"]
    assert sid == 1 and call(hub, "status")["sessions"] == [0, 1]
    call(hub, "start", state="fight", session=sid)
    got0, got1 = [], []
    for i in range(12):
        got0.append(pull(hub, 1000))
        got1.append(pull(hub, 700, session=sid))
        if i == 3:
            call(hub, "event", event="lost", session=sid)
            call(hub, "set_param", name="intensity", value=0.1, session=sid)
    np.testing.assert_array_equal(np.concatenate(got0), render(reference(3), 12_000))  # untouched by session 1
    other = Sequencer(GRAPH, STEMS, seed=8)
    other.start("fight")
    want1 = [render(other, 2800)]
    other.post("lost")
    other.set_param("intensity", 0.1)
    want1.append(render(other, 700 * 8))
    np.testing.assert_array_equal(np.concatenate(got1), np.concatenate(want1))
    assert {p["session"] for k, p in notes if k == "bar"} == {0, 1}
    assert call(hub, "status", session=sid)["frame"] == 8400 and call(hub, "status")["frame"] == 12_000
    assert call(hub, "close_session", session=sid) == {"closed": True, "session": sid}
    with pytest.raises(RpcError) as e:
        call(hub, "render", frames=16, session=sid)
    assert e.value.code == ErrorCode.OUT_OF_RANGE and "not open" in e.value.message
    with pytest.raises(RpcError) as e:
        call(hub, "close_session", session=0)
    assert e.value.code == ErrorCode.OUT_OF_RANGE


def test_sessions_are_limited() -> None:
    hub, _ = make_hub(limits=Limits(max_sessions=3))
    assert [call(hub, "open_session")["session"] for _ in range(2)] == [1, 2]
    with pytest.raises(RpcError) as e:
        call(hub, "open_session")
    assert e.value.code == ErrorCode.BUSY and "max_sessions" in e.value.message
    call(hub, "close_session", session=1)
    assert call(hub, "open_session")["session"] == 3


def test_the_python_client_drives_transport_over_a_socket(tmp_path: Any) -> None:
    from test_ipc_e2e import LiveServer, tiny_bank

    server = LiveServer(tiny_bank(), tmp_path / "t.sock")
    try:
        with server.unix() as c:
            c.hello(role="controller")
            c.load(seed=2)
            c.start()
            for _ in range(60):
                c.render(4096)
            assert c.pause(fade="5ms")["paused"] is True
            assert not c.render(4096)[0][1000:].any()
            assert c.resume()["paused"] is False
            assert c.volume(-3, ramp="20ms")["db"] == -3
            snap = c.snapshot()["snapshot"]
            sid = c.open_session(seed=2)["session"]
            assert c.restore(snap, session=sid)["restored"]
            assert c.render(1024, format="s16")[1]["frame"] == 61 * 4096  # session 0 goes on
            assert c.call("render", 512, "f32", sid)["frame"] == 0
            assert c.close_session(sid)["closed"]
    finally:
        server.stop()
