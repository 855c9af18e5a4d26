"""The musicgen path end to end on a tiny randomly initialised MusicGen (CPU, no download).

Random weights make noise, so these tests check structure: prompts, continuation, batching,
resampling, the conformed grid, the bank's files and manifest. Not musical content.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from soundtrack.errors import GenerationError
from soundtrack.stem import StemSpec

from soundtrack.generate.musicgen import MODEL_RATE, MusicgenGenerator, build_prompt

# the neural extra (torch, transformers) is needed by every test but the import-cost one
neural = pytest.mark.skipif(
    any(__import__("importlib").util.find_spec(m) is None for m in ("torch", "transformers")),
    reason="needs soundtrack[neural] (torch, transformers)",
)


def tiny_musicgen():
    """A MusicGen with the real architecture and tiny sizes (ANCHORS.md: codebook_size=2048 keeps 4 codebooks)."""
    import torch
    from transformers import EncodecConfig, MusicgenConfig, MusicgenDecoderConfig, MusicgenForConditionalGeneration, T5Config

    t5 = T5Config(vocab_size=100, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4)
    enc = EncodecConfig(hidden_size=8, num_filters=4, num_residual_layers=1, upsampling_ratios=[8, 5, 4, 4],
                        codebook_size=2048, target_bandwidths=[2.2], sampling_rate=MODEL_RATE, audio_channels=1,
                        num_lstm_layers=1)
    dec = MusicgenDecoderConfig(vocab_size=2048, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                ffn_dim=64, num_codebooks=4, max_position_embeddings=4096)
    cfg = MusicgenConfig(text_encoder=t5.to_dict(), audio_encoder=enc.to_dict(), decoder=dec.to_dict())
    torch.manual_seed(0)
    model = MusicgenForConditionalGeneration(cfg).eval()
    with torch.no_grad():  # EnCodec's codebooks start as zeros: random ones make codes audible
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_()
    return model


@pytest.fixture(scope="session")
def gen():
    return MusicgenGenerator(model=tiny_musicgen(), device="cpu", threads=1)


def spec(role="main", bars=1, variant=0, **kw):
    return StemSpec(prompt="dark synth pulse", role=role, bars=bars, tempo=Fraction(150), meter="4/4",
                    key="D minor", layers=("drums", "bass", "harmony", "melody"), seed=3, variant=variant,
                    sample_rate=48000, **kw)


def test_prompt_names_role_tempo_key_and_meter():
    text = build_prompt(spec(role="intro"), tempo=Fraction(150), meter=spec().meter)
    assert text == "dark synth pulse, opening intro that builds in, 150 bpm, in D minor, 4/4 time"


@neural
def test_missing_model_is_a_clear_error_and_nothing_is_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("SOUNDTRACK_ALLOW_DOWNLOAD", raising=False)
    g = MusicgenGenerator(model="facebook/musicgen-small", device="cpu")
    with pytest.raises(GenerationError, match=r"'facebook/musicgen-small' is not available locally.*SOUNDTRACK_ALLOW_DOWNLOAD=1"):
        g.generate(spec())
    assert not list((tmp_path / "hf").rglob("*.safetensors"))


@neural
def test_generate_resamples_conforms_and_is_reproducible(gen):
    a = gen.generate(spec(bars=1))
    b = gen.generate(spec(bars=1))
    sr = 48000
    # one bar of 4/4 at 150 bpm is exactly 1.6 s = 76800 frames at 48 kHz
    assert (a.grid.entry, a.grid.exit, a.grid.bars, a.grid.bpm) == (0, 76800, 1, Fraction(150))
    assert a.grid.sample_rate == sr and a.mix.shape == (a.grid.frames, 2)
    assert np.array_equal(a.mix, b.mix)  # seeded sampling: same spec, same audio
    # the mix lives in one layer; the others are silent and the layers still sum to the mix
    assert a.meta["mix_layer"] == "harmony"
    assert np.array_equal(a.layers["harmony"], a.mix) and not np.any(a.layers["drums"])
    assert a.meta["text_prompt"].endswith("150 bpm, in D minor, 4/4 time")


@neural
def test_batched_variants_differ_and_chain_continues(gen, monkeypatch):
    seen = []
    real = gen.generate_audio

    def spy(texts, seconds, *, seed, context=None):
        seen.append((len(texts), None if context is None else context.shape[0]))
        return real(texts, seconds, seed=seed, context=context)

    monkeypatch.setattr(gen, "generate_audio", spy)
    stems = gen.generate_chain([spec(role="intro"), spec(variant=0), spec(variant=1), spec(role="outro")])
    # intro alone; both mains in ONE batch continuing from the intro; outro continuing from main 0
    assert [n for n, _ in seen] == [1, 2, 1]
    assert seen[0][1] is None and seen[1][1] > 0 and seen[2][1] > 0
    assert [s.spec.role for s in stems] == ["intro", "main", "main", "outro"]
    assert not np.array_equal(stems[1].mix, stems[2].mix)
    for s in stems:
        assert s.grid.bpm == 150 and s.grid.exit <= s.grid.frames
    assert stems[0].grid.exit - stems[0].grid.entry == 76800


@neural
def test_bank_build_with_musicgen(gen, tmp_path):
    from soundtrack.bank import build_bank
    from soundtrack.generate import register

    register("musicgen-tiny-test", lambda: gen)
    graph = tmp_path / "g.toml"
    graph.write_text(
        '[soundtrack]\nname = "tiny"\ntempo = 150\nkey = "D minor"\nsample_rate = 48000\n'
        '[states.a]\nprompt = "dark synth pulse"\nintro = 1\nmain = 1\nvariants = 1\nlayers = ["bass", "harmony"]\n'
    )
    report = build_bank(graph, out=tmp_path / "bank", jobs=1, generator="musicgen-tiny-test")
    assert len(report.generated) == 2
    manifest = json.loads((tmp_path / "bank" / "manifest.json").read_text())
    text = json.dumps(manifest)
    assert gen.version in text and '"bars": 1' in text
    from soundtrack.bank import Bank

    bank = Bank(tmp_path / "bank")
    main = bank.stem("a", "main")
    assert (main.grid.entry, main.grid.exit, main.grid.bpm) == (0, 76800, 150)
    assert main.mix.shape[0] == main.grid.frames


def test_cli_sequencer_and_bank_do_not_import_torch():
    code = (
        "import sys, importlib\n"
        "for m in ('soundtrack.cli', 'soundtrack.sequencer', 'soundtrack.bank', 'soundtrack.generate', 'soundtrack.conform'):\n"
        "    try: importlib.import_module(m)\n"
        "    except ModuleNotFoundError as e:\n"
        "        if e.name != m: raise\n"
        "from soundtrack.generate import get_generator\n"
        "get_generator('musicgen')\n"
        "bad = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
        "print(','.join(bad) or 'clean')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}, check=True)
    assert out.stdout.strip() == "clean"
