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


def _say(line: str) -> None:
    """Progress notes (a bank being built first) go to stderr; stdout carries the results."""
    print(line, file=sys.stderr)


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


def _add_generate(sub: argparse._SubParsersAction) -> None:
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
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
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


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="render example stems and sessions from graphs/ into a folder",
        description="Render a handful of stems from graphs/dungeon.toml and graphs/podcast.toml into a folder and say where they are.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", default="out/demo", help="folder to write into")
    p.set_defaults(func=_cmd_demo)


def _cmd_serve(args: argparse.Namespace) -> int:
    from soundtrack.ipc.app import read_token, serve

    if args.token is not None:
        raise SoundtrackError("serve: --token puts the secret where every local user can read it (/proc/PID/cmdline, ps); "
                              "put it in $SOUNDTRACK_TOKEN or in a file given with --token-file")
    return serve(
        args.source,
        tcp=args.tcp,
        unix=args.unix,
        stdio=args.stdio,
        output=args.output,
        allow_remote=args.allow_remote,
        token=read_token(token_file=args.token_file),
        allow_load=args.allow_load,
        allow_shutdown=args.allow_shutdown,
        block_frames=args.block,
        queue_blocks=args.queue,
    )


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a soundtrack to a game over msgpack-RPC (TCP, Unix socket or stdio)",
        description=(
            "Serve GRAPH_OR_BANK to games and tools over MessagePack-RPC (docs/protocol.md). Given a graph "
            ".toml, its bank in loops/NAME/ is loaded (built first if missing); given a bank directory, it and "
            "the graph its manifest records are loaded. With --output pull the game pulls PCM blocks with "
            "`render`; with --output device the server plays to the sound card (needs the 'device' extra). "
            "Logs go to stderr; the line 'listening on ...' gives the address (and the port chosen for :0)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("source", metavar="GRAPH_OR_BANK", help="a graph .toml or a built bank directory")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--tcp", metavar="HOST:PORT", default=None,
                       help="listen on TCP (default 127.0.0.1:7700 when no transport is given); loopback only unless --allow-remote")
    where.add_argument("--unix", metavar="PATH", default=None, help="listen on a Unix socket (removed again on exit)")
    where.add_argument("--stdio", action="store_true", help="serve one client over stdin/stdout (run as a child process)")
    p.add_argument("--output", choices=["pull", "device"], default="pull",
                   help="pull: the client pulls PCM with render; device: play to the sound card")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --tcp address (requires a token)")
    p.add_argument("--token-file", metavar="FILE", default=None,
                   help="clients must send the token in this file's first line in hello before anything else "
                        "(or set $SOUNDTRACK_TOKEN; at least 16 characters)")
    p.add_argument("--token", default=None, help=argparse.SUPPRESS)  # refused: argv is readable by every local user
    p.add_argument("--allow-load", metavar="DIR", action="append", default=[],
                   help="let clients load(path) banks and graphs inside DIR (repeatable); off by default")
    p.add_argument("--allow-shutdown", action="store_true",
                   help="let a socket client's shutdown stop the server (always allowed to a stdio parent and with a token)")
    p.add_argument("--block", type=int, default=512, help="frames per block for --output device")
    p.add_argument("--queue", type=int, default=4, help="blocks queued ahead of the sound card for --output device")
    p.set_defaults(func=_cmd_serve)


def _cmd_bank_build(args: argparse.Namespace) -> int:
    from soundtrack.bank import build_bank, default_out
    from soundtrack.bank.progress import ConsoleProgress
    from soundtrack.graph import load_graph

    graph = load_graph(args.graph)
    out = Path(args.out) if args.out else default_out(graph)
    progress = ConsoleProgress(bar=False if args.quiet else None, label=graph.name)
    r = build_bank(graph, out=out, jobs=args.jobs, generator=args.generator, scheduler=args.scheduler,
                   prune=args.prune, progress=progress, options={"model": args.model} if args.model else None)
    for note in [*r.skipped, *r.notes]:
        print(f"note: {note}")
    print(f"{out}: {r.stems} stems ({len(r.generated)} generated, {len(r.reused)} reused) in {r.seconds:.2f} s")
    if r.unreferenced:
        print(f"{len(r.unreferenced)} stems on disk are no longer used by the graph (kept; --prune removes them)")
    if r.pruned:
        print(f"pruned {len(r.pruned)} stems no longer used by the graph")
    return 0


