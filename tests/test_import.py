"""Importing a composer's stems (WAV, FLAC, MP3, OGG) through the conform step into a bank."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf
from cli import run_cli
from test_conform import attack_offsets_ms, beat_times, drum_track

from soundtrack.errors import BankError
from soundtrack.importer import Declared, import_stem, read_declaration
from soundtrack.stem import StemSpec

SR = 48000


def spec(role="main", tempo=120, sample_rate=SR):
    return StemSpec(prompt="", role=role, bars=1, tempo=tempo, meter="4/4", key="A major",
                    layers=("drums", "harmony"), sample_rate=sample_rate)


@pytest.fixture(scope="module")
def loop_audio():
    """Two bars plus a pickup beat at a wobbling ~112 bpm."""
    times = beat_times(9, bpm=112.0, wobble=0.03)
    return times, drum_track(times, downbeat=1, tail=0.6)


@pytest.mark.parametrize(
    "fmt",
    [("wav", 48000, "sf"), ("flac", 44100, "sf"), ("ogg", 48000, "sf"), ("mp3", 44100, "ffmpeg")],
    ids=lambda f: f[0],
)
def test_each_format_lands_on_the_graph_grid(tmp_path, loop_audio, fmt):
    ext, rate, writer = fmt
    _, y = loop_audio
    if rate != SR:
        from scipy.signal import resample_poly

        y = resample_poly(y, rate // 100, SR // 100, axis=0).astype(np.float32)
    path = tmp_path / f"s.main.{ext}"
    if writer == "sf":
        sf.write(path, y, rate)
    else:
        if shutil.which("ffmpeg") is None:
            pytest.skip("ffmpeg is not installed")
        wav = tmp_path / "src.wav"
        sf.write(wav, y, rate)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-b:a", "192k", str(path)], check=True)
    stem = import_stem(path, spec())
    g = stem.grid
    # 112-ish bpm audio is stretched onto the graph's 120 bpm: two whole bars of 96000 frames
    assert (g.bpm, g.entry, g.exit, g.bars, g.sample_rate) == (Fraction(120), 0, 2 * 96000, 2, SR)
    assert stem.mix.shape == (g.frames, 2)
    off = attack_offsets_ms(stem.mix, [g.beat_grid.beat_frame(k) for k in range(1, 8)])
    assert np.max(np.abs(off)) < 5.0, off
    assert stem.meta["source_file"] == path.name and stem.meta["mix_layer"] == "harmony"


def test_declared_tempo_and_downbeat_from_a_sidecar(tmp_path):
    # steady 100 bpm, accents that would put bar 1 on beat 1; the sidecar says bar 1 is beat 3
    times = beat_times(13, bpm=100.0, wobble=0.0)
    y = drum_track(times, downbeat=1, tail=0.5)
    path = tmp_path / "x.intro.flac"
    sf.write(path, y, SR)
    (tmp_path / "x.intro.json").write_text(json.dumps({"tempo": 100, "first_downbeat": float(times[3])}))
    decl = read_declaration(path)
    assert decl == Declared(Fraction(100), Fraction(repr(float(times[3]))))
    stem = import_stem(path, spec(role="intro", tempo=None), declared=decl)
    g = stem.grid
    assert g.bpm == 100  # no graph tempo: the declared one
    assert abs(g.entry - round(times[3] * SR)) < 0.003 * SR  # unstretched: bar 1 where declared
    assert abs(attack_offsets_ms(stem.mix, [g.entry])[0]) < 5.0


def test_bank_import_cli_with_graph_files_and_a_folder(tmp_path, loop_audio):
    times, y = loop_audio
    stems = tmp_path / "stems"
    (stems / "calm").mkdir(parents=True)
    sf.write(stems / "calm" / "main.wav", y, SR)  # DIR/STATE/ROLE.EXT
    sf.write(stems / "fight.main.ogg", y, SR)  # DIR/STATE.ROLE.EXT
    (tmp_path / "composer").mkdir()
    sf.write(tmp_path / "composer" / "fight-in.flac", y, SR)  # the graph's `files`, relative to it
    graph = tmp_path / "g.toml"
    graph.write_text(
        '[soundtrack]\nname = "imp"\ntempo = 120\nkey = "A major"\nstart = "calm"\n'
        '[states.calm]\nprompt = "calm"\n'
        '[states.fight]\nintro = 1\nfiles = { intro = "composer/fight-in.flac" }\n'
        '[[transitions]]\nfrom = "calm"\nto = "fight"\non = "go"\n'
        '[[transitions]]\nfrom = "fight"\nto = "calm"\non = "stop"\n'
    )
    out = tmp_path / "bank"
    run = run_cli("bank", "import", str(stems), "--graph", str(graph), "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert "imported 3 stems" in run.stdout
    from soundtrack.bank import Bank

    bank = Bank(out)
    for name, role in (("calm", "main"), ("fight", "main"), ("fight", "intro")):
        g = bank.grid(name, role)
        assert g.bpm == 120 and g.sample_rate == SR
        assert g.exit - g.entry == 2 * 96000
    assert bank.grid("fight", "intro").entry > 0  # the pickup beat is kept before bar 1
    # importing again reuses every stem: the files did not change
    again = run_cli("bank", "import", str(stems), "--graph", str(graph), "--out", str(out))
    assert "imported 0 stems, reused 3" in again.stdout


def test_a_missing_file_names_what_was_looked_for(tmp_path):
    from soundtrack.bank import FilesGenerator
    from soundtrack.graph import parse_graph

    g = parse_graph('[soundtrack]\nname = "m"\ntempo = 90\n[states.a]\nprompt = "x"\nintro = 2\n',
                    path=str(tmp_path / "m.toml"))
    with pytest.raises(BankError, match=r"no stem file for 2 segment\(s\).*a\.intro\.\{wav,flac,mp3,ogg\}.*a\.main\."):
        FilesGenerator(g, tmp_path)


MIXED = """\
[soundtrack]
name = "mixed"
tempo = 120
key = "A minor"
start = "calm"

