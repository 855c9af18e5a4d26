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
composer files. `soundtrack bank import DIR` is `soundtrack.bank.import_folder` (`FilesGenerator`,
`import_bank`), built on `find_file` and `import_stem` here.

This module is below the bank: the bank uses it, it never imports the bank.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from soundtrack.audio import as_frames, read_audio, resample
from soundtrack.errors import AudioError, BankError
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
    from soundtrack.beats import detect_beats
    from soundtrack.conform import conform

    p = Path(path)
    if p.suffix.lower() not in EXTENSIONS:
        raise BankError(f"{p}: unsupported audio type {p.suffix!r}; use one of {', '.join(EXTENSIONS)}")
    audio, sr = read_audio(p)
    audio = resample(audio, sr, spec.sample_rate)
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
