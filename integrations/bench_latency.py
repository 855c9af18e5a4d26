"""What each engine client adds to a round trip, measured: `render(1024)` (float32 stereo) and
`ping`, lock-step, through each client against one live `soundtrack serve`, beside a bare
Python client (a socket and msgpack, nothing else) in the same run.

    .venv/bin/python integrations/bench_latency.py [--n 2000] [--bank DIR]

Without --bank it builds the two-state test bank of tests/test_integrations.py in a temporary
folder. Clients whose toolchain is missing are left out. Prints a Markdown table; the
integration READMEs quote it."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgpack

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))


def bare(host: str, port: int, n: int) -> dict[str, float]:
    """The floor: a blocking socket, msgpack.packb and an Unpacker."""
    s = socket.create_connection((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    un = msgpack.Unpacker(raw=False)
    msgid = 0

    def call(method: str, params: list) -> None:
        nonlocal msgid
        msgid += 1
        s.sendall(msgpack.packb([0, msgid, method, params]))
        while True:
            for msg in un:
                if msg[0] == 1 and msg[1] == msgid:
                    return
            un.feed(s.recv(1 << 16))

    call("hello", [{"role": "controller"}])
    call("load", [{"seed": 1}])
    call("start", [])
    out = {}
    for name, method, params in (("render", "render", [1024, "f32"]), ("ping", "ping", [1])):
        for _ in range(50):
            call(method, params)
        t = []
        for _ in range(n):
            t0 = time.perf_counter()
            call(method, params)
            t.append((time.perf_counter() - t0) * 1e6)
        t.sort()
        out[f"{name}_p50_us"], out[f"{name}_p99_us"] = t[n // 2], t[int(n * 0.99)]
    s.close()
    return out


def parse(stdout: str) -> dict[str, float]:
    m = re.search(r"latency (.*)", stdout)
    if not m:
        raise RuntimeError(stdout)
    return {k: float(v) for k, v in (kv.split("=") for kv in m[1].split())}


def clients(build: Path, host: str, port: int, n: int) -> dict[str, list[str] | tuple[list[str], dict[str, str], Path]]:
    found: dict = {}
    if shutil.which("node") and (HERE / "node" / "node_modules").is_dir():
        found["Node.js (`Client`)"] = (["node", "conformance/latency.js", host, str(port), str(n)], {}, HERE / "node")
    if shutil.which("lua5.4"):
        found["Lua (`Client`)"] = (["lua5.4", "test_latency.lua", host, str(port), str(n)], {}, HERE / "love")
    if shutil.which("g++"):
        exe = build / "test_cases"
        subprocess.run(["g++", "-std=c++17", "-O2", "-pthread", "-o", str(exe), str(HERE / "cpp" / "test_cases.cpp")], check=True)
        found["C++ (`Client`, -O2)"] = ([str(exe), "latency", host, str(port), str(n)], {}, build)
    if shutil.which("mcs") and shutil.which("mono"):
        unity = HERE / "unity"
        subprocess.run(["mcs", "-target:library", f"-out:{build / 'UnityEngine.dll'}", str(unity / "Tests~" / "Stubs" / "UnityEngine.cs")], check=True)
        subprocess.run(["mcs", f"-r:{build / 'UnityEngine.dll'}", f"-out:{build / 'Conformance.exe'}",
                        str(unity / "Tests~" / "Conformance" / "Conformance.cs"), *map(str, (unity / "Runtime").glob("*.cs"))], check=True)
        found["C# (`SoundtrackClient.SendRender`, mono)"] = (["mono", str(build / "Conformance.exe"), "latency", host, str(port), str(n)], {}, build)
    if shutil.which("godot3-server"):
        env = {"PATH": "/usr/bin:/bin", "HOME": str(build), "SOUNDTRACK_TCP": f"{host}:{port}", "SOUNDTRACK_N": str(n)}
        found["Godot 3 (`call_sync`, headless)"] = (["godot3-server", "--no-window", "--path", str(HERE / "godot" / "godot3"), "-s",
                                                     "test_latency.gd"], env, HERE / "godot" / "godot3")
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="round trips per measure")
    ap.add_argument("--bank", type=Path, help="a built bank (default: build the tiny test bank)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        build = Path(tmp)
        bank = args.bank
        if bank is None:
            from test_integrations import GRAPH  # the two-state graph the client tests use

            from soundtrack.bank import build_bank

            (build / "tiny.toml").write_text(GRAPH)
            build_bank(build / "tiny.toml", out=build / "bank", jobs=1)
            bank = build / "bank"
        server = subprocess.Popen([sys.executable, "-m", "soundtrack", "serve", str(bank), "--tcp", "127.0.0.1:0"],
                                  stderr=subprocess.PIPE, text=True)
        try:
            assert server.stderr is not None
            for line in server.stderr:
                m = re.search(r"listening on tcp (\S+):(\d+)", line)
                if m:
                    host, port = m[1], int(m[2])
                    break
            rows = [("bare Python socket + msgpack (the floor)", bare(host, port, args.n))]
            for name, (cmd, env, cwd) in clients(build, host, port, args.n).items():
                r = subprocess.run(cmd, cwd=cwd, env=env or None, capture_output=True, text=True, timeout=600)
                rows.append((name, parse(r.stdout + r.stderr)))
        finally:
            server.terminate()
            server.wait(timeout=20)
    floor = rows[0][1]
    print(f"{args.n} lock-step round trips each, loopback TCP, {os.cpu_count()} CPUs; 'added' is the client's p50 minus the floor's\n")
    print("| client | render(1024) p50 µs | p99 µs | added p50 µs | ping p50 µs | p99 µs | added p50 µs |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in rows:
        print(f"| {name} | {r['render_p50_us']:.0f} | {r['render_p99_us']:.0f} | {r['render_p50_us'] - floor['render_p50_us']:+.0f} "
              f"| {r['ping_p50_us']:.0f} | {r['ping_p99_us']:.0f} | {r['ping_p50_us'] - floor['ping_p50_us']:+.0f} |")


if __name__ == "__main__":
    main()