def _cmd_bank_verify(args: argparse.Namespace) -> int:
    from soundtrack.bank import verify_bank

    r = verify_bank(args.dir)
    for kind, items in (("missing", r.missing), ("corrupt", r.corrupt), ("unexpected", r.unexpected)):
        for item in items:
            print(f"{kind}: {item}")
    if r.unreferenced:
        print(f"note: {len(r.unreferenced)} unreferenced stems from earlier builds (bank build --prune removes them)")
    print(f"{args.dir}: {'OK' if r.ok else 'FAILED'}: {r.stems} stems, {r.files} files checked"
          + ("" if r.ok else f"; {len(r.missing)} missing, {len(r.corrupt)} corrupt, {len(r.unexpected)} unexpected"))
    return 0 if r.ok else 1


def _cmd_bank_info(args: argparse.Namespace) -> int:
    from soundtrack.bank import bank_info

    info = bank_info(args.dir)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    gen = info["generator"]
    print(f"{info['path']}: bank {info['name']!r} from {info['graph']}, {gen['name']} {gen['version']}, "
          f"{info['sample_rate']} Hz, {info['loudness']['target_lufs']:g} LUFS")
    for name, st in info["states"].items():
        segs = ", ".join(f"{seg} {s['bars']} bars at {s['bpm']} bpm" for seg, s in st["segments"].items())
        tempi = f"; tempo variants {', '.join(st['tempi'])} bpm" if st["tempi"] else ""
        print(f"  state {name}: {segs}; layers {', '.join(st['layers'])}{tempi}")
    for kind in ("stingers", "bridges"):
        if info[kind]:
            print(f"  {kind}: {', '.join(info[kind])}")
    built = (f"built in {info['build_seconds']:.2f} s at {info['built_at']}" if info["build_seconds"] is not None
             else "build time unknown")
    print(f"  {info['stems']} stems ({info['files']} files), {info['duration_seconds']:.1f} s of audio, "
          f"{info['size_bytes'] / 1e6:.1f} MB on disk, {built}")
    return 0


def _add_bank(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bank",
        help="build, verify and inspect loop banks",
        description="A loop bank holds every stem a graph needs (loops/NAME/manifest.json and stems/); "
        "see loops/README.md for the format.",
    )
    bank_sub = p.add_subparsers(dest="bank_command", metavar="ACTION")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
    b = bank_sub.add_parser(
        "build",
        help="generate every stem of a graph into a bank (incremental, parallel)",
        description="Generate each state's intro, main variants and outro (per layer), every stinger and bridge "
        "into a bank. Stems are content-addressed: a rebuild regenerates exactly the stems whose spec, "
        "generator or loudness target changed, and a killed build resumes where it stopped.",
    )
    b.add_argument("graph", help="graph TOML file, e.g. graphs/dungeon.toml")
    b.add_argument("--out", default=None, help="bank folder (default: loops/NAME)")
    b.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores; 1 = in this process)")
    b.add_argument("--generator", default=None, help="generator name or module:Factory (default: the graph's)")
    b.add_argument("--model", default=None, help="model id or local folder for a neural generator such as musicgen "
                   "(default: the graph's [generator] model); part of the cache key")
    b.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://10.0.0.5:8786, to build on a cluster")
    b.add_argument("--prune", action="store_true", help="delete stems on disk that the graph no longer needs")
    b.add_argument("--quiet", action="store_true", help="plain progress lines instead of a progress bar")
    b.set_defaults(func=_cmd_bank_build)
    v = bank_sub.add_parser(
        "verify",
        help="check every stem file against the manifest (exit 1 on a problem)",
        description="Check every stem file's sha256 and audio header (rate, channels, frames) against the manifest; "
        "report missing, corrupt and unexpected files and exit with status 1 if there are any.",
    )
    v.add_argument("dir", help="bank folder, e.g. loops/dungeon")
    v.set_defaults(func=_cmd_bank_verify)
    i = bank_sub.add_parser("info", help="summarise a bank", description="Print a bank's states, stems, total "
                            "duration, size on disk, generator and build time.")
    i.add_argument("dir", help="bank folder, e.g. loops/dungeon")
    i.add_argument("--json", action="store_true", help="print JSON for machines")
    i.set_defaults(func=_cmd_bank_info)
    _add_bank_import(bank_sub)


