"""Never stall: after `load`, the first `start` and the first `event` into every state of the
dungeon graph cost the server's event loop what a later one does (under 20 ms of blocking, the
loop's longest step measured by a lag probe); `serve` listens at once and builds a missing bank
in the background, reporting progress, answering NOT_READY until it can play."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from test_ipc_e2e import TINY_GRAPH, LiveServer

from soundtrack.ipc import Client, ErrorCode, RemoteError
from soundtrack.ipc.app import _open_quick, _prepare, make_sequencer
from soundtrack.ipc.hub import Hub
from soundtrack.ipc.server import Server
from soundtrack.ipc.session import Source

REPO = Path(__file__).resolve().parents[1]
STALL_S = 0.020
# explore -> tension -> combat -> boss -> victory: each event's target entered for the first time
PATH = [("something_stirs", "tension"), ("enemy_spotted", "combat"), ("boss_appears", "boss"), ("boss_defeated", "victory")]


class ColdServer(LiveServer):
    """A server whose bank is not prepared yet: it is prepared in a worker, as `serve` does."""

    def __init__(self, bank: Path, unix_path: Path) -> None:
        graph, quick, _root = _open_quick(bank)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.unix_path = unix_path

        async def setup() -> tuple[str, int]:
            self.hub = Hub(Source(graph, quick, str(bank)), make_sequencer=make_sequencer, ready=False)
            self.server = Server(self.hub, probe=True)
            host_port = await self.server.listen_tcp("127.0.0.1", 0)
            threading.Thread(target=_prepare, args=(self.hub, self.loop, str(bank), graph, quick, None), daemon=True).start()
            return host_port

        self.host, self.port = asyncio.run_coroutine_threadsafe(setup(), self.loop).result(10)


@pytest.fixture(scope="module")
def dungeon(real_bank: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ColdServer]:
    graph, bank = real_bank("dungeon")
    server = ColdServer(bank.path, tmp_path_factory.mktemp("stall") / "s.sock")
    yield server
    server.stop()


def _blocking(server: ColdServer, call: Any) -> tuple[Any, float]:
    """(result of `call()`, the loop's longest blocking step while it ran), the step measured in
    the loop thread's CPU time (wall clock on a loaded 2-core machine also counts other
    processes; `_WALL` keeps the worst wall-clock step for the report)."""
    probe = server.server.probe
    server.run(probe.reset)
    out = call()
    time.sleep(0.005)  # one more probe tick after the answer
    cpu, wall = server.run(lambda: (probe.max_cpu_s, probe.max_s))
    _WALL.append(wall)
    return out, cpu


_WALL: list[float] = []


def test_first_start_and_first_event_into_every_state_do_not_stall_the_loop(dungeon: ColdServer) -> None:
    with dungeon.tcp() as game:
        game.hello(role="controller")
        game.load(seed=4)  # waits while the bank is read and decoded in a worker
        costs: dict[str, float] = {}
        started, costs["start explore"] = _blocking(dungeon, lambda: game.start("explore"))
        assert started["state"] == "explore"
        frame = 0
        for event, target in PATH:
            for _ in range(8):  # pull a while: the event lands mid-loop
                frame += game.render(4096)[1]["frames"]
            plan, costs[f"{event} -> {target}"] = _blocking(dungeon, lambda e=event: game.event(e))
            assert plan["accepted"] and plan["to"] == target, plan
            while frame < plan["main_frame"] + 4096:  # into the target's main loop: its first event is done
                frame += game.render(4096)[1]["frames"]
        print({k: f"{v * 1e3:.2f} ms" for k, v in costs.items()}, f"(worst wall-clock step {max(_WALL) * 1e3:.2f} ms)")
        assert max(costs.values()) < STALL_S, costs


def test_a_states_first_event_costs_what_a_later_one_does(dungeon: ColdServer) -> None:
    with dungeon.tcp() as game:
        game.hello(role="controller")
        game.load(seed=5)
        game.start("explore")
        first, later = [], []
        for rnd in range(2):
            for event in ("something_stirs", "all_clear"):  # explore -> tension -> explore (phrase sync)
                game.render(4096)
                plan, cost = _blocking(dungeon, lambda e=event: game.event(e))
                assert plan["accepted"], plan
                (first if rnd == 0 else later).append(cost)
                frame = game.status()["frame"]
                while frame < plan["main_frame"] + 4096:
                    frame += game.render(8192)[1]["frames"]
        print(f"first {[round(c * 1e3, 2) for c in first]} ms, later {[round(c * 1e3, 2) for c in later]} ms")
        assert max(first) < STALL_S and max(later) < STALL_S
        assert max(first) < max(later) + 0.010  # no first-use penalty beyond noise


# -- serve listens at once ----------------------------------------------------------------------


def test_serve_listens_at_once_and_reports_a_bank_build_as_progress(tmp_path: Path) -> None:
    graph = tmp_path / "tiny.toml"
    graph.write_text(TINY_GRAPH.replace('name = "tiny"', 'name = "tinybuild"'))
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "soundtrack", "serve", str(graph), "--tcp", "127.0.0.1:0"],
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    assert proc.stderr is not None
    try:
        line = ""
        while "listening on tcp" not in line:
            line = proc.stderr.readline()
            assert line, "the server did not start"
        listened = time.monotonic() - t0
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        port = int(line.rsplit(":", 1)[1].split()[0])
        with Client.tcp("127.0.0.1", port, timeout=60) as c:
            hello = c.hello(role="controller")
            assert hello["graph"] == "tinybuild" and hello["ready"] is False and hello["build"]["phase"] in ("building", "preparing")
            c.subscribe(["build"])
            with pytest.raises(RemoteError) as e:
                c.start()
            assert e.value.code in (ErrorCode.NOT_READY, ErrorCode.NOT_LOADED)
            if hello["build"]["phase"] == "building":
                assert e.value.code == ErrorCode.NOT_READY and "building the bank" in e.value.message
                assert e.value.data["phase"] == "building"
            phases = []
            while not phases or phases[-1] != "ready":
                kind, note = c.wait_notification(timeout=120)
                if kind == "build":
                    phases.append(note["phase"])
                    assert note["phase"] != "failed", note
            status = c.status()
            assert status["ready"] and status["build"]["phase"] == "ready" and status["build"]["total"] > 0
            assert "building" in phases and phases[-1] == "ready"
            c.load()
            assert c.start()["state"] == "calm"
            assert c.render(1024)[0].shape == (1024, 2)
        built = time.monotonic() - t0
        assert listened < built / 2, (listened, built)  # it answered long before the bank was built
    finally:
        proc.terminate()
        proc.wait(20)
