"""Loop banks under stress: a real Dask cluster, a real SIGKILL mid-build (and mid-write), two builds at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_bank import IDS, bank_bytes, cli, env, graph_path, serial_bank  # noqa: F401  (fixtures)
from test_bank_tones import REF, SLOW_REF

from soundtrack.bank import BankError, build_bank, verify_bank
from soundtrack.bank.store import remove_partials, write_atomic


def start_build(graph: Path, out: Path, *extra: str) -> subprocess.Popen:
    """A real `soundtrack bank build` process in its own process group (so it and its workers can be killed)."""
    return subprocess.Popen(
        [sys.executable, "-m", "soundtrack", "bank", "build", str(graph), "--out", str(out), "--quiet", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), start_new_session=True,
    )


def wait_for(cond, what: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def finished(out: Path) -> list[Path]:
    return sorted((out / "stems").glob("*.json")) if (out / "stems").is_dir() else []


def test_dask_local_cluster_build_equals_the_local_build(graph_path, serial_bank, tmp_path, monkeypatch) -> None:
    import distributed

    monkeypatch.setenv("PYTHONPATH", env()["PYTHONPATH"])  # the cluster's workers import the tone generator
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        r = build_bank(graph_path, out=tmp_path / "tiny", generator=REF, scheduler=cluster.scheduler_address)
    assert r.executor == f"dask {cluster.scheduler_address}" and sorted(r.generated) == sorted(IDS)
    assert bank_bytes(tmp_path / "tiny") == bank_bytes(serial_bank)


def test_dask_scheduler_that_is_not_there_is_a_clear_error(graph_path, tmp_path) -> None:
    res = cli("bank", "build", str(graph_path), "--out", str(tmp_path / "b"), "--generator", REF,
              "--scheduler", "tcp://127.0.0.1:9")
    assert res.returncode == 2
    assert "scheduler='tcp://127.0.0.1:9': cannot reach the Dask scheduler" in res.stderr


def test_sigkill_mid_build_then_rerun_reuses_finished_stems_and_verifies_clean(graph_path, serial_bank, tmp_path) -> None:
    out = tmp_path / "tiny"
    proc = start_build(graph_path, out, "--jobs", "2", "--generator", SLOW_REF)
    wait_for(lambda: len(finished(out)) >= 2 or proc.poll() is not None, "two finished stems")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done = finished(out)
    assert 2 <= len(done) < len(IDS), "the kill must land mid-build"
    assert not (out / "manifest.json").exists()  # the manifest is written last
    assert verify_bank(out).missing  # not a bank yet

    res = cli("bank", "build", str(graph_path), "--out", str(out), "--jobs", "1", "--generator", REF, "--quiet")
    assert res.returncode == 0, res.stderr
    assert f"{len(IDS)} stems ({len(IDS) - len(done)} generated, {len(done)} reused)" in res.stdout
    v = cli("bank", "verify", str(out))
    assert v.returncode == 0 and f"OK: {len(IDS)} stems" in v.stdout, v.stdout
    assert not any(p.name.endswith(".part") for p in out.rglob("*"))
    assert bank_bytes(out) == bank_bytes(serial_bank)


def test_second_build_of_the_same_bank_is_refused_naming_the_first(graph_path, serial_bank, tmp_path) -> None:
    out = tmp_path / "tiny"
    first = start_build(graph_path, out, "--jobs", "1", "--generator", SLOW_REF)
    try:
        lock = out / ".lock"
        wait_for(lambda: lock.is_file() and lock.read_text().strip() == str(first.pid), "the first build's lock")
        with pytest.raises(BankError, match=rf"being built by process {first.pid} .*wait for that build to finish"):
            build_bank(graph_path, out=out, jobs=1, generator=REF)
        res = cli("bank", "build", str(graph_path), "--out", str(out), "--jobs", "1", "--generator", REF)
        assert res.returncode == 2 and f"being built by process {first.pid}" in res.stderr
        # verify says who is building it (it used to say "missing manifest"), and writes nothing
        v = cli("bank", "verify", str(out))
        assert v.returncode == 2 and f"the bank is being built by process {first.pid}" in v.stderr, v.stderr
        assert "Traceback" not in v.stderr and lock.read_text().strip() == str(first.pid)
        stdout, stderr = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert first.returncode == 0, stderr
    assert verify_bank(out).ok
    assert bank_bytes(out) == bank_bytes(serial_bank)


def test_atomic_write_gets_the_umask_mode_and_a_killed_one_leaves_the_old_file_and_a_partial(tmp_path) -> None:
    target = tmp_path / "tiny" / "stems" / "x.json"
    old = os.umask(0o022)
    try:
        write_atomic(target, b"{}\n")
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644  # shared like any file, not a temporary file's 0o600
    with pytest.raises(TypeError):
        write_atomic(target, "not bytes")  # type: ignore[arg-type]
    code = ("import os, signal, sys; from soundtrack.files import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n"
            "    tmp.write_bytes(b'half')\n"
            "    os.kill(os.getpid(), signal.SIGKILL)  # mid-write, as write_atomic would be\n")
    proc = subprocess.run([sys.executable, "-c", code, str(target)], env=env())
    assert proc.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"{}\n"  # the old file, whole
    removed = remove_partials(tmp_path / "tiny")  # what the next build does first
    assert len(removed) == 1 and removed[0].name.startswith(".x.json.") and removed[0].parent == target.parent
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]
