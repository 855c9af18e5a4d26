"""Checking a built bank against its manifest, and summarising it.

`verify_bank` reads every file the manifest names, compares its sha256 and its audio header
(sample rate, channels, frames) with the record, and lists what is missing, corrupt or not part
of the bank. Stems left on disk by earlier builds of the graph (content-addressed cache, removed
by ``bank build --prune``) are listed as unreferenced but are not an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soundtrack.bank.plan import FORMAT, FORMAT_VERSION
from soundtrack.bank.store import BUILD_INFO, LOCK, MANIFEST, STEM_FILE_RE, STEMS, BankLock, record_path
from soundtrack.errors import BankError, SoundtrackError
from soundtrack.files import sha256_file
from soundtrack.stem import StemGrid


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
    """The manifest of the bank in `root`, checked for its format; BankError if there is none."""
    path = Path(root) / MANIFEST
    if not Path(root).is_dir():
        raise BankError(f"{root}: no such bank folder; build it with: soundtrack bank build GRAPH --out {root}")
    if not path.is_file():
        raise BankError(f"{root}: not a bank (no {MANIFEST}); build it with: soundtrack bank build GRAPH --out {root}")
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BankError(f"{path}: the manifest cannot be read: {e}") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise BankError(f"{path}: not a soundtrack bank manifest (format must be {FORMAT!r})")
    if m.get("format_version") != FORMAT_VERSION:
        raise BankError(
            f"{path}: bank format_version={m.get('format_version')!r}, this soundtrack reads {FORMAT_VERSION}; rebuild the bank"
        )
    return m


def verify_bank(root: str | Path) -> VerifyReport:
    """Check every stem file of the bank in `root` (see module docstring)."""
    root = Path(root)
    report = VerifyReport(path=root)
    try:
        manifest = load_manifest(root)
    except BankError as e:
        if not root.is_dir():
            raise
        (report.missing if not (root / MANIFEST).exists() else report.corrupt).append(f"{MANIFEST}: {e}")
        return report
    lock = BankLock(root, action="verify")
    try:
        lock.acquire()  # refuses while a build runs (BankError naming its PID)
    except OSError:
        lock = None  # a read-only copy of a bank cannot be built into either: check it unlocked
    try:
        _check(root, manifest, report)
    finally:
        if lock is not None:
            lock.release()
    return report


def _check(root: Path, manifest: dict[str, Any], report: VerifyReport) -> None:
    import soundfile as sf

    sr = manifest.get("sample_rate")
    known: set[str] = set()
    for rec in manifest.get("stems", []):
        report.stems += 1
        sid, key = rec.get("id", "?"), rec.get("key", "?")
        known.add(key)
        rp = root / record_path(key)
        if not rp.is_file():
            report.missing.append(f"{record_path(key)} (stem {sid}: its record)")
        try:
            grid = StemGrid.from_dict(rec["grid"])
            if grid.sample_rate != sr:
                report.corrupt.append(f"stem {sid}: grid sample_rate {grid.sample_rate} != bank's {sr}")
        except (SoundtrackError, KeyError, TypeError, ValueError) as e:
            report.corrupt.append(f"stem {sid}: invalid grid in the manifest: {e}")
            continue
        for layer, f in rec.get("files", {}).items():
            report.files += 1
            p = root / f["path"]
            what = f"{f['path']} (stem {sid}, layer {layer})"
            if not p.is_file():
                report.missing.append(what)
                continue
            digest = sha256_file(p)
            if digest != f["sha256"]:
                report.corrupt.append(f"{what}: sha256 {digest[:12]}... != recorded {f['sha256'][:12]}...")
                continue
            try:
                info = sf.info(str(p))
            except (RuntimeError, sf.LibsndfileError) as e:
                report.corrupt.append(f"{what}: cannot be read as audio: {e}")
                continue
            if (info.samplerate, info.channels, info.frames) != (sr, rec.get("channels"), grid.frames):
                report.corrupt.append(
                    f"{what}: {info.samplerate} Hz, {info.channels} channels, {info.frames} frames; the grid says "
                    f"{sr} Hz, {rec.get('channels')} channels, {grid.frames} frames"
                )
    for p in sorted(root.iterdir()):
        if p.name in (MANIFEST, BUILD_INFO, LOCK) or (p.name == STEMS and p.is_dir()):
            continue
        report.unexpected.append(p.name)
    stems_dir = root / STEMS
    unreferenced: set[str] = set()
    for p in sorted(stems_dir.iterdir()) if stems_dir.is_dir() else []:
        m = STEM_FILE_RE.match(p.name)
        if m is None or not p.is_file():
            report.unexpected.append(f"{STEMS}/{p.name}")
        elif m["key"] not in known:
            unreferenced.add(m["key"])
    report.unreferenced = sorted(unreferenced)


def bank_info(root: str | Path) -> dict[str, Any]:
    """A summary of the bank in `root`: states, stems, duration, size on disk, generator, build."""
    root = Path(root)
    m = load_manifest(root)
    sr = int(m["sample_rate"])
    stems = m.get("stems", [])
    seconds = sum(int(s["grid"]["frames"]) for s in stems) / sr
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    try:
        build = json.loads((root / BUILD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        build = {}
    states = {}
    for name, st in m.get("states", {}).items():
        mine = [s for s in stems if s["kind"] == "state" and s["name"] == name and s["tempo"] is None]
        states[name] = {
            "segments": {s["id"].split("/", 1)[1]: {"bars": s["grid"]["bars"], "bpm": s["grid"]["bpm"],
                                                    "seconds": round(s["grid"]["frames"] / sr, 3),
                                                    "loudness_lufs": s["loudness_lufs"]} for s in mine},
            "layers": st["layers"],
            "tempi": st.get("tempi", []),
        }
    return {
        "path": str(root),
        "name": m["graph"]["name"],
        "graph": m["graph"]["path"],
        "generator": m["generator"],
        "sample_rate": sr,
        "loudness": m["loudness"],
        "states": states,
        "stingers": sorted(m.get("stingers", {})),
        "bridges": sorted(m.get("bridges", {})),
        "stems": len(stems),
        "files": sum(len(s["files"]) for s in stems),
        "duration_seconds": round(seconds, 3),
        "size_bytes": size,
        "build_seconds": build.get("build_seconds"),
        "built_at": build.get("built_at"),
        "skipped": m.get("skipped", []),
    }