def _cmd_bank_import(args: argparse.Namespace) -> int:
    from soundtrack.bank import default_out, import_bank
    from soundtrack.graph import load_graph

    graph = load_graph(args.graph)
    out = Path(args.out) if args.out else default_out(graph)
    r = import_bank(graph, args.dir, out=out, tempo=args.tempo, first_downbeat=args.downbeat)
    print(f"{out}: imported {len(r.generated)} stems, reused {len(r.reused)} unchanged, in {r.seconds:.1f} s")
    return 0


def _add_bank_import(bank_sub: argparse._SubParsersAction) -> None:
    m = bank_sub.add_parser(
        "import",
        help="bring a composer's WAV/FLAC/MP3/OGG stems into a bank, conformed to the grid",
        description="For every segment the graph needs, take a file: the state's `files` in the graph, else "
        "DIR/STATE.ROLE.EXT or DIR/STATE/ROLE.EXT (main variant N: STATE.main.N.EXT; stingers NAME.stinger.EXT, "
        "bridges NAME.bridge.EXT). Beats and downbeats are detected, or declared by a JSON sidecar "
        "(STATE.ROLE.json: {\"tempo\": 120, \"first_downbeat\": 0.5}) or the options below; every beat is moved "
        "onto the graph's exact grid, main loops are trimmed to whole bars with a seamless seam, tails are kept.",
    )
    m.add_argument("dir", help="folder of stem files")
    m.add_argument("--graph", required=True, help="graph TOML file whose states the files fill")
    m.add_argument("--out", default=None, help="bank folder (default: loops/NAME)")
    m.add_argument("--tempo", default=None, help="declare every file's tempo in bpm (default: sidecar, else detected)")
    m.add_argument("--downbeat", default=None, help="declare every file's first downbeat in seconds (default: sidecar, else detected)")
    m.set_defaults(func=_cmd_bank_import)


def _cmd_render(args: argparse.Namespace) -> int:
    from soundtrack.audio import write_audio
    from soundtrack.bank import open_bank
    from soundtrack.graph import load_graph
    from soundtrack.timeline import describe, load_script, plot_timeline, run_session

    graph = load_graph(args.graph)
    script = load_script(args.events)
    _, source = open_bank(graph, bank=args.bank, say=_say)
    result = run_session(graph, source, script, seed=args.seed)
    out = write_audio(Path(args.out), result.audio, result.sample_rate)
    for line in describe(result):
        print(line)
    print(f"{out}: {result.audio.shape[0] / result.sample_rate:.2f} s, {result.audio.shape[0]} frames at {result.sample_rate} Hz")
    if args.plot:
        print(f"  timeline: {plot_timeline(result, args.plot)}")
    return 0


