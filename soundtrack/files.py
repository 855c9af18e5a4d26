"""Whole files on disk: replaced all or nothing (`atomic_path`) and known by content (`sha256_file`).

Below both `soundtrack.audio` and `soundtrack.bank`, so either can use it without an import cycle.
"""

from __future__ import annotations

import hashlib
import os
import secrets
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
