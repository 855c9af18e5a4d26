"""`soundtrack fill` and `soundtrack score`: exact beds and whole episodes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from soundtrack.cli.common import HelpFormatter, say
from soundtrack.errors import SoundtrackError


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
    from soundtrack.podcast.delivery import DEFAULT_BITRATE, LOUDNESS_PRESETS, SAMPLE_RATES, TRUE_PEAK_DB
    from soundtrack.podcast.plan import DEFAULT_MAX_STRETCH

    p.add_argument("--max-stretch", type=float, default=DEFAULT_MAX_STRETCH,
                   help="largest tempo change allowed to land exactly (0.03 = 3 %%; Rubber Band R3, pitch unchanged)")
    p.add_argument("--seed", type=int, default=0, help="picks the main loop variants; same seed = same audio")
    p.add_argument("--explain", action="store_true", help="print the plan: sections, bars, stretch, where each lands")
    d = p.add_argument_group("delivery (the file written; loudness and true peak are measured on it, decoded)")
    d.add_argument("--loudness", type=_loudness_arg, default=LOUDNESS_PRESETS["podcast"],
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
        _, source = open_bank(args.graph if Path(args.graph).is_dir() else graph, say=say)
        job = fill_file(graph, args.duration, args.out, source=source, state=args.state, max_stretch=args.max_stretch,
                        seed=args.seed, delivery=delivery, say=say)
    if args.explain:
        print("\n".join(job.plan.explain()))
    print(_report_line(job.report) + f", stretch {job.plan.max_ratio_error * 100:.3f} %")
    return 0


def add_fill(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fill",
        help="music of an exact duration: intro, main loops, an outro ringing out on the last sample",
        description="Fill exactly round(DURATION x sample rate) frames with a state of GRAPH: its intro, main loops "
        "and outro, the final chord ringing out (below -70 dBFS) on the last frame. A needed tempo change is spread "
        "evenly (Rubber Band R3) within --max-stretch; durations too short for that enter the music part-way with a "
        "fade-in; durations shorter than the outro play its ending (minimum 1 s, maximum 24 h). Rendered and "
        "encoded in blocks: memory stays flat however long the fill. Stems come from the graph's bank (loops/NAME "
        "next to the graph, else a cache), built first if missing or stale.",
        formatter_class=HelpFormatter,
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
        _, source = open_bank(args.graph if Path(args.graph).is_dir() else graph, say=say)  # once, for every episode
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


def add_score(sub: argparse._SubParsersAction) -> None:
    from soundtrack.podcast.duck import DuckSettings
    from soundtrack.podcast.mixdown import BED_PAUSE_LU, BED_SPEECH_LU

    duck = DuckSettings()  # the library's defaults

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
        formatter_class=HelpFormatter,
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
    m.add_argument("--duck-attack", type=float, default=duck.attack, help="seconds to go down (ending where speech starts)")
    m.add_argument("--duck-release", type=float, default=duck.release, help="seconds to come back up in a pause")
    m.add_argument("--duck-hold", "--pause", dest="duck_hold", type=float, default=duck.hold,
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
