"""Fair, predictable serving: a monitor flooding requests barely moves the controller's render
latency; control is handed over explicitly, and a monitor never slips into the game's place."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
from test_ipc_e2e import LiveServer, tiny_bank

from soundtrack.ipc import Client, ErrorCode, RemoteError

REPO = Path(__file__).resolve().parents[1]

# A monitor that floods `status`: batches of 2000 pipelined requests, a new batch whenever fewer
# than 2000 are unanswered, the answers read and counted. It prints how many it got.
FLOODER = r"""
import socket, sys, time, msgpack
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(msgpack.packb([0, 0, "hello", [{"role": "monitor"}]]))
batch = b"".join(msgpack.packb([0, i, "status", []]) for i in range(1, 2001))
u = msgpack.Unpacker(raw=False)
s.sendall(batch)  # the first batch is parsed to learn the size of an answer ...
got = 0
while got < 2001:
    u.feed(s.recv(1 << 20))
    got += sum(1 for _ in u)
size = u.tell() / got
sent, received = 2000, 2000 * size  # ... the rest only counted in bytes (a cheap flooder)
t0 = time.time()
while time.time() - t0 < float(sys.argv[2]):
    if sent * size - received < 2000 * size:
        s.sendall(batch)
        sent += 2000
    data = s.recv(1 << 20)
    if not data:
        break
    received += len(data)
print(int(received / size) - 2000, time.time() - t0)
"""


@pytest.fixture(scope="module")
def cli_server() -> Iterator[int]:
    """`soundtrack serve` on the tiny bank as a child process; yields its port."""
    proc = subprocess.Popen([sys.executable, "-m", "soundtrack", "serve", str(tiny_bank()), "--tcp", "127.0.0.1:0"],
                            stderr=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stderr is not None
    try:
        line = ""
        while "listening on tcp" not in line:
            line = proc.stderr.readline()
            assert line, "the server did not start"
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        yield int(line.rsplit(":", 1)[1].split()[0])
    finally:
        proc.terminate()
        proc.wait(10)


def _renders(c: Client, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        c.call("render", 1024, "f32")
        out.append(time.perf_counter() - t)
    return out


def test_a_monitor_flooding_status_cannot_move_the_controllers_render_p99(cli_server: int) -> None:
    game = Client.tcp("127.0.0.1", cli_server)
    game.hello(role="controller")
    game.load(seed=1)
    game.start()
    _renders(game, 200)  # warm up
    alone: list[float] = []
    flooded: list[float] = []
    for _round in range(2):  # interleaved, so a busy machine weighs on both alike
        alone += _renders(game, 400)
        # niced: the machine's CPUs go to the server and the controller first; the server still has
        # 2000 requests of the flood waiting at every moment
        flood = subprocess.Popen(["nice", "-n", "10", sys.executable, "-c", FLOODER, str(cli_server), "30"],
                                 stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)  # the flood is under way
        flooded += _renders(game, 400)
        flood.kill()
        out, _ = flood.communicate(timeout=10)
        assert game.status()["clients"] >= 1
    game.close()
    p50a, p99a = np.percentile(np.array(alone) * 1e3, [50, 99])
    p50f, p99f = np.percentile(np.array(flooded) * 1e3, [50, 99])
    print(f"render(1024) alone p50 {p50a:.3f} ms p99 {p99a:.3f} ms; beside a flooding monitor p50 {p50f:.3f} ms p99 {p99f:.3f} ms")
    # within 2x of its value alone. The floor is for a loaded 2-core CI machine, where the OS
    # deschedules a server kept busy by the flood for a few ms at a time whatever the server does
    # (test_the_servers_own_steps_stay_short_under_a_flood measures the server's part alone);
    # before the dispatcher the same flood took p99 from 3 ms to 36-148 ms.
    assert p99f <= 2 * max(p99a, 5.0), (p99a, p99f)
    assert p50f <= p50a + 1.0, (p50a, p50f)


def test_the_servers_own_steps_stay_short_under_a_flood(tmp_path: Path) -> None:
    """The server's part of the controller's wait: the longest its loop runs (in its thread's
    CPU time) before it can read the controller's next request, while a monitor floods."""
    server = LiveServer(tiny_bank(), tmp_path / "p.sock", probe=True)
    try:
        with server.tcp() as game:
            game.hello(role="controller")
            game.load()
            game.start()
            flood = subprocess.Popen(["nice", "-n", "10", sys.executable, "-c", FLOODER, str(server.port), "30"],
                                     stdout=subprocess.PIPE, text=True)
            time.sleep(0.3)
            server.run(server.server.probe.reset)
            waits = _renders(game, 600)
            step = server.run(lambda: server.server.probe.cpu_quantile(0.999))
            worst = server.run(lambda: server.server.probe.max_cpu_s)
            flood.kill()
            flood.communicate(timeout=10)
    finally:
        server.stop()
    print(f"the loop's steps beside the flood: p99.9 {step * 1e3:.3f} ms, worst {worst * 1e3:.3f} ms of CPU; "
          f"render p50 {np.median(waits) * 1e3:.3f} ms")
    # a 0.05 ms monitor slice, a render, a probe tick: never the flood's backlog, which would make
    # every step long. One in thousands may be a garbage collection (10.8 ms once in CI): the
    # worst is held to the stall bound of the fuzz run instead
    assert step < 0.005, step
    assert worst < 0.05, worst


