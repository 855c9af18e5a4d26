"""`soundtrack bank build | verify | info | import`: loop banks."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from soundtrack.cli.common import positive_int


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


def add_bank(sub: argparse._SubParsersAction) -> None:
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
    b.add_argument("--jobs", type=positive_int, default=None, help="worker processes (default: all cores; 1 = in this process)")
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
    add_bank_import(bank_sub)


def _cmd_bank_import(args: argparse.Namespace) -> int:
    from soundtrack.bank import default_out, import_bank
    from soundtrack.graph import load_graph

    graph = load_graph(args.graph)
    out = Path(args.out) if args.out else default_out(graph)
    r = import_bank(graph, args.dir, out=out, tempo=args.tempo, first_downbeat=args.downbeat)
    print(f"{out}: imported {len(r.generated)} stems, reused {len(r.reused)} unchanged, in {r.seconds:.1f} s")
    return 0


def add_bank_import(bank_sub: argparse._SubParsersAction) -> None:
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
