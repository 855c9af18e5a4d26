"""One protocol schema (soundtrack/ipc/schema.py): what the server sends is what it declares,
docs/protocol.md's tables and integrations/node/protocol.d.ts are what it generates, and the
Node client's error codes and types follow it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import msgpack
import pytest
from seqstems import synth_graph, synth_stems

from soundtrack.errors import RpcError
from soundtrack.ipc import schemadoc
from soundtrack.ipc.hub import Hub
from soundtrack.ipc.protocol import ErrorCode
from soundtrack.ipc.schema import MARKER_KINDS, METHODS, NOTIFY, SUBSCRIBABLE
from soundtrack.ipc.session import Source
from soundtrack.sequencer import MARKER_KINDS as SEQUENCER_MARKER_KINDS
from soundtrack.sequencer import Sequencer

REPO = Path(__file__).resolve().parents[1]
NODE = REPO / "integrations" / "node"
GRAPH = synth_graph()
STEMS = synth_stems(GRAPH)


class Recorder:
    """A hub with two clients (1: controller, 2: monitor subscribed to everything) whose
    every result and notification is kept for checking."""

    def __init__(self) -> None:
        self.hub = Hub(Source(GRAPH, STEMS, "synth"), make_sequencer=lambda src, seed: Sequencer(src.graph, src.bank, seed=seed),
                       allow_shutdown=True, on_shutdown=lambda: None)
        self.notes: list[tuple[int, str, Any]] = []
        self.results: list[tuple[str, Any]] = []
        for cid in (1, 2):
            self.hub.connect(cid, self._sender(cid))

    def _sender(self, cid: int) -> Any:
        def send(data: bytes, droppable: bool) -> bool:
            msg = msgpack.unpackb(data, raw=False)
            assert msg[0] == 2 and len(msg[2]) == 1
            self.notes.append((cid, msg[1], msg[2][0]))
            return True
        return send

    def __call__(self, method: str, *args: Any, cid: int = 1, **named: Any) -> Any:
        assert not (args and named), "positional or named, not both"
        params = [named] if named else list(args)
        result = self.hub.call(cid, method, params)
        # what the wire carries: msgpack round trip (memoryviews become bytes, tuples lists)
        result = msgpack.unpackb(msgpack.packb(result, use_bin_type=True), raw=False)
        self.results.append((method, result))
        return result

    def pull(self, frames: int, **named: Any) -> None:
        while frames > 0:
            n = min(frames, 4096)
            self("render", frames=n, **named)
            frames -= n


def scripted_session() -> Recorder:
    r = Recorder()
    r("hello", role="controller", client="schema-test")
    r("hello", role="monitor", cid=2)
    r("subscribe", cid=2)
    r("unsubscribe", ["beat"], cid=2)
    r("subscribe", ["beat"], cid=2)
    r("ping", payload={"a": [1, 2]})
    r("status")
    r("load", seed=5)
    r("status", cid=2)
    r("start")
    r.pull(3000)
    r("event", "spotted")
    r("event", "ambush")  # replaces the pending plan: a cancelled marker
    r("event", "hit")  # a stinger by name
    r("event", "hit")  # within min_interval: refused, a rejected marker
    r("event", "victory")  # no transition from calm: refused plan
    r("set_param", name="intensity", value=0.9, ramp="2 beats")
    r.pull(40_000)
    r("set_param", "tempo", 165)
    r.pull(30_000)
    r("status", cid=2)
    r("volume", db=-6.0, ramp="100ms")
    r("pause", fade="20ms")
    r.pull(2000)
    r("status")
    r("resume")
    r.pull(3000)
    snap = r("snapshot")
    opened = r("open_session", seed=9)
    sid = opened["session"]
    r("start", state="fight", session=sid)
    r.pull(5000, session=sid)
    r("restore", snapshot=snap["snapshot"], session=sid)
    r.pull(5000, session=sid)
    r("status", session=sid)
    r("close_session", sid)
    r("hello", role="controller", take=True, cid=2)  # a hand-over: client 1 gets a control notification
    r("hello", role="controller", take=True)
    r("event", "lost")
    r.pull(20_000)
    r("stop", fade="1 beats")
    r.pull(20_000)
    r("status")
    r("shutdown")
    return r


@pytest.fixture(scope="module")
def session() -> Recorder:
    return scripted_session()


def test_every_result_the_server_sends_is_declared_and_complete(session: Recorder) -> None:
    problems = [p for method, result in session.results for p in schemadoc.check_result(method, result)]
    assert problems == []
    assert {m for m, _ in session.results} == set(METHODS)  # every method was exercised


def test_every_notification_the_server_sends_is_declared_and_complete(session: Recorder) -> None:
    problems = [p for _cid, kind, payload in session.notes for p in schemadoc.check_notification(kind, payload)]
    assert problems == []
    kinds = {kind for _cid, kind, _ in session.notes}
    assert kinds >= set(MARKER_KINDS) | {"control"}  # every musical marker kind, and a hand-over


def test_markers_inside_render_results_are_declared_markers(session: Recorder) -> None:
    markers = [m for method, r in session.results if method == "render" for m in r["markers"]]
    assert markers and all(not schemadoc.check("Marker", m) for m in markers)
    assert {m["session"] for m in markers} == {0, 1}


def test_the_sequencer_emits_no_marker_kind_the_schema_does_not_declare() -> None:
    assert set(SEQUENCER_MARKER_KINDS) <= set(MARKER_KINDS)
    assert set(SUBSCRIBABLE) == set(NOTIFY) - {"error"}


def test_hello_lists_exactly_the_declared_methods_and_notifications(session: Recorder) -> None:
    hello = next(r for m, r in session.results if m == "hello")
    assert hello["methods"] == list(METHODS)
    assert hello["notifications"] == list(SUBSCRIBABLE)
    assert set(hello["limits"]) >= {"max_message_bytes", "max_connections", "message_timeout", "max_duration_bars"}


def test_a_check_finds_missing_extra_and_mistyped_fields() -> None:
    good = {"subscribed": ["beat"]}
    assert schemadoc.check_result("subscribe", good) == []
    assert schemadoc.check_result("subscribe", {}) == ["subscribe(): field 'subscribed' is missing"]
    assert schemadoc.check_result("subscribe", {**good, "extra": 1}) == ["subscribe(): field 'extra' is not declared"]
    assert schemadoc.check_result("subscribe", {"subscribed": [3]})[0].startswith("subscribe().subscribed[0]")
    assert schemadoc.check_notification("bar", {"kind": "bar"})  # missing frame, position, ...


def test_positional_parameters_follow_the_schema_order() -> None:
    hub = Recorder()
    hub("hello", "controller", 1, "positional", None, False)
    hub("load", None, 3, 0)
    hub("start", "fight", 0)
    r = hub("render", 64, "s16", 0)
    assert (r["frames"], r["format"]) == (64, "s16")
    with pytest.raises(RpcError) as e:
        hub("render", 64, "s16", 0, "one too many")
    assert e.value.code == ErrorCode.INVALID_PARAMS and "(frames, format, session)" in e.value.message


def test_protocol_md_tables_are_the_ones_the_schema_generates() -> None:
    doc = schemadoc.PROTOCOL_MD.read_text(encoding="utf-8")
    assert schemadoc.render_doc(doc) == doc, "run: python -m soundtrack.ipc.schemadoc --write"
    for method in METHODS:  # and the prose outside the tables names no method the schema lacks
        assert f"### `{method}(" in doc


def test_protocol_d_ts_is_the_one_the_schema_generates_and_index_d_ts_uses_it() -> None:
    assert schemadoc.PROTOCOL_DTS.read_text(encoding="utf-8") == schemadoc.typescript(), \
        "run: python -m soundtrack.ipc.schemadoc --write"
    index = (NODE / "index.d.ts").read_text(encoding="utf-8")
    assert "from './protocol'" in index
    assert "export declare const ErrorCode: ErrorCodes;" in index
    for kept in ("reconnect(): Promise<this>;", "export declare class MarkerClock"):  # client-only parts
        assert kept in index
    for method in ("hello", "load", "start", "event", "render", "status"):
        assert f"Promise<{schemadoc._pascal(method)}Result>" in index or f"{schemadoc._pascal(method)}Result" in index


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_node_clients_error_codes_are_the_schemas() -> None:
    out = subprocess.run(["node", "-e", "console.log(JSON.stringify(require('./index.js').ErrorCode))"], cwd=NODE,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert json.loads(out) == {c.name: int(c) for c in ErrorCode}


def _tsc() -> str | None:
    local = NODE / "node_modules" / ".bin" / "tsc"
    return str(local) if local.exists() else shutil.which("tsc")


@pytest.mark.skipif(_tsc() is None, reason="TypeScript (tsc) is not installed")
def test_the_node_types_compile(tmp_path: Path) -> None:
    probe = tmp_path / "probe.ts"
    probe.write_text(
        "import { Client, ErrorCode, Plan, Methods, Marker } from '%s/index';\n"
        "async function f(c: Client) { const p: Plan | unknown = await c.event('x');\n"
        "  const r = await c.callNamed('pause', { fade: '10ms' }); const n: number = r.end_frame;\n"
        "  const code: -32700 = ErrorCode.PARSE_ERROR; const m = await c.render(1024); const pcm: Float32Array = m.pcm;\n"
        "  const k: Marker['kind'] = m.markers[0].kind; const raw: Methods['render']['result']['pcm'] = new Uint8Array(4);\n"
        "  // @ts-expect-error: a field the schema does not declare\n"
        "  const bad = r.no_such_field;\n"
        "  return [p, n, code, k, pcm, raw, bad]; }\n" % NODE.as_posix())
    tsc = _tsc()
    assert tsc is not None
    types = Path(tsc).resolve().parents[2] / "@types"  # node_modules/typescript/bin/tsc -> node_modules/@types
    extra = ["--types", "node", "--typeRoots", str(types)] if (types / "node").is_dir() else []
    r = subprocess.run([tsc, "--noEmit", "--strict", "--skipLibCheck", "--target", "es2020", "--moduleResolution", "node",
                        *extra, str(probe)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
