"""Run every benchmark (benchmarks/bench_*.py) and print each figure beside its peer.

Each module exposes `run() -> list[dict]` with keys name, value, unit, peer, peer_value, ratio,
note; the peer is measured in the same run. The table is printed and written to
benchmarks/RESULTS.md with the machine it ran on, ready to paste into the README.

    python benchmarks/run.py [AREA ...]     # e.g. generate bank sequencer ipc
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if v == 0 or 0.01 <= abs(v) < 100_000:
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{v:.3g}"


def main(argv: list[str]) -> int:
    wanted = set(argv)
    rows: list[tuple[str, dict]] = []
    failed: list[str] = []
    for path in sorted(HERE.glob("bench_*.py")):
        area = path.stem.removeprefix("bench_")
        if wanted and area not in wanted:
            continue
        spec = importlib.util.spec_from_file_location(f"bench_{area}", path)
        mod = importlib.util.module_from_spec(spec)
        assert spec.loader is not None
        sys.path.insert(0, str(HERE))
        spec.loader.exec_module(mod)
        t0 = time.perf_counter()
        print(f"== {area} ...", flush=True)
        try:
            results = mod.run()
        except Exception as exc:  # one broken area must not hide the others' figures
            traceback.print_exc()
            failed.append(area)
            rows.append((area, {"name": "FAILED", "value": None, "unit": "", "note": f"{type(exc).__name__}: {exc}"[:200]}))
            continue
        for r in results:
            rows.append((area, r))
            print(f"   {r['name']}: {fmt(r['value'])} {r['unit']}"
                  + (f"  vs {r['peer']}: {fmt(r.get('peer_value'))}  (x{fmt(r.get('ratio'))})" if r.get("peer") else ""), flush=True)
        print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)
    lines = [
        f"Machine: {machine()}  ",
        f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, `make bench`",
        "",
        "| area | measure | value | unit | peer | peer value | ratio | note |",
        "| --- | --- | ---: | --- | --- | ---: | ---: | --- |",
    ]
    for area, r in rows:
        lines.append(
            f"| {area} | {r['name']} | {fmt(r['value'])} | {r['unit']} | {r.get('peer') or '-'} | "
            f"{fmt(r.get('peer_value'))} | {fmt(r.get('ratio'))} | {r.get('note', '')} |"
        )
    table = "\n".join(lines) + "\n"
    print()
    print(table)
    if not wanted:
        (HERE / "RESULTS.md").write_text("# Latest benchmark results\n\n" + table)
    if failed:
        print(f"benchmarks failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
