"""A bank is untrusted input: it cannot empty, read or leak a file outside it, a malformed
manifest is one line of error (never a traceback, never a false OK), a FLAC cannot decode to
more than its record says, a shared stems folder is pruned safely, and builds fail cleanly on a
read-only folder and leave no orphan process when killed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_bank import IDS, cli, env, graph_path, serial_bank, tiny  # noqa: F401  (fixtures)
from test_bank_robust import finished, start_build, wait_for
from test_bank_tones import REF, SLOW_REF

from soundtrack.bank import Bank, BankError, build_bank, verify_bank
from soundtrack.bank.manifest import MAX_STEM_SECONDS


def manifest(bank: Path) -> dict:
    return json.loads((bank / "manifest.json").read_text())


def write_manifest(bank: Path, m: dict | str | bytes) -> None:
    data = m if isinstance(m, (str, bytes)) else json.dumps(m)
    (bank / "manifest.json").write_bytes(data.encode() if isinstance(data, str) else data)


def copy(bank: Path, to: Path) -> Path:
    shutil.copytree(bank, to, symlinks=True)
    return to


# -- the lock ------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["symlink", "hardlink"])
def test_a_lock_that_links_to_another_file_empties_nothing(serial_bank, graph_path, tmp_path, how) -> None:
    b = copy(serial_bank, tmp_path / "b")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (b / ".lock").unlink(missing_ok=True)
    if how == "symlink":
        (b / ".lock").symlink_to("../victim.txt")
    else:
        os.link(victim, b / ".lock")

    v = cli("bank", "verify", str(b))
    assert victim.read_text() == "precious\n"  # used to be emptied and given verify's PID
    assert v.returncode == 1 and "Traceback" not in v.stderr and "unexpected: .lock" in v.stdout, (v.stdout, v.stderr)
    r = cli("bank", "build", str(graph_path), "--out", str(b), "--jobs", "1", "--generator", REF)
    assert victim.read_text() == "precious\n"
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "a bank's lock must be a plain file" in r.stderr


# -- paths, hashes and existence outside the bank ------------------------------------------------
def test_paths_outside_the_bank_never_verify_play_or_leak(serial_bank, tmp_path) -> None:
    b = copy(serial_bank, tmp_path / "x" / "y" / "b")
    m = manifest(b)
    i, rec = next((i, r) for i, r in enumerate(m["stems"]) if r["id"] == "rise/bridge")
    f = rec["files"]["pad"]
    outside = tmp_path / "outside.flac"
    shutil.copy(b / f["path"], outside)  # the same bytes, so the same sha256 and size
    canonical = f["path"]
    for path in ("../../../outside.flac", str(outside), "stems/../../../../outside.flac", "./" + canonical):
        f["path"] = path
        write_manifest(b, m)
        report = verify_bank(b)
        assert not report.ok and report.corrupt, path
        with pytest.raises(BankError) as e:
            Bank(b)
        msg = str(e.value)
        assert "\n" not in msg and f"manifest.json: stems[{i}].files.pad.path" in msg and "must be 'stems/" in msg, msg

    # a link inside stems/ to a matching file outside: refused, never played
    f["path"] = canonical
    write_manifest(b, m)
    (b / canonical).unlink()
    (b / canonical).symlink_to(outside)
    report = verify_bank(b)
    assert not report.ok and any("symbolic link" in c for c in report.corrupt), report
    with pytest.raises(BankError, match="rise/bridge layer pad: the stem file is a symbolic link"):
        Bank(b).stem("rise", "bridge")

    # verify says the same about a file outside that exists and one that does not, and prints no digest
    secret = tmp_path / "secret.txt"
    secret.write_text("the password\n")
    digest = hashlib.sha256(secret.read_bytes()).hexdigest()
    outputs = []
    for target in ("../../../secret.txt", "../../../no-such-file"):
        f["path"] = target
        write_manifest(b, m)
        res = cli("bank", "verify", str(b))
        assert res.returncode == 1 and "Traceback" not in res.stderr
        outputs.append((res.stdout + res.stderr).replace(target, "PATH"))
        assert digest[:8] not in res.stdout + res.stderr
    assert outputs[0] == outputs[1]


def test_a_bank_never_reads_the_graph_its_manifest_names(serial_bank, tmp_path, monkeypatch) -> None:
    from soundtrack.bank import open_bank

    b = copy(serial_bank, tmp_path / "b")
    m = manifest(b)
    assert m["graph"]["path"] == "tiny.toml"  # no absolute path of the building machine
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.toml").write_text('[soundtrack]\nname = "s"\naws_secret_key_name = "x"\n')
    graph, bank = open_bank(b)
    assert (graph.name, tuple(graph.states)) == ("tiny", ("calm", "fight"))
    assert graph.source_sha256 == m["graph"]["source_sha256"]


# -- malformed manifests -------------------------------------------------------------------------
def _mutants(m: dict) -> list[tuple[str, object]]:
    """(what, manifest or raw text) pairs, each of which must be refused."""
    out: list[tuple[str, object]] = []

    def variant(what: str, edit) -> None:
        c = json.loads(json.dumps(m))
        edit(c)
        out.append((what, c))

    for key in ("format", "format_version", "graph", "sample_rate", "generator", "loudness", "codec", "states",
                "stingers", "bridges", "stems", "skipped", "created_by"):
        variant(key, lambda c, k=key: c.pop(k))
        variant(key, lambda c, k=key: c.__setitem__(k, [1] if not isinstance(c[k], list) else {"a": 1}))
    for key in ("name", "path", "source_sha256", "text"):
        variant(key, lambda c, k=key: c["graph"].pop(k, None))
    for key in ("id", "kind", "name", "role", "variant", "tempo", "base", "key", "grid", "channels", "layers", "files",
                "loudness_lufs", "true_peak_dbtp", "gain_db", "limited", "music_key", "spec", "generator"):
        variant(key, lambda c, k=key: c["stems"][0].pop(k))
    for key in ("sample_rate", "bpm", "meter", "entry", "exit", "frames", "bars"):
        variant(key, lambda c, k=key: c["stems"][0]["grid"].pop(k))
    for key in ("path", "sha256", "bytes"):
        variant(key, lambda c, k=key: c["stems"][0]["files"]["drums"].pop(k))
    edits = {
        "frames": lambda c: c["stems"][0]["grid"].__setitem__("frames", -1),
        "exit": lambda c: c["stems"][0]["grid"].__setitem__("exit", 10**30),
        "bpm": lambda c: c["stems"][0]["grid"].__setitem__("bpm", "0"),
        "meter": lambda c: c["stems"][0]["grid"].__setitem__("meter", "5/3"),
        "channels": lambda c: c["stems"][0].__setitem__("channels", 0),
        "layers": lambda c: c["stems"][0].__setitem__("layers", []),
        "files": lambda c: c["stems"][0].__setitem__("files", []),
        "bytes": lambda c: c["stems"][0]["files"]["drums"].__setitem__("bytes", -5),
        "sha256": lambda c: c["stems"][0]["files"]["drums"].__setitem__("sha256", "zz"),
        "sample_rate": lambda c: c.__setitem__("sample_rate", 0),
        "stems[0]": lambda c: c["stems"].__setitem__(0, 5),
        "text": lambda c: c["graph"].__setitem__("text", c["graph"].get("text", "") + "\n# edited\n"),
        "spec": lambda c: c["stems"][0]["spec"].__setitem__("bars", "many"),
        "music_key": lambda c: c["stems"][0].__setitem__("music_key", "H major"),
        "id": lambda c: c["stems"][1].update({k: c["stems"][0][k] for k in ("name", "role", "variant", "tempo")}),
    }
    for what, edit in edits.items():
        variant(what, edit)
    out.append(("target_lufs", json.dumps({**m, "loudness": {"target_lufs": float("nan"), "true_peak_dbtp": -1}})))
    out += [("manifest", "[" * 100_000), ("manifest", '{"format": ' + "1" * 5000 + "}"), ("manifest", b"\xff\xfe"),
            ("manifest", "[]"), ("manifest", "")]
    return out


def test_every_malformed_manifest_is_one_line_of_error_and_never_ok(serial_bank, tmp_path) -> None:
    b = copy(serial_bank, tmp_path / "b")
    good = manifest(b)
    mutants = _mutants(good)
    assert len(mutants) >= 54
    for what, m in mutants:
        write_manifest(b, m)
        report = verify_bank(b)  # anything but a BankError escaping is a failure
        assert not report.ok, what
        with pytest.raises(BankError) as e:
            Bank(b)
        msg = str(e.value)
        assert "\n" not in msg and "manifest.json" in msg and len(msg) < 400, (what, msg)
        if not isinstance(m, (str, bytes)):
            assert what in msg, (what, msg)


# -- decoded sizes -------------------------------------------------------------------------------
def test_a_flac_header_that_disagrees_with_its_record_is_refused_before_decoding(serial_bank, tmp_path,
                                                                                 monkeypatch) -> None:
    b = copy(serial_bank, tmp_path / "b")
    m = manifest(b)
    rec = next(r for r in m["stems"] if r["id"] == "rise/bridge")  # 96000 frames
    f = rec["files"]["pad"]
    short = b / "short.flac"
    sf.write(short, np.zeros((48000, 2), np.float32), 48000, format="FLAC", subtype="PCM_24")
    data = short.read_bytes()
    short.unlink()
    (b / f["path"]).write_bytes(data)
    f.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))  # whoever wrote the file wrote the manifest
    write_manifest(b, m)

    def no_decoding(*a, **k):
        raise AssertionError("decoded a file whose header disagrees with its record")

    monkeypatch.setattr(sf, "read", no_decoding)
    monkeypatch.setattr(sf, "SoundFile", no_decoding)
    with pytest.raises(BankError, match=r"rise/bridge layer pad is 48000 Hz, 2 channels, 24 bits, 48000 frames; the "
                                        r"record says 48000 Hz, 2 channels, 24 bits, 96000 frames"):
        Bank(b).stem("rise", "bridge")
    assert any("48000 frames; the record says" in c for c in verify_bank(b).corrupt)


def test_a_flac_bomb_is_refused_from_the_manifest(serial_bank, tmp_path) -> None:
    """A tiny FLAC of silence that decodes to minutes: refused before a byte is decoded."""
    b = copy(serial_bank, tmp_path / "b")
    m = manifest(b)
    rec = next(r for r in m["stems"] if r["id"] == "rise/bridge")
    frames = (MAX_STEM_SECONDS + 1) * 48000
    f = rec["files"]["pad"]
    with sf.SoundFile(b / f["path"], "w", samplerate=48000, channels=2, format="FLAC", subtype="PCM_24") as out:
        block = np.zeros((1 << 20, 2), np.int32)
        for start in range(0, frames, block.shape[0]):
            out.write(block[: min(block.shape[0], frames - start)])
    data = (b / f["path"]).read_bytes()
    assert len(data) < 200_000  # ~60 KB that would decode to 116 MB per layer
    f.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    rec["grid"]["frames"] = frames
    write_manifest(b, m)
    t0 = time.perf_counter()
    with pytest.raises(BankError, match=rf"stems\[\d+\]\.grid\.frames = {frames} must be a whole number from 1 to "
                                        rf"{MAX_STEM_SECONDS * 48000}"):
        Bank(b)
    assert time.perf_counter() - t0 < 1.0
    assert not verify_bank(b).ok


# -- a shared stems folder -----------------------------------------------------------------------
def test_prune_never_deletes_what_another_bank_sharing_the_stems_folder_uses(serial_bank, tmp_path) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(serial_bank / "stems", cache)
    shutil.rmtree(cache / ".banks", ignore_errors=True)
    banks = {}
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "stems").symlink_to(cache)  # the README's shared-cache advice
        banks[name] = tmp_path / name
    ga, gb = tmp_path / "a.toml", tmp_path / "b.toml"
    ga.write_text(tiny())
    gb.write_text(tiny(ding="b's own ding"))
    build_bank(ga, out=banks["a"], jobs=1, generator=REF)  # everything reused from the cache
    rb = build_bank(gb, out=banks["b"], jobs=1, generator=REF)
    assert rb.generated == ["ding/stinger"]
    b_ding = Bank(banks["b"]).record("ding", "stinger")["key"]
    a_ding = Bank(banks["a"]).record("ding", "stinger")["key"]

    ga.write_text(tiny(ding="a's next ding"))
    r = build_bank(ga, out=banks["a"], jobs=1, generator=REF, prune=True)
    assert r.generated == ["ding/stinger"] and r.pruned == [a_ding]  # a's old ding: no bank uses it
    assert b_ding in r.shared and b_ding not in r.unreferenced  # b's ding: on disk for b, not a's to delete
    assert verify_bank(banks["b"]).ok and verify_bank(banks["a"]).ok
    assert Bank(banks["b"]).stem("ding", "stinger").grid.frames > 0

    # while another build uses the folder, a prune deletes nothing and says why
    from soundtrack.bank.lock import SharedLock

    a_next = Bank(banks["a"]).record("ding", "stinger")["key"]
    ga.write_text(tiny(ding="a's third ding"))
    with SharedLock(cache / ".banks" / ".lock"):
        r = build_bank(ga, out=banks["a"], jobs=1, generator=REF, prune=True)
    assert r.pruned == [] and r.generated == ["ding/stinger"] and "another build is using" in r.notes[0]
    assert r.unreferenced == [a_next] and b_ding in r.shared


# -- builds ----------------------------------------------------------------------------------------
def _unprivileged() -> list[str]:
    """A prefix that runs a command without root's power to write anywhere (root ignores modes)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: a read-only folder cannot be tested")
    caps = "-dac_override,-fowner,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]


