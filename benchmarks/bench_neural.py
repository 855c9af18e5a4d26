"""Neural generation and grid conforming: how fast, against the procedural generator.

- musicgen: seconds of compute per second of audio for a MusicGen of musicgen-small's shape
  (decoder 1024 wide, 24 layers, 16 heads, 4 codebooks of 2048; a T5-base text encoder; the
  32 kHz EnCodec), randomly initialised (random weights cost the same compute; no download),
  generating ~2 s with classifier-free guidance, on the chosen device (best of two runs: on a
  shared CPU one run can be slowed several times over). Peer: the procedural
  generator making a stem of the same length in this process.
- conform: x real time for conforming 20 s of drums with a wobbling tempo onto a grid
  (beat tracking + Rubber Band R3 time map + loop shaping).

    python benchmarks/bench_neural.py [--device cpu|cuda|mps] [--seconds 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def musicgen_small_shaped():
    """A randomly initialised MusicGen with musicgen-small's dimensions."""
    import torch
    from transformers import EncodecConfig, MusicgenConfig, MusicgenDecoderConfig, MusicgenForConditionalGeneration, T5Config

    t5 = T5Config(vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12)
    enc = EncodecConfig(hidden_size=128, num_filters=64, num_residual_layers=1, upsampling_ratios=[8, 5, 4, 4],
                        codebook_size=2048, target_bandwidths=[2.2], sampling_rate=32000, audio_channels=1,
                        num_lstm_layers=2, use_causal_conv=False, norm_type="weight_norm", pad_mode="reflect")
    dec = MusicgenDecoderConfig(vocab_size=2048, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                ffn_dim=4096, num_codebooks=4, max_position_embeddings=2048)
    cfg = MusicgenConfig(text_encoder=t5.to_dict(), audio_encoder=enc.to_dict(), decoder=dec.to_dict())
    torch.manual_seed(0)
    model = MusicgenForConditionalGeneration(cfg).eval()
    with torch.no_grad():
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_()
    return model


def bench_musicgen(device: str | None, seconds: float) -> dict:
    from soundtrack.generate.musicgen import MusicgenGenerator

    t0 = time.perf_counter()
    model = musicgen_small_shaped()
    n_params = sum(p.numel() for p in model.parameters())
    gen = MusicgenGenerator(model=model, device=device)
    dev = gen.device
    build_s = time.perf_counter() - t0
    gen.generate_audio(["warm up"], 0.1, seed=0)  # first call pays one-off costs
    times = []
    for seed in (1, 2):  # best of two: on a shared CPU one run can be slowed several times over
        t0 = time.perf_counter()
        audio = gen.generate_audio(["dark ambient exploration, soft strings, 90 bpm, in D minor"], seconds, seed=seed)
        times.append(time.perf_counter() - t0)
    gen_s = min(times)
    made = audio.shape[1] / 32000
    print(f"   musicgen: device {dev}, {n_params / 1e6:.0f} M parameters (built in {build_s:.1f} s), "
          f"{made:.2f} s of audio in {', '.join(f'{t:.1f}' for t in times)} s", flush=True)
    return {"device": dev, "s_per_s": gen_s / made, "params": n_params}


def bench_procedural(seconds: float) -> float:
    from soundtrack.generate import get_generator
    from soundtrack.stem import StemSpec

    bars = max(1, round(seconds * 90 / 60 / 4))
    spec = StemSpec(prompt="dark ambient exploration, soft strings", role="main", bars=bars, tempo=90, key="D minor")
    gen = get_generator("procedural")
    gen.generate(StemSpec(prompt="warm up", role="main", bars=1, tempo=120))
    t0 = time.perf_counter()
    stem = gen.generate(spec)
    dt = time.perf_counter() - t0
    return dt / (stem.grid.body_frames / stem.sample_rate)


def bench_conform() -> float:
    from test_conform import SR, beat_times, drum_track

    from soundtrack.conform import conform

    y = drum_track(beat_times(41))  # ~20 s, tempo wobbling ±4 %
    t0 = time.perf_counter()
    conform(y, SR, role="main", bpm=120, meter="4/4", bars=8)
    dt = time.perf_counter() - t0
    return (y.shape[0] / SR) / dt


def run(device: str | None = None, seconds: float = 2.0) -> list[dict]:
    rows = []
    proc = bench_procedural(seconds)
    try:
        mg = bench_musicgen(device, seconds)
    except ImportError as e:
        rows.append({"name": "musicgen generation (musicgen-small shape)", "value": float("nan"), "unit": "s per s of audio",
                     "peer": None, "peer_value": None, "ratio": None, "note": f"skipped: {e} (pip install soundtrack[neural])"})
    else:
        rows.append({
            "name": "musicgen generation (musicgen-small shape)",
            "value": mg["s_per_s"],
            "unit": "s per s of audio",
            "peer": "procedural generator",
            "peer_value": proc,
            "ratio": mg["s_per_s"] / proc,
            "note": f"device {mg['device']}, {mg['params'] / 1e6:.0f} M params, random weights, {seconds:g} s of audio, "
                    "guidance 3, sampling, best of 2",
        })
    rows.append({
        "name": "conform to grid (beats + R3 time map + loop)",
        "value": bench_conform(),
        "unit": "x real time",
        "peer": None,
        "peer_value": None,
        "ratio": None,
        "note": "20 s stereo 48 kHz drums, tempo wobbling ±4 %",
    })
    return rows


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None, help="cuda, mps or cpu (default: auto)")
    ap.add_argument("--seconds", type=float, default=2.0, help="seconds of audio to generate")
    a = ap.parse_args(argv)
    for r in run(a.device, a.seconds):
        print(f"{r['name']}: {r['value']:.3g} {r['unit']}"
              + (f"  vs {r['peer']}: {r['peer_value']:.3g} (x{r['ratio']:.3g})" if r.get("peer") else "")
              + f"  [{r['note']}]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
