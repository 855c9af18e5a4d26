"""The `soundtrack` command: one error boundary, one thin function per subcommand.

Every subcommand is a few lines over the library; a `SoundtrackError` becomes one line on stderr
and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Sequence

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


def _cmd_generate(args: argparse.Namespace) -> int:
    from soundtrack.audio import write_audio
    from soundtrack.generate import get_generator
    from soundtrack.stem import StemSpec

    spec = StemSpec(
        prompt=args.prompt,
        role=args.role,
        bars=args.bars,
        beats=args.beats,
        tempo=args.tempo,
        meter=args.meter,
        key=args.key,
        seed=args.seed,
        variant=args.variant,
        sample_rate=args.sample_rate,
        soundfont=args.soundfont,
        **({"layers": tuple(args.layer_names.split(","))} if args.layer_names else {}),
    )
    stem = get_generator(args.generator).generate(spec)
    out = Path(args.out)
    write_audio(out, stem.mix, stem.sample_rate)
    written = [out]
    if args.layers:
        for name, audio in stem.layers.items():
            p = out.with_name(f"{out.stem}.{name}{out.suffix}")
            write_audio(p, audio, stem.sample_rate)
            written.append(p)
    if args.midi:
        if stem.midi is None:
            raise SoundtrackError(f"generator {args.generator!r} does not produce a score to export as MIDI")
        Path(args.midi).write_bytes(stem.midi)
        written.append(Path(args.midi))
    sidecar = out.with_suffix(".json")
    sidecar.write_text(json.dumps(stem.info(), indent=2) + "\n")
    written.append(sidecar)
    info = stem.info()
    print(
        f"{out}: {info['style']} {info['role']}, {info['bars']} bars of {info['meter']} at {info['tempo']:g} bpm "
        f"in {info['key']}, {info['frames'] / info['sample_rate']:.2f} s (entry frame {info['entry_frame']}, "
        f"exit frame {info['exit_frame']})"
    )
    for p in written[1:]:
        print(f"  also wrote {p}")
    return 0


def _add_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="generate one stem from a text prompt",
        description=(
            "Generate one intro, main, outro, stinger or bridge stem from a plain-text prompt. The prompt "
            "may name a style (ambient, orchestral, horror, synthwave, lo-fi, chiptune, rock, jazz, folk, ...), "
            "a mood, instruments, a tempo ('96 bpm'), a key ('in D minor') and a meter ('in 3/4'); options "
            "given here win over the prompt. Writes the audio, and a JSON sidecar of the same name with "
            "the grid: sample_rate, tempo, meter, key, bars, entry_frame, exit_frame, frames, layers, style."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("prompt", help="what the music should be, in plain words")
    p.add_argument("--role", default="main", choices=["intro", "main", "outro", "stinger", "bridge"],
                   help="intro builds in, main loops seamlessly, outro cadences and rings out")
    p.add_argument("--bars", type=int, default=8, help="length in bars (bar 1 beat 1 to the end of the last bar)")
    p.add_argument("--beats", type=int, default=None, help="length in beats instead of bars (stingers)")
    p.add_argument("--tempo", default=None, help="beats per minute; wins over the prompt")
    p.add_argument("--meter", default=None, help="time signature such as 4/4, 3/4, 7/8; wins over the prompt")
    p.add_argument("--key", default=None, help="key such as 'D minor', 'F# dorian'; wins over the prompt")
    p.add_argument("--seed", type=int, default=0, help="same prompt + seed = the same audio, bit for bit")
    p.add_argument("--variant", type=int, default=0, help="alternative take of a main loop (same key, tempo, feel)")
    p.add_argument("--sample-rate", type=int, default=48000, help="output sample rate in Hz")
    p.add_argument("--layer-names", default=None, help="comma-separated layers to compose, e.g. drums,bass,harmony,melody")
    p.add_argument("--soundfont", default=None, help="a General MIDI .sf2 to render with (default: TimGM6mb from pretty_midi)")
    p.add_argument("--generator", default="procedural", help="generator name")
    p.add_argument("--out", required=True, help="audio file to write (.wav, .flac, .ogg)")
    p.add_argument("--midi", default=None, help="also write the score as a standard MIDI file")
    p.add_argument("--layers", action="store_true", help="also write each layer as OUT.LAYER.wav")
    p.set_defaults(func=_cmd_generate)


def _cmd_demo(args: argparse.Namespace) -> int:
    from soundtrack.demo import run_demo

    return run_demo(Path(args.out))


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="render example stems and sessions from graphs/ into a folder",
        description="Render a handful of stems from graphs/dungeon.toml and graphs/podcast.toml into a folder and say where they are.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", default="out/demo", help="folder to write into")
    p.set_defaults(func=_cmd_demo)


# Each entry adds one subcommand; keep them in the order `--help` should list them.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_generate,
    _add_demo,
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
    except KeyboardInterrupt:
        print(f"soundtrack {args.command}: interrupted", file=sys.stderr)
        return 130
