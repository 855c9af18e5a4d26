"""Checking a built bank against its manifest, and summarising it.

`verify_bank` reads every file the manifest names, compares its sha256 and its FLAC header
(sample rate, channels, bits, frames) with the record, and lists what is missing, corrupt or not
part of the bank. Stems left on disk by earlier builds of the graph (content-addressed cache,
removed by ``bank build --prune``) are listed as unreferenced but are not an error.

A bank is untrusted input: the manifest is checked first (`soundtrack.bank.manifest`), the only
files opened are ``stems/KEY.LAYER.flac`` inside the bank (never through a link), no digest is
ever printed, and verify writes nothing (it neither creates nor locks ``.lock``: it asks whether
a build holds it, and refuses to judge a bank that is being built).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soundtrack.bank.lock import build_holder
from soundtrack.bank.manifest import read_manifest
from soundtrack.bank.store import (
    BANKS,
    BUILD_INFO,
    LOCK,
    MANIFEST,
    STEM_FILE_RE,
    STEMS,
    flac_streaminfo,
    read_json,
    read_stem_file,
    record_path,
    sha256_bytes,
)
from soundtrack.errors import BankError

PCM_BITS = 24


@dataclass
class VerifyReport:
    """The verdict on one bank folder. `ok` is False when anything is missing, corrupt or unexpected."""

    path: Path
    stems: int = 0
    files: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    unreferenced: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupt or self.unexpected)


def load_manifest(root: Path) -> dict[str, Any]:
    """The checked manifest of the bank in `root`; BankError if there is none or it is malformed."""
    return read_manifest(root)


def _lstat(p: Path) -> os.stat_result | None:
    try:
        return os.lstat(p)
    except OSError:
        return None


def verify_bank(root: str | Path) -> VerifyReport:
    """Check every stem file of the bank in `root` (see module docstring). Raises BankError when
    `root` is not a folder or a build holds the bank now."""
    root = Path(root)
    if not root.is_dir():
        raise BankError(f"{root}: no such bank folder; build it with: soundtrack bank build GRAPH --out {root}")
    report = VerifyReport(path=root)
    try:
        held, pid = build_holder(root)
    except BankError:
        held, pid = False, None  # a link or odd file as .lock: listed as unexpected below
    if held:
        who = f"process {pid}" if pid else "another process"
        raise BankError(f"{root}: the bank is being built by {who} (lock {root / LOCK}); "
                        "verify it when that build has finished")
    try:
        manifest = load_manifest(root)
    except BankError as e:
        there = _lstat(root / MANIFEST) is not None
        (report.corrupt if there else report.missing).append(f"{MANIFEST}: {e}")
        _list_unexpected(root, set(), report)
        return report
    _check(root, manifest, report)
    return report


def _check(root: Path, manifest: dict[str, Any], report: VerifyReport) -> None:
    sr = manifest["sample_rate"]
    known: set[str] = set()
    for rec in manifest["stems"]:
        report.stems += 1
        sid, key = rec["id"], rec["key"]
        known.add(key)
        st = _lstat(root / record_path(key))
        if st is None:
            report.missing.append(f"{record_path(key)} (stem {sid}: its record)")
        elif not stat.S_ISREG(st.st_mode):
            report.corrupt.append(f"{record_path(key)} (stem {sid}: its record): not a plain file")
        grid = rec["grid"]
        for layer in rec["layers"]:
            f = rec["files"][layer]
            report.files += 1
            what = f"{f['path']} (stem {sid}, layer {layer})"
            try:
                data = read_stem_file(root, f["path"], size=f["bytes"])
            except FileNotFoundError:
                report.missing.append(what)
                continue
            except OSError as e:
                report.corrupt.append(f"{what}: cannot be read ({e.strerror or e})")
                continue
            except BankError as e:
                report.corrupt.append(f"{what}: {str(e).rsplit(': ', 1)[-1]}")
                continue
            if sha256_bytes(data) != f["sha256"]:
                report.corrupt.append(f"{what}: sha256 differs from the manifest")
                continue
            info = flac_streaminfo(data)
            want = (sr, rec["channels"], PCM_BITS, grid["frames"])
            if info is None:
                report.corrupt.append(f"{what}: not a FLAC file")
            elif info != want:
                report.corrupt.append(
                    f"{what}: {info[0]} Hz, {info[1]} channels, {info[2]} bits, {info[3]} frames; the record says "
                    f"{want[0]} Hz, {want[1]} channels, {want[2]} bits, {want[3]} frames"
                )
    _list_unexpected(root, known, report)


def _list_unexpected(root: Path, known: set[str], report: VerifyReport) -> None:
    for p in sorted(root.iterdir()):
        st = _lstat(p)
        if st is None:
            continue
        if p.name in (MANIFEST, BUILD_INFO) and stat.S_ISREG(st.st_mode):
            continue
        if p.name == LOCK and stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
            continue
        if p.name == STEMS and p.is_dir():  # the stems folder may be a link to a shared cache
            continue
        report.unexpected.append(p.name + ("" if stat.S_ISREG(st.st_mode) else " (not a plain file)"))
    stems_dir = root / STEMS
    unreferenced: set[str] = set()
    for p in sorted(stems_dir.iterdir()) if stems_dir.is_dir() else []:
        st = _lstat(p)
        if st is None:
            continue
        if p.name == BANKS and stat.S_ISDIR(st.st_mode):
            continue
        m = STEM_FILE_RE.match(p.name)
        if m is None or not stat.S_ISREG(st.st_mode):
            report.unexpected.append(f"{STEMS}/{p.name}" + ("" if stat.S_ISREG(st.st_mode) else " (not a plain file)"))
        elif m["key"] not in known:
            unreferenced.add(m["key"])
    report.unreferenced = sorted(unreferenced)


def bank_size(root: Path) -> int:
    """Bytes of the plain files of a bank: its top folder, stems/ and stems/.banks/ (no link followed but stems/)."""
    total = 0
    for d in (root, root / STEMS, root / STEMS / BANKS):
        if not d.is_dir():
            continue
        for p in d.iterdir():
            st = _lstat(p)
            if st is not None and stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def bank_info(root: str | Path) -> dict[str, Any]:
    """A summary of the bank in `root`: states, stems, duration, size on disk, generator, build."""
    root = Path(root)
    m = load_manifest(root)
    sr = int(m["sample_rate"])
    stems = m["stems"]
    seconds = sum(int(s["grid"]["frames"]) for s in stems) / sr
    try:
        build = read_json(root / BUILD_INFO, what="build info", limit=1 << 20)
    except BankError:
        build = {}
    states = {}
    for name, st in m["states"].items():
        mine = [s for s in stems if s["kind"] == "state" and s["name"] == name and s["tempo"] is None]
        states[name] = {
            "segments": {s["id"].split("/", 1)[-1]: {"bars": s["grid"]["bars"], "bpm": s["grid"]["bpm"],
                                                     "seconds": round(s["grid"]["frames"] / sr, 3),
                                                     "loudness_lufs": s["loudness_lufs"]} for s in mine},
            "layers": st["layers"],
            "tempi": st["tempi"],
        }
    seconds_built = build.get("build_seconds")
    return {
        "path": str(root),
        "name": m["graph"]["name"],
        "graph": m["graph"]["path"],
        "generator": m["generator"],
        "sample_rate": sr,
        "loudness": m["loudness"],
        "states": states,
        "stingers": sorted(m["stingers"]),
        "bridges": sorted(m["bridges"]),
        "stems": len(stems),
        "files": sum(len(s["files"]) for s in stems),
        "duration_seconds": round(seconds, 3),
        "size_bytes": bank_size(root),
        "build_seconds": seconds_built if isinstance(seconds_built, (int, float)) else None,
        "built_at": build.get("built_at") if isinstance(build.get("built_at"), str) else None,
        "skipped": m["skipped"],
    }
