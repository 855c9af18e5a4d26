"""Whole files on disk: replaced all or nothing (`atomic_path`, `atomic_paths`), scratch space that
never outlives its job (`scratch_dir`), and files known by content (`sha256_file`).

A temporary file or folder is removed on any exception, and `exit_on_signals` turns SIGTERM and
SIGHUP into one (SIGINT already is one: KeyboardInterrupt), so a killed export leaves nothing
behind but what was there before.

Below both `soundtrack.audio` and `soundtrack.bank`, so either can use it without an import cycle.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PART_SUFFIX = ".part"  # temporary files are ``.NAME.XXXXXXXX.part`` beside NAME (bank.store cleans them up)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write; on a clean exit it becomes `path`.

    The temporary file already exists (writers that open by name overwrite it) and gets the
    mode a plain ``open(path, "w")`` would give (0o666 less the umask). On leaving the block
    it is fsynced and renamed over `path` (so `path` is the old file or the new one, never a
    half-written one); on any exception it is removed and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_beside(path)
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_paths(*paths: str | Path) -> Iterator[list[Path]]:
    """`atomic_path` for files that belong together (an episode and its music, a sidecar): yields
    one temporary path per target; only when the block exits cleanly are they all fsynced and
    renamed into place; on any exception every temporary is removed and every target left as it
    was."""
    targets = [Path(p) for p in paths]
    tmps: list[Path] = []
    try:
        for t in targets:
            t.parent.mkdir(parents=True, exist_ok=True)
            tmps.append(_create_beside(t))
        yield list(tmps)
        for tmp in tmps:
            fsync_path(tmp)
        for tmp, t in zip(tmps, targets):
            os.replace(tmp, t)
    except BaseException:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
        raise


@contextmanager
def scratch_dir(beside: str | Path) -> Iterator[Path]:
    """A new folder ``.NAME.XXXXXXXX.part`` beside `beside` for a job's scratch files (decoded
    voice, the float master), removed with its contents when the block exits, cleanly or not."""
    path = Path(beside)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        d = path.with_name(f".{path.name}.{secrets.token_hex(4)}{PART_SUFFIX}")
        try:
            d.mkdir()
        except FileExistsError:
            continue
        break
    else:
        raise FileExistsError(f"{path.parent}: cannot create a scratch folder for {path.name}")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


class Terminated(SystemExit):
    """Raised in the main thread by `exit_on_signals` when SIGTERM or SIGHUP arrives; its code is
    128 + the signal number, as a shell reports a killed process."""


@contextmanager
def exit_on_signals(signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGHUP)) -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise `Terminated` (a SystemExit) in the main
    thread instead of killing the process outright, so every `atomic_path`, `atomic_paths` and
    `scratch_dir` cleans up. Outside the main thread it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Terminated(128 + signum)

    old = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _create_beside(path: Path) -> Path:
    """A new empty file ``.NAME.XXXXXXXX.part`` beside `path`."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{PART_SUFFIX}")
        try:
            # not mkstemp: its 0o600 would stick to the renamed file; O_EXCL keeps the name ours
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"{path.parent}: cannot create a temporary file for {path.name}")


def fsync_path(path: str | Path) -> None:
    """Flush a file's data, or a directory's renames, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: str | Path) -> str:
    """The sha256 hex digest of the file at `path`, read 1 MiB at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


BANK_CACHE_ENV = "SOUNDTRACK_CACHE"  # overrides the cache folder (default: $XDG_CACHE_HOME/soundtrack)


def cache_root() -> Path:
    """Where banks without a writable home next to their graph go: $SOUNDTRACK_CACHE, else
    $XDG_CACHE_HOME/soundtrack, else ~/.cache/soundtrack."""
    env = os.environ.get(BANK_CACHE_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "soundtrack"


def bank_home(graph_path: str | Path | None, name: str) -> Path:
    """Where the bank of the graph file `graph_path` (named `name`) lives, whatever the current
    folder: the first that holds a bank (a manifest.json) of

    1. ``ROOT/loops/NAME`` when the graph sits in a folder called ``graphs`` beside a ``loops``
       folder (this repository's layout: graphs/podcast.toml -> loops/podcast),
    2. ``GRAPH_FOLDER/loops/NAME`` (next to the graph),
    3. the cache, keyed by the graph file's content: ``CACHE/banks/NAME-SHA16``;

    else the first of those to create (1 when the layout is there, else 2 when the graph's folder
    is writable, else 3). A graph with no file (parsed from text) keeps ``loops/NAME`` in the
    current folder."""
    if graph_path is None or not Path(graph_path).is_file():
        return Path("loops") / name
    g = Path(graph_path).resolve()
    candidates: list[Path] = []
    if g.parent.name == "graphs" and (g.parent.parent / "loops").is_dir():
        candidates.append(g.parent.parent / "loops" / name)
    candidates.append(g.parent / "loops" / name)
    cached = cache_root() / "banks" / f"{name}-{sha256_file(g)[:16]}"
    for c in candidates + [cached]:
        if (c / "manifest.json").is_file():
            return c
    if os.access(g.parent, os.W_OK) or candidates[0] != g.parent / "loops" / name:
        return candidates[0]
    return cached
