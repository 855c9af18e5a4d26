"""The bank on disk: file names, atomic writes, FLAC bytes, JSON records and the build lock.

Layout of a bank folder (see loops/README.md):

    manifest.json          what the bank holds; written last, it is the build's commit point
    build.json             how and when it was built (time, jobs, counts): not content
    .lock                  held (flock) by a running build; holds that build's PID
    stems/KEY.LAYER.flac   one stereo 24-bit FLAC per layer of a stem
    stems/KEY.json         the stem's record, written after its audio: a finished stem
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from soundtrack.errors import BankError
from soundtrack.files import PART_SUFFIX, atomic_path
from soundtrack.files import fsync_path as fsync_dir  # makes renames inside a folder durable

MANIFEST = "manifest.json"
BUILD_INFO = "build.json"
LOCK = ".lock"
STEMS = "stems"
KEY_RE = re.compile(r"^[0-9a-f]{64}$")
STEM_FILE_RE = re.compile(r"^(?P<key>[0-9a-f]{64})(?:\.(?P<layer>[A-Za-z_][A-Za-z0-9_\-]*)\.flac|\.json)$")


def layer_path(key: str, layer: str) -> str:
    """A layer file's path relative to the bank folder (always with forward slashes)."""
    return f"{STEMS}/{key}.{layer}.flac"


def record_path(key: str) -> str:
    return f"{STEMS}/{key}.json"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON: sorted keys, fixed indentation, a final newline."""
    return (json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` all or nothing: a temporary name beside it, fsynced, renamed over it."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def encode_flac(pcm24: np.ndarray, sample_rate: int) -> bytes:
    """24-bit FLAC bytes of int32 samples in [-2^23, 2^23) (frames, channels). Deterministic."""
    import soundfile as sf

    buf = io.BytesIO()
    # libsndfile stores the top 24 bits of an int32 sample
    sf.write(buf, np.ascontiguousarray(pcm24.astype(np.int32) << 8), sample_rate, format="FLAC", subtype="PCM_24")
    return buf.getvalue()


def read_json(path: Path, *, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BankError(f"{path}: {what} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BankError(f"{path}: {what} cannot be read: {e}") from None
    if not isinstance(data, dict):
        raise BankError(f"{path}: {what} must be a JSON object")
    return data


def remove_partials(root: Path) -> list[Path]:
    """Delete temporary files a killed build left behind (only ever ours: ``.NAME.*.part``)."""
    removed = []
    for d in (root, root / STEMS):
        if d.is_dir():
            for p in d.iterdir():
                if p.name.startswith(".") and p.name.endswith(PART_SUFFIX) and p.is_file():
                    p.unlink(missing_ok=True)
                    removed.append(p)
    return removed


class BankLock:
    """An exclusive, non-blocking `flock` on ``DIR/.lock`` for as long as a build runs.

    The kernel drops the lock when the holder dies (even by SIGKILL), so a stale lock file never
    blocks the next build. The file holds the holder's PID for the message the second gets.
    """

    def __init__(self, root: Path, *, action: str = "build") -> None:
        self.root = Path(root)
        self.action = action
        self._fd: int | None = None

    def acquire(self) -> BankLock:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise BankError(f"{path}: cannot lock the bank: {e}") from None
            holder = _read_pid(path)
            who = f"process {holder}" if holder else "another process"
            raise BankError(
                f"{self.root}: the bank is being built by {who} (lock {path}); "
                f"wait for that build to finish, then {self.action} again"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)  # closing drops the flock

    def __enter__(self) -> BankLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
