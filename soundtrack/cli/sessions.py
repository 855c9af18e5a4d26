"""`soundtrack render` and `soundtrack graph check | show`: scripted sessions and graphs."""

from __future__ import annotations

import argparse
from pathlib import Path

from soundtrack.cli.common import HelpFormatter, say


def _cmd_render(args: argparse.Namespace) -> int:
    from soundtrack.audio import write_audio
    from soundtrack.bank import open_bank
    from soundtrack.graph import load_graph
    from soundtrack.timeline import describe, load_script, plot_timeline, run_session

    graph = load_graph(args.graph)
    script = load_script(args.events)
    _, source = open_bank(graph, bank=args.bank, say=say)
    result = run_session(graph, source, script, seed=args.seed)
    out = write_audio(Path(args.out), result.audio, result.sample_rate)
    for line in describe(result):
        print(line)
    print(f"{out}: {result.audio.shape[0] / result.sample_rate:.2f} s, {result.audio.shape[0]} frames at {result.sample_rate} Hz")
    if args.plot:
        print(f"  timeline: {plot_timeline(result, args.plot)}")
    return 0


def add_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        help="play a scripted session offline to a WAV (and draw its timeline)",
        description="Play an event script (TOML: duration or end, and [[events]] with at = '12.5s' | 'bar 9' | '9:3' "
        "and event, param + value, stinger or tempo) through the sequencer, offline, and write the audio. Stems "
        "come from the graph's bank (loops/NAME), built first if it is missing or stale.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("graph", help="graph TOML file, e.g. graphs/dungeon.toml")
    p.add_argument("--events", required=True, help="event script TOML, e.g. graphs/dungeon_session.toml")
    p.add_argument("--out", required=True, help="audio file to write (.wav, .flac)")
    p.add_argument("--plot", default=None, help="also draw the timeline (waveform, states, transitions, layers, bars) to this PNG")
    p.add_argument("--bank", default=None, help="bank folder (default: loops/NAME)")
    p.add_argument("--seed", type=int, default=None, help="sequencer seed (default: the script's, else the graph's)")
    p.set_defaults(func=_cmd_render)


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


def add_graph(sub: argparse._SubParsersAction) -> None:
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
