"""The type checker runs in `make test` and must pass (mypy at the settings in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_finds_no_error() -> None:
    if shutil.which("mypy", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("mypy is not installed: it is in the test extra (pip install -e '.[test]')")
    r = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary"], cwd=ROOT, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, "mypy:\n" + (r.stdout + r.stderr)[-6000:]
