"""The bank on disk: file names, atomic writes, FLAC bytes, JSON records and the build lock.

Layout of a bank folder (see loops/README.md):

    manifest.json          what the bank holds; written last, it is the build's commit point
    build.json             how and when it was built (time, jobs, counts): not content
    .lock                  held by a running build (see `soundtrack.bank.lock`); holds its PID
    stems/KEY.LAYER.flac   one stereo 24-bit FLAC per layer of a stem
    stems/KEY.json         the stem's record, written after its audio: a finished stem
    stems/.banks/          which banks use this stems folder (it may be shared): see `soundtrack.bank.shared`

Reading is confined: `read_bank_file` opens only ``stems/NAME`` names of the fixed form, refuses
a symbolic link or anything but a regular file, and reads no more than the record says. The
``stems`` folder itself may be a link (a shared cache, see loops/README.md); nothing else is
followed.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np

from soundtrack.bank.lock import LOCK, BankLock  # noqa: F401  (re-exported: the lock lives in bank.lock)
from soundtrack.errors import BankError
from soundtrack.files import PART_SUFFIX, atomic_path

MANIFEST = "manifest.json"
BUILD_INFO = "build.json"
STEMS = "stems"
BANKS = ".banks"  # inside stems/: one references file per bank using the folder
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


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(data: bytes, path: Path, *, what: str) -> dict[str, Any]:
    """A JSON object from untrusted bytes: BankError (one line) on bad UTF-8, bad JSON, NaN or
    Infinity, nesting too deep, or an integer too long to convert."""
    try:
        obj = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError, MemoryError) as e:
        msg = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise BankError(f"{path}: {what} cannot be read: {msg}") from None
    if not isinstance(obj, dict):
        raise BankError(f"{path}: {what} must be a JSON object")
    return obj


def read_limited(path: Path, *, limit: int, what: str, follow: bool = False) -> bytes:
    """The bytes of regular file `path`, at most `limit` of them (BankError beyond, or when it is
    a link unless `follow`, or not a regular file). FileNotFoundError when it is not there."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
        if not hasattr(os, "O_NOFOLLOW") and stat.S_ISLNK(os.lstat(path).st_mode):
            raise BankError(f"{path}: {what} is a symbolic link; bank files must be plain files inside the bank")
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.EMLINK) and not follow:
            raise BankError(f"{path}: {what} is a symbolic link; bank files must be plain files inside the bank") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BankError(f"{path}: {what} is not a regular file")
        if st.st_size > limit:
            raise BankError(f"{path}: {what} is {st.st_size} bytes, over the limit of {limit}")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise BankError(f"{path}: {what} is over the limit of {limit} bytes")
    return data


def read_json(path: Path, *, what: str, limit: int = 1 << 20) -> dict[str, Any]:
    """A JSON object from a bank file (no link followed, at most `limit` bytes)."""
    try:
        data = read_limited(path, limit=limit, what=what)
    except FileNotFoundError:
        raise BankError(f"{path}: {what} is missing") from None
    except OSError as e:
        raise BankError(f"{path}: {what} cannot be read: {e.strerror or e}") from None
    return parse_json(data, path, what=what)


def read_stem_file(root: Path, rel: str, *, size: int) -> bytes:
    """The bytes of layer file `rel` (``stems/KEY.LAYER.flac``, checked) of the bank in `root`,
    which must be a regular file of exactly `size` bytes. FileNotFoundError when it is not there;
    BankError for a link, another kind of file, or another size."""
    head, _, name = rel.partition("/")
    m = STEM_FILE_RE.match(name)
    if head != STEMS or m is None or m["layer"] is None:
        raise BankError(f"{root}: {rel!r} is not a bank stem file (stems/KEY.LAYER.flac)")
    path = Path(root) / STEMS / name
    data = read_limited(path, limit=size, what="the stem file")
    if len(data) != size:
        raise BankError(f"{path}: the stem file is {len(data)} bytes, the manifest says {size}")
    return data


def flac_streaminfo(data: bytes) -> tuple[int, int, int, int] | None:
    """(sample_rate, channels, bits_per_sample, total_frames) from a FLAC file's STREAMINFO block
    (which the format puts first), or None when `data` does not start like a FLAC file. Reads 42
    bytes; decodes nothing."""
    if len(data) < 42 or data[:4] != b"fLaC" or (data[4] & 0x7F) != 0 or int.from_bytes(data[5:8], "big") != 34:
        return None
    info = int.from_bytes(data[18:26], "big")  # 20 bits rate, 3 channels-1, 5 bits-1, 36 total samples
    rate = info >> 44
    channels = ((info >> 41) & 0x7) + 1
    bits = ((info >> 36) & 0x1F) + 1
    frames = info & ((1 << 36) - 1)
    return rate, channels, bits, frames


def remove_partials(root: Path) -> list[Path]:
    """Delete temporary files a killed build left behind (only ever ours: ``.NAME.*.part``)."""
    removed = []
    for d in (root, root / STEMS):
        if d.is_dir():
            for p in d.iterdir():
                if p.name.startswith(".") and p.name.endswith(PART_SUFFIX) and _is_plain(p):
                    p.unlink(missing_ok=True)
                    removed.append(p)
    return removed


def _is_plain(p: Path) -> bool:
    """A regular file, not a link to one."""
    try:
        return stat.S_ISREG(os.lstat(p).st_mode)
    except OSError:
        return False
