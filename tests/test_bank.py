"""Loop banks: planning and cache keys, bit-identical parallel builds, incremental rebuilds,
verify, loudness matching, loading for playback, and the `bank` CLI.

Most tests use the tiny deterministic tone generator from test_bank_tones.py (fast, and with
loud clicks so loudness matching must limit); test_procedural_bank_* use the real generator.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from soundtrack.audio import true_peak_dbtp
from soundtrack.bank import Bank, BankError, build_bank, make_plan, stem_key, verify_bank
from soundtrack.graph import load_graph
from soundtrack.stem import StemSpec

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
from cli import run_cli  # noqa: E402
from test_bank_tones import REF  # noqa: E402

TINY = """\
[soundtrack]
name = "tiny"
tempo = 120
meter = "4/4"
key = "A minor"
seed = 3
start = "calm"
{extra}

[states.calm]
prompt = "calm ambient pads"
intro = 1
main = 1
variants = 2
outro = 1
layers = ["drums", "pad"]

[states.fight]
prompt = "{fight}"
tempo = 150
main = 2
tempi = [160]
layers = ["drums", "bass"]

[stingers.ding]
prompt = "{ding}"
beats = 2
layers = ["melody"]

[bridges.rise]
prompt = "riser"
bars = 1
layers = ["pad"]

[[transitions]]
from = "calm"
to = "fight"
on = "go"

[[transitions]]
from = "fight"
to = "calm"
on = "stop"
bridge = "rise"
"""
IDS = ["calm/intro", "calm/main/0", "calm/main/1", "calm/outro", "fight/main/0", "fight/main/0@160", "ding/stinger",
       "rise/bridge"]


def tiny(fight: str = "fast fight", ding: str = "bright ding", extra: str = "") -> str:
    return TINY.format(fight=fight, ding=ding, extra=extra)


def env() -> dict[str, str]:
    """The environment for build subprocesses: workers import the tone generator from tests/."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(TESTS), *filter(None, [e.get("PYTHONPATH")])])
    return e


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_cli(*args, cwd=cwd)


def bank_bytes(root: Path) -> dict[str, bytes]:
    """Everything that makes up a bank's content: the stem files and the manifest (build.json
    holds the build's time and counts; the lock and stems/.banks/, which banks use the stems
    folder, are no content)."""
    files = {p.name: p.read_bytes() for p in (root / "stems").iterdir() if p.name != ".banks"}
    files["manifest.json"] = (root / "manifest.json").read_bytes()
    return files


