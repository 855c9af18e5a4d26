"""`soundtrack bank import DIR`: a bank built from a folder of composer files.

`FilesGenerator` is a generator (``name = "files"``) bound to a graph and a folder; it answers
the bank's ordinary specs with the matching file (`soundtrack.importer.find_file`, conformed by
`soundtrack.importer.import_stem`), so the bank's cache, manifest and loudness matching are
reused unchanged. Its `version` hashes every file's bytes and declaration, so an edited file
rebuilds. `import_bank` builds with it in this process.

It lives in the bank (which may use the importer's conform functions), so that the importer
never imports the bank: dependencies point one way.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from soundtrack.bank.build import BuildReport, build_bank
from soundtrack.bank.plan import plan_bank
from soundtrack.errors import BankError, GenerationError
from soundtrack.files import sha256_file
from soundtrack.graph import Graph
from soundtrack.importer import IMPORT_VERSION, Declared, find_file, import_stem, read_declaration
from soundtrack.stem import Stem, StemSpec


class FilesGenerator:
    """A generator that answers the bank's specs for `graph` with files (see module docstring).

    `folder`: where ``STATE.ROLE.EXT`` files are looked for (graph `files` win). `tempo` and
    `first_downbeat` (seconds): declared for every file (sidecars are read otherwise). Raises
    BankError at construction, naming every file it looked for, when one is missing.
    """

    name = "files"

    def __init__(self, graph: Graph, folder: str | Path | None = None, *, tempo: Any = None, first_downbeat: Any = None) -> None:
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
                tempo: Any = None, first_downbeat: Any = None) -> BuildReport:
    """Build `graph`'s bank from files (see module docstring); returns the bank's BuildReport.

    Runs in this process: the files generator is registered here only, not in worker processes.
    """
    from soundtrack.generate.base import register, unregister
    from soundtrack.graph import load_graph

    g = graph if isinstance(graph, Graph) else load_graph(graph)
    gen = FilesGenerator(g, folder, tempo=tempo, first_downbeat=first_downbeat)
    ref = f"files:{gen.version}:{id(gen)}"
    register(ref, lambda: gen)  # for this build only
    try:
        # the planner skips states that list `files`; the generator answers for them
        plain = replace(g, states={k: replace(s, files={}) for k, s in g.states.items()})
        return build_bank(plain, out=out, jobs=1, generator=ref)
    finally:
        unregister(ref)
