"""The `soundtrack` command: one error boundary, one thin function per subcommand.

Every subcommand is a few lines over the library (the modules here, by command group); a
`SoundtrackError` or an `OSError` becomes one line on stderr and exit code 2 (a closed pipe ends
quietly), an interrupt exit code 130.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from typing import Callable, Sequence

from soundtrack.cli import banks, podcasts, serving, sessions, stems
from soundtrack.errors import SoundtrackError

DESCRIPTION = """\
soundtrack: an adaptive soundtrack engine for games and podcasts.

Short intro, main and outro stems are generated (by the built-in procedural composer unless told
otherwise) and cached in a loop bank; a state-graph sequencer stitches them at beat-aligned edit
points as game or episode events arrive.
"""

EPILOG = """\
examples:
  soundtrack generate "dark ambient exploration with harp, 90 bpm, D minor" --bars 8 --out x.wav
  soundtrack demo --out out/demo
Run 'soundtrack COMMAND --help' for the options of one command.
"""


# Each entry adds one subcommand; keep them in the order `--help` should list them.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    stems.add_generate,
    stems.add_demo,
    serving.add_serve,
    banks.add_bank,
    sessions.add_render,
    serving.add_studio,
    sessions.add_graph,
    podcasts.add_fill,
    podcasts.add_score,
]


def build_parser() -> argparse.ArgumentParser:
    from soundtrack import __version__

    parser = argparse.ArgumentParser(
        prog="soundtrack", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"soundtrack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SoundtrackError as e:
        print(f"soundtrack {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `soundtrack bank info ... | head`: the reader is gone, not an error of ours
        _quiet_stdout()
        return 0
    except OSError as e:  # a file or folder the system refused: one line, not two tracebacks
        where = f": {e.filename}" if getattr(e, "filename", None) else ""
        print(f"soundtrack {args.command}: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"soundtrack {args.command}: interrupted", file=sys.stderr)
        return 130


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush is silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError as e:
        if e.errno not in (errno.EBADF, errno.EINVAL):
            raise
