"""Run the `soundtrack` command in this process: `main(argv)` with its output captured (no
interpreter start-up per call; the few tests that need a real process — servers, signals, a
child over stdio — still start one)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
from pathlib import Path

from soundtrack.cli import main


def run_cli(*args: str, cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """The result `subprocess.run([... "soundtrack", *args], capture_output=True, text=True)`
    would give: returncode, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as e:  # argparse's own errors and --help
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(["soundtrack", *args], code, out.getvalue(), err.getvalue())
