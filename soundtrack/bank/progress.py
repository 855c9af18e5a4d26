"""Showing a build's progress on a console: a tqdm bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from soundtrack.bank.build import Progress


class ConsoleProgress:
    """A `progress` callback for `build_bank`: stems done, reused from cache, time left.

    `bar=None` picks a bar when `stream` is a terminal; plain lines (one per stem) are for logs
    and CI.
    """

    def __init__(self, *, stream: TextIO | None = None, bar: bool | None = None, label: str = "stems") -> None:
        self.stream = stream or sys.stdout
        self.bar = self.stream.isatty() if bar is None else bar
        self.label = label
        self._tqdm: Any = None
        self._gen_start = 0.0

    def __call__(self, p: Progress) -> None:
        if p.event == "start":
            self._gen_start = p.elapsed
            if self.bar:
                from tqdm import tqdm

                self._tqdm = tqdm(total=p.total, initial=p.done, unit="stem", desc=self.label, file=self.stream,
                                  dynamic_ncols=True, postfix={"reused": p.reused})
            else:
                todo = p.total - p.reused
                print(f"{self.label}: {p.total} stems, {p.reused} reused from cache, {todo} to generate", file=self.stream)
        elif p.event == "stem":
            if self._tqdm is not None:
                self._tqdm.set_postfix(reused=p.reused, generated=p.generated, refresh=False)
                self._tqdm.update(1)
            else:
                spent = p.elapsed - self._gen_start
                left = spent / p.generated * (p.total - p.done) if p.generated else 0.0
                width = len(str(p.total))
                print(f"[{p.done:>{width}}/{p.total}] generated {p.stem} ({spent:.1f} s, ~{left:.0f} s left)",
                      file=self.stream, flush=True)
        elif p.event == "finish" and self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
