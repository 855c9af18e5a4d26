"""The listening proxy: generated stems against human-made game music, measured the same way.

Runs in its own venv (tensorflow-cpu 2.15.1, numpy<2, musicnn 0.1.0 without its deps, librosa
0.10; `make bench-quality` builds it). Reference: the music Debian ships with Wesnoth
(orchestral), FreedroidRPG (electronic) and SuperTux (mixed), cut into 20 s clips; measurement
only, nothing of it is kept or shipped.

Measures, per set (human / before / after):

- Frechet distance of musicnn's 200-d penultimate embeddings (MSD and MTT models) over 3 s
  patches against one half of the human clips (split by track); the floor is the other half.
  Every comparison uses the same number of patches (the smallest set's), drawn with a fixed seed.
- key: a chroma (CQT) + Krumhansl-Schmuckler estimate = the declared key (tonic and mode);
- tempo: librosa's beat tracker within 4 % of the declared tempo (drum-bearing stems; also
  allowing x2 and x1/2);
- prompt picked from its own tags: the stem's mean tag probabilities (z-scored per tag over all
  stems of the set) averaged over each prompt's tags; top-1 / top-5 = its own prompt ranks first
  / in the first five;
- loudness range across bars: per clip, the 90th minus the 10th percentile of the loudness of
  its bars (BS.1770 gated loudness of each bar; 2 s windows for the human clips, whose bars are
  unknown; ~2 s is a bar at 120 bpm);
- short-term loudness range (EBU 3342 LRA on 3 s windows, 10th to 95th percentile);
- the share of energy below 150 Hz and above 5 kHz;
- named instruments among the top tags: the prompt's instrument tag among the stem's five most
  probable MTT tags.

    venv/bin/python measure.py --human DIR --set before=DIR --set after=DIR --out RESULTS.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import pyloudnorm  # noqa: E402
import soundfile as sf  # noqa: E402
from scipy import linalg  # noqa: E402
from scipy.signal import welch  # noqa: E402

CLIP_SECONDS = 20.0
MAX_CLIPS_PER_TRACK = 4
HUMAN_DIRS = ("/usr/share/games/wesnoth/1.16/data/core/music", "/usr/share/freedroidrpg/data/sound/music",
              "/usr/share/games/supertux2/music")
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


# -- clips -------------------------------------------------------------------------------------


def human_clips(out: Path) -> list[dict]:
    """Cut every reference track into up to 4 clips of 20 s (from 5 s in), as 22.05 kHz WAVs."""
    out.mkdir(parents=True, exist_ok=True)
    clips = []
    for root in HUMAN_DIRS:
        for path in sorted(Path(root).rglob("*")):
            if path.suffix.lower() not in (".ogg", ".flac", ".wav", ".mp3"):
                continue
            try:
                y, sr = librosa.load(str(path), sr=22050, mono=False)
            except Exception as e:  # noqa: BLE001
                print(f"skip {path}: {e}", file=sys.stderr)
                continue
            y = np.atleast_2d(y).T  # (frames, channels)
            n = int(CLIP_SECONDS * sr)
            starts = list(range(int(5 * sr), y.shape[0] - n + 1, n))[:MAX_CLIPS_PER_TRACK]
            for k, s in enumerate(starts):
                clip = y[s : s + n]
                if np.max(np.abs(clip)) < 1e-3:
                    continue
                name = f"{Path(root).parts[3]}_{path.stem}_{k}.wav".replace(" ", "_")
                f = out / name
                if not f.exists():
                    sf.write(f, clip.astype(np.float32), sr)
                clips.append({"file": str(f), "track": f"{root}/{path.stem}", "sr": sr})
    return clips


#: the generator's styles the reference music has no example of (it is orchestral, ambient,
#: electronic and chiptune game music)
UNHELD = {"rock", "jazz", "folk"}


def generated(d: Path) -> list[dict]:
    out = []
    for j in sorted(d.glob("p*_s*.json")):
        meta = json.loads(j.read_text())
        meta["file"] = str(j.with_suffix(".wav"))
        out.append(meta)
    return out


# -- musicnn embeddings and tags, one graph per model -------------------------------------------


def musicnn_run(files: list[str], model: str) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """(per file: penultimate (patches, 200), taggram (patches, 50)), tag names."""
    import tensorflow as tf
    from musicnn import configuration as config
    from musicnn import models
    from musicnn.extractor import batch_data

    tf.compat.v1.disable_eager_execution()
    labels = config.MTT_LABELS if "MTT" in model else config.MSD_LABELS
    n_frames = librosa.time_to_frames(3, sr=config.SR, n_fft=config.FFT_SIZE, hop_length=config.FFT_HOP) + 1
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, n_frames, config.N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        y, *_rest, penultimate = models.define_model(x, is_training, model, len(labels))
        normalized_y = tf.nn.sigmoid(y)
    threads = int(os.environ.get("BENCH_THREADS", "1"))  # a shared machine: one core unless told
    sess = tf.compat.v1.Session(config=tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads,
                                                                inter_op_parallelism_threads=threads))
    sess.run(tf.compat.v1.global_variables_initializer())
    import musicnn

    tf.compat.v1.train.Saver().restore(sess, os.path.join(os.path.dirname(musicnn.__file__), model) + "/")
    embs, tags = [], []
    for f in files:
        batch, _ = batch_data(f, n_frames, n_frames)
        t, e = sess.run([normalized_y, penultimate], feed_dict={x: batch, is_training: False})
        embs.append(np.asarray(e))
        tags.append(np.asarray(t))
    sess.close()
    return embs, tags, list(labels)


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    if isinstance(covmean, tuple):  # older scipy
        covmean = covmean[0]
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean))


def draw(patches: np.ndarray, n: int, seed: int) -> np.ndarray:
    idx = np.random.default_rng(seed).choice(patches.shape[0], size=n, replace=False)
    return patches[np.sort(idx)]


# -- key, tempo, loudness, spectrum --------------------------------------------------------------


def load_mono(f: str, sr: int = 22050) -> np.ndarray:
    y, _ = librosa.load(f, sr=sr, mono=True)
    return y


def estimate_key(y: np.ndarray, sr: int) -> tuple[int, str]:
    c = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=1024).mean(axis=1)
    best = (-2.0, 0, "major")
    for t in range(12):
        for prof, mode in ((MAJOR, "major"), (MINOR, "minor")):
            r = float(np.corrcoef(np.roll(prof, t), c)[0, 1])
            if r > best[0]:
                best = (r, t, mode)
    return best[1], best[2]


def parse_key(text: str) -> tuple[int, str]:
    name, mode = text.split()[0], " ".join(text.split()[1:]).lower()
    pc = {"C": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "F": 5, "F#": 6, "Gb": 6, "G": 7,
          "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11}[name]
    return pc, "minor" if "minor" in mode or mode in ("aeolian",) else "major"


def tempo_of(y: np.ndarray, sr: int) -> float:
    _, beats = librosa.beat.beat_track(y=y, sr=sr, hop_length=256, units="time")
    if len(beats) < 3:
        return 0.0
    return 60.0 / float(np.median(np.diff(beats)))


def bar_range(y2: np.ndarray, sr: int, window: float) -> float:
    meter = pyloudnorm.Meter(sr, block_size=min(0.4, window))
    n = int(window * sr)
    vals = []
    for s in range(0, y2.shape[0] - n + 1, n):
        v = meter.integrated_loudness(y2[s : s + n])
        if np.isfinite(v) and v > -70:
            vals.append(v)
    if len(vals) < 3:
        return float("nan")
    return float(np.percentile(vals, 90) - np.percentile(vals, 10))


def lra(y2: np.ndarray, sr: int) -> float:
    meter = pyloudnorm.Meter(sr, block_size=0.4)
    n, hop = int(3 * sr), int(0.5 * sr)
    st = []
    for s in range(0, y2.shape[0] - n + 1, hop):
        v = meter.integrated_loudness(y2[s : s + n])
        if np.isfinite(v) and v > -70:
            st.append(v)
    if len(st) < 3:
        return float("nan")
    st = np.array(st)
    gate = 10 * np.log10(np.mean(10 ** (st / 10))) - 20
    st = st[st > gate]
    return float(np.percentile(st, 95) - np.percentile(st, 10))


def band_shares(y: np.ndarray, sr: int) -> tuple[float, float]:
    f, p = welch(y, fs=sr, nperseg=8192)
    tot = float(p.sum()) + 1e-20
    return float(p[f < 150].sum() / tot), float(p[f > 5000].sum() / tot)


def acoustic(item: dict, human: bool) -> dict:
    y2, sr = sf.read(item["file"], always_2d=True)
    if sr != 22050:
        y2 = librosa.resample(y2.T, orig_sr=sr, target_sr=22050).T
        sr = 22050
    y = y2.mean(axis=1)
    low, high = band_shares(y, sr)
    out = {"low": low, "high": high, "lra": lra(y2, sr),
           "bar_range": bar_range(y2, sr, 2.0 if human else float(item["bar_seconds"]))}
    if not human:
        tonic, mode = estimate_key(y, sr)
        want = parse_key(item["declared_key"])
        out["key_ok"] = (tonic, mode) == want
        out["key_heard"] = f"{NAMES[tonic]} {mode}"
        if item["has_drums"]:
            bpm = tempo_of(y, sr)
            d = item["bpm"]
            out["tempo"] = bpm
            out["tempo_ok"] = abs(bpm - d) / d <= 0.04
            out["tempo_ok_x2"] = any(abs(bpm * m - d) / d <= 0.04 for m in (1, 2, 0.5))
    return out


# -- the table ---------------------------------------------------------------------------------


def iqr(v: list[float]) -> tuple[float, float]:
    v = [x for x in v if np.isfinite(x)]
    return float(np.percentile(v, 25)), float(np.percentile(v, 75))


def med(v: list[float]) -> float:
    v = [x for x in v if np.isfinite(x)]
    return float(np.median(v)) if v else float("nan")


def prompt_ranks(items: list[dict], tags: list[np.ndarray], labels: list[str]) -> tuple[float, float]:
    mean = np.array([t.mean(axis=0) for t in tags])  # (stems, labels)
    z = (mean - mean.mean(axis=0)) / (mean.std(axis=0) + 1e-9)
    prompts = sorted({it["index"]: it["tags"] for it in items}.items())
    top1 = top5 = 0
    for it, zrow in zip(items, z):
        scores = []
        for idx, ptags in prompts:
            cols = [labels.index(t) for t in ptags if t in labels]
            scores.append((float(zrow[cols].mean()) if cols else -9.0, idx))
        order = [idx for _, idx in sorted(scores, key=lambda s: -s[0])]
        top1 += order[0] == it["index"]
        top5 += it["index"] in order[:5]
    return top1 / len(items), top5 / len(items)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--human", required=True, help="folder for the human clips (cut here once)")
    ap.add_argument("--set", action="append", default=[], help="LABEL=DIR of generate.py output")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    human = human_clips(Path(args.human))
    tracks = sorted({c["track"] for c in human})
    half_a = {t for i, t in enumerate(tracks) if i % 2 == 0}
    sets = {}
    for s in args.set:
        label, d = s.split("=", 1)
        sets[label] = generated(Path(d))
    print(f"human clips: {len(human)} from {len(tracks)} tracks; sets: " +
          ", ".join(f"{k} {len(v)}" for k, v in sets.items()), flush=True)
    results: dict = {"human_clips": len(human), "human_tracks": len(tracks), "sets": {}}
    emb: dict = {}
    tags: dict = {}
    labels: dict = {}
    for model in ("MSD_musicnn", "MTT_musicnn"):
        files = [c["file"] for c in human] + [it["file"] for v in sets.values() for it in v]
        e, t, lab = musicnn_run(files, model)
        labels[model] = lab
        k = len(human)
        emb[(model, "human")] = e[:k]
        tags[(model, "human")] = t[:k]
        for label, items in sets.items():
            emb[(model, label)] = e[k : k + len(items)]
            tags[(model, label)] = t[k : k + len(items)]
            k += len(items)
        print(f"{model}: embedded", flush=True)
    fd: dict = {}
    for model in ("MSD_musicnn", "MTT_musicnn"):
        he = emb[(model, "human")]
        a = np.concatenate([x for x, c in zip(he, human) if c["track"] in half_a])
        b = np.concatenate([x for x, c in zip(he, human) if c["track"] not in half_a])
        gen = {label: np.concatenate(emb[(model, label)]) for label in sets}
        n = min([a.shape[0], b.shape[0]] + [g.shape[0] for g in gen.values()])
        fd[(model, "floor")] = frechet(draw(a, n, 1), draw(b, n, 2))
        for label, g in gen.items():
            fd[(model, label)] = frechet(draw(g, n, 3), draw(b, n, 2))
            # split by whether the reference holds music of the stem's style at all: it has no
            # rock, jazz or folk, so those stems are far from it whatever they sound like
            for group, held in (("held", True), ("unheld", False)) if model == "MSD_musicnn" else ():
                parts = [x for x, it in zip(emb[(model, label)], sets[label]) if (it.get("style") not in UNHELD) == held]
                if parts:
                    g2 = np.concatenate(parts)
                    m = min(n, g2.shape[0])
                    fd[(model, label, group)] = (frechet(draw(g2, m, 3), draw(b, m, 2)), len(parts))
        fd[(model, "n")] = n
    hum_ac = [acoustic(c, True) for c in human]
    results["human"] = {
        "bar_range": med([x["bar_range"] for x in hum_ac]), "bar_range_iqr": iqr([x["bar_range"] for x in hum_ac]),
        "lra": med([x["lra"] for x in hum_ac]), "lra_iqr": iqr([x["lra"] for x in hum_ac]),
        "low": med([x["low"] for x in hum_ac]), "low_iqr": iqr([x["low"] for x in hum_ac]),
        "high": med([x["high"] for x in hum_ac]), "high_iqr": iqr([x["high"] for x in hum_ac]),
        "fd_msd": fd[("MSD_musicnn", "floor")], "fd_mtt": fd[("MTT_musicnn", "floor")],
        "patches": fd[("MSD_musicnn", "n")],
    }
    for label, items in sets.items():
        ac = [acoustic(it, False) for it in items]
        drum = [x for x in ac if "tempo_ok" in x]
        mtt = tags[("MTT_musicnn", label)]
        named = [(it, t) for it, t in zip(items, mtt) if it.get("instrument")]
        lab = labels["MTT_musicnn"]
        named_ok = [it["instrument"] in [lab[j] for j in np.argsort(-t.mean(axis=0))[:5]] for it, t in named]
        # tags from both models for the prompt ranking
        both = [np.concatenate([a, b], axis=1) for a, b in zip(tags[("MTT_musicnn", label)], tags[("MSD_musicnn", label)])]
        t1, t5 = prompt_ranks(items, both, labels["MTT_musicnn"] + labels["MSD_musicnn"])
        results["sets"][label] = {
            "stems": len(items),
            "fd_msd": fd[("MSD_musicnn", label)], "fd_mtt": fd[("MTT_musicnn", label)],
            "fd_msd_held": fd.get(("MSD_musicnn", label, "held")), "fd_msd_unheld": fd.get(("MSD_musicnn", label, "unheld")),
            "key": float(np.mean([x["key_ok"] for x in ac])),
            "tempo": float(np.mean([x["tempo_ok"] for x in drum])) if drum else float("nan"),
            "tempo_x2": float(np.mean([x["tempo_ok_x2"] for x in drum])) if drum else float("nan"),
            "drum_stems": len(drum),
            "top1": t1, "top5": t5,
            "bar_range": med([x["bar_range"] for x in ac]), "lra": med([x["lra"] for x in ac]),
            "low": med([x["low"] for x in ac]), "high": med([x["high"] for x in ac]),
            "named": float(np.mean(named_ok)) if named_ok else float("nan"), "named_n": len(named_ok),
            "speed": float(np.median([it["audio_seconds"] / it["seconds"] for it in items])),
            "key_misses": [(it["prompt"], it["declared_key"], x["key_heard"]) for it, x in zip(items, ac) if not x["key_ok"]],
            "tempo_misses": [(it["prompt"], it["bpm"], round(x["tempo"], 1)) for it, x in zip(items, ac)
                             if "tempo_ok" in x and not x["tempo_ok"]],
            "soundfont": items[0].get("soundfont"),
        }
        print(f"{label}: measured", flush=True)
    Path(args.out).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