def _add_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        help="play a scripted session offline to a WAV (and draw its timeline)",
        description="Play an event script (TOML: duration or end, and [[events]] with at = '12.5s' | 'bar 9' | '9:3' "
        "and event, param + value, stinger or tempo) through the sequencer, offline, and write the audio. Stems "
        "come from the graph's bank (loops/NAME), built first if it is missing or stale.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("graph", help="graph TOML file, e.g. graphs/dungeon.toml")
    p.add_argument("--events", required=True, help="event script TOML, e.g. graphs/dungeon_session.toml")
    p.add_argument("--out", required=True, help="audio file to write (.wav, .flac)")
    p.add_argument("--plot", default=None, help="also draw the timeline (waveform, states, transitions, layers, bars) to this PNG")
    p.add_argument("--bank", default=None, help="bank folder (default: loops/NAME)")
    p.add_argument("--seed", type=int, default=None, help="sequencer seed (default: the script's, else the graph's)")
    p.set_defaults(func=_cmd_render)


def _cmd_studio(args: argparse.Namespace) -> int:
    from soundtrack.studio.server import studio_main

    return studio_main(args.graph, port=args.port, host=args.host, allow_remote=args.allow_remote, token_file=args.token_file,
                       bank=args.bank, takes=args.takes, seed=args.seed, buffer_ms=args.buffer, say=_say)


def _add_studio(sub: argparse._SubParsersAction) -> None:
    from soundtrack.studio import DEFAULT_BUFFER_MS, DEFAULT_PORT, DEFAULT_TAKES

    p = sub.add_parser(
        "studio",
        help="see, hear and shape a graph live in the browser",
        description="Serve a local web page that plays GRAPH live (Web Audio, fed by the same sequencer the server "
        "uses): the graph as a diagram, a button per event, a slider per parameter, stingers on keys, a live "
        "timeline, and a form that regenerates one state while the rest plays (the TOML is written back with its "
        "comments). Prints the URL and opens nothing; loopback only unless --allow-remote (with a token: "
        "$SOUNDTRACK_TOKEN or --token-file). Takes are saved as a WAV and an event script for 'soundtrack render'.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("graph", help="graph TOML file, e.g. graphs/dungeon.toml (its bank loops/NAME is built first if missing)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (0: any free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on; loopback only unless --allow-remote")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host (requires a token)")
    p.add_argument("--token-file", metavar="FILE", default=None,
                   help="the page must be opened with ?token= this file's first line (or set $SOUNDTRACK_TOKEN)")
    p.add_argument("--bank", default=None, help="bank folder; None: loops/NAME beside the graph")
    p.add_argument("--takes", default=DEFAULT_TAKES, help="folder for saved takes (WAV + event script)")
    p.add_argument("--seed", type=int, default=None, help="sequencer seed (default: the graph's)")
    p.add_argument("--buffer", type=int, default=DEFAULT_BUFFER_MS, help="audio kept ahead of the browser's playback, in ms (its jitter buffer)")
    p.set_defaults(func=_cmd_studio)


def _cmd_graph_check(args: argparse.Namespace) -> int:
    from soundtrack.graph import load_graph
    from soundtrack.graphplot import check_graph

    report = check_graph(load_graph(args.graph))
    for w in report.warnings:
        print(f"warning: {w}")
    print(f"{args.graph}: OK: {report.summary()}")
    return 0


def _cmd_graph_show(args: argparse.Namespace) -> int:
    from soundtrack.graph import load_graph
    from soundtrack.graphplot import draw_graph

    print(draw_graph(load_graph(args.graph), args.out))
    return 0


def _add_graph(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("graph", help="check or draw a state graph",
                       description="Validate a graph TOML file or draw its states and transitions.")
    graph_sub = p.add_subparsers(dest="graph_command", metavar="ACTION")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
    c = graph_sub.add_parser("check", help="validate a graph (exit 2 on an error)",
                             description="Parse and validate a graph: unknown states or segments, events with two "
                             "meanings in one state, unreachable states, states with no way out, cues a '*' rule "
                             "needs but a source lacks. Prints OK with a summary, or the error.")
    c.add_argument("graph", help="graph TOML file")
    c.set_defaults(func=_cmd_graph_check)
    s = graph_sub.add_parser("show", help="draw the state graph to a PNG",
                             description="Draw states (start and terminal marked) and transitions labelled with their events.")
    s.add_argument("graph", help="graph TOML file")
    s.add_argument("--out", required=True, help="PNG to write")
    s.set_defaults(func=_cmd_graph_show)


def _loudness_arg(text: str) -> float | None:
    from soundtrack.podcast import LOUDNESS_PRESETS

    if text in ("keep", "none"):
        return None
    if text in LOUDNESS_PRESETS:
        return LOUDNESS_PRESETS[text]
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} must be LUFS (e.g. -16), keep, or a preset: "
            + ", ".join(f"{k} ({v:g})" for k, v in LOUDNESS_PRESETS.items())) from None


