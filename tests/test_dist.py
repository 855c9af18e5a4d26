"""The single-folder server a game bundles (`make dist`, packaging/soundtrack.spec): built with
PyInstaller, started as a child process over stdio with no Python on its path, it serves a
session whose audio equals the engine's offline render bit for bit; torch is not in it.

Building takes 50 s to over 2 min on two shared cores, so the suite does not build it: run `make
dist` first (CI: `make dist test`). The tests skip when dist/soundtrack/ is missing, or older
than the package or the spec (a stale bundle would test old code)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from soundtrack.ipc import Client
from soundtrack.ipc.app import make_sequencer, open_source

REPO = Path(__file__).resolve().parents[1]
DIST = REPO / "dist" / "soundtrack"
BINARY = DIST / "soundtrack"
BLOCK = 1024
SEED = 5

GRAPH = """
[soundtrack]
name = "distcheck"
tempo = 120
meter = "4/4"
key = "C major"
seed = 2
start = "calm"

[states.calm]
prompt = "soft ambient pad"
intro = 0
main = 1
outro = 0
layers = ["bass", "harmony"]

[states.fight]
prompt = "driving rock drums"
intro = 0
main = 1
outro = 0
layers = ["drums", "bass"]

[[transitions]]
from = "calm"
to = "fight"
on = "enemy"
sync = "beat"
fade = 1

[[transitions]]
from = "fight"
to = "calm"
on = "clear"
sync = "bar"
fade = 1
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def binary() -> Path:
    """dist/soundtrack/soundtrack, as `make dist` built it from the current sources."""
    if not BINARY.is_file():
        pytest.skip("dist/soundtrack/ is not built: run `make dist` (PyInstaller, 1-2 min)")
    newest = max((REPO / "soundtrack").rglob("*.py"), key=lambda f: f.stat().st_mtime)
    for f in [newest, *(REPO / "packaging").iterdir()]:
        if f.stat().st_mtime > BINARY.stat().st_mtime:
            pytest.skip(f"dist/soundtrack/ is older than {f.relative_to(REPO)}: run `make dist` again")
    return BINARY


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from soundtrack.bank import build_bank

    d = tmp_path_factory.mktemp("dist")
    (d / "distcheck.toml").write_text(GRAPH)
    build_bank(d / "distcheck.toml", out=d / "bank", jobs=1)
    return d / "bank"


def test_the_bundle_leaves_torch_and_the_plotting_stack_out(binary: Path) -> None:
    names = {p.name.lower() for p in DIST.rglob("*")}
    for absent in ("torch", "transformers", "matplotlib", "libtorch_cpu.so"):
        assert absent not in names, f"{absent} is in {DIST}"
    size = sum(p.stat().st_size for p in DIST.rglob("*") if p.is_file())
    assert size < 400 * 2**20, f"the bundle is {size / 2**20:.0f} MiB"


def test_the_bundle_serves_a_session_over_stdio_without_python(binary: Path, bank: Path, tmp_path: Path) -> None:
    # No Python of ours on the path or in the environment, and run from an unrelated folder: what
    # a game that ships the folder has.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(binary), "serve", str(bank), "--stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tmp_path, env=env, bufsize=0)
    assert proc.stdin is not None and proc.stdout is not None

    def write(data: bytes) -> None:
        proc.stdin.write(data)
        proc.stdin.flush()

    client = Client(proc.stdout.read, write, timeout=60)
    try:
        hello = client.hello(role="controller", client="dist-test")
        started_s = time.perf_counter() - t0
        assert hello["graph"] == "distcheck" and hello["sample_rate"] == 48000 and hello["channels"] == 2
        client.load(seed=SEED)
        assert client.start()["frame"] == 0
        blocks = [client.render(BLOCK)[0] for _ in range(4)]
        plan = client.event("enemy")
        assert plan["accepted"] and plan["to"] == "fight"
        while len(blocks) * BLOCK < plan["edit_frame"] + 4 * BLOCK:
            blocks.append(client.render(BLOCK)[0])
        status = client.status()
        assert status["state"] == "fight" and status["frame"] == len(blocks) * BLOCK
        client.shutdown()
    finally:
        proc.stdin.close()
        rc = proc.wait(timeout=30)
        err = proc.stderr.read().decode() if proc.stderr else ""
    assert rc == 0, err

    # the engine driven directly, in this Python: the same plan, the same audio, bit for bit
    src = open_source(bank)
    seq = make_sequencer(src, SEED)
    seq.start(src.graph.start)
    head = seq.render(4 * BLOCK)
    want_plan = seq.post("enemy")
    assert (plan["posted_frame"], plan["edit_frame"]) == (want_plan.posted_frame, want_plan.edit_frame)
    want = np.concatenate([head, seq.render((len(blocks) - 4) * BLOCK)])
    np.testing.assert_array_equal(np.concatenate(blocks), want)
    print(f"bundle answered hello {started_s * 1000:.0f} ms after it was started")


def test_a_cpp_game_starts_the_bundle_as_its_child_over_stdio(binary: Path, bank: Path, tmp_path: Path) -> None:
    """What a C++ engine does: soundtrack::Client::spawn(bundled binary, serve BANK --stdio)."""
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ is not installed")
    exe = tmp_path / "test_cases"
    subprocess.run([gxx, "-std=c++17", "-O1", "-pthread", "-o", str(exe), str(REPO / "integrations" / "cpp" / "test_cases.cpp")],
                   check=True, timeout=180)
    r = subprocess.run([str(exe), "spawn", str(SEED), str(tmp_path / "sp.f32"), str(binary), "serve", str(bank), "--stdio"],
                       capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert r.returncode == 0 and "hello graph=distcheck" in r.stdout, r.stdout + r.stderr
    got = np.fromfile(tmp_path / "sp.f32", dtype="<f4").reshape(-1, 2)
    src = open_source(bank)
    seq = make_sequencer(src, SEED)
    seq.start(src.graph.start)
    np.testing.assert_array_equal(got, seq.render(len(got)))
