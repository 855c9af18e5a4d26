"""`Bank`: a built loop bank opened for playback; stems decoded on first use, or all up front.

    bank = Bank("loops/dungeon", sample_rate=48000)   # self-contained: bank.graph is in it
    bank.grid("explore", "main", 1)             # from the manifest: no audio is read
    bank.preload()                              # decode everything a session can need, now
    stem = bank.stem("explore", "main", 1)      # a Stem: float32 layers, their mix, its grid
    bank.stem("combat", "main", tempo=130)      # a tempo variant made at build time

Opening reads and checks the manifest only (fast; see `soundtrack.bank.manifest`). A stem's
files are read (only ``stems/KEY.LAYER.flac``, never through a link), hash-checked, their FLAC
header compared with the record *before* decoding, decoded to exactly the recorded length, and
kept. The decoded audio a bank holds is capped (`max_bytes`, default
`DEFAULT_MAX_DECODED_BYTES`): a stem that would pass the cap is refused with a BankError, and
`preload` refuses up front, from the manifest alone, when everything would not fit.
"""

from __future__ import annotations

import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from soundtrack.bank.manifest import decoded_bytes, spec_from_dict
from soundtrack.bank.store import MANIFEST, flac_streaminfo, read_stem_file, sha256_bytes
from soundtrack.bank.verify import PCM_BITS, bank_info, load_manifest
from soundtrack.errors import BankError, SoundtrackError
from soundtrack.graph import Graph
from soundtrack.pitch import Key
from soundtrack.stem import Stem, StemGrid

_Index = tuple[str, str, int, Fraction | None]

#: The most decoded audio (float32 layers and mixes) one Bank holds: 2 GiB. The dungeon bank
#: (48 kHz, 4 layers) needs about 0.45 GB; pass `max_bytes` for more.
DEFAULT_MAX_DECODED_BYTES = 2 << 30
_PRELOAD_THREADS = 4  # libsndfile and hashlib release the GIL: decode a few stems at once