@pytest.fixture(scope="session")
def graph_path(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("graph") / "tiny.toml"
    p.write_text(tiny())
    return p


@pytest.fixture(scope="session")
def serial_bank(graph_path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serial") / "tiny"
    build_bank(graph_path, out=out, jobs=1, generator=REF)
    return out


def test_plan_has_every_segment_with_keys_independent_per_state(graph_path, tmp_path) -> None:
    plan = make_plan(load_graph(graph_path), generator=REF)
    assert [p.id for p in plan.stems] == IDS
    specs = {p.id: p.spec for p in plan.stems}
    assert (specs["calm/intro"].bars, specs["calm/main/1"].variant, specs["ding/stinger"].beats) == (1, 1, 2)
    assert specs["fight/main/0"].tempo == 150 and specs["fight/main/0"].layers == ("drums", "bass")
    assert len({p.key for p in plan.stems}) == len(IDS)

    edited = tmp_path / "tiny.toml"
    edited.write_text(tiny(fight="slow sad fight"))
    plan2 = make_plan(load_graph(edited), generator=REF)
    changed = [p.id for p, q in zip(plan.stems, plan2.stems) if p.key != q.key]
    assert changed == ["fight/main/0", "fight/main/0@160"]  # and its tempo variant, stretched from it
    tempo_variant = plan2.stems[IDS.index("fight/main/0@160")]
    assert (tempo_variant.tempo, tempo_variant.base) == (160, plan2.stems[IDS.index("fight/main/0")].key)


def test_cache_key_covers_spec_generator_rate_and_loudness() -> None:
    spec = StemSpec("x", bars=2, tempo=100, seed=1)
    base = dict(generator="g", generator_version="1", sample_rate=48000, target_lufs=-18.0)
    k = stem_key(spec, **base)
    assert k == stem_key(StemSpec("x", bars=2, tempo=100, seed=1), **base)  # pure data: stable
    others = [
        stem_key(StemSpec("x", bars=2, tempo=100, seed=2), **base),
        stem_key(StemSpec("x", bars=2, tempo=Fraction(201, 2), seed=1), **base),
        stem_key(spec, **{**base, "generator_version": "2"}),
        stem_key(spec, **{**base, "generator": "h"}),
        stem_key(spec, **{**base, "sample_rate": 44100}),
        stem_key(spec, **{**base, "target_lufs": -16.0}),
        stem_key(spec, **base, ceiling_dbtp=-2.0),
    ]
    assert len({k, *others}) == 8


def test_bank_is_bit_identical_with_one_or_two_worker_processes(graph_path, serial_bank, tmp_path) -> None:
    report = build_bank(graph_path, out=tmp_path / "tiny", jobs=2, generator=REF)
    assert report.executor == "2 processes" and sorted(report.generated) == sorted(IDS)
    assert bank_bytes(tmp_path / "tiny") == bank_bytes(serial_bank)


def test_one_changed_prompt_rebuilds_one_stem_and_prune_removes_the_old_one(serial_bank, tmp_path) -> None:
    bank = tmp_path / "tiny"
    shutil.copytree(serial_bank, bank)
    old = {r["id"]: r["key"] for r in json.loads((bank / "manifest.json").read_text())["stems"]}
    g = tmp_path / "tiny.toml"
    g.write_text(tiny(ding="soft low ding"))

    r = build_bank(g, out=bank, jobs=1, generator=REF)
    assert r.generated == ["ding/stinger"]
    assert sorted(r.reused) == sorted(i for i in IDS if i != "ding/stinger")
    assert r.unreferenced == [old["ding/stinger"]]
    assert (bank / "stems" / f"{old['ding/stinger']}.melody.flac").exists()  # kept without --prune
    v = verify_bank(bank)
    assert v.ok and v.unreferenced == [old["ding/stinger"]]

    before = {p.name: p.stat().st_mtime_ns for p in (bank / "stems").iterdir()}
    manifest = (bank / "manifest.json").read_bytes()
    r = build_bank(g, out=bank, jobs=1, generator=REF, prune=True)
    assert r.generated == [] and r.pruned == [old["ding/stinger"]]
    assert not any(p.name.startswith(old["ding/stinger"]) for p in (bank / "stems").iterdir())
    # nothing that stayed was rewritten, and the manifest is the same bytes
    assert all(before[p.name] == p.stat().st_mtime_ns for p in (bank / "stems").iterdir())
    assert (bank / "manifest.json").read_bytes() == manifest
    assert verify_bank(bank).ok and verify_bank(bank).unreferenced == []


def test_verify_names_corrupt_missing_and_unexpected_files(serial_bank, tmp_path) -> None:
    bank = tmp_path / "tiny"
    shutil.copytree(serial_bank, bank)
    assert cli("bank", "verify", str(bank)).returncode == 0
    recs = {r["id"]: r for r in json.loads((bank / "manifest.json").read_text())["stems"]}
    victim = bank / recs["calm/main/1"]["files"]["pad"]["path"]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))

    res = cli("bank", "verify", str(bank))
    assert res.returncode == 1
    assert f"corrupt: {recs['calm/main/1']['files']['pad']['path']} (stem calm/main/1, layer pad)" in res.stdout
    assert "1 corrupt" in res.stdout
    # the player refuses the corrupt stem, and only that one
    b = Bank(bank)
    with pytest.raises(BankError, match="calm/main/1 layer pad is corrupt"):
        b.stem("calm", "main", 1)
    assert b.stem("calm", "main", 0).grid.frames == 96000

    (bank / recs["ding/stinger"]["files"]["melody"]["path"]).unlink()
    (bank / "stems" / "notes.txt").write_text("x")
    res = cli("bank", "verify", str(bank))
    assert res.returncode == 1
    assert f"missing: {recs['ding/stinger']['files']['melody']['path']} (stem ding/stinger, layer melody)" in res.stdout
    assert "unexpected: stems/notes.txt" in res.stdout


def test_every_stem_is_at_the_target_loudness_under_the_true_peak_ceiling(serial_bank, tmp_path) -> None:
    meter = pyloudnorm.Meter(48000)
    b = Bank(serial_bank)
    recs = b.manifest["stems"]
    assert any(r["limited"] for r in recs)  # clicks + gain: the limiter had to work
    for r in recs:
        stem = b.stem(r["name"], r["role"], r["variant"])
        lufs = meter.integrated_loudness(stem.mix.astype(np.float64))
        assert abs(lufs - (-18.0)) <= 1.0, (r["id"], lufs)
        assert abs(lufs - r["loudness_lufs"]) <= 0.1, (r["id"], lufs, r["loudness_lufs"])
        assert true_peak_dbtp(stem.mix) <= -1.0, r["id"]
        assert r["true_peak_dbtp"] <= -1.0

    # the target comes from the graph
    g = tmp_path / "quiet.toml"
    g.write_text(tiny(extra="loudness = -23.0"))
    build_bank(g, out=tmp_path / "quiet", jobs=1, generator=REF)
    quiet = Bank(tmp_path / "quiet")
    for r in quiet.manifest["stems"]:
        lufs = meter.integrated_loudness(quiet.stem(r["name"], r["role"], r["variant"]).mix.astype(np.float64))
        assert abs(lufs - (-23.0)) <= 1.0, (r["id"], lufs)