def _podcast_common(p: argparse.ArgumentParser) -> None:
    from soundtrack.podcast.delivery import DEFAULT_BITRATE, SAMPLE_RATES, TRUE_PEAK_DB

    p.add_argument("--max-stretch", type=float, default=0.03,
                   help="largest tempo change allowed to land exactly (0.03 = 3 %%; Rubber Band R3, pitch unchanged)")
    p.add_argument("--seed", type=int, default=0, help="picks the main loop variants; same seed = same audio")
    p.add_argument("--explain", action="store_true", help="print the plan: sections, bars, stretch, where each lands")
    d = p.add_argument_group("delivery (the file written; loudness and true peak are measured on it, decoded)")
    d.add_argument("--loudness", type=_loudness_arg, default=-16.0,
                   help="integrated loudness target in LUFS, -40 to -5, a preset (podcast -16, streaming -14, "
                        "mono -19, broadcast -23) or 'keep'")
    d.add_argument("--true-peak", type=float, default=TRUE_PEAK_DB,
                   help="true-peak ceiling, dBTP (-20 to 0); lossy files are checked after encoding and encoded once "
                        "more if over")
    d.add_argument("--sample-rate", type=int, default=None,
                   help=f"output sample rate in Hz (default: the bank's): {', '.join(map(str, SAMPLE_RATES))}")
    d.add_argument("--channels", type=int, default=None, choices=(1, 2), help="1 (mono) or 2 (stereo); default: as rendered")
    d.add_argument("--bitrate", default=DEFAULT_BITRATE, help="for .mp3, .m4a and .ogg, kbit/s (32k-320k)")
    d.add_argument("--title", default=None, help="title tag (MP3 ID3, M4A, FLAC/OGG comments)")
    d.add_argument("--artist", default=None, help="artist tag")
    d.add_argument("--album", default=None, help="album (show) tag")
    d.add_argument("--artwork", default=None, help="cover image (.jpg or .png) embedded in MP3 and M4A")


def _delivery(args: argparse.Namespace):
    from soundtrack.podcast import Delivery, Tags

    return Delivery(target_lufs=args.loudness, true_peak_db=args.true_peak, sample_rate=args.sample_rate,
                    channels=args.channels, bitrate=args.bitrate,
                    tags=Tags(title=args.title, artist=args.artist, album=args.album,
                              artwork=Path(args.artwork) if args.artwork else None))


def _report_line(rep, what: str = "") -> str:
    again = f" (encoded again: {rep.reencoded})" if rep.reencoded else ""
    return (f"{rep.path}: {what}{rep.frames} frames = {rep.frames / rep.sample_rate:.6f} s at {rep.sample_rate} Hz, "
            f"{rep.channels} ch, {rep.lufs:.1f} LUFS, true peak {rep.true_peak_db:.1f} dBTP (measured on the decoded "
            f"file){again}")


def _graph_of(target: str):
    """The graph of a graph .toml or of a bank folder, read; nothing is built."""
    from soundtrack.bank import open_bank
    from soundtrack.graph import load_graph

    p = Path(target)
    if p.is_dir():
        return open_bank(p)[0]  # a bank folder is opened as it is, never built
    return load_graph(p)