def test_an_unwritable_out_dir_is_one_line_before_anything_is_generated(serial_bank, tmp_path) -> None:
    g = tmp_path / "tiny.toml"
    g.write_text(tiny(ding="a changed ding"))
    ro_empty = tmp_path / "ro-empty"
    ro_empty.mkdir()
    ro_bank = copy(serial_bank, tmp_path / "ro-bank")  # an earlier build's bank, made read-only
    for d in (ro_empty, ro_bank):
        for p in [d, *d.rglob("*")]:
            p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        for out in (ro_empty, ro_bank):
            res = subprocess.run([*_unprivileged(), sys.executable, "-m", "soundtrack", "bank", "build", str(g), "--out",
                                  str(out), "--jobs", "1", "--generator", REF, "--quiet"],
                                 capture_output=True, text=True, env=env(), timeout=120)
            assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
            assert len(res.stderr.strip().splitlines()) == 1 and "cannot write to the bank folder" in res.stderr
            assert "generated" not in res.stdout, res.stdout
    finally:
        for d in (ro_empty, ro_bank):
            for p in [d, *d.rglob("*")]:
                p.chmod(p.stat().st_mode | stat.S_IWUSR)


def _session(sid: int) -> list:
    import psutil

    alive = []
    for p in psutil.process_iter(["pid", "status"]):
        try:
            if os.getsid(p.pid) == sid and p.info["status"] != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except (ProcessLookupError, PermissionError, psutil.Error):
            pass
    return alive


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and sessions are POSIX")
def test_a_sigkilled_parallel_build_leaves_no_orphan_processes(graph_path, tmp_path) -> None:
    out = tmp_path / "tiny"
    proc = start_build(graph_path, out, "--jobs", "2", "--generator", SLOW_REF)
    try:
        wait_for(lambda: len(finished(out)) >= 1 or proc.poll() is not None, "a finished stem")
        assert proc.poll() is None
        assert len(_session(proc.pid)) >= 3  # the build, two workers (and multiprocessing's resource tracker)
        os.kill(proc.pid, signal.SIGKILL)  # the build only, as a crash or the OOM killer would
        proc.wait(timeout=30)
        wait_for(lambda: not _session(proc.pid), "the workers to exit with their parent", timeout=10)
    finally:
        for p in _session(proc.pid):
            p.kill()
    assert len(finished(out)) < len(IDS)
