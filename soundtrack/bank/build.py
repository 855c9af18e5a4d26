"""Building a bank: plan, reuse what is on disk, generate the rest on an executor, commit.

Executors: `jobs=1` runs in this process; `jobs>1` a `ProcessPoolExecutor` (spawn context: safe
with threads, the same on every OS); `scheduler="tcp://HOST:PORT"` a Dask distributed cluster
(its `Client.get_executor()` is a `concurrent.futures.Executor`); or any `Executor` you pass.
Workers only compute: they return FLAC bytes and records, and this process alone writes the
bank, each file to a temporary name renamed into place, a stem's record after its audio, and the
manifest last. So the bank is the same bytes whatever the executor, the number of workers or
the order they finish in, and a build killed at any moment leaves only finished stems behind
valid names; the next build reuses them.

Jobs: one per stem (with its tempo variants) for a generator like the procedural one; one per
state for a generator with `generate_chain` (musicgen: the intro, then the mains continuing it,
then the outro continuing main 0; a state is remade whole when any of its stems is missing,
because a batch's audio depends on all of its specs); one per composer file for a state with
``files`` (conformed through `soundtrack.importer`), so a graph can mix generated and composed
states. Generator options (a graph's ``[generator]`` table, ``--model``) travel in every job and
construct the generator in each worker.

Safety: the folder is locked (`soundtrack.bank.lock`; a link or a hard-linked ``.lock`` is
refused, nothing is truncated) and probed for writing before anything is generated; stems
already on disk are reused only after their record is checked and every file re-hashed
(`finished_record`); the manifest keeps the graph's TOML text and no absolute path; workers die
with this process (`soundtrack.bank.workers`); a stems folder shared with other banks is pruned
only of what none of them uses (`soundtrack.bank.shared`).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from soundtrack.bank.lock import BankLock
from soundtrack.bank.manifest import MAX_RECORD_BYTES, check_record, read_manifest
from soundtrack.bank.plan import CODEC, FORMAT, FORMAT_VERSION, BankPlan, PlannedStem, plan_bank
from soundtrack.bank.render import Link, Rendered, RenderJob, can_chain, render_job
from soundtrack.bank.shared import ID_RE, StemsFolder, new_bank_id
from soundtrack.bank.store import (
    BUILD_INFO,
    MANIFEST,
    STEM_FILE_RE,
    STEMS,
    canonical_json,
    read_json,
    read_stem_file,
    record_path,
    remove_partials,
    sha256_bytes,
    write_atomic,
)
from soundtrack.errors import BankError, GenerationError, SoundtrackError
from soundtrack.files import PART_SUFFIX, fsync_path
from soundtrack.generate.base import resolve, validate_options
from soundtrack.graph import Graph, load_graph

if TYPE_CHECKING:
    from soundtrack.bank.load import Bank


@dataclass(frozen=True)
class Progress:
    """A build's progress, sent to the `progress` callback: once at "start" (after reuse is
    known), once per generated stem ("stem"), and at "finish"."""

    event: Literal["start", "stem", "finish"]
    total: int
    reused: int
    generated: int
    elapsed: float  # seconds since the build started
    stem: str | None = None  # the stem just finished (its id)

    @property
    def done(self) -> int:
        return self.reused + self.generated


@dataclass
class BuildReport:
    """What a build did. `unreferenced` are stem keys on disk the graph no longer needs (kept
    unless `prune`; then they are in `pruned`)."""

    path: Path
    stems: int
    generated: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    unreferenced: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    shared: list[str] = field(default_factory=list)  # not ours, on disk for other banks sharing stems/
    notes: list[str] = field(default_factory=list)  # e.g. why a prune deleted nothing
    bank_id: str = ""  # the bank folder's random id (build.json), its name in a shared stems folder
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    executor: str = ""


def default_out(graph: Graph) -> Path:
    """Where a graph's bank is by default, whatever the current folder (`files.bank_home`):
    ROOT/loops/NAME for graphs/NAME.toml beside loops/, else GRAPH_FOLDER/loops/NAME, else a cache
    keyed by the graph file's content."""
    from soundtrack.files import bank_home

    return bank_home(graph.path, graph.name)


