"""Write benchmarks/quality/RESULTS.md (the table) and the spectrogram PNGs from measure.py's JSON.

    venv/bin/python report.py RESULTS.json --before DIR --after DIR --human DIR --command "make bench-quality"
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
EXAMPLES = (("p01_s1", "epic orchestral battle, taiko drums and brass"), ("p11_s1", "neon synthwave night drive"),
            ("p06_s1", "sad solo piano"), ("p19_s1", "8-bit chiptune platformer level"))


def pct(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f} %"


def num(x: float, d: int = 1) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{d}f}"


def split(st: dict, group: str) -> str:
    v = st.get(f"fd_msd_{group}")
    return "-" if not v else f"{num(v[0])} ({v[1]} stems)"


def table(r: dict, command: str) -> str:
    h, b, a = r["human"], r["sets"].get("before", {}), r["sets"].get("after", {})
    rng = lambda k, d=1: f"{num(h[k], d)} ({num(h[k + '_iqr'][0], d)}-{num(h[k + '_iqr'][1], d)})"  # noqa: E731
    rows = [
        ("Fréchet distance, musicnn MSD embeddings (lower is closer)", num(h["fd_msd"]) + " (half vs half)",
         num(b.get("fd_msd")), num(a.get("fd_msd")), f"<= {2 * h['fd_msd']:.1f} (2x floor)"),
        ("... of the stems in styles the reference holds (all but rock, jazz, folk)", "-", split(b, "held"),
         split(a, "held"), "-"),
        ("... of the rock, jazz and folk stems (no such music in the reference)", "-", split(b, "unheld"),
         split(a, "unheld"), "-"),
        ("Fréchet distance, musicnn MTT embeddings", num(h["fd_mtt"]), num(b.get("fd_mtt")), num(a.get("fd_mtt")), "-"),
        ("key estimate (chroma + Krumhansl) = declared key", "-", pct(b.get("key")), pct(a.get("key")), ">= 90 %"),
        ("tempo within 4 % (librosa), drum-bearing stems (x2, x1/2 allowed)", "-",
         f"{pct(b.get('tempo'))} ({pct(b.get('tempo_x2'))}) of {b.get('drum_stems', 0)}",
         f"{pct(a.get('tempo'))} ({pct(a.get('tempo_x2'))}) of {a.get('drum_stems', 0)}", ">= 95 %"),
        ("prompt picked from its own tags (top-1, top-5)", "-", f"{pct(b.get('top1'))}, {pct(b.get('top5'))}",
         f"{pct(a.get('top1'))}, {pct(a.get('top5'))}", "-"),
        ("named instrument among the stem's top-5 MTT tags", "-", f"{pct(b.get('named'))} of {b.get('named_n', 0)}",
         f"{pct(a.get('named'))} of {a.get('named_n', 0)}", "all"),
        ("loudness range across bars, dB (median; human IQR)", rng("bar_range"), num(b.get("bar_range")),
         num(a.get("bar_range")), "inside the human IQR"),
        ("short-term loudness range, LU", rng("lra"), num(b.get("lra")), num(a.get("lra")), "inside the human IQR"),
        ("energy below 150 Hz (share)", rng("low", 2), num(b.get("low"), 2), num(a.get("low"), 2), "inside the human IQR"),
        ("energy above 5 kHz (share)", rng("high", 4), num(b.get("high"), 4), num(a.get("high"), 4), "inside the human IQR"),
        ("generation speed, 8-bar main, median x real time (one core)", "-", num(b.get("speed")), num(a.get("speed")),
         ">= 20x"),
    ]
    out = ["| measure | human music (floor) | before | after | aim |", "| --- | ---: | ---: | ---: | --- |"]
    out += [f"| {m} | {hv} | {bv} | {av} | {aim} |" for m, hv, bv, av, aim in rows]
    sfb = (b.get("soundfont") or {}).get("name", "TimGM6mb.sf2")
    sfa = (a.get("soundfont") or {}).get("name", "?")
    head = [
        "# Listening proxy: the procedural generator against human-made game music",
        "",
        f"Measured by `{command}` over {a.get('stems', 0)} main stems per generator (8 bars, "
        f"{a.get('stems', 0) // 3 if a.get('stems') else 0} prompts x 3 seeds, `benchmarks/quality/prompts.toml`) "
        f"against {r['human_clips']} 20 s clips of {r['human_tracks']} tracks of human-made game music "
        f"(Debian's wesnoth-1.16-music, freedroidrpg-data, supertux-data; measurement only). "
        f"Fréchet distances use {h['patches']} 3 s patches per set. before: the generator as committed before this "
        f"work (font {sfb}); after: this one (font {sfa}).",
        "",
    ]
    tail = ["", "Key misses (after): " + "; ".join(f"{p!r} {d} heard as {k}" for p, d, k in a.get("key_misses", [])[:12]),
            "", "Tempo misses (after): " + "; ".join(f"{p!r} {d:g} bpm heard {t:g}" for p, d, t in a.get("tempo_misses", [])[:12]),
            "", "Spectrograms (log frequency, 0-11 kHz; left before, right after):", ""]
    for name, prompt in EXAMPLES:
        tail.append(f"- {prompt}: ![{prompt}](spectrograms/{name}.png)")
    return "\n".join(head + out + tail) + "\n"


def spectrograms(before: Path, after: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import librosa
    import librosa.display
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    for name, prompt in EXAMPLES:
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), sharey=True)
        for ax, d, label in ((axes[0], before, "before"), (axes[1], after, "after")):
            f = d / f"{name}.wav"
            if not f.exists():
                ax.set_title(f"{label}: missing")
                continue
            y, sr = sf.read(f, always_2d=True)
            y = librosa.resample(y.mean(axis=1)[: 12 * sr], orig_sr=sr, target_sr=22050)
            S = librosa.amplitude_to_db(np.abs(librosa.stft(y, n_fft=2048, hop_length=512)), ref=np.max)
            librosa.display.specshow(S, sr=22050, hop_length=512, x_axis="time", y_axis="log", ax=ax, vmin=-80, vmax=0)
            ax.set_title(f"{label}: {prompt}", fontsize=9)
        fig.tight_layout()
        fig.savefig(out / f"{name}.png", dpi=72)
        plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--command", default="make bench-quality")
    args = ap.parse_args()
    r = json.loads(Path(args.results).read_text())
    (HERE / "RESULTS.md").write_text(table(r, args.command))
    spectrograms(Path(args.before), Path(args.after), HERE / "spectrograms")
    print((HERE / "RESULTS.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
