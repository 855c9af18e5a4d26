"""Worker processes that die with the build that started them.

`watch_parent` is the `ProcessPoolExecutor` initializer of a parallel build. A build killed by
SIGKILL cannot shut its pool down, and its workers (and multiprocessing's resource tracker, which
lives until the last of them is gone) would run on as orphans. So each worker:

- on Linux asks the kernel for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``);
- everywhere runs a daemon thread that exits the process once the parent is gone (on POSIX the
  parent PID changes when a process is orphaned; on Windows it waits on the parent's handle).

Workers write nothing to the bank (they return bytes), so exiting at once loses nothing.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.5


def watch_parent(parent_pid: int) -> None:
    """Make this process exit when process `parent_pid` (its parent) dies."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.name != "nt" and os.getppid() != parent_pid:
        os._exit(1)  # the parent died before the request above
    threading.Thread(target=_watch, args=(parent_pid,), name="soundtrack-parent-watch", daemon=True).start()


def _watch(parent_pid: int) -> None:
    if os.name == "nt":
        try:
            import ctypes

            synchronize, infinite = 0x00100000, 0xFFFFFFFF
            kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
            handle = kernel32.OpenProcess(synchronize, False, parent_pid)
            if not handle:
                return  # cannot watch it: the pool's own shutdown is all there is
            kernel32.WaitForSingleObject(handle, infinite)
            os._exit(1)
        except (OSError, AttributeError):
            return
    while os.getppid() == parent_pid:
        time.sleep(POLL_SECONDS)
    os._exit(1)
