"""Soundtrack Studio without a browser: the engine side (`StudioSession`), takes that replay bit
for bit with `soundtrack render`, stems swapped in at a loop boundary without a seam, solo/mute
through the engine's layer gains, TOML edits that keep comments, and the server's guards.

The bank is a tiny graph (two states with one-bar loops, a one-beat stinger) made by the real
procedural generator once into out/test-banks/studio-tiny (kept between runs, like conftest's
banks) and copied into a temporary folder by each test that changes it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from soundtrack.bank import Bank, build_bank
from soundtrack.errors import BankError, GraphError, StudioError
from soundtrack.graph import load_graph, parse_graph
from soundtrack.studio.edit import edit_state, state_fields
from soundtrack.studio.monitor import monitor_graph
from soundtrack.studio.session import StudioSession, Version
from soundtrack.studio.source import StudioSource
from soundtrack.studio.take import save_take, seconds_text
from soundtrack.timeline import load_script

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "out" / "test-banks" / "studio-tiny"
SR = 48000
BAR = 96000  # 4/4 at 120 bpm

TINY = """\
# A tiny graph for the studio's tests: two states with one-bar loops.
# This comment, and the one on fight's prompt, must survive an edit.
[soundtrack]
name = "tiny"
tempo = 120
meter = "4/4"
key = "C minor"
seed = 3
start = "calm"

[states.calm]
prompt = "soft ambient pad, harp"
main = 1
layers = ["bass", "harmony", "melody"]

[states.fight]
prompt = "driving rock, drums"   # the loud state
main = 1
layers = ["drums", "bass", "harmony"]

[stingers.hit]
prompt = "brass hit"
beats = 1

[[transitions]]
from = "calm"
to = "fight"
on = "go"
sync = "bar"
fade = "1 beats"

[[transitions]]
from = "fight"
to = "calm"
on = "rest"
sync = "beat"

[params.intensity]
default = 0.5
layers = { melody = [0.3, 0.7] }
"""

# Fixed edits whose stems are generated once and then found in the cached stems folder.
EDIT_FIGHT = {"prompt": "driving rock, drums, organ"}
EDIT_CALM = {"prompt": "soft ambient pad, harp, choir", "main": 2}


def cached_tiny() -> Path:
    """The cached tiny graph and its bank (built on first use, incrementally after)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    g = CACHE / "tiny.toml"
    if not g.exists() or g.read_text() != TINY:
        g.write_text(TINY)
    deadline = time.monotonic() + 600
    while True:
        try:
            build_bank(load_graph(g), out=CACHE / "loops" / "tiny", jobs=1)
            return g
        except BankError as e:  # another test process builds it: wait
            if time.monotonic() > deadline or not any(w in str(e) for w in ("being built", "locked", "another build")):
                raise
            time.sleep(1)


