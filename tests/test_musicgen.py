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
from soundtrack.generate.musicgen import DEFAULT_TEMPO, MODEL_RATE, MusicgenGenerator, build_prompt, spec_meter, spec_tempo
from soundtrack.stem import StemSpec
from soundtrack.timing import Meter

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


def test_tempo_and_meter_are_the_spec_s_else_the_prompt_s_as_the_procedural_parser_reads_them():
    waltz = StemSpec(prompt="slow waltz, 84-bpm")
    assert (spec_tempo(waltz), spec_meter(waltz)) == (Fraction(84), Meter(3, 4))
    assert build_prompt(waltz, tempo=Fraction(84), meter=Meter(3, 4)) == (
        "slow waltz, 84-bpm, steady seamless loop, consistent groove, 3/4 time")  # the prompt's tempo is not repeated
    odd = StemSpec(prompt="prog rock in 7/8, tempo 140")
    assert (spec_tempo(odd), spec_meter(odd)) == (Fraction(140), Meter(7, 8))
    told = StemSpec(prompt="waltz, 84 bpm", tempo=100, meter="4/4")
    assert (spec_tempo(told), spec_meter(told)) == (Fraction(100), Meter(4, 4))
    assert "100 bpm" in build_prompt(told, tempo=Fraction(100), meter=Meter(4, 4))
    wild = StemSpec(prompt="noise at 900 bpm")  # outside MIN_BPM..MAX_BPM: as if unsaid
    assert (spec_tempo(wild), spec_meter(wild)) == (DEFAULT_TEMPO, Meter(4, 4))
    assert build_prompt(wild, tempo=DEFAULT_TEMPO, meter=Meter()).endswith("120 bpm, 4/4 time")


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
def test_a_main_given_in_beats_is_that_long(gen):
    # 6 beats of 4/4 at 150 bpm: two bars generated and conformed, the exit 6 beats = 2.4 s after bar 1
    a = gen.generate(spec(beats=6))
    assert a.grid.bars == 2 and a.grid.exit - a.grid.entry == 115200


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


CHAIN = """\
[soundtrack]
name = "chain"
tempo = 240
key = "D minor"
sample_rate = 48000
generator = "musicgen"
start = "a"

[generator]
model = "tiny-musicgen"
device = "cpu"

[states.a]
prompt = "dark synth pulse"
intro = {intro}
main = 1
variants = 2
outro = 1
layers = ["bass", "harmony"]

[states.b]
prompt = "bright arps"
main = 1
layers = ["bass", "harmony"]

[[transitions]]
from = "a"
to = "b"
on = "go"

[[transitions]]
from = "b"
to = "a"
on = "back"
"""


@pytest.fixture(scope="module")
def chain_bank(tmp_path_factory):
    """A musicgen bank whose graph names a local tiny model (saved next to it), built in this process."""
    from soundtrack.bank import build_bank

    root = tmp_path_factory.mktemp("chain")
    tiny_musicgen().save_pretrained(root / "tiny-musicgen")
    graph = root / "chain.toml"
    graph.write_text(CHAIN.format(intro=1))
    report = build_bank(graph, out=root / "j1", jobs=1)
    return root, graph, report


@neural
def test_graph_model_reaches_the_generator_and_continuations_key_on_what_they_follow(chain_bank):
    root, graph, report = chain_bank
    assert sorted(report.generated) == ["a/intro", "a/main/0", "a/main/1", "a/outro", "b/main/0"]
    manifest = json.loads((root / "j1" / "manifest.json").read_text())
    # the graph's relative model folder, resolved next to the graph, is the generator's identity
    assert manifest["generator"] == {"name": "musicgen", "version": f"2+{(root / 'tiny-musicgen').resolve()}"}
    info = json.loads((root / "j1" / "build.json").read_text())["generator"]
    assert info["options"] == {"device": "cpu", "model": str((root / "tiny-musicgen").resolve())} and info["chain"]
    recs = {r["id"]: r for r in manifest["stems"]}
    # mains continue from the intro, the outro from main 0; a state with no intro starts fresh
    assert recs["a/main/0"]["context"] == recs["a/main/1"]["context"] == recs["a/intro"]["key"]
    assert recs["a/outro"]["context"] == recs["a/main/0"]["key"]
    assert "context" not in recs["a/intro"] and "context" not in recs["b/main/0"]
    from soundtrack.bank import Bank, verify_bank

    assert verify_bank(root / "j1").ok
    bank = Bank(root / "j1")
    for role in ("intro", "main", "outro"):
        g = bank.grid("a", role)
        assert g.bpm == 240 and g.exit - g.entry == 48000  # one bar of 4/4 at 240 bpm (short: fast tests), 48 kHz
    assert bank.stem("a", "main", 1).meta["model"] == str((root / "tiny-musicgen").resolve())


