"""`soundtrack generate` and `soundtrack demo`: one stem from a prompt; the example run."""

from __future__ import annotations

import argparse
from pathlib import Path

from soundtrack.cli.common import HelpFormatter


def _cmd_generate(args: argparse.Namespace) -> int:
    from soundtrack.generate.base import resolve
    from soundtrack.stem import StemSpec
    from soundtrack.stemfile import write_stem

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
    # the bank's resolver, as `bank build` uses it: a name or module:Factory; options it cannot take are an error
    gen = resolve(args.generator, {"model": args.model} if args.model else {})
    explain = getattr(gen, "explain", None)
    if args.explain and callable(explain):
        for line in explain(spec):  # what it chose and why, before it renders
            print(f"  {line}")
    stem = gen.generate(spec)
    written = write_stem(stem, args.out, midi=args.midi, layers=args.layers)
    info = stem.info()
    print(
        f"{written[0]}: {info['style']} {info['role']}, {info['bars']} bars of {info['meter']} at {info['tempo']:g} bpm "
        f"in {info['key']}, {info['frames'] / info['sample_rate']:.2f} s (entry frame {info['entry_frame']}, "
        f"exit frame {info['exit_frame']})"
    )
    for p in written[1:]:
        print(f"  also wrote {p}")
    return 0


def add_generate(sub: argparse._SubParsersAction) -> None:
    from soundtrack.generate import DEFAULT_GENERATOR
    from soundtrack.roles import DEFAULT_BARS, ROLES
    from soundtrack.timing import DEFAULT_SAMPLE_RATE

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
        formatter_class=HelpFormatter,
    )
    p.add_argument("prompt", help="what the music should be, in plain words")
    p.add_argument("--role", default="main", choices=ROLES,
                   help="intro builds in, main loops seamlessly, outro cadences and rings out")
    p.add_argument("--bars", type=int, default=DEFAULT_BARS, help="length in bars (bar 1 beat 1 to the end of the last bar)")
    p.add_argument("--beats", type=int, default=None, help="length in beats instead of bars (any role; a stinger's usual form)")
    p.add_argument("--tempo", default=None, help="beats per minute; wins over the prompt")
    p.add_argument("--meter", default=None, help="time signature such as 4/4, 3/4, 7/8; wins over the prompt")
    p.add_argument("--key", default=None, help="key such as 'D minor', 'F# dorian'; wins over the prompt")
    p.add_argument("--seed", type=int, default=0, help="same prompt + seed = the same audio, bit for bit")
    p.add_argument("--variant", type=int, default=0, help="alternative take of a main loop (same key, tempo, feel)")
    p.add_argument("--sample-rate", type=int, default=DEFAULT_SAMPLE_RATE, help="output sample rate in Hz")
    p.add_argument("--layer-names", default=None, help="comma-separated layers to compose, e.g. drums,bass,harmony,melody")
    p.add_argument("--soundfont", default=None, help="a General MIDI .sf2 to render with (default: $SOUNDTRACK_SOUNDFONT, "
                   "else FluidR3_GM where installed, else TimGM6mb from pretty_midi)")
    p.add_argument("--explain", action="store_true", help="print what the generator chose and why (style, key, "
                   "ensemble, groove, instruments and their parts, arrangement, SoundFont)")
    p.add_argument("--generator", default=DEFAULT_GENERATOR, help="generator name or module:Factory")
    p.add_argument("--model", default=None, help="model id or local folder for a neural generator (musicgen)")
    p.add_argument("--out", required=True, help="audio file to write (.wav, .flac, .ogg)")
    p.add_argument("--midi", default=None, help="also write the score as a standard MIDI file")
    p.add_argument("--layers", action="store_true", help="also write each layer as OUT.LAYER.wav")
    p.set_defaults(func=_cmd_generate)


def _cmd_demo(args: argparse.Namespace) -> int:
    from soundtrack.demo import run_demo

    return run_demo(Path(args.out))


def add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="render example stems and sessions from graphs/ into a folder",
        description="Render a handful of stems from graphs/dungeon.toml and graphs/podcast.toml into a folder and say where they are.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--out", default="out/demo", help="folder to write into")
    p.set_defaults(func=_cmd_demo)
