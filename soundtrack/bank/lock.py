"""Advisory file locks for bank folders, on POSIX and on Windows, safe in an untrusted folder.

- `BankLock`: a build's exclusive lock on ``DIR/.lock``; the file holds the builder's PID (padded
  to a fixed width, so it is overwritten in place and never truncated).
- `build_holder`: who is building a bank right now (for `verify`), without creating, writing or
  locking anything a build would wait for.
- `SharedLock`: a shared or exclusive lock on any lock file (the shared ``stems/`` folder's).

A lock file is opened with ``O_NOFOLLOW`` (a symbolic link is refused, never followed), must be a
regular file with one link (so a hard link to another file is refused too), and is never
truncated: a bank cannot make a build or a verify empty or overwrite a file outside it. The lock
call is chosen when it is made: ``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows (which
has no shared locks: a shared lock is an exclusive one there). The kernel drops a lock when its
holder dies, even by SIGKILL, so a stale lock file never blocks the next build.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path
from typing import Any

from soundtrack.errors import BankError, BusyError

LOCK = ".lock"
_PID_WIDTH = 20  # "12345" padded with spaces + "\n": always this many bytes, written in place
_WIN_LOCK_OFFSET = 1 << 30  # Windows locks a byte range; lock one far past the PID so it stays readable
_BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, getattr(errno, "EDEADLK", errno.EAGAIN))


def _platform() -> str:
    return os.name  # looked up at call time (tests pretend to be Windows)


def _lock(fd: int, *, shared: bool, blocking: bool) -> None:
    """Lock `fd` (raises BusyError when held elsewhere and not `blocking`)."""
    if _platform() == "nt":
        import msvcrt

        mode: Any = msvcrt.LK_NBLCK  # type: ignore[attr-defined]
        here = os.lseek(fd, 0, os.SEEK_CUR)
        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        try:
            while True:
                try:
                    msvcrt.locking(fd, mode, 1)  # type: ignore[attr-defined]
                    return
                except OSError as e:
                    if e.errno not in _BUSY:
                        raise
                    if not blocking:
                        raise BusyError() from None
                    time.sleep(0.1)
        finally:
            os.lseek(fd, here, os.SEEK_SET)
    import fcntl

    op = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB)
    try:
        fcntl.flock(fd, op)
    except OSError as e:
        if e.errno in _BUSY:
            raise BusyError() from None
        raise


def _unlock(fd: int) -> None:
    if _platform() == "nt":
        import msvcrt

        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            pass
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def open_lock_file(path: Path, *, create: bool, write: bool) -> int:
    """Open lock file `path` without following a link; BankError when it is not a plain file.

    Raises FileNotFoundError when it is not there and not `create`, PermissionError (an OSError)
    when it cannot be opened as asked."""
    flags = (os.O_RDWR if write else os.O_RDONLY) | (os.O_CREAT if create else 0)
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    if not hasattr(os, "O_NOFOLLOW"):  # Windows: no O_NOFOLLOW; look first (a link there needs privileges)
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                raise BankError(f"{path}: is a symbolic link; a bank's lock must be a plain file: remove it")
        except FileNotFoundError:
            if not create:
                raise
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP or (e.errno == errno.EMLINK and hasattr(os, "O_NOFOLLOW")):
            raise BankError(f"{path}: is a symbolic link; a bank's lock must be a plain file: remove it") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        what = "not a regular file" if not stat.S_ISREG(st.st_mode) else f"a file with {st.st_nlink} hard links"
        raise BankError(f"{path}: is {what}; a bank's lock must be a plain file of its own: remove it")
    return fd


def _read_pid(fd: int) -> int | None:
    try:
        if hasattr(os, "pread"):
            text = os.pread(fd, 64, 0)
        else:
            os.lseek(fd, 0, os.SEEK_SET)
            text = os.read(fd, 64)
    except OSError:
        return None
    s = text.decode("ascii", "replace").strip()
    return int(s) if s.isdigit() and len(s) < 12 else None


def _write_pid(fd: int, pid: int | None) -> None:
    data = (f"{pid}" if pid is not None else "").ljust(_PID_WIDTH - 1).encode() + b"\n"
    if hasattr(os, "pwrite"):
        os.pwrite(fd, data, 0)
    else:
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, data)


def _who(pid: int | None) -> str:
    return f"process {pid}" if pid else "another process"


class BankLock:
    """An exclusive, non-blocking lock on ``DIR/.lock`` for as long as a build runs (see module doc).

    `acquire` raises BankError naming the holder's PID when another build holds it, and a
    one-line BankError when the folder cannot be written (a read-only folder, a link)."""

    def __init__(self, root: Path, *, action: str = "build") -> None:
        self.root = Path(root)
        self.action = action
        self._fd: int | None = None

    def acquire(self) -> BankLock:
        path = self.root / LOCK
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = open_lock_file(path, create=True, write=True)
        except OSError as e:
            raise BankError(f"{self.root}: cannot write to the bank folder ({e.strerror or e}); choose another --out "
                            "or make the folder writable") from None
        try:
            _lock(fd, shared=False, blocking=False)
        except BusyError:
            holder = _read_pid(fd)
            os.close(fd)
            raise BankError(
                f"{self.root}: the bank is being built by {_who(holder)} (lock {path}); "
                f"wait for that build to finish, then {self.action} again"
            ) from None
        except OSError as e:
            os.close(fd)
            raise BankError(f"{path}: cannot lock the bank: {e.strerror or e}") from None
        try:
            _write_pid(fd, os.getpid())
        except OSError as e:
            os.close(fd)
            raise BankError(f"{self.root}: cannot write to the bank folder ({e.strerror or e}); choose another --out "
                            "or make the folder writable") from None
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                _write_pid(fd, None)  # overwritten in place, never truncated
            except OSError:
                pass
            finally:
                os.close(fd)  # closing drops the lock

    def __enter__(self) -> BankLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def build_holder(root: Path) -> tuple[bool, int | None]:
    """(True, PID) when a build holds ``root/.lock`` now, else (False, None). Creates, writes and
    keeps no lock: the probe takes and drops a shared lock at once (raises BankError when
    ``.lock`` is a link or not a plain file)."""
    path = Path(root) / LOCK
    try:
        fd = open_lock_file(path, create=False, write=False)
    except FileNotFoundError:
        return False, None
    except OSError:
        return False, None  # unreadable: cannot tell; nothing of ours holds it
    try:
        try:
            _lock(fd, shared=True, blocking=False)
        except BusyError:
            return True, _read_pid(fd)
        except OSError:
            return False, None
        _unlock(fd)
        return False, None
    finally:
        os.close(fd)


class SharedLock:
    """A lock on the file `path` (created when missing), shared or exclusive, blocking or not.

    `try_exclusive()` turns a held shared lock into an exclusive one without waiting, or returns
    False (on POSIX the shared lock may be lost meanwhile: call it last)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self, *, shared: bool = True) -> SharedLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = open_lock_file(self.path, create=True, write=True)
        except OSError as e:
            raise BankError(f"{self.path.parent}: cannot write to the stems folder ({e.strerror or e})") from None
        _lock(fd, shared=shared, blocking=True)
        self._fd = fd
        return self

    def try_exclusive(self) -> bool:
        if self._fd is None:
            raise BankError(f"{self.path}: not locked")
        try:
            _lock(self._fd, shared=False, blocking=False)
        except BusyError:
            return False
        return True

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> SharedLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
