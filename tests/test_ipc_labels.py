"""One labelling of musical positions: plans, markers and status give a frame the same bar:beat
on the same state's grid (positions come from the sequencer; the protocol passes them on)."""

from __future__ import annotations

import collections
from typing import Any

import msgpack
from seqstems import synth_graph, synth_stems

from soundtrack.ipc.hub import Hub
from soundtrack.ipc.session import Source
from soundtrack.sequencer import Sequencer

GRAPH = synth_graph()
STEMS = synth_stems(GRAPH)


def session() -> tuple[Hub, list[dict[str, Any]]]:
    notes: list[dict[str, Any]] = []
    hub = Hub(Source(GRAPH, STEMS, "synth"), make_sequencer=lambda src, seed: Sequencer(src.graph, src.bank, seed=seed))
    hub.connect(1, lambda data, droppable: notes.append(msgpack.unpackb(data, raw=False)[2][0]) or True)
    for method, params in (("hello", [{"role": "controller"}]), ("subscribe", []), ("load", [{"seed": 2}]), ("start", [])):
        hub.call(1, method, params)
    return hub, notes


def pull_to(hub: Hub, frame: int) -> None:
    now = hub.call(1, "status", [])["frame"]
    while now < frame:
        now += hub.call(1, "render", [min(4000, frame - now)])["frames"]


def test_plans_markers_and_status_label_a_frame_alike() -> None:
    hub, notes = session()
    plans = []
    for event in ("spotted", "lost", "spotted", "escalate", "victory"):  # intro, outro, bridge, end sync
        pull_to(hub, hub.call(1, "status", [])["frame"] + 9000)
        plan = hub.call(1, "event", [event])
        assert plan["accepted"], plan
        plans.append(plan)
        pull_to(hub, plan["main_frame"] + 6000)
    at: dict[tuple[int, str | None], set[str]] = collections.defaultdict(set)
    for m in notes:
        if m["position"]:
            at[(m["frame"], m["state"])].add(m["position"])
    # one frame, one state: one label, whichever marker carries it
    assert {k: v for k, v in at.items() if len(v) > 1} == {}
    for plan in plans:
        outgoing = at[(plan["edit_frame"], plan["from"])]
        assert outgoing == {plan["position"]}, (plan["event"], outgoing, plan["position"])


def test_status_at_a_beat_says_what_the_beat_marker_said() -> None:
    """status().position is the label of the music sounding (an outro's on its own state's grid,
    while `state` is already the state the transition went to)."""
    hub, notes = session()
    for event in ("spotted", "lost", "spotted", "escalate"):
        pull_to(hub, hub.call(1, "status", [])["frame"] + 9000)
        pull_to(hub, hub.call(1, "event", [event])["main_frame"] + 6000)
    beats = [m for m in notes if m["kind"] == "beat"]
    hub2, _ = session()
    done = 0
    for event in ("spotted", "lost", "spotted", "escalate"):
        target = hub2.call(1, "status", [])["frame"] + 9000
        for b in [b for b in beats if done < b["frame"] <= target][::3]:
            pull_to(hub2, b["frame"])
            st = hub2.call(1, "status", [])
            assert st["position"] == b["position"], b
        pull_to(hub2, target)
        main = hub2.call(1, "event", [event])["main_frame"] + 6000
        for b in [b for b in beats if target < b["frame"] <= main][::3]:
            pull_to(hub2, b["frame"])
            st = hub2.call(1, "status", [])
            assert st["position"] == b["position"], b
        pull_to(hub2, main)
        done = main