[states.calm]
prompt = "calm ambient pads"
main = 1
layers = ["harmony", "bass"]

[states.fight]
files = {{ intro = "{intro}", main = "composer/fight-loop.wav" }}
layers = ["drums", "harmony"]

[[transitions]]
from = "calm"
to = "fight"
on = "go"
sync = "bar"

[[transitions]]
from = "fight"
to = "calm"
on = "stop"
"""


def test_bank_build_mixes_a_procedural_state_and_a_files_state(tmp_path, loop_audio):
    """`bank build` (not `bank import`) takes a state's `files` through conform; the sequencer
    plays a transition from the generated state into it, landing on the grid."""
    from soundtrack.bank import Bank, build_bank, verify_bank
    from soundtrack.graph import load_graph
    from soundtrack.sequencer import Sequencer

    times, y = loop_audio
    (tmp_path / "composer").mkdir()
    sf.write(tmp_path / "composer" / "fight-in.flac", y, SR)
    sf.write(tmp_path / "composer" / "fight-loop.wav", y, SR)
    gpath = tmp_path / "mixed.toml"
    gpath.write_text(MIXED.format(intro="composer/fight-in.flac"))
    out = tmp_path / "bank"
    report = build_bank(gpath, out=out, jobs=1)
    assert sorted(report.generated) == ["calm/main/0", "fight/intro", "fight/main/0"] and not report.skipped
    assert verify_bank(out).ok
    g = load_graph(gpath)
    bank = Bank(out, graph=g)
    recs = {r["id"]: r for r in bank.manifest["stems"]}
    assert recs["calm/main/0"]["generator"]["name"] == "procedural"
    assert recs["fight/main/0"]["generator"]["name"] == "files"
    assert recs["fight/intro"]["source"]["file"] == "composer/fight-in.flac"
    assert bank.manifest["states"]["fight"]["files"] == {"intro": "composer/fight-in.flac", "main": "composer/fight-loop.wav"}
    # the files state's bar counts are its files' (2 bars each, plus a pickup before the intro)
    assert (bank.manifest["states"]["fight"]["intro"], bank.manifest["states"]["fight"]["main"]) == (2, 2)
    intro, main = bank.grid("fight", "intro"), bank.grid("fight", "main")
    assert intro.entry > 0 and (main.entry, main.exit, main.bpm) == (0, 2 * 96000, 120)

    s = Sequencer(g, bank)
    s.start()
    s.render(30_000)
    bar = s.next_bar_frame()
    plan = s.post("go")
    # bar sync: the fight intro's bar 1 lands on a calm bar line, its pickup sounding before it
    assert plan.accepted and plan.edit_frame >= bar and (plan.edit_frame - bar) % 96000 == 0
    cue = plan.segments[0]
    assert (cue.role, cue.entry, cue.start) == ("intro", plan.edit_frame, plan.edit_frame - intro.entry)
    assert plan.main_frame == plan.edit_frame + 2 * 96000
    audio = s.render(plan.main_frame + 96000 - s.frame)
    start = s.frame - audio.shape[0]
    # the loop's downbeats (its accented beat 1) sound within 5 ms of the grid the plan set
    beats = [plan.main_frame + k * 24000 - start for k in (0, 4)]
    assert np.max(np.abs(attack_offsets_ms(audio, beats))) < 5.0

    # an edited composer file rebuilds its own stem and nothing else
    sf.write(tmp_path / "composer" / "fight-in.flac", y * 0.5, SR)
    again = build_bank(gpath, out=out, jobs=1)
    assert again.generated == ["fight/intro"] and sorted(again.reused) == ["calm/main/0", "fight/main/0"]
