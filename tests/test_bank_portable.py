"""A bank that ships: it imports and locks on Windows (no fcntl), it carries its graph's text
(so it plays from any folder on any machine), its grids come from the manifest without decoding,
`preload` decodes everything a session needs up front within a memory cap, and the importer
never imports the bank (dependencies point one way)."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_bank import env, graph_path, serial_bank, tiny  # noqa: F401  (fixtures)
from test_bank_tones import REF

from soundtrack.bank import Bank, BankError, build_bank, open_bank
from soundtrack.stem import StemGrid

ROOT = Path(__file__).resolve().parent.parent


def test_the_bank_imports_without_fcntl() -> None:
    code = ("import sys; sys.modules['fcntl'] = None  # as on Windows\n"
            "import soundtrack.bank, soundtrack.bank.store, soundtrack.bank.build; print('imported')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env(), timeout=60)
    assert res.returncode == 0 and "imported" in res.stdout, res.stderr


class FakeMsvcrt(types.ModuleType):
    """msvcrt.locking as Windows does it: a byte range of a file, exclusive, non-blocking."""

    LK_UNLCK, LK_NBLCK = 0, 2

    def __init__(self) -> None:
        super().__init__("msvcrt")
        self.held: dict[tuple[int, int, int], int] = {}  # (dev, inode, offset) -> fd
        self.calls: list[tuple[int, int]] = []

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        import errno
        import os

        st = os.fstat(fd)
        where = (st.st_dev, st.st_ino, os.lseek(fd, 0, os.SEEK_CUR))
        self.calls.append((mode, where[2]))
        if mode == self.LK_UNLCK:
            self.held.pop(where, None)
        elif where in self.held and self.held[where] != fd:
            raise OSError(errno.EACCES, "Permission denied")
        else:
            self.held[where] = fd


def test_the_lock_uses_msvcrt_on_windows(tmp_path, monkeypatch) -> None:
    import os

    from soundtrack.bank import lock

    fake = FakeMsvcrt()
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    monkeypatch.setitem(sys.modules, "fcntl", None)  # any flock call would fail
    monkeypatch.setattr(lock, "_platform", lambda: "nt")
    with lock.BankLock(tmp_path / "b"):
        assert (tmp_path / "b" / ".lock").read_text().strip() == str(os.getpid())  # the PID stays readable
        with pytest.raises(BankError, match=rf"being built by process {os.getpid()} "):
            lock.BankLock(tmp_path / "b").acquire()
        assert lock.build_holder(tmp_path / "b") == (True, os.getpid())
    assert lock.build_holder(tmp_path / "b") == (False, None)
    assert fake.calls and all(offset == lock._WIN_LOCK_OFFSET for _, offset in fake.calls) and not fake.held
    assert (tmp_path / "b" / ".lock").read_text().strip() == ""  # released: overwritten in place, no PID


def test_the_importer_never_imports_the_bank() -> None:
    tree = ast.parse((ROOT / "soundtrack" / "importer.py").read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m == "soundtrack.bank" or m.startswith("soundtrack.bank.")], imported
    code = "import sys, soundtrack.importer; print(sorted(m for m in sys.modules if m.startswith('soundtrack.bank')))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env(), timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "[]", (res.stdout, res.stderr)


def test_a_bank_is_self_contained_and_plays_from_any_folder(serial_bank, tmp_path, monkeypatch) -> None:
    from soundtrack.sequencer import Sequencer

    # built from a graph that is then deleted, and moved to another folder
    work = tmp_path / "ci"
    shutil.copytree(serial_bank, work / "loops" / "tiny")
    (work / "graphs").mkdir()
    (work / "graphs" / "tiny.toml").write_text(tiny())
    monkeypatch.chdir(work)
    r = build_bank(Path("graphs/tiny.toml"), out=Path("loops/tiny"), jobs=1, generator=REF)
    assert r.generated == []  # the stems do not depend on where the graph was
    m = json.loads((work / "loops" / "tiny" / "manifest.json").read_text())
    assert m["graph"]["path"] == "graphs/tiny.toml" and m["graph"]["text"] == tiny()
    shipped = tmp_path / "game" / "music"
    shutil.copytree(work / "loops" / "tiny", shipped)
    shutil.rmtree(work)
    monkeypatch.chdir(tmp_path)

    graph, bank = open_bank(shipped)
    assert graph.name == "tiny" and graph.source_sha256 == m["graph"]["source_sha256"] and bank.graph is graph
    s = Sequencer(graph, bank)
    s.start()
    s.render(48000)
    assert s.post("go").accepted
    assert np.isfinite(s.render(96000)).all()


def test_grids_come_from_the_manifest_without_decoding(serial_bank, tmp_path, monkeypatch) -> None:
    b = tmp_path / "b"
    shutil.copytree(serial_bank, b)
    for f in (b / "stems").glob("*.flac"):
        f.unlink()  # no audio at all
    bank = Bank(b)
    monkeypatch.setattr(sf, "SoundFile", lambda *a, **k: pytest.fail("decoded audio to read a grid"))
    for rec in bank.manifest["stems"]:
        tempo = None if rec["tempo"] is None else int(rec["tempo"])
        g = bank.grid(rec["name"], rec["role"], rec["variant"], tempo=tempo)
        assert g == StemGrid.from_dict(rec["grid"])
        assert bank.grid(rec["name"], rec["role"], rec["variant"], tempo=tempo) is g
    assert bank.decoded_bytes == 0


def test_preload_decodes_every_stem_once_within_its_cap(serial_bank, graph_path, tmp_path, monkeypatch) -> None:
    from soundtrack.graph import load_graph
    from soundtrack.sequencer import Sequencer

    b = tmp_path / "b"
    shutil.copytree(serial_bank, b)
    need = sum(r["grid"]["frames"] * 2 * 4 * (len(r["layers"]) + 1) for r in Bank(b).manifest["stems"])

    small = Bank(b, max_bytes=need - 1)
    monkeypatch.setattr(sf, "SoundFile", lambda *a, **k: pytest.fail("decoded although over the cap"))
    with pytest.raises(BankError, match=rf"preloading needs {need / 1e6:.1f} MB of decoded audio, over the cap of"):
        small.preload()
    assert small.decoded_bytes == 0
    monkeypatch.undo()

    bank = Bank(b, max_bytes=need)
    assert bank.needed_bytes() == need and bank.preload() == need == bank.decoded_bytes
    # the same audio as loading one stem at a time
    lazy = Bank(serial_bank)
    for rec in bank.manifest["stems"]:
        tempo = None if rec["tempo"] is None else int(rec["tempo"])
        a, z = bank.stem(rec["name"], rec["role"], rec["variant"], tempo=tempo), lazy.stem(rec["name"], rec["role"],
                                                                                            rec["variant"], tempo=tempo)
        assert all(np.array_equal(a.layers[k], z.layers[k]) for k in a.layers) and np.array_equal(a.mix, z.mix)

    # nothing is read or decoded after preload: a whole session plays with the files gone
    for f in (b / "stems").glob("*.flac"):
        f.unlink()
    monkeypatch.setattr(sf, "SoundFile", lambda *a, **k: pytest.fail("decoded after preload"))
    s = Sequencer(load_graph(graph_path), bank)
    s.start()
    s.render(48000)
    for event in ("go", "stop"):
        assert s.post(event).accepted
        s.render(5 * 48000)
    s.stinger("ding")
    s.render(48000)
    # a lazily loaded bank refuses a stem that would pass its cap
    capped = Bank(serial_bank, max_bytes=1000)
    with pytest.raises(BankError, match=r"stem calm/intro decodes to .* passes the cap of 0.0 MB"):
        capped.stem("calm", "intro")
