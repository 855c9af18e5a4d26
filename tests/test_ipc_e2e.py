"""The server end to end over real sockets, stdio and a real child process, with the real
Sequencer on a tiny real bank; the Node.js client run by `node`; device-queue logic. The fuzz run
is tests/test_fuzz_rpc.py."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import msgpack
import numpy as np
import pytest

from soundtrack.errors import DeviceError, RpcError
from soundtrack.ipc import Client, ErrorCode, Limits, RemoteError
from soundtrack.ipc.app import make_sequencer, open_source
from soundtrack.ipc.device import DeviceOutput, require_sounddevice
from soundtrack.ipc.hub import Hub
from soundtrack.ipc.protocol import parse_message
from soundtrack.ipc.server import Server

REPO = Path(__file__).resolve().parents[1]
NODE_DIR = REPO / "integrations" / "node"
BLOCK = 1024
SEED = 11

TINY_GRAPH = """
[soundtrack]
name = "tiny"
tempo = 120
meter = "4/4"
key = "A minor"
seed = 3
start = "calm"

[states.calm]
prompt = "soft ambient pad"
intro = 0
main = 1
outro = 0
layers = ["bass", "harmony"]

[states.fight]
prompt = "driving rock drums"
intro = 1
main = 2
outro = 0
layers = ["drums", "bass"]

[[transitions]]
from = "calm"
to = "fight"
on = "enemy"
sync = "bar"
fade = 1

[[transitions]]
from = "fight"
to = "calm"
on = "clear"
sync = "beat"
fade = "2 beats"

