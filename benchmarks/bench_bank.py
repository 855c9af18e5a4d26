"""Loop bank build speed: the dungeon bank at --jobs 1 and --jobs 2 (speed-up), and a rebuild
with nothing changed (in-process, and as the whole `soundtrack bank build` command).

    python benchmarks/bench_bank.py            # prints the rows as JSON
    BENCH_BANK_GENERATOR=module:Factory ...    # measure another generator
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GRAPH = ROOT / "graphs" / "dungeon.toml"


def _build(out: Path, jobs: int, generator: str | None) -> tuple[float, object]:
    from soundtrack.bank import build_bank

    t0 = time.perf_counter()
    report = build_bank(GRAPH, out=out, jobs=jobs, generator=generator)
    return time.perf_counter() - t0, report


def run() -> list[dict]:
    generator = os.environ.get("BENCH_BANK_GENERATOR") or None
    with tempfile.TemporaryDirectory(prefix="bench_bank_") as tmp:
        one, r1 = _build(Path(tmp) / "j1", 1, generator)
        two, r2 = _build(Path(tmp) / "j2", 2, generator)
        files = {p.name: p for p in (Path(tmp) / "j2" / "stems").iterdir() if p.is_file()}  # not the .banks registry
        same = bool(files) and all((Path(tmp) / "j1" / "stems" / n).read_bytes() == p.read_bytes() for n, p in files.items())
        again, r3 = _build(Path(tmp) / "j2", 2, generator)
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "soundtrack", "bank", "build", str(GRAPH), "--out", str(Path(tmp) / "j2"), "--quiet"]
        if generator:
            cmd += ["--generator", generator]
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        cli = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in (Path(tmp) / "j2").rglob("*") if p.is_file())
        manifest = json.loads((Path(tmp) / "j2" / "manifest.json").read_text())
        as_float_wav = sum(s["grid"]["frames"] * s["channels"] * 4 * len(s["layers"]) for s in manifest["stems"])
    stems = r1.stems
    note = f"{stems} stems ({len(r1.generated)} generated), {size / 1e6:.1f} MB as FLAC ({as_float_wav / 1e6:.0f} MB as float WAV), bank identical across jobs: {same}"
    return [
        {"name": "bank build dungeon --jobs 2", "value": two, "unit": "s", "peer": "--jobs 1", "peer_value": one,
         "ratio": one / two, "note": f"ratio = speed-up; {note}"},
        {"name": "bank rebuild dungeon, nothing changed (in-process)", "value": again, "unit": "s",
         "peer": "full build --jobs 1", "peer_value": one, "ratio": one / again,
         "note": f"{len(r3.reused)} reused, {len(r3.generated)} generated; every file re-hashed"},
        {"name": "soundtrack bank build dungeon, nothing changed (whole command)", "value": cli, "unit": "s",
         "peer": None, "peer_value": None, "ratio": None, "note": "includes Python start-up and imports"},
    ]


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
