"""Planning a bank: every stem a graph needs, as (id, StemSpec), and its content-addressed key.

A stem's key is the sha256 of canonical JSON over everything that decides its bytes: the spec,
the generator's name and version, the sample rate, the loudness target and true-peak ceiling
(post-processing is part of the content), the storage codec and the bank format version. Two
builds that agree on all of these produce the same files, so a key that is already on disk is
reused and a key that changed is regenerated.

Seeds are derived per item with sha256 (never Python's `hash()`, which is salted per process)
from the item's own seed, its kind and its name, so editing one state never changes another
state's keys. All segments of one state share that seed: intro, main variants and outro are
told apart by `role` and `variant` in the spec (both in the key), and a shared seed keeps the
generator's own choices (key, tempo, style when the graph leaves them open) the same across
a state's segments.

Continuation (`chain=True`, for a generator with `generate_chain`, such as musicgen): a state's
segments are made together, each main continuing from the intro and the outro from main 0, so
a continuing stem's key also holds the key of the stem it continues from (`context`): a changed
intro rebuilds everything that follows it. Without continuation there is no `context` in the
key, so procedural keys are what they always were.

Composer files (a state's ``files``): such a state's segments are planned with generator
``files`` and a version that hashes the file's bytes and declaration
(`soundtrack.importer.graph_sources`; planning reads and hashes those files, and nothing else).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from soundtrack.graph import Graph
from soundtrack.importer import FileSource, graph_sources
from soundtrack.roles import Role
from soundtrack.stem import StemSpec
from soundtrack.stretch import STRETCH_VERSION

FORMAT = "soundtrack-bank"
FORMAT_VERSION = 2  # 2: a main loop's head and tail are stored apart (no fold); older banks rebuild
CODEC = {"container": "flac", "subtype": "PCM_24"}
TRUE_PEAK_CEILING_DBTP = -1.0

Kind = Literal["state", "stinger", "bridge"]


@dataclass(frozen=True)
class PlannedStem:
    """One stem the bank must hold.

    `id` is human-readable and unique in a bank (``explore/main/1``, ``combat/main/0@130``,
    ``treasure/stinger``); `key` is the content hash that names its files. A tempo variant has
    `tempo` (the target bpm) and `base` (the key of the stem it is stretched from).
    """

    id: str
    kind: Kind
    name: str
    role: str
    variant: int
    spec: StemSpec
    key: str
    tempo: Fraction | None = None
    base: str | None = None
    context: str | None = None  # key of the stem this one continues from (chained generation)
    source: FileSource | None = None  # a composer file: made by the `files` generator

    @property
    def generator(self) -> dict[str, str] | None:
        """The identity of what makes this stem when it is not the bank's generator (files)."""
        return None if self.source is None else {"name": "files", "version": self.source.version}


@dataclass(frozen=True)
class BankPlan:
    """Everything a build will make, in a stable order, plus what it had to leave out and why."""

    graph: Graph
    generator: str  # the name or "module:attr" reference workers instantiate
    generator_name: str  # the generator's own `name`
    generator_version: str
    sample_rate: int
    target_lufs: float
    ceiling_dbtp: float
    stems: tuple[PlannedStem, ...]
    skipped: tuple[str, ...] = ()
    stretch_version: str | None = None
    chain: bool = False  # state segments are generated together, continuing (generate_chain)
    generator_options: tuple[tuple[str, Any], ...] = ()  # constructor options, sorted by name

    def by_key(self) -> dict[str, PlannedStem]:
        return {p.key: p for p in self.stems}


