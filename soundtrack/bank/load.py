"""`Bank`: a built loop bank opened for playback, stems loaded lazily on first use.

    bank = Bank("loops/dungeon", graph=load_graph("graphs/dungeon.toml"), sample_rate=48000)
    stem = bank.stem("explore", "main", 1)      # a Stem: float32 layers, their mix, its grid
    bank.stem("combat", "main", tempo=130)      # a tempo variant made at build time

Opening checks the manifest only (fast); a stem's files are read, hash-checked and decoded the
first time it is asked for, then kept.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from soundtrack.bank.store import sha256_bytes
from soundtrack.bank.verify import bank_info, load_manifest
from soundtrack.errors import BankError
from soundtrack.graph import Graph
from soundtrack.pitch import Key
from soundtrack.stem import Stem, StemGrid, StemSpec

_Index = tuple[str, str, int, Fraction | None]


def _spec_from_dict(d: dict[str, Any]) -> StemSpec:
    d = dict(d)
    if d.get("tempo") is not None:
        d["tempo"] = Fraction(d["tempo"])
    d["layers"] = tuple(d["layers"])
    return StemSpec(**d)


class Bank:
    """A loop bank on disk (see loops/README.md); implements the `StemSource` protocol.

    `graph`: when given, a bank built from other graph text is refused as stale. `sample_rate`:
    when given, a bank built for another rate is refused. `check_hashes`: compare each file's
    sha256 with the manifest as it is loaded (a corrupt file raises BankError, never plays).
    """

    def __init__(
        self, path: str | Path, *, graph: Graph | None = None, sample_rate: int | None = None, check_hashes: bool = True
    ) -> None:
        self.path = Path(path)
        self.manifest = load_manifest(self.path)
        self.check_hashes = check_hashes
        built_from = self.manifest["graph"]
        if graph is not None and graph.source_sha256 != built_from["source_sha256"]:
            raise BankError(
                f"{self.path}: stale: graph {graph.path} changed since the build (built from {built_from['path']}); "
                f"run: soundtrack bank build {graph.path} --out {self.path}"
            )
        if sample_rate is not None and sample_rate != self.sample_rate:
            raise BankError(
                f"{self.path}: built for sample_rate={self.sample_rate} Hz, not {sample_rate} Hz; set sample_rate = "
                f"{sample_rate} in the graph's [soundtrack] table and rebuild, or play at {self.sample_rate} Hz"
            )
        self._records: dict[_Index, dict[str, Any]] = {}
        for rec in self.manifest["stems"]:
            tempo = None if rec.get("tempo") is None else Fraction(rec["tempo"])
            self._records[(rec["name"], rec["role"], int(rec["variant"]), tempo)] = rec
        self._stems: dict[str, Stem] = {}

    # -- what the bank holds -------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.manifest["graph"]["name"])

    @property
    def sample_rate(self) -> int:
        return int(self.manifest["sample_rate"])

    @property
    def generator(self) -> dict[str, str]:
        return dict(self.manifest["generator"])

    @property
    def states(self) -> tuple[str, ...]:
        return tuple(self.manifest["states"])

    @property
    def stingers(self) -> tuple[str, ...]:
        return tuple(self.manifest["stingers"])

    @property
    def bridges(self) -> tuple[str, ...]:
        return tuple(self.manifest["bridges"])

    def variants(self, state: str) -> int:
        """How many main loops `state` has."""
        return int(self._state(state)["variants"])

    def tempi(self, state: str) -> tuple[Fraction, ...]:
        """The extra tempo variants built for `state` (bpm)."""
        return tuple(Fraction(t) for t in self._state(state)["tempi"])

    def __len__(self) -> int:
        return len(self._records)

    def info(self) -> dict[str, Any]:
        """The summary `soundtrack bank info` prints (see `bank_info`)."""
        return bank_info(self.path)

    # -- stems -----------------------------------------------------------------------------------
    def record(self, name: str, role: str, variant: int = 0, *, tempo: Fraction | int | None = None) -> dict[str, Any]:
        """The manifest record of one stem (grid, layers, loudness, files) without loading audio."""
        rec = self._records.get((name, role, variant, None))
        if tempo is not None and (rec is None or Fraction(tempo) != Fraction(rec["grid"]["bpm"])):
            rec = self._records.get((name, role, variant, Fraction(tempo)))
        if rec is None:
            raise BankError(f"{self.path}: no stem {self._describe(name, role, variant, tempo)}; {self._holdings(name)}")
        return rec

    def grid(self, name: str, role: str, variant: int = 0, *, tempo: Fraction | int | None = None) -> StemGrid:
        return StemGrid.from_dict(self.record(name, role, variant, tempo=tempo)["grid"])

    def stem(self, name: str, role: str, variant: int = 0, *, tempo: Fraction | int | None = None) -> Stem:
        """One stem, read from disk on first use. `tempo` picks a tempo variant (the state's own
        tempo, or None, gives the base stem)."""
        rec = self.record(name, role, variant, tempo=tempo)
        stem = self._stems.get(rec["key"])
        if stem is None:
            stem = self._load(rec)
            self._stems[rec["key"]] = stem
        return stem

    def _load(self, rec: dict[str, Any]) -> Stem:
        import soundfile as sf

        grid = StemGrid.from_dict(rec["grid"])
        layers: dict[str, np.ndarray] = {}
        for layer in rec["layers"]:
            f = rec["files"][layer]
            p = self.path / f["path"]
            hint = f"run: soundtrack bank verify {self.path}"
            try:
                data = p.read_bytes()
            except OSError as e:
                raise BankError(f"{p}: stem {rec['id']} layer {layer} cannot be read ({e.strerror}); {hint}") from None
            if self.check_hashes and sha256_bytes(data) != f["sha256"]:
                raise BankError(f"{p}: stem {rec['id']} layer {layer} is corrupt (sha256 differs from the manifest); {hint}")
            try:
                audio, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
            except (RuntimeError, sf.LibsndfileError) as e:
                raise BankError(f"{p}: stem {rec['id']} layer {layer} cannot be decoded: {e}; {hint}") from None
            if sr != grid.sample_rate or audio.shape != (grid.frames, int(rec["channels"])):
                raise BankError(
                    f"{p}: stem {rec['id']} layer {layer} is {sr} Hz {audio.shape}, the grid says {grid.sample_rate} Hz "
                    f"({grid.frames}, {rec['channels']}); {hint}"
                )
            layers[layer] = audio
        return Stem.from_layers(
            _spec_from_dict(rec["spec"]), grid, layers, key=Key.parse(rec["music_key"]), style=rec.get("style", ""),
            meta=dict(rec.get("meta", {})),
        )

    # -- messages --------------------------------------------------------------------------------
    def _state(self, state: str) -> dict[str, Any]:
        try:
            return self.manifest["states"][state]
        except KeyError:
            raise BankError(f"{self.path}: no state {state!r}; states are {', '.join(self.states) or 'none'}") from None

    @staticmethod
    def _describe(name: str, role: str, variant: int, tempo: Fraction | int | None) -> str:
        return f"{name} {role}" + (f" variant {variant}" if variant else "") + (f" at {tempo} bpm" if tempo else "")

    def _holdings(self, name: str) -> str:
        have = sorted(
            f"{n} {r}" + (f" {v}" if r == "main" else "") + (f" @{t}" if t is not None else "")
            for (n, r, v, t) in self._records if n == name
        )
        if have:
            return f"{name} has: {', '.join(have)}"
        return (f"the bank has states {', '.join(self.states) or 'none'}, stingers {', '.join(self.stingers) or 'none'}, "
                f"bridges {', '.join(self.bridges) or 'none'}")
