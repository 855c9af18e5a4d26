"""The command's one error boundary and its help, in process (tests/cli.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from cli import run_cli

ROOT = Path(__file__).resolve().parent.parent


def test_an_os_error_is_one_line_and_exit_2() -> None:
    r = run_cli("graph", "show", str(ROOT / "graphs" / "dungeon.toml"), "--out", "/proc/nope/x.png")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("soundtrack graph: error: ") and "/proc/nope" in lines[0]
    assert "Traceback" not in r.stderr


def test_a_closed_pipe_ends_quietly() -> None:
    # a real process and a real pipe: the reader goes away after the first line
    p = subprocess.Popen(f"{sys.executable} -m soundtrack graph check {ROOT / 'graphs' / 'dungeon.toml'} --help | head -1",
                         shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=60)
    assert out.startswith("usage:") and "Traceback" not in err and "BrokenPipe" not in err


def test_jobs_must_be_at_least_one() -> None:
    r = run_cli("bank", "build", str(ROOT / "graphs" / "podcast.toml"), "--jobs", "0")
    assert r.returncode == 2 and "--jobs: 0 must be at least 1" in r.stderr


def test_help_shows_each_default_once_and_only_real_ones() -> None:
    for cmd in (["generate"], ["serve"], ["bank", "build"], ["fill"], ["score"], ["render"], ["studio"]):
        r = run_cli(*cmd, "--help")
        assert r.returncode == 0, (cmd, r.stderr)
        flat = re.sub(r"\s+", " ", r.stdout)
        assert "(default: None)" not in flat and "(default: False)" not in flat, cmd
        # no option says its default in its own words and again in argparse's
        assert not re.search(r"default[^()]*\) \(default: ", flat), cmd
    serve = re.sub(r"\s+", " ", run_cli("serve", "--help").stdout)
    assert "--block BLOCK frames per block for --output device (default: 512)" in serve
