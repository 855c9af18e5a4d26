"""The worker side of a build: one job = one generated stem (plus its tempo variants), rendered to
loudness-matched 24-bit FLAC bytes and a JSON-safe record.

`render_job` is a module-level function of picklable arguments, so the same job runs in this
process, in a `ProcessPoolExecutor` worker or on a Dask worker on another machine. It depends on
its job alone: the same job gives the same bytes wherever it runs.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from soundtrack.bank.loudness import match_loudness
from soundtrack.bank.store import encode_flac, layer_path, sha256_bytes
from soundtrack.errors import GenerationError, SoundtrackError
from soundtrack.generate.base import Generator, available, get_generator, register
from soundtrack.stem import Stem, StemSpec

_GENERATORS: dict[str, Generator] = {}  # one instance per process and reference


def resolve_generator(ref: str) -> Generator:
    """The generator `ref` names: a registered name, or ``"package.module:Factory"`` for one that
    is importable but not registered (it is registered under that reference on first use)."""
    gen = _GENERATORS.get(ref)
    if gen is None:
        if ref not in available() and ":" in ref:
            register(ref, ref)
        gen = get_generator(ref)
        for attr in ("name", "version"):
            if not isinstance(getattr(gen, attr, None), str):
                raise GenerationError(f"generator {ref!r} has no string `{attr}`; the bank's cache key needs it")
        _GENERATORS[ref] = gen
    return gen


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


@dataclass
class Rendered:
    """One finished stem: its JSON record and the FLAC bytes of each layer (by relative path)."""

    key: str
    record: dict[str, Any]
    files: dict[str, bytes]
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _json_safe(obj: Any) -> Any:
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


def finish_stem(stem: Stem, *, key: str, spec: StemSpec, target_lufs: float, ceiling_dbtp: float,
                generator: dict[str, str], tempo: Fraction | None = None) -> Rendered:
    """Loudness-match, quantize and encode `stem` as bank stem `key`."""
    sr = stem.sample_rate
    if sr != spec.sample_rate:
        raise GenerationError(f"generator {generator['name']!r} returned {sr} Hz for a {spec.sample_rate} Hz spec")
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
    """Run one job (see RenderJob); the base stem first, then its tempo variants in order."""
    gen = resolve_generator(job.generator)
    if (gen.name, gen.version) != (job.generator_name, job.generator_version):
        raise GenerationError(
            f"this worker's generator {job.generator!r} is {gen.name} {gen.version}, but the bank was planned with "
            f"{job.generator_name} {job.generator_version}; install the same version on every worker"
        )
    ident = {"name": gen.name, "version": gen.version}
    t0 = time.perf_counter()
    try:
        stem = gen.generate(job.spec)
    except GenerationError:
        raise
    except Exception as e:  # a generator bug must name the stem it failed on
        raise GenerationError(f"generator {gen.name!r} failed on {job.spec.role} {job.spec.prompt!r}: {type(e).__name__}: {e}") from e
    if set(stem.layers) != set(job.spec.layers):
        raise GenerationError(
            f"generator {gen.name!r} returned layers {sorted(stem.layers)} for a spec asking for {list(job.spec.layers)}"
        )
    out = [finish_stem(stem, key=job.key, spec=job.spec, target_lufs=job.target_lufs,
                       ceiling_dbtp=job.ceiling_dbtp, generator=ident)]
    if job.variants:
        from soundtrack.stretch import stretch_stem  # only planned when it exists

        for key, bpm in job.variants:
            try:
                stretched = stretch_stem(stem, bpm)
            except SoundtrackError as e:
                raise GenerationError(f"stretching to {bpm} bpm failed: {e}") from e
            out.append(finish_stem(stretched, key=key, spec=stretched.spec, target_lufs=job.target_lufs,
                                   ceiling_dbtp=job.ceiling_dbtp, generator=ident, tempo=bpm))
    seconds = time.perf_counter() - t0
    for r in out:
        r.seconds = seconds / len(out)
    return out
