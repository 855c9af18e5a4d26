"""The worker side of a build: one job = one generated stem (plus its tempo variants), rendered to
loudness-matched 24-bit FLAC bytes and a JSON-safe record. Two other kinds of job: a **chain**
(a whole state for a generator with `generate_chain`: intro, main variants, outro made in one
call, each continuing the one before) and an **import** (a composer file, conformed by
`soundtrack.importer.import_source`; no generator is instantiated).

`render_job` is a module-level function of picklable arguments, so the same job runs in this
process, in a `ProcessPoolExecutor` worker or on a Dask worker on another machine. It depends on
its job alone: the same job gives the same bytes wherever it runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from soundtrack.bank.loudness import match_loudness
from soundtrack.bank.manifest import MAX_STEM_SECONDS
from soundtrack.bank.store import encode_flac, layer_path, sha256_bytes
from soundtrack.errors import GenerationError, SoundtrackError
from soundtrack.generate.base import Generator, Options, resolve
from soundtrack.importer import FileSource
from soundtrack.stem import Stem, StemSpec
from soundtrack.stretch import stretch_stem


def can_chain(gen: Generator) -> bool:
    """Whether `gen` generates a state's segments as a continuing chain (`generate_chain`)."""
    return callable(getattr(gen, "generate_chain", None))


@dataclass(frozen=True)
class Link:
    """One segment of a chain job: its spec, its key and its tempo variants (key, bpm)."""

    spec: StemSpec
    key: str
    variants: tuple[tuple[str, Fraction], ...] = ()


@dataclass(frozen=True)
class RenderJob:
    """Generate `spec` with generator `generator` and finish it as stem `key` (and each
    (key, bpm) in `variants` as a time-stretched copy)."""

    generator: str
    generator_name: str
    generator_version: str
    spec: StemSpec
    key: str
    target_lufs: float
    ceiling_dbtp: float
    variants: tuple[tuple[str, Fraction], ...] = ()
    options: Options = ()
    source: FileSource | None = None  # an import job: this file, not the generator
    chain: tuple[Link, ...] = ()  # a chain job: these segments in order (spec/key are the first's)

    def links(self) -> tuple[Link, ...]:
        return self.chain or (Link(self.spec, self.key, self.variants),)


@dataclass
class Rendered:
    """One finished stem: its JSON record and the FLAC bytes of each layer (by relative path)."""

    key: str
    record: dict[str, Any]
    files: dict[str, bytes]


def _json_safe(obj: Any) -> Any:
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


def finish_stem(stem: Stem, *, key: str, spec: StemSpec, target_lufs: float, ceiling_dbtp: float,
                generator: dict[str, str], tempo: Fraction | None = None) -> Rendered:
    """Loudness-match, quantize and encode `stem` as bank stem `key`."""
    sr = stem.sample_rate
    if sr != spec.sample_rate:
        raise GenerationError(f"generator {generator['name']!r} returned {sr} Hz for a {spec.sample_rate} Hz spec")
    if stem.grid.frames > MAX_STEM_SECONDS * sr:
        raise GenerationError(
            f"generator {generator['name']!r} returned {stem.grid.frames / sr:.1f} s of audio for a {spec.role}; a bank "
            f"stem is at most {MAX_STEM_SECONDS} s (pickup, bars and tail): use fewer bars or a faster tempo"
        )
    layers = {name: stem.layers[name] for name in spec.layers}  # the graph's order, on every machine
    stored, ints, result = match_loudness(layers, sr, target_lufs=target_lufs, ceiling_dbtp=ceiling_dbtp)
    files: dict[str, bytes] = {}
    file_records: dict[str, dict[str, Any]] = {}
    for name, q in ints.items():
        data = encode_flac(q, sr)
        rel = layer_path(key, name)
        files[rel] = data
        file_records[name] = {"path": rel, "sha256": sha256_bytes(data), "bytes": len(data)}
    record = {
        "key": key,
        "spec": spec.to_dict(),
        "tempo": None if tempo is None else str(tempo),
        "grid": stem.grid.to_dict(),
        "channels": stem.channels,
        "layers": list(layers),
        "files": file_records,
        "loudness_lufs": result.loudness_lufs,
        "true_peak_dbtp": result.true_peak_dbtp,
        "gain_db": result.gain_db,
        "limited": result.limited,
        "music_key": str(stem.key),
        "style": stem.style,
        "meta": _json_safe(stem.meta),
        "generator": dict(generator),
    }
    return Rendered(key=key, record=record, files=files)


def render_job(job: RenderJob) -> list[Rendered]:
    """Run one job (see RenderJob): per segment, the base stem first, then its tempo variants."""
    if job.source is not None:
        from soundtrack.importer import import_source

        ident = {"name": "files", "version": job.source.version}
        stems = [import_source(job.source, job.spec)]
        name = "files"
    else:
        gen = resolve(job.generator, job.options)
        if (gen.name, gen.version) != (job.generator_name, job.generator_version):
            raise GenerationError(
                f"this worker's generator {job.generator!r} is {gen.name} {gen.version}, but the bank was planned with "
                f"{job.generator_name} {job.generator_version}; install the same version on every worker"
            )
        ident = {"name": gen.name, "version": gen.version}
        name = gen.name
        try:
            if job.chain:
                stems = list(gen.generate_chain([link.spec for link in job.chain]))  # type: ignore[attr-defined]
            else:
                stems = [gen.generate(job.spec)]
        except GenerationError:
            raise
        except Exception as e:  # a generator bug must name the stem it failed on
            raise GenerationError(f"generator {gen.name!r} failed on {job.spec.role} {job.spec.prompt!r}: {type(e).__name__}: {e}") from e
        if len(stems) != len(job.links()):
            raise GenerationError(f"generator {gen.name!r} returned {len(stems)} stems for a chain of {len(job.links())}")
    out: list[Rendered] = []
    for link, stem in zip(job.links(), stems):
        if set(stem.layers) != set(link.spec.layers):
            raise GenerationError(
                f"generator {name!r} returned layers {sorted(stem.layers)} for a spec asking for {list(link.spec.layers)}"
            )
        out.append(finish_stem(stem, key=link.key, spec=link.spec, target_lufs=job.target_lufs,
                               ceiling_dbtp=job.ceiling_dbtp, generator=ident))
        for key, bpm in link.variants:
            try:
                stretched = stretch_stem(stem, bpm)
            except SoundtrackError as e:
                raise GenerationError(f"stretching to {bpm} bpm failed: {e}") from e
            out.append(finish_stem(stretched, key=key, spec=stretched.spec, target_lufs=job.target_lufs,
                                   ceiling_dbtp=job.ceiling_dbtp, generator=ident, tempo=bpm))
    return out