def test_bank_loads_stems_lazily_and_exactly(serial_bank, graph_path, tmp_path) -> None:
    b = Bank(serial_bank, graph=load_graph(graph_path), sample_rate=48000)
    assert (b.name, b.states, b.stingers, b.bridges, b.variants("calm"), b.tempi("fight"), len(b)) == (
        "tiny", ("calm", "fight"), ("ding",), ("rise",), 2, (160,), 8)
    s = b.stem("calm", "intro")
    # 1 beat of pickup at 120 bpm, one 4/4 bar of body, no tail
    assert (s.grid.entry, s.grid.exit, s.grid.frames, s.grid.bpm) == (24000, 120000, 120000, 120)
    assert list(s.layers) == ["drums", "pad"] and s.mix.dtype == np.float32
    rec = b.record("calm", "intro")
    for layer in ("drums", "pad"):
        audio, sr = sf.read(serial_bank / rec["files"][layer]["path"], dtype="float32", always_2d=True)
        assert sr == 48000 and np.array_equal(audio, s.layers[layer])
    assert np.array_equal(s.mix, s.layers["drums"] + s.layers["pad"])
    assert b.stem("calm", "intro") is s  # loaded once
    # ... and shared by every sequencer that plays it, so nobody may change it in place
    with pytest.raises(ValueError, match="read-only"):
        s.layers["pad"][0] += 1.0
    with pytest.raises(ValueError, match="read-only"):
        s.mix *= 0.5
    assert b.stem("fight", "main", tempo=150) is b.stem("fight", "main")  # its own tempo is the base stem
    fast = b.stem("fight", "main", tempo=160)  # the tempo variant: 2 bars of 4/4 at 160 bpm, exactly
    assert (fast.grid.bpm, fast.grid.entry, fast.grid.exit, fast.grid.frames) == (160, 0, 144000, 144000)
    with pytest.raises(BankError, match=r"no stem fight main at 170 bpm; fight has: fight main 0, fight main 0 @160"):
        b.stem("fight", "main", tempo=170)
    with pytest.raises(BankError, match=r"no stem calm main variant 5; calm has: calm intro, calm main 0, calm main 1"):
        b.stem("calm", "main", 5)

    lazy = tmp_path / "lazy"
    shutil.copytree(serial_bank, lazy)
    (lazy / Bank(lazy).record("fight", "main")["files"]["bass"]["path"]).unlink()
    opened = Bank(lazy)  # opening reads only the manifest
    assert opened.stem("calm", "main").grid.frames == 96000
    with pytest.raises(BankError, match=r"fight/main/0 layer bass cannot be read"):
        opened.stem("fight", "main")


def test_bank_refuses_missing_stale_and_other_rate(serial_bank, tmp_path) -> None:
    with pytest.raises(BankError, match=r"no such bank folder; build it with: soundtrack bank build"):
        Bank(tmp_path / "nope")
    g = tmp_path / "tiny.toml"
    g.write_text(tiny(fight="another fight"))
    with pytest.raises(BankError, match=rf"stale: graph {g} changed since the build.*soundtrack bank build {g}"):
        Bank(serial_bank, graph=load_graph(g))
    with pytest.raises(BankError, match=r"built for sample_rate=48000 Hz, not 44100 Hz"):
        Bank(serial_bank, sample_rate=44100)