[params.intensity]
default = 0.5
layers = { drums = [0.2, 0.6] }
"""


# -- fixtures -----------------------------------------------------------------------------------


def tiny_bank() -> Path:
    """TINY_GRAPH's bank, built once into out/test-banks/ipc-tiny and kept between runs
    (incremental: a rerun with nothing changed checks the manifest)."""
    from soundtrack.bank import build_bank
    from soundtrack.errors import BankError

    root = REPO / "out" / "test-banks" / "ipc-tiny"
    root.mkdir(parents=True, exist_ok=True)
    graph = root / "tiny.toml"
    if not graph.exists() or graph.read_text() != TINY_GRAPH:
        graph.write_text(TINY_GRAPH)
    deadline = time.monotonic() + 300
    while True:
        try:
            build_bank(graph, out=root / "bank", jobs=1)
            return root / "bank"
        except BankError as e:  # another test process is building it: wait
            if "being built" not in str(e) and "locked" not in str(e) and "another build" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(1)


@pytest.fixture(scope="module")
def bank_dir() -> Path:
    return tiny_bank()


class LiveServer:
    """The real Server + Session + Sequencer on an event loop in a thread, on TCP and a Unix socket."""

    def __init__(self, bank: Path, unix_path: Path, *, limits: Limits = Limits(), token: str | None = None,
                 probe: bool = False, **hub: Any) -> None:
        self.source = open_source(bank)
        self.source.prepare()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def setup() -> tuple[str, int]:
            self.hub = Hub(self.source, **{"make_sequencer": make_sequencer, "limits": limits,
                                           "on_shutdown": lambda: self.server.request_shutdown(),
                                           "allow_shutdown": True, "token_required": token is not None,
                                           "open_source": lambda p: open_source(p, roots=hub.get("allow_load", ())),
                                           **hub})
            self.server = Server(self.hub, limits=limits, token=token, probe=probe)
            await self.server.listen_unix(unix_path)
            return await self.server.listen_tcp("127.0.0.1", 0)

        self.host, self.port = asyncio.run_coroutine_threadsafe(setup(), self.loop).result(10)
        self.unix_path = unix_path

    def tcp(self) -> Client:
        return Client.tcp(self.host, self.port, timeout=20)

    def unix(self) -> Client:
        return Client.unix(str(self.unix_path), timeout=20)

    def run(self, fn: Any) -> Any:
        """Call `fn()` on the server's loop and return its result."""
        async def call() -> Any:
            return fn()
        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def live(bank_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(bank_dir, tmp_path_factory.mktemp("sock") / "s.sock")
    yield server
    server.stop()
    assert not server.unix_path.exists()


def offline(bank_dir: Path, pre_frames: int, total: int, event: str | None, *, seed: int = SEED) -> tuple[np.ndarray, Any]:
    """What the session must produce: the sequencer driven directly, event posted at `pre_frames`."""
    src = open_source(bank_dir)
    seq = make_sequencer(src, seed)
    seq.start(src.graph.start)
    a = seq.render(pre_frames)
    plan = seq.post(event) if event else None
    b = seq.render(total - pre_frames)
    return np.concatenate([a, b]), plan


def is_client_notification(msg: Any) -> bool:
    try:
        return parse_message(msg).msgid is None
    except RpcError:
        return False


def pull(c: Client, frames: int) -> np.ndarray:
    out = []
    for _ in range(frames // BLOCK):
        audio, _ = c.render(BLOCK)
        out.append(audio)
    return np.concatenate(out)


# -- sockets ------------------------------------------------------------------------------------


def test_pulled_audio_and_plan_match_the_sequencer_offline(live: LiveServer, bank_dir: Path) -> None:
    with live.tcp() as game, live.unix() as editor:
        assert game.hello(role="controller")["role"] == "controller"
        assert editor.hello(role="monitor")["role"] == "monitor"
        editor.subscribe(["transition", "state"])
        game.subscribe(["bar", "transition"])
        game.load(seed=SEED)
        started = game.start()
        assert started["frame"] == 0 and started["state"] == "calm"
        pre = 10 * BLOCK
        before = pull(game, pre)
        plan = game.event("enemy")
        assert plan["accepted"] and plan["from"] == "calm" and plan["to"] == "fight"
        assert plan["posted_frame"] == pre and plan["edit_frame"] >= pre
        total = (plan["edit_frame"] // BLOCK + 8) * BLOCK
        after = pull(game, total - pre)
        got = np.concatenate([before, after])

        want, want_plan = offline(bank_dir, pre, total, "enemy")
        assert plan["edit_frame"] == want_plan.edit_frame
        np.testing.assert_array_equal(got, want)  # sample-exact, bit for bit
        # The transition is where the plan says: identical to "no event" up to the plan's first
        # sounding frame (the intro's pickup), different from there on before the edit point (the
        # pickup's audio may open with a few silent samples).
        without, _ = offline(bank_dir, pre, total, None)
        first_diff = int(np.argmax(np.any(got != without, axis=1)))
        assert plan["commit_frame"] <= first_diff <= plan["edit_frame"]
        assert plan["commit_frame"] <= plan["edit_frame"]

        notes = game.take_notifications()
        transitions = [p for k, p in notes if k == "transition"]
        assert [t["frame"] for t in transitions][:1] == [plan["edit_frame"]]
        bars = [p["frame"] for k, p in notes if k == "bar"]
        assert bars[:2] == [0, 96000]  # 120 bpm 4/4 at 48 kHz: a bar is 96000 frames
        status = editor.status()
        assert status["frame"] == total and status["state"] == "fight" and status["controller"] is not None
        ed = editor.take_notifications()
        assert [p["frame"] for k, p in ed if k == "transition"][:1] == [plan["edit_frame"]]
        assert [p["state"] for k, p in ed if k == "state"][:2] == ["calm", "fight"]


def test_pipelined_requests_are_answered_in_order_and_stream_the_same_audio(live: LiveServer, bank_dir: Path) -> None:
    with live.unix() as game:
        game.hello(role="controller")
        game.subscribe(["bar"])
        game.load(seed=SEED)
        game.start()
        # One write carrying a batch: renders, a bad request and a ping. The answers come back in
        # request order, the bad one as its own error, and the bar notification (frame 0) before
        # the response to the render whose block holds it.
        batch = [[0, 100 + i, "render", [BLOCK]] for i in range(3)] + [[0, 200, "render", [0]], [0, 201, "ping", ["ok"]]]
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        game.close()  # hand control to the raw socket, which sends the batch
        raw.connect(str(live.unix_path))
        raw.sendall(msgpack.packb([0, 1, "subscribe", [["bar"]]]) + b"".join(msgpack.packb(m) for m in batch))
        u = msgpack.Unpacker(raw=False)
        got: list[Any] = []
        while len([m for m in got if m[0] == 1]) < 6:
            data = raw.recv(65536)
            assert data, "the server closed the connection"
            u.feed(data)
            got.extend(u)
        raw.close()
    responses = [m for m in got if m[0] == 1]
    assert [m[1] for m in responses] == [1, 100, 101, 102, 200, 201]
    assert [m[3]["frame"] for m in responses[1:4]] == [0, BLOCK, 2 * BLOCK]
    assert responses[4][2]["code"] == ErrorCode.OUT_OF_RANGE and responses[5][3] == "ok"
    assert got.index([2, "bar", [next(m[2][0] for m in got if m[0] == 2)]]) < got.index(responses[1])
    pcm = np.concatenate([np.frombuffer(m[3]["pcm"], "<f4").reshape(BLOCK, 2) for m in responses[1:4]])

    with live.tcp() as game:
        game.hello(role="controller")
        game.load(seed=SEED)
        game.start()
        stream = game.render_stream(BLOCK, in_flight=3)
        blocks = [next(stream) for _ in range(12)]
        stream.close()  # reads the two responses still owed, so the next call gets its own
        assert game.status()["frame"] == 14 * BLOCK
        with pytest.raises(ValueError, match="in_flight=0"):
            next(game.render_stream(BLOCK, in_flight=0))
    assert [b["frame"] for _, b in blocks] == [i * BLOCK for i in range(12)]
    want, _ = offline(bank_dir, 0, 12 * BLOCK, None)
    np.testing.assert_array_equal(np.concatenate([a for a, _ in blocks]), want)
    np.testing.assert_array_equal(pcm, want[: 3 * BLOCK])


def test_control_belongs_to_one_client_and_is_freed_when_it_leaves(live: LiveServer) -> None:
    game = live.tcp()
    editor = live.unix()
    game.hello(role="controller")
    with pytest.raises(RemoteError) as e:
        editor.hello(role="controller")
    assert e.value.code == ErrorCode.NOT_CONTROLLER
    for method, args in [("load", []), ("start", []), ("event", ["enemy"]), ("render", [16]), ("stop", []), ("shutdown", [])]:
        with pytest.raises(RemoteError) as e:
            editor.call(method, *args)
        assert e.value.code == ErrorCode.NOT_CONTROLLER, method
        assert "monitors may call" in e.value.message
    assert editor.status()["clients"] == 2
    game.close()
    for _ in range(100):  # the server notices the close asynchronously
        if editor.status()["controller"] is None:
            break
        time.sleep(0.02)
    assert editor.hello(role="controller")["role"] == "controller"
    editor.close()


def test_errors_are_documented_codes_and_the_connection_survives(live: LiveServer) -> None:
    with live.tcp() as c:
        cases = [
            (("nope",), ErrorCode.METHOD_NOT_FOUND, "unknown"),
            (("render", "x"), ErrorCode.INVALID_PARAMS, "must be an integer"),
            (("render", 10**7), ErrorCode.OUT_OF_RANGE, "between 1 and 65536"),
            (("subscribe", ["beets"]), ErrorCode.OUT_OF_RANGE, "beets"),
            (("hello", {"role": "king"}), ErrorCode.OUT_OF_RANGE, "controller, monitor"),
        ]
        for args, code, text in cases:
            with pytest.raises(RemoteError) as e:
                c.call(*args)
            assert e.value.code == code and text in e.value.message, args
        c.load(seed=1)
        with pytest.raises(RemoteError) as e:
            c.render(16)
        assert e.value.code == ErrorCode.NOT_LOADED and "call start first" in e.value.message
        c.start()
        with pytest.raises(RemoteError) as e:
            c.start("nowhere")
        assert e.value.code == ErrorCode.OUT_OF_RANGE and "calm, fight" in e.value.message
        with pytest.raises(RemoteError) as e:
            c.set_param("intensity", 2.0)
        assert e.value.code == ErrorCode.OUT_OF_RANGE
        audio, info = c.render(16, format="s16")
        assert audio.dtype == np.dtype("<i2") and audio.shape == (16, 2) and info["frame"] == 0
        assert c.ping([1, {"a": b"\0"}]) == [1, {"a": b"\0"}]


def test_unparseable_bytes_close_only_that_connection(live: LiveServer) -> None:
    with live.tcp() as good:
        good.hello(role="monitor")
        s = socket.create_connection((live.host, live.port), timeout=10)
        s.sendall(msgpack.packb([0, 1, "ping", ["before"]]) + b"\xc1 garbage")
        got = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        s.close()
        u = msgpack.Unpacker(raw=False)
        u.feed(got)
        msgs = list(u)
        assert msgs[0] == [1, 1, None, "before"]  # the request before the garbage is answered
        assert msgs[1][:2] == [2, "error"] and msgs[1][2][0]["code"] == ErrorCode.PARSE_ERROR
        assert good.ping("still here") == "still here"


def test_stop_fades_out_from_the_next_bar_then_plays_silence(bank_dir: Path, tmp_path: Path) -> None:
    from soundtrack.sequencer.clips import ramp_table

    server = LiveServer(bank_dir, tmp_path / "stop.sock")
    try:
        with server.tcp() as game:
            game.hello(role="controller")
            game.load(seed=SEED)
            game.start()
            pre = 10 * BLOCK
            before = pull(game, pre)
            stop = game.stop(fade="1 beats")
            # 120 bpm 4/4 at 48 kHz: the next bar after frame 10240 is 96000; a beat is 24000 frames
            assert (stop["frame"], stop["fade_frames"], stop["end_frame"]) == (96_000, 24_000, 120_000)
            with pytest.raises(RemoteError):
                game.stop()  # already stopping: refused, not restarted
            total = (stop["end_frame"] // BLOCK + 4) * BLOCK
            got = np.concatenate([before, pull(game, total - pre)])
    finally:
        server.stop()
    want, _ = offline(bank_dir, pre, total, None)
    np.testing.assert_array_equal(got[:96_000], want[:96_000])  # untouched up to the bar
    gains = ramp_table(24_000, "equal-power", fade_in=False)
    np.testing.assert_array_equal(got[96_000:120_000], want[96_000:120_000] * gains[:, None])
    assert not np.any(got[120_000:])  # silence after the fade
    assert np.max(np.abs(np.diff(got[95_990:96_010, 0]))) <= np.max(np.abs(np.diff(want[95_990:96_010, 0]))) + 1e-6


def test_a_client_that_stops_reading_is_cut_off_without_blocking_others(bank_dir: Path, tmp_path: Path) -> None:
    server = LiveServer(bank_dir, tmp_path / "slow.sock", limits=Limits(max_outgoing_bytes=256 << 10))
    try:
        slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(str(server.unix_path))
        slow.sendall(msgpack.packb([0, 1, "subscribe", []]))
        with server.tcp() as game:
            game.hello(role="controller")
            game.load(seed=SEED)
            game.start()
            payload = b"\0" * 60_000
            cut_off = False
            for i in range(200):  # 12 MB of responses the slow client never reads
                try:
                    slow.sendall(msgpack.packb([0, i + 2, "ping", [payload]]))
                except OSError:  # the server hung up on it
                    cut_off = True
                    break
                if i % 20 == 0:
                    game.render(BLOCK)
            assert cut_off or i == 199
            for _ in range(100):
                game.render(4096)
            for _ in range(100):
                if game.status()["clients"] == 1:
                    break
                time.sleep(0.02)
            assert game.status()["clients"] == 1  # the slow client was disconnected
            assert game.ping("fine") == "fine"
        slow.close()
    finally:
        server.stop()


def test_token_is_required_before_anything_else(bank_dir: Path, tmp_path: Path) -> None:
    server = LiveServer(bank_dir, tmp_path / "tok.sock", token="s3cret")
    try:
        with server.tcp() as c:
            for method, args in (("status", ()), ("ping", ("x",)), ("render", (16,)), ("subscribe", ()), ("nope", ())):
                with pytest.raises(RemoteError) as e:
                    c.call(method, *args)
                assert e.value.code == ErrorCode.UNAUTHORIZED, method
            with pytest.raises(RemoteError) as e:
                c.hello(token="wrong")
            assert e.value.code == ErrorCode.UNAUTHORIZED
            with pytest.raises(ConnectionError):  # a wrong token closes the connection
                c.ping("still there?")
        with server.tcp() as c:
            assert c.hello(token="s3cret")["role"] == "controller"
            assert c.status()["controller"] == c.hello(token="s3cret")["client_id"]
        with server.tcp() as c:  # the positional form, as docs/protocol.md gives it, is the same hello
            assert c.call("hello", "monitor", 1, "pos", "s3cret")["role"] == "monitor"
            assert c.status()["clients"] >= 1
    finally:
        server.stop()


# -- child processes ----------------------------------------------------------------------------


def test_stdio_child_process_serves_and_exits_cleanly(bank_dir: Path) -> None:
    args = [sys.executable, "-m", "soundtrack", "serve", str(bank_dir), "--stdio"]
    with Client.spawn(args, stderr=subprocess.PIPE, timeout=60) as c:
        hello = c.hello(role="controller")
        assert hello["graph"] == "tiny" and hello["sample_rate"] == 48000
        c.load(seed=SEED)
        c.start()
        got = pull(c, 8 * BLOCK)
        assert c.shutdown() == {"shutting_down": True}
        proc = c.process  # type: ignore[attr-defined]
        assert proc.wait(timeout=20) == 0
        err = proc.stderr.read().decode()
    want, _ = offline(bank_dir, 8 * BLOCK, 8 * BLOCK, None)
    np.testing.assert_array_equal(got, want)
    assert "listening on stdio" in err


def test_sigterm_closes_the_unix_server_and_removes_its_socket(bank_dir: Path, tmp_path: Path) -> None:
    sock = tmp_path / "term.sock"
    proc = subprocess.Popen([sys.executable, "-m", "soundtrack", "serve", str(bank_dir), "--unix", str(sock)],
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        while "listening on" not in line and line:
            line = proc.stderr.readline()
        assert f"listening on unix {sock}" in line
        with Client.unix(str(sock)) as c:
            c.hello(role="controller")
            c.load()
            c.start()
            assert c.render(BLOCK)[0].shape == (BLOCK, 2)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        assert not sock.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_refuses_a_remote_address_without_allow_remote(bank_dir: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "soundtrack", "serve", str(bank_dir), "--tcp", "0.0.0.0:0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "not a loopback address" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# -- Node.js ------------------------------------------------------------------------------------


def node_ready() -> bool:
    if shutil.which("node") is None or shutil.which("npm") is None:
        return False
    if not (NODE_DIR / "node_modules" / "@msgpack" / "msgpack").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, capture_output=True, timeout=300)
    return True


def test_node_client_against_a_live_server(live: LiveServer, bank_dir: Path, tmp_path: Path) -> None:
    assert node_ready(), "node and npm are needed (Debian: apt-get install nodejs npm)"
    env = dict(os.environ, SOUNDTRACK_TCP=f"{live.host}:{live.port}", SOUNDTRACK_UNIX=str(live.unix_path),
               SOUNDTRACK_EVENT="enemy", SOUNDTRACK_SEED=str(SEED), SOUNDTRACK_PRE_BLOCKS="12", SOUNDTRACK_OUT=str(tmp_path))
    r = subprocess.run(["node", "--test", "test/"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "# fail 0" in r.stdout and "# pass 0" not in r.stdout
    info = json.loads((tmp_path / "node.json").read_text())
    got = np.fromfile(tmp_path / "node.f32", dtype="<f4").reshape(-1, 2)
    pre = info["preBlocks"] * BLOCK
    want, plan = offline(bank_dir, pre, info["frames"], "enemy")
    np.testing.assert_array_equal(got, want)
    assert info["plan"]["edit_frame"] == plan.edit_frame == info["transitions"][0]["frame"]


# -- device output ------------------------------------------------------------------------------


class _FakeStream:
    """Stands in for the PortAudio stream, the one part that needs a sound card."""

    def __init__(self) -> None:
        self.closed = False

    def stop(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_device_queue_plays_the_session_in_order_and_counts_underruns(bank_dir: Path) -> None:
    streams: list[_FakeStream] = []
    dev = DeviceOutput(block_frames=256, queue_blocks=3, open_stream=lambda *a: streams.append(_FakeStream()) or streams[-1])
    session = Hub(open_source(bank_dir), make_sequencer=make_sequencer, output=dev)
    session.connect(1, lambda data, droppable: True)
    session.call(1, "load", [{"seed": SEED}])
    session.dispatch(1, "start", [])
    assert len(streams) == 1 and dev.queue.qsize() == 3 and dev.rendered == 768
    with pytest.raises(Exception) as e:
        session.dispatch(1, "render", [16])
    assert getattr(e.value, "code", None) == ErrorCode.WRONG_MODE

    heard = []

    def audio_thread(sizes: list[int]) -> None:
        for n in sizes:
            out = np.full((n, 2), 9.0, dtype=np.float32)
            dev.callback(out, n, None, None)
            heard.append(out)

    sizes = [100, 300, 56, 512, 256, 1]  # card buffers that do not match the block size
    consumed = 0
    for n in sizes:
        t = threading.Thread(target=audio_thread, args=([n],))
        t.start()
        t.join()
        consumed += n
        dev.fill()  # the control side tops the queue up between callbacks
    assert dev.played == consumed and dev.underruns == 0
    status = session.dispatch(1, "status", [])
    assert status["device_played_frames"] == consumed
    assert status["device_latency_frames"] == dev.rendered - consumed <= 3 * 256 + 256
    want, _ = offline(bank_dir, consumed, consumed, None)
    np.testing.assert_array_equal(np.concatenate(heard), want)

    # Starved: the callback plays silence for what is missing and counts an underrun.
    dev.pause()
    left = dev.rendered - dev.played
    out = np.full((left + 100, 2), 9.0, dtype=np.float32)
    dev.callback(out, left + 100, None, None)
    assert dev.underruns == 1 and np.all(out[left:] == 0.0) and np.all(out[:left] != 9.0)
    session.close()
    assert streams[0].closed


def test_device_output_without_sounddevice_says_what_to_install(bank_dir: Path) -> None:
    try:
        require_sounddevice()
    except DeviceError as e:
        assert "sounddevice" in str(e) and "--output pull" in str(e)
    else:
        pytest.skip("sounddevice with PortAudio is installed here")
    r = subprocess.run([sys.executable, "-m", "soundtrack", "serve", str(bank_dir), "--output", "device", "--tcp", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "soundtrack[device]" in r.stderr
