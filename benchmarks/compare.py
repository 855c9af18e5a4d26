"""The same benchmarks on an older tree and on this one, in one run, side by side.

    python benchmarks/compare.py REF [AREA ...]     # e.g. def77cf sequencer ipc

REF is checked out into a temporary git worktree; each tree runs its own benchmarks/run.py with
its own package on the path (same venv, same machine, one after the other), so a figure moves
only because the code did. Rows are matched by name; a row only one tree has shows "-".
Written to benchmarks/COMPARE.md.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ROW = re.compile(r"^   (?P<name>.+?): (?P<value>[-\d.,e+]+) (?P<unit>[^ ]+.*?)(?:  vs .*)?$")


def _figures(tree: Path, areas: list[str]) -> dict[str, tuple[float, str]]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, str(tree / "benchmarks" / "run.py"), *areas], cwd=tree, env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stdout[-2000:] + out.stderr[-4000:])
        raise SystemExit(f"benchmarks failed in {tree}")
    rows: dict[str, tuple[float, str]] = {}
    for line in out.stdout.splitlines():
        if line.startswith("|"):
            break  # the table repeats the rows
        m = ROW.match(line)
        if m:
            try:
                rows[m["name"]] = (float(m["value"].replace(",", "")), m["unit"].strip())
            except ValueError:
                continue
    return rows


def _num(row: tuple[float, str] | None) -> str:
    return "-" if row is None else f"{row[0]:,.4g}"


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    ref, areas = argv[0], argv[1:] or ["sequencer", "ipc"]
    with tempfile.TemporaryDirectory(prefix="soundtrack-bench-") as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "worktree", "add", "--detach", "-f", str(old), ref], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            print(f"== {ref} ...", flush=True)
            before = _figures(old, areas)
            print("== this tree ...", flush=True)
            after = _figures(ROOT, areas)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, capture_output=True)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    lines = [f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, `python benchmarks/compare.py {' '.join(argv)}`",
             "", f"| measure | unit | {ref} | {head} | new / old |", "| --- | --- | ---: | ---: | ---: |"]
    for name in list(before) + [n for n in after if n not in before]:
        b, a = before.get(name), after.get(name)
        ratio = f"{a[0] / b[0]:.2f}" if a and b and b[0] else "-"
        unit = (a or b or (0.0, ""))[1]
        lines.append(f"| {name} | {unit} | {_num(b)} | {_num(a)} | {ratio} |")
    table = "\n".join(lines) + "\n"
    print(table)
    (HERE / "COMPARE.md").write_text("# Before and after, one run\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