def _cmd_fill(args: argparse.Namespace) -> int:
    from soundtrack.bank import open_bank
    from soundtrack.files import exit_on_signals
    from soundtrack.podcast.episode import check_against_graph, check_duration
    from soundtrack.podcast.jobs import fill_file
    from soundtrack.podcast.plan import check_stretch

    delivery = _delivery(args)  # every option is checked before the bank is opened or anything rendered
    check_stretch(args.max_stretch)
    check_duration(args.duration, what="--duration")
    graph = _graph_of(args.graph)
    check_against_graph(graph, state=args.state)
    with exit_on_signals():
        _, source = open_bank(args.graph if Path(args.graph).is_dir() else graph, say=_say)
        job = fill_file(graph, args.duration, args.out, source=source, state=args.state, max_stretch=args.max_stretch,
                        seed=args.seed, delivery=delivery, say=_say)
    if args.explain:
        print("\n".join(job.plan.explain()))
    print(_report_line(job.report) + f", stretch {job.plan.max_ratio_error * 100:.3f} %")
    return 0


def _add_fill(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fill",
        help="music of an exact duration: intro, main loops, an outro ringing out on the last sample",
        description="Fill exactly round(DURATION x sample rate) frames with a state of GRAPH: its intro, main loops "
        "and outro, the final chord ringing out (below -70 dBFS) on the last frame. A needed tempo change is spread "
        "evenly (Rubber Band R3) within --max-stretch; durations too short for that enter the music part-way with a "
        "fade-in; durations shorter than the outro play its ending (minimum 1 s, maximum 24 h). Rendered and "
        "encoded in blocks: memory stays flat however long the fill. Stems come from the graph's bank (loops/NAME "
        "next to the graph, else a cache), built first if missing or stale.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("graph", help="graph TOML file (or a bank directory)")
    p.add_argument("--duration", required=True, help="seconds (95.25), mm:ss(.s) or hh:mm:ss(.s); at most 24 h")
    p.add_argument("--out", required=True, help="audio file: .wav, .flac, .ogg, .mp3, .m4a, .aac")
    p.add_argument("--state", default=None, help="state to play (default: the graph's start state)")
    _podcast_common(p)
    p.set_defaults(func=_cmd_fill)


def _mix_settings(args: argparse.Namespace):
    from soundtrack.podcast.duck import DuckSettings
    from soundtrack.podcast.mixdown import BedLevels, MixSettings

    duck = DuckSettings(attack=args.duck_attack, release=args.duck_release, hold=args.duck_hold)
    bed = BedLevels.parse(args.bed)
    if args.duck_db is not None:
        DuckSettings(depth_db=args.duck_db)  # the same range check as the ducker's own
        bed = BedLevels(speech=bed.pause + args.duck_db, pause=bed.pause)
    return MixSettings(bed=bed, voice_lufs=args.voice_lufs, duck=duck)


def _episodes(args: argparse.Namespace) -> list[dict]:
    """The episodes of one run: the options' own, or each of --episodes (a folder, or a TOML list)."""
    from soundtrack.podcast.batch import find_episodes

    if args.episodes is None:
        if args.chapters is None:
            raise SoundtrackError("give --chapters FILE (or --episodes DIR|LIST.toml for several episodes)")
        return [{"chapters": args.chapters, "voice": args.voice, "out": args.out, "mix": args.mix,
                 "preview": args.preview, "chapters_out": args.chapters_out, "duration": args.duration}]
    if args.out or args.mix or args.chapters or args.voice or args.preview:
        raise SoundtrackError("--episodes takes each episode's files from the folder or list; use --out-dir and "
                              "--format, not --chapters/--voice/--out/--mix/--preview")
    return find_episodes(args.episodes, out_dir=args.out_dir, fmt=args.format)


def _cmd_score(args: argparse.Namespace) -> int:
    from soundtrack.bank import open_bank
    from soundtrack.files import exit_on_signals
    from soundtrack.podcast import MusicSpans, load_chapters
    from soundtrack.podcast.episode import check_against_graph
    from soundtrack.podcast.explain import chapter_table
    from soundtrack.podcast.jobs import check_score_options, score_files
    from soundtrack.podcast.plan import check_stretch

    # every option and every input is checked before the bank is opened or anything rendered
    delivery = _delivery(args)
    mixing = _mix_settings(args)
    music = MusicSpans.parse(args.music)
    check_stretch(args.max_stretch)
    episodes = _episodes(args)
    graph = _graph_of(args.graph)
    for ep in episodes:
        ep["chapter_list"] = load_chapters(ep["chapters"])
        check_against_graph(graph, ep["chapter_list"], sting=args.sting)
        check_score_options(out=Path(ep["out"]) if ep["out"] else None, mix=Path(ep["mix"]) if ep["mix"] else None,
                            preview=Path(ep["preview"]) if ep.get("preview") else None, voice=ep["voice"],
                            duration=ep.get("duration"), delivery=delivery)
    with exit_on_signals():
        _, source = open_bank(args.graph if Path(args.graph).is_dir() else graph, say=_say)  # once, for every episode
        for ep in episodes:
            job = score_files(graph, ep["chapter_list"], out=ep["out"], mix=ep["mix"], preview=ep.get("preview"),
                              voice=ep["voice"], duration=ep.get("duration"), source=source,
                              max_stretch=args.max_stretch, seed=args.seed, delivery=delivery, mixing=mixing,
                              music=music, sting=args.sting, lead_in=args.lead_in, chapters_out=ep.get("chapters_out"))
            for w in job.layout.warnings:
                print(f"warning: {w}", file=sys.stderr)
            if args.explain:
                print("\n".join(chapter_table(job.layout)))
                print("\n".join(job.layout.plan.explain()))
            chs = job.layout.chapters
            desc = ", ".join(f"{c.title or '#' + str(i + 1)}={c.state or 'silent'}" for i, c in enumerate(chs))
            if job.music is not None:
                print(_report_line(job.music, "music, ") + f"; {len(chs)} chapters ({desc}); chapters kept as "
                      f"{job.music.chapters} + {Path(job.music.path).stem}.chapters.json")
            if job.mix is not None:
                print(_report_line(job.mix, "mix, ") + f"; chapters kept as {job.mix.chapters} + "
                      f"{Path(job.mix.path).stem}.chapters.json")
            if job.gains is not None:
                m = job.measured
                print(f"  voice {m['voice_lufs']:.1f} LUFS speech-gated (gain {job.gains.voice_db:+.1f} dB); music "
                      + ", ".join(f"{m[k]:+.1f} LU under speech" if k == "music_speech_lu" else f"{m[k]:+.1f} LU in pauses"
                                  for k in ("music_speech_lu", "music_pause_lu") if k in m)
                      + f" (asked: -{mixing.bed.speech:g} / -{mixing.bed.pause:g}), measured before mastering")
            if job.preview is not None:
                print(_report_line(job.preview, "preview, ") + f"; changes labelled in "
                      f"{Path(job.preview.path).with_suffix('.labels.txt').name}")
    return 0


def _add_score(sub: argparse._SubParsersAction) -> None:
    from soundtrack.podcast.mixdown import BED_PAUSE_LU, BED_SPEECH_LU

    p = sub.add_parser(
        "score",
        help="music for a whole episode from its chapters, set under the voice, at podcast loudness",
        description="Score an episode: each chapter (Podcasting 2.0 JSON, Audacity labels or a TOML [[chapters]] "
        "list; times as seconds, mm:ss or hh:mm:ss) plays a state: its 'state' field (in labels: 'Title | state'), "
        "a title naming a state, else the start state first, the graph's terminal state last and a rotation of the "
        "others between. Each chapter's music starts exactly on its frame; a state's outro closes its own chapter; "
        "the episode ends on the last state's ring-out. Chapters can be silent ('music = false', 'Title | silent') "
        "or have music over their first seconds ('music = \"20s\"'). With --voice, the music is set --bed LU under "
        "the voice (speech-gated loudness), ducked under speech and up in pauses; --mix writes voice + music "
        "mastered to --loudness with the chapters (ID3 CHAP in MP3, MP4 chapters in M4A, a .chapters.json "
        "sidecar always). Options and inputs are all checked before anything is rendered; outputs are written "
        "together or not at all.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("graph", help="graph TOML file (or a bank directory)")
    p.add_argument("--chapters", default=None, help="chapters file: .json (Podcasting 2.0), .txt (Audacity labels), .toml")
    p.add_argument("--duration", default=None, help="episode length: seconds, mm:ss or hh:mm:ss (default: the voice's)")
    p.add_argument("--voice", default=None, help="voice track: WAV, FLAC, MP3, M4A/AAC, OGG/Opus, any rate or channels")
    p.add_argument("--out", default=None, help="music file to write (as it sits under the voice, when there is one)")
    p.add_argument("--mix", default=None, help="voice + music file to write (.mp3, .m4a, .ogg, .flac, .wav)")
    p.add_argument("--chapters-out", default=None, help="write the chapters with their states as Podcasting 2.0 JSON")
    p.add_argument("--preview", default=None, help="write excerpts of the mix around each chapter change (+-4 s) here, "
                   "with an Audacity label file beside it")
    m = p.add_argument_group("music against the voice")
    m.add_argument("--voice-lufs", type=float, default=None, help="gain the voice to this speech-gated loudness first (LUFS)")
    m.add_argument("--bed", default=f"{BED_SPEECH_LU:g},{BED_PAUSE_LU:g}",
                   help="music level in LU under the voice: SPEECH[,PAUSE] (under speech, in pauses)")
    m.add_argument("--duck-db", type=float, default=None,
                   help="instead of --bed's SPEECH: the music under speech this many dB under its level in pauses (0-60)")
    m.add_argument("--duck-attack", type=float, default=0.4, help="seconds to go down (ending where speech starts)")
    m.add_argument("--duck-release", type=float, default=0.6, help="seconds to come back up in a pause")
    m.add_argument("--duck-hold", "--pause", dest="duck_hold", type=float, default=0.8,
                   help="the music comes back up only in pauses longer than this, seconds")
    w = p.add_argument_group("where music plays")
    w.add_argument("--music", default="all", help="all, or only the episode's ends: intro=20s, outro=30s, intro=20s,outro=30s")
    w.add_argument("--sting", default=None, help="a stinger of the graph laid on every chapter change, its entry on the "
                   "chapter's frame (a chapter's own 'sting' wins; 'none' for none)")
    w.add_argument("--lead-in", default="music", choices=("music", "silence"),
                   help="before a first chapter that starts after 0: its music from 0 (with a warning) or silence")
    b = p.add_argument_group("several episodes in one run (the bank is opened once)")
    b.add_argument("--episodes", default=None, help="a folder of NAME.(wav|flac|mp3|m4a|ogg|opus) voices with NAME.(json|txt|toml) "
                   "chapters, or a TOML list of [[episodes]] with chapters, voice, mix/out")
    b.add_argument("--out-dir", default=None, help="where --episodes writes NAME.FORMAT (default: beside each voice)")
    b.add_argument("--format", default="mp3", help="the format --episodes writes: mp3, m4a, ogg, flac, wav")
    _podcast_common(p)
    p.set_defaults(func=_cmd_score)


# Each entry adds one subcommand; keep them in the order `--help` should list them.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_generate,
    _add_demo,
    _add_serve,
    _add_bank,
    _add_render,
    _add_studio,
    _add_graph,
    _add_fill,
    _add_score,
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
