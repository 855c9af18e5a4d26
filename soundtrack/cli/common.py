"""What the command groups share: where progress goes, how help shows defaults, option types."""

from __future__ import annotations

import argparse
import sys


def say(line: str) -> None:
    """Progress notes (a bank being built first) go to stderr; stdout carries the results."""
    print(line, file=sys.stderr)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown once: appended only where the help text does not already speak of its
    default and there is a default worth showing (not None, False or an empty list)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text.lower() or action.default in (None, False, [], argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def positive_int(text: str) -> int:
    """An integer of at least 1 (`--jobs 0` used to run serially without a word)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} must be at least 1")
    return n
