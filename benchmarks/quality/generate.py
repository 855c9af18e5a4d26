"""Render the prompt set's 8-bar main loops with whichever `soundtrack` is importable.

Run by `make bench-quality` twice: once with the generator as committed before the quality
work (PYTHONPATH pointing at a `git archive` of that commit) and once with the current one.
Writes, per prompt and seed, NAME.wav (the loop as a listener hears it: two cycles, each head
with the tail of the cycle before, at the stem's own loudness) and NAME.json (declared key,
tempo, style, whether it has drums, the bar length, the instruments heard), plus timing.json
(CPU seconds per stem, for the speed row: x real time per core).

    python benchmarks/quality/generate.py --out DIR [--seeds 3] [--label after]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent


def heard(stem) -> np.ndarray:
    """Two cycles of a main loop as they play back to back (each head over the previous tail)."""
    mix = stem.mix.astype(np.float64)
    e = stem.grid.exit
    out = np.zeros((3 * e + mix.shape[0], mix.shape[1]))
    for k in range(3):
        out[k * e : k * e + mix.shape[0]] += mix
    return out[e : 3 * e]  # cycles 2 and 3: what a listener hears once the loop is running


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--label", default="after")
    ap.add_argument("--limit", type=int, default=0, help="only the first N prompts (a smoke run)")
    ap.add_argument("--only", default="", help="only these prompt indices, comma-separated (a quick check)")
    args = ap.parse_args()
    from soundtrack.generate.procedural import ProceduralGenerator
    from soundtrack.stem import StemSpec

    prompts = tomllib.loads((HERE / "prompts.toml").read_text())["prompt"]
    if args.limit:
        prompts = prompts[: args.limit]
    only = {int(x) for x in args.only.split(",") if x.strip()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gen = ProceduralGenerator()
    gen.generate(StemSpec("warm up", role="main", bars=1))  # the font's first load is not timed
    times = []
    for i, p in enumerate(prompts):
        if only and i not in only:
            continue
        for seed in range(1, args.seeds + 1):
            name = f"p{i:02d}_s{seed}"
            spec = StemSpec(p["text"], role="main", bars=8, key=p["key"], seed=seed)
            t = time.process_time()  # CPU seconds of this process: "per core", whatever else runs
            stem = gen.generate(spec)
            dt = time.process_time() - t
            audio = heard(stem)
            sf.write(out / f"{name}.wav", audio.astype(np.float32), stem.sample_rate, subtype="FLOAT")
            drums = stem.layers.get("drums")
            has_drums = drums is not None and float(np.max(np.abs(drums))) > 10 ** (-40 / 20)
            meta = {
                "prompt": p["text"], "index": i, "seed": seed, "key": str(stem.key), "declared_key": p["key"],
                "bpm": float(stem.grid.bpm), "meter": str(stem.grid.meter), "style": stem.style,
                "bars": stem.grid.bars, "bar_seconds": float(stem.grid.exit / stem.sample_rate / stem.grid.bars),
                "has_drums": bool(has_drums), "tags": p.get("tags", []), "instrument": p.get("instrument"),
                "instruments": stem.meta.get("instruments", {}), "seconds": dt,
                "audio_seconds": stem.grid.exit / stem.sample_rate, "layers": list(stem.layers),
                "soundfont": stem.meta.get("soundfont"), "label": args.label,
            }
            (out / f"{name}.json").write_text(json.dumps(meta, indent=1))
            times.append((dt, meta["audio_seconds"], len(stem.layers)))
            print(f"{args.label} {name} {p['text'][:40]!r:44} {stem.style:10} {dt:5.2f}s "
                  f"x{meta['audio_seconds'] / dt:5.1f}", flush=True)
    (out / "timing.json").write_text(json.dumps({"stems": times}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
