"""The studio's build worker process: what runs there, importing next to nothing at start.

A spawned worker unpickles its initializer first; `init` lives here, beside `os` only, so that
the process lowers its priority before it imports numpy, the bank and the generator (inside
`build`), and those imports (a second or two of CPU) do not compete with the audio either.
"""

from __future__ import annotations

import os
from typing import Any

NICE = 10
_progress: Any = None  # this process's end of the progress queue


def init(parent: int, queue: Any) -> None:
    global _progress
    try:
        os.nice(NICE)
    except (AttributeError, OSError):
        pass
    _progress = queue
    from soundtrack.bank.workers import watch_parent

    watch_parent(parent)


def warm() -> None:
    """Import what a build needs, now (at the lower priority), before the first edit."""
    import soundtrack.bank  # noqa: F401
    import soundtrack.generate  # noqa: F401


def build(text: str, path: str, root: str, state: str | None) -> dict[str, Any]:
    """Build the bank of the graph `text` (already written to `path`) into `root`."""
    from soundtrack.bank import build_bank
    from soundtrack.graph import parse_graph

    graph = parse_graph(text, path=path)

    def tell(p: Any) -> None:
        if _progress is not None:
            _progress.put({"phase": "building", "state": state, "event": p.event, "total": p.total, "done": p.done,
                           "reused": p.reused, "generated": p.generated, "stem": p.stem, "elapsed": round(p.elapsed, 2)})

    report = build_bank(graph, out=root, jobs=1, progress=tell)
    return {"generated": list(report.generated), "reused": len(report.reused)}
