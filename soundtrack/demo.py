"""`soundtrack demo` (and `make demo`): the main jobs on the built-in generator, into one folder.

1. a handful of stems from graphs/dungeon.toml and graphs/podcast.toml, with sidecars and MIDI;
2. the dungeon loop bank, built incrementally into loops/dungeon/;
3. a scripted dungeon session (explore -> enemy spotted -> combat with rising intensity -> boss ->
   victory) rendered to a WAV, with its timeline and the state graph as pictures;
4. a podcast bed filled to exactly 30.0 s;
5. a short episode scored from its chapters under a spoken voice (espeak-ng), ducked, at -16 LUFS,
   exported to MP3 with chapters.
"""

from __future__ import annotations

import time
from pathlib import Path

from soundtrack.graph import load_graph

ROOT = Path(__file__).resolve().parent.parent
GRAPHS = ROOT / "graphs"

# bank stem ids (see soundtrack.bank.plan): a few stems that show the styles and the roles
STEMS = {
    "dungeon": ["explore/intro", "explore/main/0", "combat/main/0", "boss/main/0", "victory/outro"],
    "podcast": ["theme/main/0", "break/main/0"],
}


def _say(line: str) -> None:
    print(line, flush=True)


def run_demo(out: Path) -> int:
    from soundtrack.audio import write_audio
    from soundtrack.generate import get_generator
    from soundtrack.stemfile import write_stem

    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    graphs = {name: load_graph(GRAPHS / f"{name}.toml") for name in ("dungeon", "podcast")}

    _say("1/5 generating example stems with the procedural generator")
    from soundtrack.bank import make_plan

    gen = get_generator("procedural")
    stems_dir = out / "stems"
    for gname, ids in STEMS.items():
        planned = {p.id: p for p in make_plan(graphs[gname]).stems}
        for sid in ids:
            stem = gen.generate(planned[sid].spec)
            base = stems_dir / f"{gname}-{sid.replace('/', '-')}"
            paths = write_stem(stem, base.with_suffix(".wav"), midi=base.with_suffix(".mid") if stem.midi else None)
            written.append(paths[0])
            info = stem.info()
            _say(f"   {base.name}.wav: {info['style']} {info['role']}, {info['bars']} bars at {info['tempo']:g} bpm "
                 f"in {info['key']}, {info['frames'] / info['sample_rate']:.1f} s")

    _say("2/5 building the dungeon loop bank (incremental: an unchanged graph rebuilds in well under a second)")
    from soundtrack.bank import Bank, build_bank, default_out
    from soundtrack.bank.progress import ConsoleProgress

    dungeon = graphs["dungeon"]
    report = build_bank(dungeon, progress=ConsoleProgress(label="   dungeon bank"))
    _say(f"   {default_out(dungeon)}: {report.stems} stems, {len(report.generated)} generated, "
         f"{len(report.reused)} reused, {report.seconds:.1f} s")

    _say("3/5 playing a scripted dungeon session")
    from soundtrack.graphplot import draw_graph
    from soundtrack.timeline import describe, load_script, plot_timeline, run_session

    script = load_script(GRAPHS / "dungeon_session.toml")
    result = run_session(dungeon, Bank(default_out(dungeon), graph=dungeon), script)
    written.append(write_audio(out / "dungeon_session.wav", result.audio, result.sample_rate))
    written.append(plot_timeline(result, out / "dungeon_timeline.png"))
    written.append(draw_graph(dungeon, out / "dungeon_graph.png"))
    for line in describe(result):
        _say(f"   {line}")

    _say("4/5 filling a podcast bed to exactly 30.0 s")
    from soundtrack import podcast

    pod = graphs["podcast"]
    res = podcast.fill(pod, 30.0, state="bed")
    written.append(write_audio(out / "podcast_bed_30s.wav", res.audio, pod.sample_rate))
    _say(f"   {len(res.audio)} frames = exactly {len(res.audio) / pod.sample_rate:g} s")
    for line in res.plan.explain():
        _say(f"   {line}")

    _say("5/5 scoring a short episode under a spoken voice (espeak-ng)")
    voice, chapters = _demo_voice(pod.sample_rate)
    if voice is None:
        _say("   skipped: espeak-ng is not installed (Debian/Ubuntu: sudo apt-get install espeak-ng)")
    else:
        duration = voice.shape[0] / pod.sample_rate
        ep = podcast.score_episode(pod, chapters, duration=duration)
        music = podcast.duck(ep.audio, voice, pod.sample_rate)
        rep = podcast.export(podcast.mix_voice(music, voice), pod.sample_rate, out / "podcast_episode.mp3",
                             chapters=ep.chapters, title="soundtrack demo episode")
        written.append(rep.path)
        _say(f"   {rep.path.name}: {duration:.2f} s at {rep.lufs:.1f} LUFS, true peak {rep.true_peak_db:.1f} dBTP, "
             f"chapters as {rep.chapters}")
        for c in ep.chapters:
            _say(f"   chapter {c.title!r} ({c.state}) starts at frame {c.frame} = {c.start:.3f} s")

    _say(f"\nDone in {time.perf_counter() - t0:.0f} s. Listen and look in {out.resolve()}:")
    for p in written:
        _say(f"   {p}")
    _say(f"   {stems_dir}/ (WAV + JSON grid sidecar + MIDI per stem)")
    return 0


# the demo episode: (chapter title, state, what the host says, seconds of music after it)
EPISODE = [
    ("Cold open", "theme", "Welcome to the soundtrack demo. Everything you hear under my voice was composed by the machine.", 2.5),
    ("Interview", "bed", "Today we talk about adaptive music. The bed ducks under speech and comes back up in the pauses.", 3.0),
    ("Break", "break", "Time for a short break.", 12.0),
    ("Goodbye", "outro", "That is all for today. The music ends on its final chord, exactly at the end.", 4.0),
]


def _demo_voice(sample_rate: int):
    """Speech for EPISODE from espeak-ng with pauses between lines, and the chapters it implies;
    (None, []) when espeak-ng is missing."""
    import shutil
    import subprocess
    import tempfile

    import numpy as np

    from soundtrack.audio import read_audio, resample
    from soundtrack.podcast import Chapter

    if shutil.which("espeak-ng") is None:
        return None, []
    parts, chapters, at = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (title, state, text, after) in enumerate(EPISODE):
            wav = Path(tmp) / f"{i}.wav"
            subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), text], check=True, capture_output=True)
            speech, sr = read_audio(wav, channels=1)
            speech = resample(speech, sr, sample_rate)
            lead = int(1.5 * sample_rate) if i == 0 else 0  # let the theme start before the voice
            chapters.append(Chapter(start=at / sample_rate, title=title, state=state))
            pause = int(after * sample_rate)
            parts += [np.zeros((lead, 1), np.float32), speech, np.zeros((pause, 1), np.float32)]
            at += lead + speech.shape[0] + pause
    voice = np.concatenate(parts)
    return np.repeat(voice, 2, axis=1) * np.float32(0.5), chapters