def test_info_reports_states_duration_size_and_build(serial_bank) -> None:
    res = cli("bank", "info", str(serial_bank), "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert sorted(info["states"]) == ["calm", "fight"] and info["stems"] == 8 and info["files"] == 14
    # 2.5 + 2 + 2 + 2.25 (calm) + 3.2 + 3.0 (fight at 150 and 160) + 1.25 (ding: 2 beats + tail) + 2 (rise)
    assert info["duration_seconds"] == pytest.approx(18.2, abs=1e-9)
    assert info["size_bytes"] == sum(p.stat().st_size for p in serial_bank.rglob("*") if p.is_file())
    assert info["generator"] == {"name": "test-tones", "version": "1"} and info["build_seconds"] > 0
    text = cli("bank", "info", str(serial_bank)).stdout
    assert "state calm: intro 1 bars at 120 bpm" in text and "8 stems (14 files), 18.2 s of audio" in text


def test_build_cli_prints_plain_progress_and_names_a_missing_composer_file(tmp_path) -> None:
    g = tmp_path / "tiny.toml"
    g.write_text(tiny())
    res = cli("bank", "build", str(g), "--jobs", "1", "--generator", REF, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "tiny: 8 stems, 0 reused from cache, 8 to generate" in res.stdout
    assert "[8/8] generated" in res.stdout
    assert (tmp_path / "loops" / "tiny" / "manifest.json").is_file()  # the default place
    # a state of composer files whose file is not there: refused before anything is generated
    g.write_text(tiny() + '\n[states.theme]\nfiles = { main = "x.wav" }\nterminal = true\n\n[[transitions]]\nfrom = "*"\nto = "theme"\non = "t"\n')
    res = cli("bank", "build", str(g), "--jobs", "1", "--generator", REF, cwd=tmp_path)
    assert res.returncode == 2
    assert f"[states.theme].files.main = 'x.wav': no such file ({tmp_path / 'x.wav'})" in res.stderr


SMALL = """\
[soundtrack]
name = "small"
tempo = 110
key = "D minor"
seed = 11
start = "calm"

[states.calm]
prompt = "calm ambient exploration, soft pads"
intro = 1
main = 1
variants = 2
layers = ["harmony", "melody"]

[states.fight]
prompt = "intense orchestral combat, taiko drums"
tempo = 140
main = 1
layers = ["drums", "bass"]

[stingers.hit]
prompt = "heroic brass hit"
beats = 2

[[transitions]]
from = "calm"
to = "fight"
on = "go"

[[transitions]]
from = "fight"
to = "calm"
on = "stop"
"""


def test_procedural_bank_is_bit_identical_across_jobs_and_loudness_matched(tmp_path) -> None:
    g = tmp_path / "small.toml"
    g.write_text(SMALL)
    r1 = build_bank(g, out=tmp_path / "j1", jobs=1)  # the graph's generator: procedural
    build_bank(g, out=tmp_path / "j2", jobs=2)
    assert sorted(r1.generated) == ["calm/intro", "calm/main/0", "calm/main/1", "fight/main/0", "hit/stinger"]
    assert bank_bytes(tmp_path / "j1") == bank_bytes(tmp_path / "j2")
    assert verify_bank(tmp_path / "j2").ok
    bank = Bank(tmp_path / "j2", graph=load_graph(g))
    assert bank.generator["name"] == "procedural"
    meter = pyloudnorm.Meter(48000)
    for r in bank.manifest["stems"]:
        stem = bank.stem(r["name"], r["role"], r["variant"])
        assert abs(meter.integrated_loudness(stem.mix.astype(np.float64)) - (-18.0)) <= 1.0, r["id"]
        assert true_peak_dbtp(stem.mix) <= -1.0, r["id"]
        # the main loop of the 110 bpm state is one 4/4 bar long: 4 * 48000 * 60 / 110 frames, exactly
        if r["id"] == "calm/main/0":
            assert stem.grid.body_frames == 104727


def test_console_progress_draws_a_tqdm_bar_on_a_terminal_and_plain_lines_elsewhere() -> None:
    import io

    from soundtrack.bank.build import Progress
    from soundtrack.bank.progress import ConsoleProgress

    events = [Progress("start", 4, 1, 0, 0.0), Progress("stem", 4, 1, 1, 2.0, "calm.main.0"),
              Progress("stem", 4, 1, 2, 4.0, "calm.outro"), Progress("stem", 4, 1, 3, 6.0, "fight.main.0"),
              Progress("finish", 4, 1, 3, 6.0)]

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    show = ConsoleProgress(stream=tty, label="dungeon")  # bar=None: a terminal gets the bar
    for p in events:
        show(p)
    final = tty.getvalue().split("\r")[-1]
    assert final.startswith("dungeon: 100%") and "4/4" in final and "generated=3, reused=1" in final
    assert show._tqdm is None  # closed at finish

    log = io.StringIO()
    show = ConsoleProgress(stream=log, label="dungeon")
    for p in events:
        show(p)
    assert log.getvalue().splitlines() == [
        "dungeon: 4 stems, 1 reused from cache, 3 to generate",
        "[2/4] generated calm.main.0 (2.0 s, ~4 s left)",
        "[3/4] generated calm.outro (4.0 s, ~2 s left)",
        "[4/4] generated fight.main.0 (6.0 s, ~0 s left)",
    ]