def generator_options(graph: Graph, generator: str | None = None, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The constructor options for the build's generator: the graph's ``[generator]`` table when
    the generator is the graph's own (it configures that one), then `options` (the CLI's) on top.
    A `model` that names an existing folder becomes its absolute path (relative to the graph's
    folder for the graph's option, to the current one for the CLI's)."""
    ref = generator or graph.generator
    out: dict[str, Any] = {}
    if ref == graph.generator:
        if graph.generator_options:  # data the graph passes through: the generator checks and normalises it
            out.update(validate_options(ref, graph.generator_options, where=f"{graph.path}: [generator]"))
        m = out.get("model")
        if isinstance(m, str) and (Path(graph.path).parent / m).is_dir():
            out["model"] = str((Path(graph.path).parent / m).resolve())
    for k, v in (options or {}).items():
        if v is None:
            continue
        out[k] = str(Path(v).resolve()) if k == "model" and isinstance(v, str) and Path(v).is_dir() else v
    return out


def make_plan(graph: Graph, *, generator: str | None = None, options: dict[str, Any] | None = None) -> BankPlan:
    """The plan for `graph` with `generator` (default: the graph's) built with `options` (see
    `generator_options`), its version read from it; chained when it has `generate_chain`."""
    ref = generator or graph.generator
    opts = generator_options(graph, generator, options)
    gen = resolve(ref, opts)
    return plan_bank(graph, generator=ref, generator_name=gen.name, generator_version=gen.version,
                     chain=can_chain(gen), options=opts)


def finished_record(root: Path, key: str, *, sample_rate: int) -> dict[str, Any] | None:
    """The record of stem `key` if it is completely on disk (a well-formed record for that key,
    every file a plain file inside the bank with its recorded size and sha256), else None."""
    path = root / record_path(key)
    try:
        rec = read_json(path, what="stem record", limit=MAX_RECORD_BYTES)
        check_record(rec, path, "record", sample_rate=sample_rate, key=key)
        for f in rec["files"].values():
            if sha256_bytes(read_stem_file(root, f["path"], size=f["bytes"])) != f["sha256"]:
                return None
    except (BankError, OSError):
        return None
    return rec


def informational_path(path: str) -> str:
    """What a manifest says about where its graph came from: the path as given when it is
    relative and stays below the folder it was given from, else only the file name (a bank keeps
    no absolute path of the machine that built it; nothing ever opens this path)."""
    p = Path(path)
    parts = p.parts
    if p.is_absolute() or not parts or ".." in parts or p.drive:
        return p.name or "graph.toml"
    return p.as_posix()


def graph_text(g: Graph) -> str:
    """The TOML text `g` was parsed from, kept in the bank (self-contained: it plays from any
    folder). Read again from ``g.path`` and matched to ``g.source_sha256``."""
    import hashlib

    text = getattr(g, "source_text", None)
    if not isinstance(text, str):
        try:
            text = Path(g.path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise BankError(f"{g.path}: cannot read the graph's text to keep in the bank: {e}") from None
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != g.source_sha256:
        raise BankError(f"{g.path}: the graph file changed since it was loaded; load it again and rebuild")
    return text


def _probe_writable(root: Path) -> None:
    """BankError (one line) unless files can be created in `root` and `root/stems`."""
    for d in (root, root / STEMS):
        probe = d / f".probe.{os.getpid()}{PART_SUFFIX}"
        try:
            d.mkdir(parents=True, exist_ok=True)
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise BankError(f"{d}: cannot write to the bank folder ({e.strerror or e}); choose another --out or "
                            "make the folder writable") from None


def _estimate(job: RenderJob) -> float:
    """Rough seconds of music a job makes, to hand out long jobs first (better load balance)."""
    total = 0.0
    for link in job.links():
        s = link.spec
        beats = s.beats if s.beats is not None else s.bars * (s.meter.beats if s.meter else 4)
        total += float(beats * 60 / (s.tempo or 120)) * (1 + 2 * len(link.variants))
    return total


def _jobs_for(plan: BankPlan, done: set[str]) -> list[tuple[RenderJob, list[PlannedStem]]]:
    def variants_of(p: PlannedStem) -> list[PlannedStem]:
        return [v for v in plan.stems if v.base == p.key and v.key not in done]

    def job(p: PlannedStem, variants: list[PlannedStem], **kw: Any) -> RenderJob:
        return RenderJob(
            generator=plan.generator,
            generator_name=plan.generator_name,
            generator_version=plan.generator_version,
            spec=p.spec,
            key=p.key,
            target_lufs=plan.target_lufs,
            ceiling_dbtp=plan.ceiling_dbtp,
            variants=tuple((v.key, v.tempo) for v in variants if v.tempo is not None),
            options=plan.generator_options,
            source=p.source,
            **kw,
        )

    jobs = []
    chains: dict[str, list[PlannedStem]] = {}  # state -> its base stems, in plan order
    for p in plan.stems:
        if p.base is not None:
            continue
        if plan.chain and p.kind == "state" and p.source is None:
            chains.setdefault(p.name, []).append(p)
            continue
        variants = variants_of(p)
        if p.key in done and not variants:
            continue
        jobs.append((job(p, variants), [p, *variants]))
    for segs in chains.values():
        per = {p.key: variants_of(p) for p in segs}
        if all(p.key in done and not per[p.key] for p in segs):
            continue
        # the whole state again: finished stems come back bit-identical and are not rewritten
        links = tuple(Link(p.spec, p.key, tuple((v.key, v.tempo) for v in per[p.key] if v.tempo is not None))
                      for p in segs)
        jobs.append((job(segs[0], [], chain=links), [x for p in segs for x in (p, *per[p.key])]))
    jobs.sort(key=lambda jp: -_estimate(jp[0]))  # stable: ties keep plan order
    return jobs


def _commit(root: Path, r: Rendered) -> None:
    try:
        for rel, data in sorted(r.files.items()):
            write_atomic(root / rel, data)
        write_atomic(root / record_path(r.key), canonical_json(r.record))
    except OSError as e:
        raise BankError(f"{root}: cannot write stem {r.key[:12]}...: {e.strerror or e}") from None


def _probe(scheduler: str) -> None:
    """Fail fast on a malformed address or a closed port (Dask itself retries for its timeout)."""
    import socket
    from urllib.parse import urlsplit

    u = urlsplit(scheduler)
    if u.scheme not in ("tcp", "tls") or not u.hostname or u.port is None:
        raise BankError(f"scheduler={scheduler!r} must be a Dask scheduler address such as tcp://HOST:8786")
    try:
        socket.create_connection((u.hostname, u.port), timeout=10).close()
    except OSError as e:
        raise BankError(f"scheduler={scheduler!r}: cannot reach the Dask scheduler: {e}") from None


def _open_executor(jobs: int, scheduler: str | None) -> tuple[Executor | None, Callable[[], None], str]:
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise BankError("--scheduler needs Dask distributed: pip install 'soundtrack[cluster]'") from None
        _probe(scheduler)
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as e:
            raise BankError(f"scheduler={scheduler!r}: cannot reach the Dask scheduler: {e}") from None
        return client.get_executor(), client.close, f"dask {scheduler}"
    if jobs <= 1:
        return None, lambda: None, "serial"
    import multiprocessing

    from soundtrack.bank.workers import watch_parent

    # workers exit when this process dies, even by SIGKILL (no orphans)
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=watch_parent, initargs=(os.getpid(),))
    return pool, lambda: pool.shutdown(wait=True, cancel_futures=True), f"{jobs} processes"


def build_bank(
    graph: Graph | str | Path,
    *,
    out: str | Path | None = None,
    jobs: int | None = None,
    generator: str | None = None,
    scheduler: str | None = None,
    executor: Executor | None = None,
    prune: bool = False,
    progress: Callable[[Progress], None] | None = None,
    options: dict[str, Any] | None = None,
) -> BuildReport:
    """Build (or bring up to date) the loop bank of `graph` in `out` (default ``loops/NAME``).

    `jobs`: worker processes (default: all cores; 1 = in this process). `generator`: a registered
    name or ``"module:Factory"`` (default: the graph's). `scheduler`: a Dask scheduler address
    such as ``tcp://10.0.0.5:8786``; `executor`: any concurrent.futures executor instead. `prune`
    deletes stems on disk that the graph no longer needs and no other bank sharing the stems
    folder uses (`soundtrack.bank.shared`). `options`: generator constructor options
    on top of the graph's ``[generator]`` table, e.g. ``{"model": "facebook/musicgen-medium"}``
    (the CLI's --model). Raises BankError when another build holds the bank or the folder cannot
    be written (checked before anything is generated), GenerationError when a stem cannot be made
    (finished stems are kept).
    """
    t0 = time.perf_counter()
    g = graph if isinstance(graph, Graph) else load_graph(graph)
    root = Path(out) if out is not None else default_out(g)
    n_jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise BankError(f"jobs={jobs!r} must be a whole number of worker processes >= 1")
    plan = make_plan(g, generator=generator, options=options)
    report = BuildReport(path=root, stems=len(plan.stems), skipped=list(plan.skipped))
    emit = progress or (lambda p: None)

    text = graph_text(g)
    with BankLock(root, action="build"):
        _probe_writable(root)  # a read-only folder is refused before anything is generated
        remove_partials(root)
        try:
            old = {r["key"] for r in read_manifest(root)["stems"]}
        except BankError:
            old = set()
        wanted = {p.key for p in plan.stems}
        report.bank_id = _bank_id(root)
        with StemsFolder(root, report.bank_id) as folder:
            folder.register(wanted | old)  # before looking at the disk: a prune elsewhere keeps both
            records: dict[str, dict[str, Any]] = {}
            for p in plan.stems:
                rec = finished_record(root, p.key, sample_rate=plan.sample_rate)
                if rec is not None:
                    records[p.key] = rec
                    report.reused.append(p.id)
            work = _jobs_for(plan, set(records))
            emit(Progress("start", len(plan.stems), len(report.reused), 0, time.perf_counter() - t0))
            if work:
                report.executor = _run(work, root, records, report, n_jobs=n_jobs, scheduler=scheduler,
                                       executor=executor, emit=emit, t0=t0, total=len(plan.stems))
            _sync(root / STEMS)
            _unreferenced(root, folder, wanted, report, prune=prune)
            report.seconds = time.perf_counter() - t0
            try:
                write_atomic(root / BUILD_INFO, canonical_json(_build_info(plan, report, n_jobs)))
                write_atomic(root / MANIFEST, canonical_json(manifest_for(plan, records, graph_text=text)))
            except OSError as e:
                raise BankError(f"{root}: cannot write the manifest: {e.strerror or e}") from None
            _sync(root)
            folder.register(wanted)  # the new manifest is down: the old keys are no longer ours
    report.seconds = time.perf_counter() - t0
    emit(Progress("finish", len(plan.stems), len(report.reused), len(report.generated), report.seconds))
    return report


def _bank_id(root: Path) -> str:
    """The bank folder's id from its build.json, or a new one (see `soundtrack.bank.shared`)."""
    try:
        old = read_json(root / BUILD_INFO, what="build info").get("bank_id")
    except BankError:
        old = None
    return old if isinstance(old, str) and ID_RE.match(old) else new_bank_id()


def _sync(d: Path) -> None:
    try:
        fsync_path(d)  # makes the renames durable
    except OSError as e:
        raise BankError(f"{d}: cannot sync the bank folder: {e.strerror or e}") from None


def _unreferenced(root: Path, folder: StemsFolder, wanted: set[str], report: BuildReport, *, prune: bool) -> None:
    """Stems on disk this bank does not use: kept as cache, or pruned when no bank sharing the
    stems folder uses them either (see `soundtrack.bank.shared`)."""
    on_disk = {m["key"] for f in (root / STEMS).iterdir() if (m := STEM_FILE_RE.match(f.name))}
    mine = on_disk - wanted
    try:
        others = folder.others()
    except BankError as e:
        if prune and mine:
            report.notes.append(f"nothing pruned: {e}")
            prune = False
        others = set()
    report.shared = sorted(mine & others)
    report.unreferenced = sorted(mine - others)
    if not (prune and report.unreferenced):
        return
    if not folder.try_exclusive():
        report.notes.append(f"nothing pruned: another build is using {root / STEMS} (shared); run --prune again later")
        return
    others = folder.others()  # again, now that no build can register meanwhile
    report.pruned = folder.delete(set(report.unreferenced) - others)
    report.unreferenced = sorted(set(report.unreferenced) - set(report.pruned))


def _run(work: list[tuple[RenderJob, list[PlannedStem]]], root: Path, records: dict[str, dict[str, Any]],
         report: BuildReport, *, n_jobs: int, scheduler: str | None, executor: Executor | None,
         emit: Callable[[Progress], None], t0: float, total: int) -> str:
    """Generate every job and commit each result as it arrives; returns the executor's name."""
    ids = {p.key: p.id for _, ps in work for p in ps}

    def accept(results: list[Rendered]) -> None:
        for r in results:
            if r.key in records:
                continue  # a base stem redone only for its tempo variants: already on disk
            _commit(root, r)
            records[r.key] = r.record
            report.generated.append(ids[r.key])
            emit(Progress("stem", total, len(report.reused), len(report.generated), time.perf_counter() - t0, ids[r.key]))

    close: Callable[[], None] = lambda: None
    name = "executor"
    if executor is None:
        executor, close, name = _open_executor(min(n_jobs, len(work)), scheduler)  # no idle workers
    try:
        if executor is None:
            for job, planned in work:
                accept(_guarded(job, planned))
            return name
        futures: dict[Future, list[PlannedStem]] = {executor.submit(render_job, job): planned for job, planned in work}
        pending = set(futures)
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in sorted(finished, key=lambda f: futures[f][0].id):
                    accept(_result(fut, futures[fut]))
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
        return name
    finally:
        close()


def _guarded(job: RenderJob, planned: list[PlannedStem]) -> list[Rendered]:
    try:
        return render_job(job)
    except SoundtrackError as e:
        raise GenerationError(f"stem {planned[0].id}: {e}") from e


def _result(fut: Future, planned: list[PlannedStem]) -> list[Rendered]:
    try:
        return fut.result()
    except SoundtrackError as e:
        raise GenerationError(f"stem {planned[0].id}: {e}") from e
    except Exception as e:  # a worker that died (BrokenProcessPool) or a lost cluster worker
        raise GenerationError(f"stem {planned[0].id}: the worker failed: {type(e).__name__}: {e}") from e


def manifest_for(plan: BankPlan, records: dict[str, dict[str, Any]], *, graph_text: str) -> dict[str, Any]:
    """The manifest: deterministic (no times, no hosts, no absolute paths), so equal banks have
    equal manifests; self-contained (the graph's TOML text is in it)."""
    from soundtrack import __version__

    g = plan.graph
    built_tempi: dict[str, list[str]] = {}
    stems = []
    for p in plan.stems:
        rec = dict(records[p.key])
        rec.update({"id": p.id, "kind": p.kind, "name": p.name, "role": p.role, "variant": p.variant,
                    "tempo": None if p.tempo is None else str(p.tempo), "base": p.base})
        if p.context is not None:  # only chained stems carry these keys: older manifests are unchanged
            rec["context"] = p.context
        if p.source is not None:
            rec["source"] = {"file": g.states[p.name].files[p.role], "sha256": p.source.sha256,
                             "declared": p.source.declared.to_dict()}
        stems.append(rec)
        if p.tempo is not None and str(p.tempo) not in built_tempi.setdefault(p.name, []):
            built_tempi[p.name].append(str(p.tempo))
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_by": f"soundtrack {__version__}",
        "graph": {"name": g.name, "path": informational_path(g.path), "source_sha256": g.source_sha256,
                  "text": graph_text},
        "sample_rate": plan.sample_rate,
        "generator": {"name": plan.generator_name, "version": plan.generator_version},
        "loudness": {"target_lufs": plan.target_lufs, "true_peak_dbtp": plan.ceiling_dbtp},
        "codec": dict(CODEC),
        "states": {
            s.name: _state_entry(s, plan, records, built_tempi.get(s.name, []))
            for s in g.states.values() if any(p.kind == "state" and p.name == s.name for p in plan.stems)
        },
        "stingers": {s.name: {"beats": s.beats, "layers": list(s.layers)} for s in g.stingers.values()},
        "bridges": {b.name: {"bars": b.bars, "layers": list(b.layers)} for b in g.bridges.values()},
        "skipped": list(plan.skipped),
        "stems": stems,
    }


def _state_entry(s: Any, plan: BankPlan, records: dict[str, dict[str, Any]], tempi: list[str]) -> dict[str, Any]:
    """A state's manifest entry; a state of composer files has the bar counts its files gave."""
    entry = {"intro": s.intro, "main": s.main, "variants": s.variants, "outro": s.outro,
             "layers": list(s.layers), "tempi": tempi}
    if s.files:
        bars = {p.role: int(records[p.key]["grid"]["bars"]) for p in plan.stems
                if p.kind == "state" and p.name == s.name and p.base is None}
        entry.update({"intro": bars.get("intro", 0), "main": bars["main"], "outro": bars.get("outro", 0),
                      "files": dict(sorted(s.files.items()))})
    return entry


def _build_info(plan: BankPlan, report: BuildReport, jobs: int) -> dict[str, Any]:
    from soundtrack import __version__

    return {
        "bank_id": report.bank_id,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(report.seconds, 3),
        "created_by": f"soundtrack {__version__}",
        "executor": report.executor or "none (everything reused)",
        "jobs": jobs,
        "generated": len(report.generated),
        "reused": len(report.reused),
        "pruned": len(report.pruned),
        "unreferenced": len(report.unreferenced),
        "generator": {"name": plan.generator_name, "version": plan.generator_version,
                      "options": {k: v for k, v in plan.generator_options}, "chain": plan.chain},
    }


def open_bank(target: Graph | str | Path, *, bank: str | Path | None = None, build_missing: bool = True,
              say: Callable[[str], None] | None = None, preload: bool = False) -> tuple[Graph, Bank]:
    """(graph, bank) for playing `target`: a Graph or graph .toml (its bank at `bank`, default
    ``loops/NAME``, built first, incrementally, when missing or stale and `build_missing`), or a
    bank directory (self-contained: its graph is the text its manifest keeps; no other file is
    read). `preload`: decode every stem now (`Bank.preload`), so that playing reads nothing."""
    from soundtrack.bank.load import Bank

    if not isinstance(target, Graph):
        p = Path(target)
        if p.is_dir():
            b = Bank(p)
            if preload:
                b.preload()
            return b.graph, b
        if p.suffix != ".toml" or not p.is_file():
            raise BankError(f"{p}: expected a graph .toml file or a bank directory (soundtrack bank build GRAPH --out DIR)")
        target = load_graph(p)
    graph = target
    root = Path(bank) if bank is not None else default_out(graph)
    try:
        b = Bank(root, graph=graph)
    except BankError as e:
        if not build_missing:
            raise BankError(f"{e}; run: soundtrack bank build {graph.path}") from None
        (say or (lambda m: None))(f"bank {root} for {graph.path} is missing or stale ({e}): building it now")
        build_bank(graph, out=root)
        b = Bank(root, graph=graph)
    if preload:
        b.preload()
    return graph, b
