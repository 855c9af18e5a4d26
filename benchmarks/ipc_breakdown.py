"""Where a lock-step `render(1024)` round trip goes: the server's CPU per request beside the bare
msgpack echo server's, and the server's own time split into its steps.

    python benchmarks/ipc_breakdown.py [--rounds 5]

Serves bench_ipc's two-state bank with `soundtrack serve` (timing wrappers installed around
`Server._data`, `Hub.dispatch`, `Session.render_block`, `Decoder.next`, `encode_response` and
`Connection.uncork`, which writes the response), streams 1024-frame blocks in lock step against
it and against the echo server in alternating rounds, and prints the medians. The wrappers cost
a few microseconds each; the x-real-time figures are measured without them in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_ipc as B  # noqa: E402

WRAPPED = r"""
import atexit, json, sys, time
import soundtrack.ipc.hub as H, soundtrack.ipc.protocol as P, soundtrack.ipc.server as S, soundtrack.ipc.session as SS
acc = {}  # step -> [seconds, calls]
def timed(owner, name, key):
    f = getattr(owner, name)
    acc[key] = [0.0, 0]
    def g(*a, **k):
        t = time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            acc[key][0] += time.perf_counter() - t
            acc[key][1] += 1
    setattr(owner, name, g)
for owner, name, key in ((S.Server, "_data", "whole request (_data)"), (H.Hub, "dispatch", "dispatch"),
                         (SS.Session, "render_block", "  of which render_block"), (P.Decoder, "next", "decode"),
                         (S, "encode_response", "encode"), (S.Connection, "uncork", "write (uncork)")):
    timed(owner, name, key)
def report():
    n = max(acc["whole request (_data)"][1], 1)
    with open(sys.argv[1], "w") as f:
        f.write(json.dumps({"calls": n, "us": {k: v[0] / n * 1e6 for k, v in acc.items()}}))
atexit.register(report)
import signal
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
from soundtrack.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _cpu(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def _requests(x_real_time: float, seconds: float) -> float:
    return x_real_time * B.RATE / B.BLOCK * seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    from soundtrack.bank import build_bank

    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        graph = Path(tmp) / "benchipc.toml"
        graph.write_text(B.GRAPH)
        build_bank(graph, out=Path(tmp) / "bank", jobs=1)
        bank = str(Path(tmp) / "bank")
        rows: dict[str, list[float]] = {k: [] for k in ("engine", "echo", "engine_cpu", "echo_cpu")}
        split: dict = {}
        for wrapped in (False, True):
            cmd = [py, "-c", WRAPPED, str(Path(tmp) / "split.json")] if wrapped else [py, "-m", "soundtrack"]
            eng, addr = B._start([*cmd, "serve", bank, "--tcp", "127.0.0.1:0"])
            echo, eaddr = B._start([py, "-c", B.ECHO_SERVER, "tcp", "-"])
            try:
                for _ in range(1 if wrapped else args.rounds):
                    if wrapped:
                        B._stream(addr, monitors=0, engine=True, block=B.BLOCK, in_flight=1, seconds=args.seconds)
                        continue
                    for name, proc, where, engine in (("engine", eng, addr, True), ("echo", echo, eaddr, False)):
                        c0 = _cpu(proc.pid)
                        x = B._stream(where, monitors=0, engine=engine, block=B.BLOCK, in_flight=1, seconds=args.seconds)
                        rows[name].append(x)
                        rows[f"{name}_cpu"].append((_cpu(proc.pid) - c0) / _requests(x, args.seconds) * 1e6)
            finally:
                eng.send_signal(signal.SIGTERM)
                echo.terminate()
                eng.wait(10)
                echo.wait(10)
            if wrapped:
                split = json.loads((Path(tmp) / "split.json").read_text())
    m = statistics.median
    for name in ("engine", "echo"):
        x = m(rows[name])
        print(f"{name:7} {x:7.1f}x real time  {B.BLOCK / B.RATE / x * 1e6:6.0f} us per round trip  "
              f"server CPU {m(rows[name + '_cpu']):5.0f} us per request")
    print(f"ratio   {m(rows['engine']) / m(rows['echo']):.2f} (rounds: "
          + ", ".join(f"{a / b:.2f}" for a, b in zip(rows["engine"], rows["echo"])) + ")")
    print(f"the server's steps, us per request (wall, {split.get('calls', 0)} requests, with wrappers):")
    for k, v in split.get("us", {}).items():
        print(f"  {k:26} {v:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