class Bank:
    """A loop bank on disk (see loops/README.md); implements the `StemSource` protocol.

    `graph`: when given, a bank built from other graph text is refused as stale (without it,
    `bank.graph` is the graph the bank was built from, parsed from the text it keeps).
    `sample_rate`: when given, a bank built for another rate is refused. `check_hashes`: compare
    each file's sha256 with the manifest as it is loaded (a corrupt file raises BankError, never
    plays). `max_bytes`: the cap on decoded audio held (see module doc).
    """

    def __init__(
        self, path: str | Path, *, graph: Graph | None = None, sample_rate: int | None = None, check_hashes: bool = True,
        max_bytes: int = DEFAULT_MAX_DECODED_BYTES,
    ) -> None:
        self.path = Path(path)
        self.manifest = load_manifest(self.path)
        self.check_hashes = check_hashes
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise TypeError(f"max_bytes must be a non-negative int, got {max_bytes!r}")
        self.max_bytes = max_bytes
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
            tempo = None if rec["tempo"] is None else Fraction(rec["tempo"])
            self._records[(rec["name"], rec["role"], int(rec["variant"]), tempo)] = rec
        self._graph = graph
        self._grids: dict[str, StemGrid] = {}
        self._stems: dict[str, Stem] = {}
        self._held = 0  # decoded bytes in _stems
        self._loading = threading.Lock()

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

    @property
    def graph(self) -> Graph:
        """The graph this bank was built from, parsed from the TOML text the manifest keeps (so a
        bank plays from any folder on any machine); the graph given to the constructor, if any."""
        if self._graph is None:
            self._graph = graph_of(self.path, self.manifest)
        return self._graph

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

    @property
    def decoded_bytes(self) -> int:
        """Bytes of decoded audio this bank holds now."""
        return self._held

    def needed_bytes(self) -> int:
        """Bytes of decoded audio every stem of the bank takes (from the manifest, no decoding)."""
        return sum(decoded_bytes(r) for r in {r["key"]: r for r in self._records.values()}.values())

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
        """A stem's grid, from the manifest: no audio is read or decoded."""
        rec = self.record(name, role, variant, tempo=tempo)
        g = self._grids.get(rec["key"])
        if g is None:
            g = self._grids[rec["key"]] = StemGrid.from_dict(rec["grid"])
        return g

    def stem(self, name: str, role: str, variant: int = 0, *, tempo: Fraction | int | None = None) -> Stem:
        """One stem, read from disk on first use (or by `preload`). `tempo` picks a tempo variant
        (the state's own tempo, or None, gives the base stem)."""
        rec = self.record(name, role, variant, tempo=tempo)
        stem = self._stems.get(rec["key"])
        if stem is None:
            with self._loading:
                stem = self._stems.get(rec["key"])
                if stem is None:
                    self._reserve(decoded_bytes(rec), f"stem {rec['id']}")
                    stem = self._load(rec)
                    self._keep(rec, stem)
        return stem

    def preload(self, *, max_bytes: int | None = None) -> int:
        """Decode every stem a session can need (every stem in the bank) now, so that no later
        `stem()` reads or decodes anything; returns the decoded bytes held.

        Refuses up front, before decoding anything, when the bank needs more than `max_bytes`
        (default: the bank's cap, `DEFAULT_MAX_DECODED_BYTES` unless given to the constructor).
        Decodes a few stems at a time on threads; the result is the same as loading them one by one.
        """
        cap = self.max_bytes if max_bytes is None else max_bytes
        todo = {r["key"]: r for r in self._records.values() if r["key"] not in self._stems}
        need = self._held + sum(decoded_bytes(r) for r in todo.values())
        if need > cap:
            raise BankError(
                f"{self.path}: preloading needs {need / 1e6:.1f} MB of decoded audio, over the cap of "
                f"{cap / 1e6:.1f} MB; open the bank with a larger max_bytes, or play it without preloading"
            )
        with self._loading:
            recs = [r for k, r in todo.items() if k not in self._stems]
            if len(recs) > 1:
                with ThreadPoolExecutor(max_workers=min(_PRELOAD_THREADS, os.cpu_count() or 1, len(recs))) as pool:
                    stems = list(pool.map(self._load, recs))
            else:
                stems = [self._load(r) for r in recs]
            for rec, stem in zip(recs, stems):
                self._keep(rec, stem)
        return self._held

    def _reserve(self, n: int, what: str) -> None:
        if self._held + n > self.max_bytes:
            raise BankError(
                f"{self.path}: {what} decodes to {n / 1e6:.1f} MB; with the {self._held / 1e6:.1f} MB already held that "
                f"passes the cap of {self.max_bytes / 1e6:.1f} MB (Bank(max_bytes=...))"
            )

    def _keep(self, rec: dict[str, Any], stem: Stem) -> None:
        self._stems[rec["key"]] = stem
        self._held += decoded_bytes(rec)

    def _load(self, rec: dict[str, Any]) -> Stem:
        import soundfile as sf

        grid = StemGrid.from_dict(rec["grid"])
        channels = int(rec["channels"])
        layers: dict[str, np.ndarray] = {}
        hint = f"run: soundtrack bank verify {self.path}"
        for layer in rec["layers"]:
            f = rec["files"][layer]
            p = self.path / f["path"]
            what = f"{p}: stem {rec['id']} layer {layer}"
            try:
                data = read_stem_file(self.path, f["path"], size=f["bytes"])
            except OSError as e:
                raise BankError(f"{what} cannot be read ({e.strerror or e}); {hint}") from None
            except BankError as e:
                raise BankError(f"{what}: {str(e).rsplit(': ', 1)[-1]}; {hint}") from None
            if self.check_hashes and sha256_bytes(data) != f["sha256"]:
                raise BankError(f"{what} is corrupt (sha256 differs from the manifest); {hint}")
            info = flac_streaminfo(data)
            want = (grid.sample_rate, channels, PCM_BITS, grid.frames)
            if info != want:  # checked before decoding: a file cannot decode to more than its record says
                got = "not a FLAC file" if info is None else f"{info[0]} Hz, {info[1]} channels, {info[2]} bits, {info[3]} frames"
                raise BankError(f"{what} is {got}; the record says {want[0]} Hz, {want[1]} channels, 24 bits, "
                                f"{want[3]} frames; {hint}")
            try:
                with sf.SoundFile(io.BytesIO(data)) as snd:
                    audio = snd.read(frames=grid.frames, dtype="float32", always_2d=True)
            except (RuntimeError, sf.LibsndfileError) as e:
                raise BankError(f"{what} cannot be decoded: {e}; {hint}") from None
            if audio.shape != (grid.frames, channels):
                raise BankError(f"{what} decodes to {audio.shape}, the grid says ({grid.frames}, {channels}); {hint}")
            layers[layer] = audio
        try:
            return Stem.from_layers(
                spec_from_dict(rec["spec"]), grid, layers, key=Key.parse(rec["music_key"]), style=rec.get("style", ""),
                meta=dict(rec.get("meta", {})),
            )
        except (SoundtrackError, ValueError, TypeError) as e:
            raise BankError(f"{self.path / MANIFEST}: stem {rec['id']} cannot be assembled: {e}") from None

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


def graph_of(root: Path, manifest: dict[str, Any]) -> Graph:
    """The graph a checked manifest keeps (``graph.text``), parsed and matched to the manifest.
    Its `path` is the manifest's (messages name it); BankError (one line) when it does not parse
    or names other states, stingers or bridges than the bank holds."""
    from soundtrack.graph import parse_graph

    where = Path(root) / MANIFEST
    try:
        g = parse_graph(manifest["graph"]["text"], path=f"{where}: graph.text")
    except SoundtrackError as e:
        raise BankError(f"{str(e).splitlines()[0][:300]}") from None
    except (RecursionError, MemoryError, ValueError, TypeError) as e:
        raise BankError(f"{where}: graph.text cannot be parsed: {type(e).__name__}") from None
    for kind, have in (("states", g.states), ("stingers", g.stingers), ("bridges", g.bridges)):
        if sorted(have) != sorted(manifest[kind]):
            raise BankError(f"{where}: graph.text has {kind} {', '.join(sorted(have)) or 'none'}, the manifest "
                            f"{', '.join(sorted(manifest[kind])) or 'none'}; rebuild the bank")
    if g.sample_rate != manifest["sample_rate"]:
        raise BankError(f"{where}: graph.text says sample_rate = {g.sample_rate}, the manifest {manifest['sample_rate']}")
    return g