def test_the_flooding_monitor_is_still_served(cli_server: int) -> None:
    with Client.tcp("127.0.0.1", cli_server) as game:
        game.hello(role="controller")
        r = subprocess.run([sys.executable, "-c", FLOODER, str(cli_server), "1.0"], capture_output=True, text=True, timeout=30)
        answered, secs = r.stdout.split()
        assert int(answered) / float(secs) > 2000  # fair, not starved: thousands of status answers a second
        assert game.ping("ok") == "ok"


# -- control ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tiny_bank(), tmp_path_factory.mktemp("fair") / "s.sock")
    yield server
    server.stop()


def _wait(cond: Any) -> None:
    for _ in range(200):
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError("timed out")


def test_control_is_handed_over_with_take_and_the_previous_controller_is_told(live: LiveServer) -> None:
    with live.tcp() as game, live.tcp() as editor:
        gid = game.hello(role="controller")["client_id"]
        game.load(seed=1)
        game.start()
        with pytest.raises(RemoteError) as e:
            editor.hello(role="controller")
        assert e.value.code == ErrorCode.NOT_CONTROLLER and "take=true" in e.value.message
        took = editor.call("hello", role="controller", take=True)
        assert took["role"] == "controller" and took["controller"] == took["client_id"] != gid
        kind, note = game.wait_notification(timeout=5)  # sent although the game never subscribed
        assert (kind, note) == ("control", {"controller": took["client_id"], "previous": gid, "reason": "taken"})
        with pytest.raises(RemoteError) as e:
            game.render(16)
        assert e.value.code == ErrorCode.NOT_CONTROLLER
        assert editor.render(16)[1]["frame"] == 0  # the session went on: same session, new hands
        assert game.call("hello", role="controller", take=True)["role"] == "controller"
        assert game.render(16)[1]["frame"] == 16
        assert editor.wait_notification(timeout=5)[0] == "control"


def test_a_monitor_does_not_take_control_when_the_game_drops_and_the_game_gets_it_back(live: LiveServer) -> None:
    editor = live.unix()
    editor.hello(role="monitor")
    editor.subscribe(["control"])
    game = live.tcp()
    gid = game.hello(role="controller")["client_id"]
    game.load(seed=2)
    game.start()
    game.render(1024)
    game.close()  # the game drops
    assert editor.wait_notification(timeout=5)[1] == {"controller": None, "previous": gid, "reason": "disconnected"}
    _wait(lambda: editor.status()["controller"] is None)
    for method, args in (("render", [16]), ("event", ["enemy"]), ("shutdown", []), ("load", [])):
        with pytest.raises(RemoteError) as e:
            editor.call(method, *args)
        assert e.value.code == ErrorCode.NOT_CONTROLLER and "said hello as a monitor" in e.value.message, method
    assert editor.status()["controller"] is None  # nobody took it
    with live.tcp() as back:  # the game reconnects and carries on where the session was
        assert back.hello(role="controller")["role"] == "controller"
        assert back.render(16)[1]["frame"] == 1024
    with live.tcp() as stray, live.tcp() as back:  # a client with no hello claims it meanwhile ...
        stray.render(16)
        with pytest.raises(RemoteError):
            back.hello(role="controller")
        assert back.call("hello", role="controller", take=True)["role"] == "controller"  # ... the game takes it back
    editor.close()


def test_a_controller_that_says_hello_as_a_monitor_releases_control(live: LiveServer) -> None:
    with live.tcp() as a, live.tcp() as b:
        a.hello(role="controller")
        assert a.hello(role="monitor")["role"] == "monitor"
        assert b.hello(role="controller")["role"] == "controller"
