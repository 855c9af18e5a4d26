"""Bring a composer's stems (WAV, FLAC, MP3, OGG) into a bank through the conform step.

Where the files are, for each graph item (first match wins):

- a state's ``files = {intro = "...", main = "...", outro = "..."}`` in the graph, paths relative
  to the graph file's folder;
- in the import folder: ``STATE.ROLE.EXT`` or ``STATE/ROLE.EXT`` (``ROLE`` = intro, main, outro;
  a main variant N > 0 as ``STATE.main.N.EXT``), ``NAME.stinger.EXT``, ``NAME.bridge.EXT``; EXT is
  wav, flac, mp3 or ogg.

What is declared about a file wins over detection: a JSON sidecar of the same name
(``explore.main.json``) may give ``tempo`` (bpm) and ``first_downbeat`` (seconds; or
``entry_frame`` with ``sample_rate``, as `soundtrack generate` writes), and the import call may
give both for every file. Whatever is not declared is detected (`soundtrack.beats`).

The target grid is the graph's tempo for the item (else the declared tempo, else the detected
one to 0.1 bpm); the musical length is every whole bar in the file (a composer's file says how
long it is), so the graph's bar counts are not imposed on files.

Bank integration, two ways. `soundtrack bank build` takes a state's ``files`` itself: `graph_sources`
gives one `FileSource` per segment (path, sha256, declaration), the stem's generator identity is
``files`` with a version hashing that file's bytes and declaration (so an edited file rebuilds
that stem only), and the worker calls `import_source`; so one graph can mix generated states and
composer files. `soundtrack bank import DIR` uses `FilesGenerator` is a generator (``name = "files"``) bound to a graph and a
folder; it answers the bank's ordinary specs with the matching file, so the bank's cache,
manifest and loudness matching are reused unchanged. Its `version` hashes every file's bytes and
declaration, so an edited file rebuilds.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from soundtrack.audio import as_frames, read_audio
from soundtrack.errors import AudioError, BankError, GenerationError
from soundtrack.files import sha256_file
from soundtrack.graph import Graph
from soundtrack.pitch import Key
from soundtrack.stem import Stem, StemSpec
from soundtrack.timing import Meter, parse_bpm

EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg")
IMPORT_VERSION = "1"
_MIX_LAYER_PREFERENCE = ("harmony", "bass")


@dataclass(frozen=True)
class Declared:
    """What is known about a file: its tempo (bpm) and first downbeat (seconds), each or neither."""

    tempo: Fraction | None = None
    first_downbeat: Fraction | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"tempo": None if self.tempo is None else str(self.tempo),
                "first_downbeat": None if self.first_downbeat is None else str(self.first_downbeat)}


def read_declaration(path: str | Path, *, tempo: Any = None, first_downbeat: Any = None) -> Declared:
    """The declaration for audio file `path`: its JSON sidecar, then `tempo` / `first_downbeat`
    given here (these win)."""
    p = Path(path)
    side = p.with_suffix(".json")
    d: dict[str, Any] = {}
    if side.is_file():
        try:
            d = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise BankError(f"{side}: cannot read the sidecar declaring {p.name}'s tempo: {e}") from None
        if not isinstance(d, dict):
            raise BankError(f"{side}: must be a JSON object such as {{\"tempo\": 120, \"first_downbeat\": 0.5}}")
    t = tempo if tempo is not None else d.get("tempo")
    fd = first_downbeat if first_downbeat is not None else d.get("first_downbeat")
    if fd is None and first_downbeat is None and "entry_frame" in d and "sample_rate" in d:
        fd = Fraction(int(d["entry_frame"]), int(d["sample_rate"]))
    try:
        bpm = None if t is None else parse_bpm(t if not isinstance(t, float) else repr(t))
        fdv = None if fd is None else Fraction(str(fd)) if not isinstance(fd, Fraction) else fd
    except (ValueError, ZeroDivisionError) as e:
        raise BankError(f"{p}: declared tempo={t!r} / first_downbeat={fd!r} are invalid: {e}") from None
    if fdv is not None and fdv < 0:
        raise BankError(f"{p}: first_downbeat={float(fdv):g} s must not be negative")
    return Declared(bpm, fdv)


def import_stem(
    path: str | Path,
    spec: StemSpec,
    *,
    declared: Declared = Declared(),
) -> Stem:
    """Read `path`, resample it to ``spec.sample_rate``, make it stereo and conform it to the grid.

    The grid's tempo is ``spec.tempo``, else the declared tempo, else the detected one (to 0.1
    bpm). The stem holds the whole file in one layer (`harmony` if the spec has it, else the
    first), the other layers silent; its key is ``spec.key`` or estimated from the audio.
    """
    from scipy.signal import resample_poly

    from soundtrack.beats import detect_beats
    from soundtrack.conform import conform

    p = Path(path)
    if p.suffix.lower() not in EXTENSIONS:
        raise BankError(f"{p}: unsupported audio type {p.suffix!r}; use one of {', '.join(EXTENSIONS)}")
    audio, sr = read_audio(p)
    if sr != spec.sample_rate:
        g = math.gcd(sr, spec.sample_rate)
        audio = resample_poly(audio.astype(np.float64), spec.sample_rate // g, sr // g, axis=0).astype(np.float32)
    x = as_frames(audio, 2)
    rate = spec.sample_rate
    meter = spec.meter or Meter()
    first = None if declared.first_downbeat is None else int(round(declared.first_downbeat * rate))
    target = spec.tempo or declared.tempo
    try:
        if target is None:
            bt = detect_beats(x, rate, beats_per_bar=meter.beats, first_downbeat=first)
            target = parse_bpm(Fraction(round(bt.bpm * 10), 10))
        audio_c, grid = conform(
            x, rate, role=spec.role, bpm=target, meter=meter, bars=None, first_downbeat=first,
            tempo_hint=declared.tempo, tempo_declared=declared.tempo is not None,
        )
    except AudioError as e:
        raise BankError(f"{p}: cannot conform to the grid: {e}") from None
    key = spec.key
    if key is None:
        try:
            from soundtrack.analysis import estimate_key

            key = estimate_key(audio_c[grid.entry : grid.exit], rate).key
        except Exception:  # silence or noise: no key to find
            key = Key.parse("C major")
    holder = next((x for x in _MIX_LAYER_PREFERENCE if x in spec.layers), spec.layers[0])
    layers = {n: (audio_c if n == holder else np.zeros_like(audio_c)) for n in spec.layers}
    meta = {"source_file": p.name, "declared": declared.to_dict(), "mix_layer": holder, "generator": "files"}
    return Stem.from_layers(spec, grid, layers, key=key, style="imported", meta=meta)


@dataclass(frozen=True)
class FileSource:
    """One composer file answering one bank segment: absolute `path`, its `sha256`, its declaration."""

    path: str
    sha256: str
    declared: Declared = Declared()

    @property
    def version(self) -> str:
        """The ``files`` generator version for this stem: the file's bytes and declaration."""
        digest = hashlib.sha256(json.dumps([self.sha256, self.declared.to_dict()], sort_keys=True).encode()).hexdigest()
        return f"{IMPORT_VERSION}+{digest[:16]}"