def tiny_copy(dest: Path) -> Path:
    """A private copy of the cached tiny graph and bank under `dest`; returns the graph path."""
    src = cached_tiny()
    shutil.copytree(src.parent, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.lock"))
    return dest / src.name


def version_of(graph_path: Path, *, previous: Version | None = None, number: int = 1) -> Version:
    text = graph_path.read_text()
    graph = parse_graph(text, path=str(graph_path))
    source = StudioSource(Bank(graph_path.parent / "loops" / "tiny", graph=graph), previous.source if previous else None)
    source.prepare()
    return Version(text, graph, source, number=number)


def edited(graph_path: Path, state: str, changes: dict, previous: Version) -> Version:
    """Edit the file, build its bank (cached stems are reused), and return the new version."""
    text, graph = edit_state(graph_path.read_text(), state, changes, path=str(graph_path))
    graph_path.write_text(text)
    build_bank(graph, out=graph_path.parent / "loops" / "tiny", jobs=1)
    return version_of(graph_path, previous=previous, number=previous.number + 1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tiny_copy(tmp_path_factory.mktemp("studio"))
    return path, version_of(path)


def play(session: StudioSession, blocks: int, *, block: int = 1000, at: dict | None = None) -> tuple[np.ndarray, list]:
    """Render `blocks` blocks; `at` maps a block index to a callable run before it."""
    out, marks = [], []
    for i in range(blocks):
        if at and i in at:
            at[i](session)
        a, m, _ = session.render(block)
        out.append(a)
        marks += m
    return np.concatenate(out), marks


# -- takes ------------------------------------------------------------------------------------
def test_take_replays_bit_identically_with_soundtrack_render(tiny, tmp_path, capsys):
    """A session with an event, a parameter, a stinger and a refused event, saved as a take,
    is the same audio bit for bit when `soundtrack render` plays its script; the edit frame
    `render` reports is the one the studio's plan said."""
    from soundtrack.cli import main

    path, v = tiny
    s = StudioSession(v)
    s.play()
    plans = {}
    audio, marks = play(s, 160, block=1037, at={
        20: lambda s: plans.setdefault("go", s.command("event", "go")),
        41: lambda s: plans.setdefault("p", s.command("param", "intensity", 0.85)),
        50: lambda s: plans.setdefault("hit", s.command("stinger", "hit")),
        120: lambda s: plans.setdefault("rest", s.command("event", "rest")),
        130: lambda s: plans.setdefault("no", s.command("event", "go")),  # refused: fight has no 'go'
    })
    go, rest = plans["go"], plans["rest"]
    assert go["accepted"] and go["type"] == "TransitionPlan" and go["edit_frame"] == BAR  # the next bar after 0.43 s
    assert rest["accepted"] and rest["edit_frame"] % (BAR // 4) == 0 and not plans["no"]["accepted"]
    assert plans["hit"]["accepted"] and plans["p"]["type"] == "ParamChange"
    assert [m["frame"] for m in marks if m["kind"] == "transition"] == [go["edit_frame"], rest["edit_frame"]]
    wav, script = save_take(s.take, tmp_path, "take")
    assert s.take.info()["replayable"]
    out = tmp_path / "replay.wav"
    assert main(["render", str(path), "--events", str(script), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"(frame {go['edit_frame']}," in printed
    import soundfile as sf

    took, _ = sf.read(wav, dtype="float32", always_2d=True)
    again, _ = sf.read(out, dtype="float32", always_2d=True)
    assert took.shape == again.shape == (160 * 1037, 2)
    assert np.array_equal(took, again)
    assert np.array_equal(took, audio)  # the WAV is what was streamed


def test_script_times_land_on_exact_frames():
    from fractions import Fraction

    rng = np.random.default_rng(1)
    for sr in (44100, 48000, 96000):
        for f in [0, 1, sr - 1, 3 * sr + 7, *rng.integers(0, 3600 * sr, 500).tolist()]:
            text = seconds_text(int(f), sr)
            assert text.endswith("s") and round(Fraction(text[:-1]) * sr) == f


def test_mute_is_bit_transparent_until_used_and_then_marks_the_take(tiny):
    """The monitor graph's hidden parameters at 1 change no bit; a muted layer ramps out and
    the take says it is no longer a replay of the script."""
    path, v = tiny
    ref = StudioSession(v)
    ref.play()
    a, _ = play(ref, 60)
    # the same session straight from the file's graph, without the monitor's parameters
    from soundtrack.sequencer import Sequencer

    seq = Sequencer(v.graph, v.source, seed=v.graph.seed)
    seq.start()
    assert np.array_equal(a, np.concatenate([seq.render(1000) for _ in range(60)]))
    s = StudioSession(v)
    s.play()
    b, _ = play(s, 95, at={10: lambda s: s.command("mute", "harmony", True)})
    assert np.array_equal(a[:10_000], b[:10_000])
    assert not np.array_equal(a[20_000:], b[20_000:60_000])
    assert not s.take.info()["replayable"] and "mute" in s.take.info()["not_replayable"]
    # muted harmony: what is left is calm's other layers, exactly (a 20 ms ramp, then gain 0)
    stem = v.source.stem("calm", "main")
    i0, i1 = 40_000, 90_000  # in the first cycle (no earlier tail), after the ramp; nothing near the limiter
    rest = stem.layers["bass"][i0:i1] + stem.layers["melody"][i0:i1] * np.float32(0.5)  # intensity 0.5: melody at 0.5
    assert np.abs(b[i0:i1] - rest).max() < 1e-6
    assert np.abs(a[i0:60_000] - rest[:60_000 - i0]).max() > 1e-3  # harmony was there before
    with pytest.raises(StudioError):
        s.command("solo", "nope", True)


# -- swapping stems ---------------------------------------------------------------------------
def test_new_stems_for_another_state_swap_in_without_a_seam(tmp_path):
    """Regenerating a state that is not playing: the new sequencer takes over at the next loop
    boundary and the output is the unswapped session's to float rounding (one continuous
    performance), with the swap on a cycle start; later the new stems are what `fight` plays."""
    path = tiny_copy(tmp_path)
    v1 = version_of(path)
    v2 = edited(path, "fight", EDIT_FIGHT, v1)
    assert v2.source.changed_names(v1.source) == {"fight"}
    ref = StudioSession(v1)
    ref.play()
    a, ma = play(ref, 300)
    s = StudioSession(v1)
    s.play()
    offers = []
    b, mb = play(s, 300, at={30: lambda s: offers.append(s.offer(v2)), 200: lambda s: s.command("event", "go")})
    assert offers[0] == {"type": "offer", "changed": ["fight"], "when": "next loop boundary"}
    swaps = [e for e in s.drain_events() if e["type"] == "swap"]
    assert len(swaps) == 1 and swaps[0]["frame"] == BAR + 1 and not swaps[0]["playing_state_changed"]
    assert np.abs(a[:200_000] - b[:200_000]).max() < 1e-6  # identical music across the handover
    # markers: no duplicates from the old deck, the same bars as without the swap
    bars = lambda ms: [m["frame"] for m in ms if m["kind"] == "bar" and m["frame"] < 200_000]  # noqa: E731
    assert bars(ma) == bars(mb)
    # after 'go' the new fight plays: different from the old session's fight
    assert not np.allclose(a[-40_000:], b[-40_000:])
    assert s.take.ended.startswith("new stems were swapped in")
    wav, script = save_take(s.take, tmp_path / "takes", "t", current_text=path.read_text())
    kept = tmp_path / "takes" / "t.graph.toml"  # the file changed since the take began: its graph is kept beside it
    assert kept.read_text() == v1.text and f"soundtrack render {kept}" in script.read_text()
    assert round(load_script(script).end.seconds * SR) == s.take.frames and 0 < BAR + 1 - s.take.frames <= 200  # up to the swap's look-ahead


def test_regenerated_playing_state_swaps_at_its_loop_boundary(tmp_path):
    """Regenerating the state that plays (its prompt and its length: 1 bar -> 2 bars): the new
    loop starts one frame after the old one's cycle ends, crossfaded over 10 ms, and its bars
    follow the new two-bar grid; nothing steps at the seam."""
    path = tiny_copy(tmp_path)
    v1 = version_of(path)
    v2 = edited(path, "calm", EDIT_CALM, v1)
    s = StudioSession(v1)
    s.play()
    b, mb = play(s, 500, at={30: lambda s: s.offer(v2)})
    swaps = [e for e in s.drain_events() if e["type"] == "swap"]
    assert len(swaps) == 1 and swaps[0]["frame"] == BAR + 1 and swaps[0]["playing_state_changed"]
    segs = [m["frame"] for m in mb if m["kind"] == "segment" and m["detail"].get("role") == "main"]
    assert segs[:4] == [0, BAR, BAR + 1, BAR + 2 * BAR]  # old cycles, the new loop, its next cycle (2 bars later)
    new = v2.source.stem("calm", "main")
    assert new.grid.bars == 2
    seam = b[BAR - 500: BAR + 1500]
    music = np.abs(np.diff(b[:BAR], axis=0)).max()
    assert np.abs(np.diff(seam, axis=0)).max() <= music  # no step larger than the music's own
    # from the end of the crossfade on, the output is the new loop (plus the old tails' fade)
    x0 = BAR + 1 + 480
    assert np.abs(b[x0 + 50_000: x0 + 60_000]).max() > 0


def test_offer_while_stopped_is_used_from_the_next_play(tmp_path):
    path = tiny_copy(tmp_path)
    v1 = version_of(path)
    v2 = edited(path, "fight", EDIT_FIGHT, v1)
    s = StudioSession(v1)
    assert s.offer(v2)["when"] == "next play"
    s.play()
    assert s.deck.version is v2
    s.render(1000)
    assert s.stop(0.1)["silent_from"] > 0
    assert s.take.ended == "Stop was pressed"
    for _ in range(10):
        s.render(1000)
    assert s.finished and not s.playing
    with pytest.raises(StudioError):
        s.command("event", "go")


# -- editing ----------------------------------------------------------------------------------
def test_edit_state_keeps_every_other_byte():
    text, graph = edit_state(TINY, "fight", {"prompt": "heavy metal", "tempo": "140", "variants": 2, "layers": "drums, bass"},
                             path="tiny.toml")
    import difflib

    before, after = TINY.splitlines(), text.splitlines()
    diff = [d for d in difflib.ndiff(before, after) if d[:1] in "+-"]
    assert sorted(diff) == sorted(['- prompt = "driving rock, drums"   # the loud state',
                                   '+ prompt = "heavy metal"   # the loud state',
                                   '- layers = ["drums", "bass", "harmony"]', '+ layers = ["drums", "bass"]',
                                   "+ tempo = 140", "+ variants = 2"])
    assert after[:2] == before[:2]  # the header comments
    assert graph.states["fight"].variants == 2 and float(graph.states["fight"].tempo) == 140
    same, _ = edit_state(TINY, "calm", {"prompt": "soft ambient pad, harp", "main": "1"}, path="tiny.toml")
    assert same == TINY  # unchanged values are not rewritten
    inherit, g = edit_state(TINY, "calm", {"main": 2, "layers": ""}, path="tiny.toml")
    assert "layers" not in inherit.split("[states.calm]")[1].split("[states.fight]")[0]
    f = state_fields(g, inherit, "calm")
    assert f["own"]["main"] == 2 and "layers" not in f["own"] and f["effective"]["tempo"] == 120.0
    with pytest.raises(GraphError, match=r"tiny.toml: \[states.calm\].main = 0 must be between 1 and 256"):
        edit_state(TINY, "calm", {"main": 0}, path="tiny.toml")
    with pytest.raises(GraphError, match="cannot be edited"):
        edit_state(TINY, "calm", {"seed": 3}, path="tiny.toml")
    with pytest.raises(GraphError, match="whole number"):
        edit_state(TINY, "calm", {"intro": "two"}, path="tiny.toml")


def test_monitor_graph_adds_one_hidden_param_per_layer():
    g = parse_graph(TINY, path="tiny.toml")
    m, names = monitor_graph(g, TINY)
    assert names == {"bass": "studio_mute_bass", "harmony": "studio_mute_harmony", "melody": "studio_mute_melody",
                     "drums": "studio_mute_drums"}
    assert list(m.params)[0] == "intensity" and len(m.params) == 5
    p = m.params["studio_mute_drums"]
    assert p.default == 1.0 and p.layers == {"drums": (0.0, 1.0)} and p.quantize == "immediate"
    assert m.states == g.states and m.transitions == g.transitions


def test_builder_regenerates_only_the_edited_state_and_restores_the_file_on_failure(tmp_path):
    from soundtrack.errors import BuildError
    from soundtrack.studio.builds import Builder

    path = tiny_copy(tmp_path)
    b = Builder(path)
    try:
        v1 = b.open()
        v2, report = b.regenerate("fight", EDIT_FIGHT, v1)
        assert report["changed"] == ["fight"] and report["file_written"]
        assert set(report["generated"]) <= {"fight/main/0"}  # generated now, or found in the cache
        assert "driving rock, drums, organ" in path.read_text() and "# the loud state" in path.read_text()
        assert v2.number == 2 and v2.source.changed_names(v1.source) == {"fight"}
        text = path.read_text()
        with pytest.raises(GraphError):
            b.regenerate("fight", {"main": 999}, v2)  # refused before anything is written
        assert path.read_text() == text

        def boom(*a, **k):
            assert "heavy metal" in path.read_text()  # the edit is on disk while it builds
            raise BankError("generation failed")

        b._build = boom  # the worker process's build fails
        with pytest.raises(BankError, match="generation failed"):
            b.regenerate("fight", {"prompt": "heavy metal"}, v2)
        assert path.read_text() == text  # put back as it was
        with pytest.raises(BuildError, match="name or sample rate"):
            b.regenerate("calm", {}, Version(TINY.replace('name = "tiny"', 'name = "other"'),
                                                parse_graph(TINY.replace('name = "tiny"', 'name = "other"')), v2.source))
    finally:
        b.close()


# -- the server ---------------------------------------------------------------------------------
def test_server_refuses_strangers_and_answers_its_page(tiny, tmp_path):
    """Loopback Host only, the page's own Origin only, the token when one is set; a bad message
    gets an error reply and the socket goes on."""
    from aiohttp import ClientSession, WSServerHandshakeError

    from soundtrack.studio.server import Studio, check_address, read_token

    path, _ = tiny

    async def go() -> None:
        studio = Studio(path, port=0, takes=tmp_path / "takes")
        url = await studio.start()
        try:
            async with ClientSession() as http:
                async with http.get(url) as r:
                    assert r.status == 200 and "Soundtrack Studio" in await r.text()
                async with http.get(url + "static/js/worklet.js") as r:
                    assert r.status == 200 and r.headers["Content-Type"].startswith("text/javascript")
                async with http.get(url + "static/../server.py") as r:
                    assert r.status == 404
                async with http.get(url, headers={"Host": f"attacker.example:{studio.port}"}) as r:
                    assert r.status == 421
                with pytest.raises(WSServerHandshakeError):
                    await http.ws_connect(url + "ws", headers={"Origin": "http://attacker.example"})
                async with http.ws_connect(url + "ws", headers={"Origin": url.rstrip("/")}) as ws:
                    hello = await ws.receive_json()
                    assert hello["type"] == "hello"
                    for _ in range(100):
                        if studio.session is not None:
                            break
                        await asyncio.sleep(0.05)
                    async def reply() -> dict:
                        while True:
                            r = await ws.receive_json()
                            if r.get("type") == "reply":
                                return r

                    await ws.send_str("not json")
                    assert (await reply())["ok"] is False
                    await ws.send_str(json.dumps({"op": "event", "id": 1, "name": "go"}))
                    r = await reply()
                    assert r["ok"] is False and "not playing" in r["error"]
                    await ws.send_str(json.dumps({"op": "format_disk", "id": 2}))
                    r = await reply()
                    assert r["ok"] is False and "not known" in r["error"]
                    await ws.send_str(json.dumps({"op": "param", "id": 3, "name": "intensity", "value": "loud"}))
                    assert "numeric" in (await reply())["error"]
        finally:
            await studio.close()

        token = "t" * 24
        studio = Studio(path, port=0, takes=tmp_path / "takes", token=token)
        url = await studio.start()
        try:
            from aiohttp import CookieJar

            async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:  # cookies for 127.0.0.1, as a browser keeps them
                async with http.get(url) as r:
                    assert r.status == 403
                async with http.get(url + f"?token={token}") as r:
                    assert r.status == 200
                async with http.get(url + "static/studio.css") as r:  # the cookie set above
                    assert r.status == 200
        finally:
            await studio.close()

    asyncio.run(go())
    with pytest.raises(StudioError, match="not a loopback address"):
        check_address("0.0.0.0", 8765, allow_remote=False, token=None)
    with pytest.raises(StudioError, match="needs a token"):
        check_address("0.0.0.0", 8765, allow_remote=True, token=None)
    check_address("0.0.0.0", 8765, allow_remote=True, token="x" * 16)
    check_address("::1", 8765, allow_remote=False, token=None)
    assert read_token(token_file=None, environ={}) is None
    with pytest.raises(StudioError, match="16 to 4096"):
        read_token(token_file=None, environ={"SOUNDTRACK_TOKEN": "short"})


def test_streaming_over_the_socket_is_the_sessions_audio(tiny, tmp_path):
    """A client that acknowledges every block gets the session's blocks in order, each with
    its session frame, and ticks with the markers that fell in them."""
    from aiohttp import ClientSession

    from soundtrack.studio.server import HEADER, KIND_PCM, Studio

    path, v = tiny

    async def go() -> tuple[np.ndarray, list]:
        studio = Studio(path, port=0, takes=tmp_path / "takes")
        url = await studio.start()
        blocks, ticks = [], []
        try:
            async with ClientSession() as http, http.ws_connect(url + "ws") as ws:
                for _ in range(200):
                    if studio.session is not None:
                        break
                    await asyncio.sleep(0.05)
                await ws.send_str(json.dumps({"op": "play", "id": 1}))
                session = None
                while len(blocks) < 60:
                    msg = await ws.receive()
                    if msg.type.name == "BINARY":
                        kind, ch, n, _, start = HEADER.unpack_from(msg.data)
                        assert kind == KIND_PCM and ch == 2 and start == 1024 * len(blocks)
                        blocks.append(np.frombuffer(msg.data, "<f4", offset=HEADER.size).reshape(n, ch))
                        await ws.send_str(json.dumps({"op": "clock", "session": session, "played": 1024 * len(blocks)}))
                    else:
                        m = json.loads(msg.data)
                        if m["type"] == "session":
                            session = m["take"]
                        elif m["type"] == "tick":
                            ticks.append(m)
        finally:
            await studio.close()
        return np.concatenate(blocks), ticks

    audio, ticks = asyncio.run(go())
    ref = StudioSession(v)
    ref.play()
    assert np.array_equal(audio, np.concatenate([ref.render(1024)[0] for _ in range(60)]))
    assert ticks[0]["frame"] == 0 and ticks[0]["state"] == "calm"
    assert [m["frame"] for t in ticks for m in t["markers"] if m["kind"] == "bar"][:1] == [0]
