"""Bank builds for the studio, never on the event loop: `Builder` runs on a worker thread.

- `open()`: the graph file and its bank (``loops/NAME`` unless told), built first when missing or
  stale, then every stem decoded (`StudioSource.prepare`), so playing reads nothing.
- `regenerate(state, changes)`: the state's keys edited in the file's text (`edit.edit_state`,
  comments kept), the file written, the bank brought up to date incrementally (only the stems
  whose cache keys changed are generated), the new stems decoded, and a new `Version` returned
  for `StudioSession.offer`. The whole build (its bookkeeping as well as the generation) runs
  in one worker process at a lower priority (`studio.worker`), started and warmed up (its imports
  done) as soon as the bank is open and kept for the next edit. Measured in the browser test: a
  build on a thread of the server, sharing the GIL with the audio thread, cost 22 underruns in one
  regeneration of a one-bar stem; a process started at the first edit still cost one (its imports
  at normal priority stalled the event loop for 287 ms); warmed up beforehand, none. When the
  build fails the file is put back as it was (unless someone else changed it meanwhile).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable

from soundtrack.bank import Bank, build_bank, default_out
from soundtrack.errors import BankError, BuildError
from soundtrack.files import atomic_path
from soundtrack.graph import parse_graph
from soundtrack.studio import worker
from soundtrack.studio.edit import edit_state
from soundtrack.studio.session import Version
from soundtrack.studio.source import StudioSource

Progress = Callable[[dict[str, Any]], None]




def _read(path: Path) -> str:
    try:
        from soundtrack.graph import read_graph_text  # the loader's own reading rules, where it has them
    except ImportError:  # pragma: no cover - older graph package
        return path.read_text(encoding="utf-8")
    return read_graph_text(path)


class Builder:
    """Opens and rebuilds one graph's bank (see the module docstring). Call from one thread."""

    def __init__(self, graph_path: str | Path, *, bank: str | Path | None = None) -> None:
        self.path = Path(graph_path)
        self._bank = Path(bank) if bank is not None else None
        self._pool: ProcessPoolExecutor | None = None
        self._busy = threading.Lock()
        self.number = 0
        self.root: Path | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")
            self._queue = ctx.Queue()
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=worker.init,
                                             initargs=(os.getpid(), self._queue))
        return self._pool

    def warm(self) -> None:
        """Start the worker process now (it imports at its lower priority), not at the first edit."""
        self._executor().submit(worker.warm)

    def _build(self, text: str, state: str | None, say: Progress) -> dict[str, Any]:
        """Build in the worker process, passing its progress on; returns its report."""
        import queue as queue_mod

        assert self.root is not None
        fut = self._executor().submit(worker.build, text, str(self.path), str(self.root), state)
        while True:
            try:
                say(self._queue.get(timeout=0.1))
                continue
            except queue_mod.Empty:
                pass
            if fut.done():
                break
        while True:  # what was put just before the end
            try:
                say(self._queue.get_nowait())
            except queue_mod.Empty:
                break
        return fut.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    @property
    def busy(self) -> bool:
        return self._busy.locked()

    def open(self, progress: Progress | None = None) -> Version:
        say = progress or (lambda d: None)
        with self._busy:
            text = _read(self.path)
            graph = parse_graph(text, path=str(self.path))
            self.root = self._bank or default_out(graph)
            try:
                bank = Bank(self.root, graph=graph)
            except BankError as e:
                say({"phase": "building", "message": f"bank {self.root} is missing or stale ({e}): building it"})
                build_bank(graph, out=self.root, progress=lambda p: say(_progress(p)))
                bank = Bank(self.root, graph=graph)
            say({"phase": "decoding", "message": f"decoding {len(bank)} stems"})
            source = StudioSource(bank)
            source.prepare()
            self.number += 1
            version = Version(text, graph, source, number=self.number)
            version.model()
            self.warm()
            return version

    def regenerate(self, state: str | None, changes: dict[str, Any], previous: Version,
                   progress: Progress | None = None) -> tuple[Version, dict[str, Any]]:
        """Edit `state` (None: take the file as it is on disk) and rebuild; see the module docstring."""
        say = progress or (lambda d: None)
        if not self._busy.acquire(blocking=False):
            raise BuildError("a regeneration is already running; wait for it to finish")
        try:
            t0 = time.perf_counter()
            base = _read(self.path)
            if state is None:
                text, graph = base, parse_graph(base, path=str(self.path))
            else:
                text, graph = edit_state(base, state, changes, path=str(self.path))
            if graph.name != previous.graph.name or graph.sample_rate != previous.graph.sample_rate:
                raise BuildError(f"{self.path}: the studio plays {previous.graph.name!r} at {previous.graph.sample_rate} Hz; "
                                 "a change of name or sample rate needs a restart of the studio")
            wrote = text != base
            if wrote:
                self._write(text)
            try:
                say({"phase": "building", "state": state, "message": f"generating the stems of {state or 'the graph'}"})
                report = self._build(text, state, say)
                say({"phase": "decoding", "state": state, "message": "decoding the new stems"})
                if self.root is None:
                    raise BuildError("the bank is not open yet: regenerate once the studio has loaded it")
                source = StudioSource(Bank(self.root, graph=graph), previous.source)
                decoded = source.prepare()
            except BaseException:
                if wrote and _read(self.path) == text:
                    self._write(base)  # the edit did not build: the file is as it was
                raise
            self.number += 1
            version = Version(text, graph, source, number=self.number)
            version.model()  # here, not on the event loop
            return version, {"state": state, "generated": report["generated"], "reused": report["reused"],
                             "decoded": decoded, "changed": sorted(source.changed_names(previous.source)),
                             "file_written": wrote, "seconds": round(time.perf_counter() - t0, 2),
                             "version": self.number}
        finally:
            self._busy.release()

    def _write(self, text: str) -> None:
        try:
            with atomic_path(self.path) as tmp:
                tmp.write_text(text, encoding="utf-8")
        except OSError as e:
            raise BuildError(f"{self.path}: cannot write the graph file: {e.strerror or e}") from None


def _progress(p: Any, state: str | None = None) -> dict[str, Any]:
    return {"phase": "building", "state": state, "event": p.event, "total": p.total, "done": p.done, "reused": p.reused,
            "generated": p.generated, "stem": p.stem, "elapsed": round(p.elapsed, 2)}