def graph_sources(graph: Graph) -> dict[tuple[str, str], FileSource]:
    """(state, role) -> FileSource for every state that names ``files`` (paths relative to the
    graph file's folder). Such a state's segments all come from files: its intro (when intro >
    0), main (one variant) and outro (when outro > 0). Raises BankError naming the state, the
    segment and the path when a file is missing or a segment has none."""
    base = Path(graph.path).parent
    out: dict[tuple[str, str], FileSource] = {}
    for s in graph.states.values():
        if not s.files:
            continue
        where = f"{graph.path}: [states.{s.name}]"
        if s.variants != 1:
            raise BankError(f"{where} variants = {s.variants}: a state made of files has one main loop; set variants = 1 "
                            "(or import several takes with soundtrack bank import DIR, as STATE.main.N.wav)")
        roles = [r for r, n in (("intro", s.intro), ("main", 1), ("outro", s.outro)) if n > 0]
        for role in roles:
            if role not in s.files:
                raise BankError(f"{where} has {'a main loop' if role == 'main' else f'{role} = {getattr(s, role)}'} but "
                                f"files has no {role} (it has {', '.join(sorted(s.files))}); add files.{role} = \"path\"")
            path = (base / s.files[role]).resolve()
            if not path.is_file():
                raise BankError(f"{where}.files.{role} = {s.files[role]!r}: no such file ({path})")
            if path.suffix.lower() not in EXTENSIONS:
                raise BankError(f"{where}.files.{role} = {s.files[role]!r}: unsupported audio type {path.suffix!r}; "
                                f"use one of {', '.join(EXTENSIONS)}")
            out[(s.name, role)] = FileSource(str(path), sha256_file(path), read_declaration(path))
    return out


