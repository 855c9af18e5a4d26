"""A fast proxy for `make bench-quality`'s key and tempo rows, in the main venv (no musicnn):
measure.py's own estimators (chroma + Krumhansl, librosa's beat tracker) over the prompt set's
8-bar main loops, as a listener hears them (generate.heard). One line per stem, then the counts.

    python benchmarks/quality/proxy.py [REGEX [SEEDS]]   # e.g. "chiptune|arcade" 3; all 96: ~2.5 min

Tempo is counted over drum-bearing stems, as generate.py marks them (a drums layer above -40 dBFS).
"""

import re
import sys
import tomllib
from pathlib import Path

import librosa
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate import heard
from measure import estimate_key, parse_key, tempo_of
from soundtrack.generate.procedural import ProceduralGenerator
from soundtrack.stem import StemSpec
pat = sys.argv[1] if len(sys.argv) > 1 else ""
seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
prompts = [p for p in tomllib.load(open(HERE / "prompts.toml", "rb"))["prompt"] if re.search(pat, p["text"])]
gen = ProceduralGenerator()
kok = tok = tn = n = 0
for p in prompts:
    for seed in range(1, seeds + 1):
        st = gen.generate(StemSpec(p["text"], role="main", bars=8, key=p["key"], seed=seed))
        y = heard(st).mean(axis=1).astype(np.float32)
        y = librosa.resample(y, orig_sr=st.sample_rate, target_sr=22050)
        k = estimate_key(y, 22050); want = parse_key(p["key"])
        t = tempo_of(y, 22050); bpm = float(st.grid.bpm)
        drums = "drums" in st.layers and float(np.max(np.abs(st.layers["drums"]))) > 10 ** (-40 / 20)
        good_t = abs(t / bpm - 1) <= 0.04
        n += 1; kok += k == want
        if drums: tn += 1; tok += good_t
        print(f"{p['text'][:40]:40s} s{seed} key {'ok ' if k == want else 'BAD'} {k} want {want} tempo {t:6.1f} of {bpm:5.1f} {'ok' if good_t else 'BAD'}{'' if drums else ' (no drums)'}", flush=True)
print(f"key {kok}/{n}  tempo {tok}/{tn}")
