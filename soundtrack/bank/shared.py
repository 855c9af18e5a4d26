"""A ``stems/`` folder several banks may share (a symlinked cache), and pruning it safely.

loops/README.md advises putting ``stems/`` on shared storage (or linking several banks' stems
folders to one place): files are content-addressed, so every bank reuses every stem any build
finished. Then no single bank may decide alone that a stem is unused. Each bank that builds into
a stems folder records the keys it uses in ``stems/.banks/ID.json`` (ID: a hash of the bank
folder's real path; the file holds only keys, no path), and `--prune` deletes a stem only when no
bank's references file names it.

Races: every build holds a shared lock on ``stems/.banks/.lock`` from before it registers its
keys until it has written its manifest; a prune needs that lock exclusively and takes it without
waiting, so it never deletes under a build that is running (it prunes nothing and says so). A
build registers the keys of its old manifest and its new plan before it looks at the disk, so a
failed build keeps what its old manifest needs. On Windows, where there are no shared locks,
builds into one stems folder take turns.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Iterable

from soundtrack.bank.lock import SharedLock
from soundtrack.bank.store import BANKS, KEY_RE, STEMS, canonical_json, parse_json, read_limited, write_atomic
from soundtrack.errors import BankError

REFS_FORMAT = "soundtrack-bank-refs"
MAX_REFS_BYTES = 16 << 20


ID_RE = re.compile(r"^[0-9a-f]{32}$")


def new_bank_id() -> str:
    return secrets.token_hex(16)


class StemsFolder:
    """The stems folder of the bank in `root` (whose id is `bank_id`), as one of possibly
    several banks sharing it."""

    def __init__(self, root: Path, bank_id: str) -> None:
        self.root = Path(root)
        self.dir = self.root / STEMS
        self.banks = self.dir / BANKS
        if not ID_RE.match(bank_id):
            raise ValueError(f"bank_id={bank_id!r} must be 32 hex digits")
        self.me = bank_id
        if self.dir.is_symlink():
            where = os.path.realpath(self.root).encode("utf-8", "surrogateescape")
            self.me += "-" + hashlib.sha256(where).hexdigest()[:16]
        self._lock = SharedLock(self.banks / ".lock")

    @property
    def shared(self) -> bool:
        """Whether the stems folder is a link (the usual way to share one)."""
        return self.dir.is_symlink()

    def __enter__(self) -> StemsFolder:
        self._lock.acquire(shared=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def register(self, keys: Iterable[str]) -> None:
        """Record that this bank uses `keys` (replacing what it recorded before)."""
        data = canonical_json({"format": REFS_FORMAT, "keys": sorted(set(keys))})
        path = self.banks / f"{self.me}.json"
        try:
            if read_limited(path, limit=MAX_REFS_BYTES, what="this bank's references") == data:
                return  # unchanged: not rewritten
        except (OSError, BankError):
            pass
        try:
            write_atomic(path, data)
        except OSError as e:
            raise BankError(f"{self.banks}: cannot record this bank's stems: {e.strerror or e}") from None

    def others(self) -> set[str]:
        """The keys every other bank sharing the folder records. BankError when a references file
        cannot be read or is malformed (then nothing may be pruned)."""
        keys: set[str] = set()
        if not self.banks.is_dir():
            return keys
        for p in sorted(self.banks.iterdir()):
            if p.name.startswith(".") or p.name == f"{self.me}.json":
                continue
            if not p.name.endswith(".json"):
                continue
            try:
                data = read_limited(p, limit=MAX_REFS_BYTES, what="a references file")
            except OSError as e:
                raise BankError(f"{p}: cannot read another bank's references: {e.strerror or e}") from None
            doc = parse_json(data, p, what="a references file")
            ks = doc.get("keys")
            if doc.get("format") != REFS_FORMAT or not isinstance(ks, list) or not all(
                    isinstance(k, str) and KEY_RE.match(k) for k in ks):
                raise BankError(f"{p}: keys must be a list of stem keys (a {REFS_FORMAT} file); remove the file "
                                "if that bank is gone")
            keys.update(ks)
        return keys

    def try_exclusive(self) -> bool:
        """Take the folder for a prune, without waiting: False while another build uses it."""
        return self._lock.try_exclusive()

    def delete(self, keys: set[str]) -> list[str]:
        """Delete every plain stems/KEY.* file of `keys` (no link followed); returns keys deleted."""
        from soundtrack.bank.store import STEM_FILE_RE

        gone: set[str] = set()
        for f in self.dir.iterdir():
            m = STEM_FILE_RE.match(f.name)
            if m and m["key"] in keys:
                try:
                    if stat.S_ISREG(os.lstat(f).st_mode):
                        f.unlink()
                        gone.add(m["key"])
                except FileNotFoundError:
                    pass
        return sorted(gone)