def import_source(source: FileSource, spec: StemSpec) -> Stem:
    """`import_stem` for a planned FileSource, refusing a file changed since it was planned."""
    p = Path(source.path)
    try:
        now = sha256_file(p)
    except OSError as e:
        raise BankError(f"{p}: cannot read the composer file: {e.strerror}") from None
    if now != source.sha256:
        raise BankError(f"{p}: changed while the bank was building (sha256 differs from the plan); build again")
    return import_stem(p, spec, declared=source.declared)


def find_file(folder: Path, name: str, role: str, variant: int = 0) -> Path | None:
    """The file for item `name` / `role` (/ main variant) in `folder`, or None."""
    stems = [f"{name}.{role}.{variant}", f"{name}/{role}.{variant}"] if variant else [f"{name}.{role}", f"{name}/{role}"]
    for s in stems:
        for ext in EXTENSIONS:
            for e in (ext, ext.upper()):
                p = folder / f"{s}{e}"
                if p.is_file():
                    return p
    return None


class FilesGenerator:
    """A generator that answers the bank's specs for `graph` with files (see module docstring).

    `folder`: where ``STATE.ROLE.EXT`` files are looked for (graph `files` win). `tempo` and
    `first_downbeat` (seconds): declared for every file (sidecars are read otherwise). Raises
    BankError at construction, naming every file it looked for, when one is missing.
    """

    name = "files"

    def __init__(self, graph: Graph, folder: str | Path | None = None, *, tempo: Any = None, first_downbeat: Any = None) -> None:
        from soundtrack.bank.plan import plan_bank

        self.graph = graph
        self.folder = None if folder is None else Path(folder)
        if self.folder is not None and not self.folder.is_dir():
            raise BankError(f"{self.folder}: no such folder of stems to import")
        base = Path(graph.path).parent
        # the planner skips states that list `files`; here they are files by definition
        plain = replace(graph, states={k: replace(s, files={}) for k, s in graph.states.items()})
        plan = plan_bank(plain, generator="files", generator_name="files", generator_version="0")
        self._files: dict[str, tuple[Path, Declared]] = {}
        missing: list[str] = []
        for ps in plan.stems:
            if ps.base is not None:
                continue
            path: Path | None = None
            state = graph.states.get(ps.name) if ps.kind == "state" else None
            if state is not None and ps.role in state.files and ps.variant == 0:
                path = (base / state.files[ps.role]).resolve()
                if not path.is_file():
                    raise BankError(f"{graph.path}: [states.{ps.name}].files.{ps.role} = {state.files[ps.role]!r}: no such file ({path})")
            elif self.folder is not None:
                path = find_file(self.folder, ps.name, ps.role, ps.variant)
            if path is None:
                v = f".{ps.variant}" if ps.variant else ""
                where = self.folder or base
                missing.append(f"{where}/{ps.name}.{ps.role}{v}.{{wav,flac,mp3,ogg}}")
                continue
            self._files[ps.spec.canonical_json()] = (path, read_declaration(path, tempo=tempo, first_downbeat=first_downbeat))
        if missing:
            raise BankError(f"no stem file for {len(missing)} segment(s) of {graph.path}: expected " + ", ".join(missing))
        h = hashlib.sha256()
        for k in sorted(self._files):
            p, decl = self._files[k]
            h.update(json.dumps([k, sha256_file(p), decl.to_dict()]).encode())
        self.version = f"{IMPORT_VERSION}+{h.hexdigest()[:16]}"

    def files(self) -> list[Path]:
        return sorted({p for p, _ in self._files.values()})

    def generate(self, spec: StemSpec) -> Stem:
        try:
            path, declared = self._files[spec.canonical_json()]
        except KeyError:
            raise GenerationError(f"no imported file answers the {spec.role} spec {spec.prompt!r}") from None
        return import_stem(path, spec, declared=declared)


def import_bank(graph: Graph | str | Path, folder: str | Path, *, out: str | Path | None = None,
                tempo: Any = None, first_downbeat: Any = None) -> Any:
    """Build `graph`'s bank from files (see module docstring); returns the bank's BuildReport.

    Runs in this process: the files generator is registered here only, not in worker processes.
    """
    from soundtrack.bank import build_bank
    from soundtrack.generate import register
    from soundtrack.graph import load_graph

    g = graph if isinstance(graph, Graph) else load_graph(graph)
    gen = FilesGenerator(g, folder, tempo=tempo, first_downbeat=first_downbeat)
    ref = f"files:{gen.version}:{id(gen)}"
    register(ref, lambda: gen)
    # the planner skips states that list `files`; the generator answers for them
    plain = replace(g, states={k: replace(s, files={}) for k, s in g.states.items()})
    return build_bank(plain, out=out, jobs=1, generator=ref)