@neural
def test_cli_model_and_two_workers_give_the_same_bank_bit_for_bit(chain_bank):
    from test_bank import bank_bytes

    root, graph, _ = chain_bank
    run = subprocess.run([sys.executable, "-m", "soundtrack", "bank", "build", str(graph), "--jobs", "2",
                          "--model", str(root / "tiny-musicgen"), "--out", str(root / "j2"), "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "5 generated" in run.stdout
    assert bank_bytes(root / "j2") == bank_bytes(root / "j1")


@neural
def test_a_changed_intro_rebuilds_what_continues_from_it_and_nothing_else(chain_bank, tmp_path):
    import shutil

    from soundtrack.bank import build_bank

    root, graph, _ = chain_bank
    shutil.copytree(root / "j1", tmp_path / "bank")
    edited = root / "edited.toml"  # next to the model folder, like the original
    edited.write_text(CHAIN.format(intro=2))
    r = build_bank(edited, out=tmp_path / "bank", jobs=1)
    assert sorted(r.generated) == ["a/intro", "a/main/0", "a/main/1", "a/outro"] and r.reused == ["b/main/0"]
    assert len(r.unreferenced) == 4  # the old intro, mains and outro stay as cache


def test_generator_table_is_validated_by_the_generator_naming_file_table_and_key():
    """The graph passes its [generator] table through as data; musicgen checks its own options."""
    from soundtrack.errors import SpecError
    from soundtrack.generate.base import validate_options
    from soundtrack.graph import parse_graph

    base = '[soundtrack]\nname = "g"\ngenerator = "musicgen"\n{t}\n[states.a]\nprompt = "x"\n'
    g = parse_graph(base.format(t='[generator]\nmodel = "facebook/musicgen-small"\ndevice = "auto"\nguidance_scale = 4'))
    assert validate_options(g.generator, g.generator_options) == {"model": "facebook/musicgen-small",
                                                                  "guidance_scale": 4.0}  # auto = no option
    for table, msg in [
        ('[generator]\nmodle = "x"', r"g\.toml: \[generator\]\.modle is not a known key; valid keys are model, device, guidance_scale, max_batch"),
        ('[generator]\ndevice = "gpu"', r"g\.toml: \[generator\]\.device = 'gpu' must be one of auto, cpu, cuda, cuda:N, mps"),
        ('[generator]\nguidance_scale = 0.5', r"\[generator\]\.guidance_scale = 0\.5 must be between 1 \(no guidance\) and 20"),
        ('[generator]\nmax_batch = 0', r"\[generator\]\.max_batch = 0 must be between 1 and 64"),
        ('[generator]\nmodel = 3', r"\[generator\]\.model = 3 must be a string"),
    ]:
        g = parse_graph(base.format(t=table), path="g.toml")
        with pytest.raises(SpecError, match=msg):
            validate_options(g.generator, g.generator_options, where=f"{g.path}: [generator]")


def test_options_change_the_version_so_the_cache_key_follows_the_model():
    a = MusicgenGenerator(model="facebook/musicgen-small")
    assert a.version == "2+facebook/musicgen-small"
    assert MusicgenGenerator(model="facebook/musicgen-medium").version == "2+facebook/musicgen-medium"
    assert MusicgenGenerator(model="m", guidance_scale=4.0, max_batch=2).version == "2+m+guidance=4+batch=2"


def test_generate_cli_model_for_a_generator_without_one_is_a_clear_error(tmp_path):
    run = subprocess.run([sys.executable, "-m", "soundtrack", "generate", "calm pads", "--bars", "1", "--model",
                          "facebook/musicgen-small", "--out", str(tmp_path / "x.wav")], capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "generator 'procedural' does not take the options model" in run.stderr
    assert not (tmp_path / "x.wav").exists()