def derive_seed(seed: int, kind: str, name: str) -> int:
    """A stable 31-bit seed for one graph item (the same in every process and on every machine)."""
    digest = hashlib.sha256(json.dumps([seed, kind, name]).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 2**31


def _sha256_json(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stem_key(
    spec: StemSpec,
    *,
    generator: str,
    generator_version: str,
    sample_rate: int,
    target_lufs: float,
    ceiling_dbtp: float = TRUE_PEAK_CEILING_DBTP,
    context: str | None = None,
) -> str:
    """The content key (64 hex digits) of a generated stem; see the module docstring. `context`:
    the key of the stem it continues from (absent from the hashed data when None)."""
    extra = {} if context is None else {"context": context}
    return _sha256_json(
        {
            **extra,
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "codec": CODEC,
            "spec": json.loads(spec.canonical_json()),
            "generator": {"name": generator, "version": generator_version},
            "sample_rate": sample_rate,
            "loudness": {"target_lufs": float(target_lufs), "true_peak_dbtp": float(ceiling_dbtp)},
        }
    )


def stretched_key(base_key: str, bpm: Fraction, *, stretch_version: str) -> str:
    """The content key of a tempo variant: its base stem's key, the target bpm, the stretcher."""
    return _sha256_json({"base": base_key, "bpm": str(Fraction(bpm)), "stretch_version": stretch_version})


def plan_bank(
    graph: Graph,
    *,
    generator: str,
    generator_name: str,
    generator_version: str,
    ceiling_dbtp: float = TRUE_PEAK_CEILING_DBTP,
    chain: bool = False,
    options: dict[str, Any] | None = None,
) -> BankPlan:
    """Every stem `graph` needs, in graph order: per state its intro, main variants, outro (and
    their tempo variants), then stingers, then bridges. No audio; the only files read are the
    composer files states name (hashed). `chain`: the generator continues a state's segments
    (see the module docstring). `options`: the generator's constructor options, carried to the
    workers (their effect on the audio is in `generator_version`)."""
    sr = graph.sample_rate
    stems: list[PlannedStem] = []
    sources = graph_sources(graph) if any(s.files for s in graph.states.values()) else {}

    def key_of(spec: StemSpec, *, context: str | None = None, source: FileSource | None = None) -> str:
        return stem_key(
            spec,
            generator="files" if source is not None else generator_name,
            generator_version=source.version if source is not None else generator_version,
            sample_rate=sr,
            target_lufs=graph.loudness,
            ceiling_dbtp=ceiling_dbtp,
            context=context,
        )

    for s in graph.states.values():
        seed = derive_seed(s.seed, "state", s.name)
        segments: list[tuple[Role, int, int]] = []
        if s.intro > 0:
            segments.append(("intro", s.intro, 0))
        segments.extend(("main", s.main, v) for v in range(s.variants))
        if s.outro > 0:
            segments.append(("outro", s.outro, 0))
        tempi = [t for t in s.tempi if t != s.tempo]
        chained = chain and not s.files
        keys: dict[tuple[str, int], str] = {}
        for role, bars, variant in segments:
            spec = StemSpec(
                prompt=s.prompt, role=role, bars=bars, tempo=s.tempo, meter=s.meter, key=s.key,
                layers=s.layers, seed=seed, variant=variant, sample_rate=sr,
            )
            sid = f"{s.name}/{role}" + (f"/{variant}" if role == "main" else "")
            # what generate_chain continues from: mains from the intro, the outro from main 0
            context = None
            if chained and role == "main":
                context = keys.get(("intro", 0))
            elif chained and role == "outro":
                context = keys.get(("main", 0))
            source = sources.get((s.name, role))
            key = keys[(role, variant)] = key_of(spec, context=context, source=source)
            stems.append(PlannedStem(sid, "state", s.name, role, variant, spec, key, context=context, source=source))
            for t in tempi:
                stems.append(
                    PlannedStem(
                        f"{sid}@{t}", "state", s.name, role, variant, spec,
                        stretched_key(key, t, stretch_version=STRETCH_VERSION), tempo=t, base=key,
                        source=source,
                    )
                )
    for st in graph.stingers.values():
        spec = StemSpec(
            prompt=st.prompt, role="stinger", bars=1, beats=st.beats, tempo=st.tempo, meter=st.meter, key=st.key,
            layers=st.layers, seed=derive_seed(st.seed, "stinger", st.name), sample_rate=sr,
        )
        stems.append(PlannedStem(f"{st.name}/stinger", "stinger", st.name, "stinger", 0, spec, key_of(spec)))
    for b in graph.bridges.values():
        spec = StemSpec(
            prompt=b.prompt, role="bridge", bars=b.bars, tempo=b.tempo, meter=b.meter, key=b.key,
            layers=b.layers, seed=derive_seed(b.seed, "bridge", b.name), sample_rate=sr,
        )
        stems.append(PlannedStem(f"{b.name}/bridge", "bridge", b.name, "bridge", 0, spec, key_of(spec)))
    return BankPlan(
        graph=graph,
        generator=generator,
        generator_name=generator_name,
        generator_version=generator_version,
        sample_rate=sr,
        target_lufs=graph.loudness,
        ceiling_dbtp=ceiling_dbtp,
        stems=tuple(stems),
        stretch_version=STRETCH_VERSION,
        chain=chain,
        generator_options=tuple(sorted((options or {}).items())),
    )
