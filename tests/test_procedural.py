"""The procedural generator end to end: spec in, stem out; what a listener and a sequencer rely on."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from fractions import Fraction as F

import mido
import numpy as np
import pytest
import soundfile as sf
from clicks import find_clicks

from soundtrack.analysis import chroma, detect_onsets, estimate_key
from soundtrack.errors import GenerationError, KeyNameError, SpecError
from soundtrack.generate import get_generator
from soundtrack.generate.procedural import ProceduralGenerator
from soundtrack.generate.procedural.compose import compose
from soundtrack.generate.procedural.render import note_frames, place
from soundtrack.generate.procedural.styles import STYLES
from soundtrack.pitch import Key
from soundtrack.stem import StemSpec
from soundtrack.timing import Meter, round_half_up

SR = 48_000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STRAIGHT_DRUM_STYLES = ("rock", "synthwave", "chiptune")


@pytest.fixture(scope="session")
def gen() -> ProceduralGenerator:
    return ProceduralGenerator()


@pytest.fixture(scope="session")
def mains(gen):
    """A 4-bar main loop of every style."""
    return {s: gen.generate(StemSpec(f"{s} music", role="main", bars=4, seed=11)) for s in STYLES}


@pytest.fixture(scope="session")
def roles(gen):
    """Intro, outro and stinger of a style whose intro has a drum pickup."""
    out = {}
    for role in ("intro", "outro"):
        out[role] = gen.generate(StemSpec("epic orchestral battle", role=role, bars=2, seed=4))
    out["stinger"] = gen.generate(StemSpec("bright chiptune fanfare", role="stinger", beats=4, seed=4))
    return out


def _body_frames(stem) -> int:
    fpb = F(stem.sample_rate * 60) / stem.grid.bpm
    beats = stem.spec.beats if stem.spec.beats is not None else stem.grid.bars * stem.grid.meter.beats
    return round_half_up(beats * fpb)


# -- the grid ----------------------------------------------------------------------------------


def test_main_grid_is_exactly_bars_times_meter_times_tempo(mains):
    for style, stem in mains.items():
        g = stem.grid
        assert g.entry == 0, style
        assert g.exit == _body_frames(stem), style
        assert g.frames == stem.mix.shape[0] > g.exit, style  # a tail after the loop's end
        assert g.bars == 4


def test_intro_pickup_is_its_entry_frame(roles):
    intro = roles["intro"]
    pickup = F(intro.meta["pickup_beats"])
    assert pickup > 0  # orchestral intros start with a drum pickup
    fpb = F(SR * 60) / intro.grid.bpm
    assert intro.grid.entry == round_half_up(pickup * fpb)
    assert intro.grid.exit == intro.grid.entry + _body_frames(intro)
    # the pickup sounds before bar 1
    assert np.max(np.abs(intro.mix[: intro.grid.entry])) > 10 ** (-40 / 20)


def test_stinger_length_is_its_beats(roles):
    st = roles["stinger"]
    assert st.grid.entry == 0 and st.grid.exit == _body_frames(st)


def test_spec_length_is_its_beats_when_given_else_whole_bars():
    m44, m78 = Meter(4, 4), Meter(7, 8)
    assert StemSpec("x", bars=3).length(m44) == (3, 12) and StemSpec("x", bars=3).length(m78) == (3, 21)
    assert StemSpec("x", role="stinger", beats=6).length(m44) == (2, 6)
    assert StemSpec("x", role="main", beats=8).length(m44) == (2, 8)
    assert StemSpec("x", role="main", beats=6).length(m78) == (1, 6)


def test_main_given_in_beats_composes_exactly_those_beats(gen):
    spec = StemSpec("calm piano", role="main", beats=6, meter="4/4", seed=2)
    score, stem = compose(spec), gen.generate(spec)
    assert score.bars == stem.grid.bars == 2 and len(score.chords) == 2
    assert stem.grid.entry == 0 and stem.grid.exit == _body_frames(stem)  # the exit is 6 beats after bar 1
    # the music is 6 beats long too: nothing sounds past the loop's end
    assert all(n.start + n.duration <= 6 for p in score.parts for n in p.notes)
    assert max(n.start + n.duration for p in score.parts for n in p.notes) > 4  # and it fills the half bar


def test_layers_sum_to_the_mix_bit_for_bit(mains, roles):
    for stem in [*mains.values(), *roles.values()]:
        acc = np.zeros_like(stem.mix)
        for a in stem.layers.values():
            acc += a
        assert np.array_equal(acc, stem.mix)


def test_drum_bearing_styles_render_the_four_layers(mains):
    with_drums = [s for s, stem in mains.items() if "drums" in stem.layers]
    assert set(STRAIGHT_DRUM_STYLES) <= set(with_drums)
    for s in with_drums:
        assert list(mains[s].layers)[:4] == ["drums", "bass", "harmony", "melody"], s
        for name, a in mains[s].layers.items():
            assert np.max(np.abs(a)) > 10 ** (-50 / 20), (s, name)  # every layer sounds


# -- timing and pitch heard in the audio -------------------------------------------------------


_GRID_KEYS = {35, 36, 37, 38, 39, 40}  # kick, side stick, snare, clap


def _scored_drum_onsets(stem, keys=None) -> np.ndarray:
    score = compose(stem.spec)
    p = place(score, sample_rate=stem.sample_rate)
    frames = set()
    for part in score.parts:
        if part.layer == "drums":
            frames.update(on for on, _, pitch, _ in note_frames(part, p) if keys is None or pitch in keys)
    return np.array(sorted(frames))


@pytest.mark.parametrize("style", STRAIGHT_DRUM_STYLES)
def test_kick_and_snare_are_heard_on_the_grid_within_2_ms_after_humanisation(mains, style):
    stem = mains[style]
    score = compose(stem.spec)
    # the performance is humanised (other parts and the hats breathe) ...
    nudged = [n for p in score.parts for n in p.notes if n.nudge]
    if style != "chiptune":  # a chip's sequencer plays exactly
        assert len(nudged) > 20
    # ... but kick and snare are written and played on the grid: exact 32nd-note frames
    kicks = _scored_drum_onsets(stem, _GRID_KEYS)
    assert len(kicks) >= 8
    fpb = F(SR * 60) / stem.grid.bpm
    for on in kicks:
        pos = F(int(on)) / fpb * 8
        assert abs(pos - round(pos)) * fpb / 8 <= 1, (style, on)
    # and heard there: an onset within 2 ms of (almost) every kick and snare
    onsets = detect_onsets(stem.layers["drums"][: stem.grid.exit], SR)
    err_ms = np.array([np.min(np.abs(onsets - k)) for k in kicks]) * 1000 / SR
    assert np.mean(err_ms <= 2.0) >= 0.8, (style, np.sort(err_ms)[-5:])  # a few are masked by a louder hit


def test_key_estimate_matches_the_declared_key_for_most_styles_and_keys(gen):
    # major and minor, sharp and flat keys; each style gets three of them
    keys = ("C major", "A minor", "Eb major", "F# minor", "Bb minor", "E major")
    hits, misses = 0, []
    for i, style in enumerate(STYLES):
        for key in (keys[i % 6], keys[(i + 1) % 6], keys[(i + 3) % 6]):
            stem = gen.generate(StemSpec(f"{style} music", role="main", bars=4, key=key, seed=2,
                                         layers=("bass", "harmony", "melody")))
            est = estimate_key(stem.mix, SR).key
            if est == Key.parse(key):
                hits += 1
            else:
                misses.append((style, key, str(est)))
    total = 3 * len(STYLES)
    # measured: 24 of 27 (the misses are aeolian loops heard as their relative major or as the
    # dominant's key); the issue asks for the large majority
    assert hits >= 0.8 * total, misses


@pytest.fixture(scope="session")
def librosa_mod():
    librosa = pytest.importorskip("librosa")
    return librosa


# Every style with a beat-keeping drum part. Horror is left out on purpose: its percussion is a
# sparse, irregular heartbeat, and librosa hears it at about 1.9x the declared 65 bpm.
# Chiptune: its noise kick had no attack, so its kick-snare was heard at half the tempo (148 bpm
# as 73.8) until the kick got its 5 ms click.
# Orchestral: heard at double time (the melody's and the strings' eighths interleaving over a
# single downbeat hit) until the arpeggios leant on the beats and the gran cassa marked them.


@pytest.mark.parametrize("style", ["rock", "synthwave", "chiptune", "folk", "orchestral",
                                   "lofi", "jazz", "ambient"])
def test_independent_beat_tracker_hears_the_declared_tempo(gen, librosa_mod, style):
    stem = gen.generate(StemSpec(f"{style} music", role="main", bars=8, seed=5))
    if "drums" not in stem.layers:
        pytest.skip(f"{style} has no drums")
    # two cycles of the loop, as a listener hears it
    y = np.concatenate([stem.mix[: stem.grid.exit]] * 2).mean(axis=1)
    y = librosa_mod.resample(y, orig_sr=SR, target_sr=22_050)
    _, beats = librosa_mod.beat.beat_track(y=y, sr=22_050, hop_length=64, units="time")
    bpm = 60.0 / float(np.median(np.diff(beats)))
    declared = float(stem.grid.bpm)
    assert abs(bpm - declared) / declared <= 0.02, (style, bpm, declared)


# -- roles -------------------------------------------------------------------------------------


def test_main_loop_repeats_without_a_click_in_every_style(mains):
    for style, stem in mains.items():
        e, a = stem.grid.exit, stem.mix.astype(np.float64)
        played = np.zeros((2 * e + a.shape[0], 2))
        for k in range(3):  # as the sequencer plays a loop: every cycle's tail under the next head
            played[k * e : k * e + a.shape[0]] += a
        clicks = find_clicks(played, SR, at=[e, 2 * e])
        assert not clicks, (style, clicks[:3])


def test_outro_rings_out_below_minus_60_dbfs(roles):
    out = roles["outro"]
    tail = out.mix[out.grid.exit :]
    assert tail.shape[0] > SR // 2
    assert 20 * np.log10(np.max(np.abs(tail[: SR // 10]))) > -40  # it rings, it does not stop
    assert 20 * np.log10(np.max(np.abs(out.mix[-SR // 20 :])) + 1e-12) < -60


def test_outro_ends_on_the_tonic_chord(roles):
    out = roles["outro"]
    root, _quality = out.meta["chords"][-1]
    assert root == out.key.tonic


def test_loudness_and_peak(mains, roles):
    import pyloudnorm

    meter = pyloudnorm.Meter(SR)
    for stem in [*mains.values(), roles["intro"]]:
        g = stem.grid
        lufs = meter.integrated_loudness(stem.mix[g.entry : g.exit].astype(np.float64))
        assert abs(lufs - (-18.0)) < 1.0, (stem.style, lufs)
        # pyloudnorm designs its K-weighting filters its own way: on the timpani-heavy orchestral
        # intro the two meters differ by 0.23 LU (0.03-0.17 LU elsewhere)
        assert abs(stem.meta["loudness_lufs"] - lufs) < 0.3, (stem.style, stem.spec.role, lufs)
        # -18 LUFS unless the -1 dBFS peak ceiling had to win
        assert abs(stem.meta["loudness_lufs"] - (-18.0)) < 0.1 or stem.meta["peak_dbfs"] >= -1.1, stem.meta
    for stem in [*mains.values(), *roles.values()]:
        for a in [stem.mix, *stem.layers.values()]:
            assert 20 * np.log10(np.max(np.abs(a))) <= -1.0


# -- distinctness and determinism --------------------------------------------------------------


def _features(stem) -> np.ndarray:
    """Chroma + a coarse log spectrum: what makes two stems sound different."""
    x = stem.mix[: stem.grid.exit].mean(axis=1)
    spec = np.abs(np.fft.rfft(x[: 1 << 18] if x.size >= 1 << 18 else x, n=1 << 18))
    f = np.fft.rfftfreq(1 << 18, 1 / SR)
    edges = np.geomspace(40, 16000, 25)
    bands = np.array([spec[(f >= lo) & (f < hi)].sum() for lo, hi in zip(edges[:-1], edges[1:])])
    return np.concatenate([chroma(stem.mix, SR), np.log10(bands / bands.sum() + 1e-9) / 10])


def test_distinct_prompts_give_measurably_distinct_stems(mains):
    names = list(mains)
    feats = {s: _features(mains[s]) for s in names}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            d = float(np.linalg.norm(feats[a] - feats[b]))
            assert d > 0.05, (a, b, d)
            assert mains[a].mix.tobytes() != mains[b].mix.tobytes()


def test_main_variants_share_key_tempo_and_feel_but_differ(gen):
    specs = [StemSpec("chill lofi beats", role="main", bars=4, seed=3, variant=v) for v in (0, 1)]
    a, b = (gen.generate(s) for s in specs)
    assert (a.key, a.grid.bpm, a.grid.meter, a.style) == (b.key, b.grid.bpm, b.grid.meter, b.style)
    n = min(a.grid.exit, b.grid.exit)
    diff = np.sum((a.mix[:n] - b.mix[:n]).astype(np.float64) ** 2) / np.sum(a.mix[:n].astype(np.float64) ** 2)
    assert diff > 0.3  # the difference carries at least a third of the energy: audibly another take


def test_same_spec_is_bit_identical_here_and_in_a_fresh_process(gen, mains):
    spec = StemSpec("synthwave music", role="main", bars=4, seed=11)
    again = gen.generate(spec)
    assert again.mix.tobytes() == mains["synthwave"].mix.tobytes()
    digest = hashlib.sha256(again.mix.tobytes() + b"".join(a.tobytes() for a in again.layers.values())).hexdigest()
    code = (
        "import hashlib;from soundtrack.generate.procedural import ProceduralGenerator;"
        "from soundtrack.stem import StemSpec;"
        "s=ProceduralGenerator().generate(StemSpec('synthwave music', role='main', bars=4, seed=11));"
        "print(hashlib.sha256(s.mix.tobytes()+b''.join(a.tobytes() for a in s.layers.values())).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == digest


# -- the score as MIDI, metadata, soundfonts ---------------------------------------------------


def test_stem_midi_has_every_note_and_the_tempo(mains):
    stem = mains["jazz"]
    score = compose(stem.spec)
    mf = mido.MidiFile(file=io.BytesIO(stem.midi))
    tempo = next(m.tempo for m in mf.tracks[0] if m.type == "set_tempo")
    assert abs(mido.tempo2bpm(tempo) - float(stem.grid.bpm) * 4 / stem.grid.meter.unit) < 1e-3
    for part, track in zip(score.parts, mf.tracks[1:]):
        assert sum(1 for m in track if m.type == "note_on" and m.velocity > 0) == len(part.notes)


def test_meta_records_style_chords_and_instruments(mains):
    stem = mains["rock"]
    assert stem.meta["style"] == stem.style == "rock"
    assert len(stem.meta["chords"]) == stem.grid.bars
    assert set(stem.meta["instruments"]) == set(stem.layers)
    assert stem.meta["generator"] == "procedural" and stem.meta["generator_version"] == ProceduralGenerator().version


def test_registry_gives_the_procedural_generator():
    g = get_generator()
    assert isinstance(g, ProceduralGenerator) and g.name == "procedural"


def test_spec_soundfont_wins_and_a_bad_one_is_named(tmp_path):
    bad = str(tmp_path / "missing.sf2")
    spec = StemSpec("epic orchestral", bars=1, soundfont=bad)
    with pytest.raises(GenerationError, match="missing.sf2"):
        ProceduralGenerator().generate(spec)
    # the constructor's soundfont is used only when the spec names none
    with pytest.raises(GenerationError, match="missing.sf2"):
        ProceduralGenerator(soundfont=bad).generate(StemSpec("epic orchestral", bars=1))


# -- impossible specs --------------------------------------------------------------------------


def test_impossible_specs_fail_with_messages_naming_the_limit():
    with pytest.raises(SpecError, match=r"bars=0 must be between 1 and 256"):
        StemSpec("ambient", bars=0)
    with pytest.raises(SpecError, match=r"500.*between 20 and 300 bpm"):
        StemSpec("ambient", tempo=500)
    with pytest.raises((SpecError, KeyNameError), match=r"'H minor'.*note name"):
        StemSpec("ambient", key="H minor")
    with pytest.raises((SpecError, KeyNameError), match=r"valid modes are major, minor, dorian"):
        StemSpec("ambient", key="C sideways")


# -- the CLI -----------------------------------------------------------------------------------


def test_cli_generate_writes_audio_layers_midi_and_sidecar(tmp_path):
    out = tmp_path / "x.wav"
    mid = tmp_path / "x.mid"
    r = subprocess.run(
        [sys.executable, "-m", "soundtrack", "generate", "tense synthwave chase in E minor, 110 bpm",
         "--bars", "2", "--out", str(out), "--midi", str(mid), "--layers"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    info = json.loads(out.with_suffix(".json").read_text())
    for k in ("sample_rate", "tempo", "meter", "key", "bars", "entry_frame", "exit_frame", "frames", "layers", "style"):
        assert k in info, k
    assert (info["sample_rate"], info["tempo"], info["meter"], info["key"], info["bars"], info["style"]) == (
        48000, 110.0, "4/4", "E minor", 2, "synthwave")
    assert info["exit_frame"] - info["entry_frame"] == 2 * 4 * 48000 * 60 // 110 + (1 if (2 * 4 * 48000 * 60) % 110 * 2 >= 110 else 0)
    audio, sr = sf.read(out, dtype="float32", always_2d=True)
    assert sr == 48000 and audio.shape[0] == info["frames"]
    for layer in info["layers"]:
        la, _ = sf.read(tmp_path / f"x.{layer}.wav", dtype="float32", always_2d=True)
        assert la.shape == audio.shape
    assert mido.MidiFile(mid).type == 1


def test_cli_generate_takes_a_module_factory_and_a_key_in_words(tmp_path):
    out = tmp_path / "x.wav"
    r = subprocess.run(
        [sys.executable, "-m", "soundtrack", "generate", "calm pads", "--bars", "1", "--key", "B flat major",
         "--generator", "soundtrack.generate.procedural:ProceduralGenerator", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    info = json.loads(out.with_suffix(".json").read_text())
    assert (info["key"], info["generator"], info["bars"]) == ("Bb major", "procedural", 1)


def test_cli_reports_an_impossible_tempo_in_one_line(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "soundtrack", "generate", "ambient", "--tempo", "500", "--out", str(tmp_path / "x.wav")],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "300" in r.stderr
