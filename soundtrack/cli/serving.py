"""`soundtrack serve` and `soundtrack studio`: the engine for games, the page for composers."""

from __future__ import annotations

import argparse

from soundtrack.cli.common import HelpFormatter, say
from soundtrack.errors import SoundtrackError


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


def add_serve(sub: argparse._SubParsersAction) -> None:
    from soundtrack.ipc.device import BLOCK_FRAMES, QUEUE_BLOCKS

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
        formatter_class=HelpFormatter,
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
    p.add_argument("--block", type=int, default=BLOCK_FRAMES, help="frames per block for --output device")
    p.add_argument("--queue", type=int, default=QUEUE_BLOCKS, help="blocks queued ahead of the sound card for --output device")
    p.set_defaults(func=_cmd_serve)


def _cmd_studio(args: argparse.Namespace) -> int:
    from soundtrack.studio.server import studio_main

    return studio_main(args.graph, port=args.port, host=args.host, allow_remote=args.allow_remote, token_file=args.token_file,
                       bank=args.bank, takes=args.takes, seed=args.seed, buffer_ms=args.buffer, say=say)


def add_studio(sub: argparse._SubParsersAction) -> None:
    from soundtrack.studio import DEFAULT_BUFFER_MS, DEFAULT_PORT, DEFAULT_TAKES

    p = sub.add_parser(
        "studio",
        help="see, hear and shape a graph live in the browser",
        description="Serve a local web page that plays GRAPH live (Web Audio, fed by the same sequencer the server "
        "uses): the graph as a diagram, a button per event, a slider per parameter, stingers on keys, a live "
        "timeline, and a form that regenerates one state while the rest plays (the TOML is written back with its "
        "comments). Prints the URL and opens nothing; loopback only unless --allow-remote (with a token: "
        "$SOUNDTRACK_TOKEN or --token-file). Takes are saved as a WAV and an event script for 'soundtrack render'.",
        formatter_class=HelpFormatter,
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
