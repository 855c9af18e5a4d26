"""Shared fixtures: banks of the real example graphs, built once and kept between runs.

`real_bank("dungeon")` builds graphs/dungeon.toml's bank into out/test-banks/dungeon (incremental:
a rerun with nothing changed costs a manifest check; a generator change rebuilds what it touched)
and returns (graph, Bank). Tests that must hear real procedural music, not sines, use these.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BANKS = ROOT / "out" / "test-banks"


def _build(name: str):
    from soundtrack.bank import Bank, build_bank
    from soundtrack.errors import BankError
    from soundtrack.graph import load_graph

    graph = load_graph(ROOT / "graphs" / f"{name}.toml")
    out = BANKS / name
    deadline = time.monotonic() + 900
    while True:
        try:
            build_bank(graph, out=out, jobs=2)
            break
        except BankError as e:  # another test process is building the same bank: wait for it
            if "being built" not in str(e) and "locked" not in str(e) and "another build" not in str(e):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(2)
    return graph, Bank(out, graph=graph)


@pytest.fixture(scope="session")
def real_bank():
    made: dict[str, tuple] = {}

    def get(name: str):
        if name not in made:
            made[name] = _build(name)
        return made[name]

    return get
