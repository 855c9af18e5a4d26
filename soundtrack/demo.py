"""`soundtrack demo` (and `make demo`): the main jobs on the built-in generator, into one folder.

1. a handful of stems from graphs/dungeon.toml and graphs/podcast.toml, with sidecars and MIDI;
2. the dungeon loop bank, built incrementally into loops/dungeon/;
3. a scripted dungeon session (explore -> enemy spotted -> combat with rising intensity -> boss ->
   victory) rendered to a WAV, with its timeline and the state graph as pictures;
4. a podcast bed filled to an exact duration.
"""

from __future__ import annotations

import json
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

    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    graphs = {name: load_graph(GRAPHS / f"{name}.toml") for name in ("dungeon", "podcast")}

    _say("1/4 generating example stems with the procedural generator")
    from soundtrack.bank import make_plan

    gen = get_generator("procedural")
    stems_dir = out / "stems"
    for gname, ids in STEMS.items():
        planned = {p.id: p for p in make_plan(graphs[gname]).stems}
        for sid in ids:
            stem = gen.generate(planned[sid].spec)
            base = stems_dir / f"{gname}-{sid.replace('/', '-')}"
            written.append(write_audio(base.with_suffix(".wav"), stem.mix, stem.sample_rate))
            base.with_suffix(".json").write_text(json.dumps(stem.info(), indent=2) + "\n")
            if stem.midi:
                base.with_suffix(".mid").write_bytes(stem.midi)
            info = stem.info()
            _say(f"   {base.name}.wav: {info['style']} {info['role']}, {info['bars']} bars at {info['tempo']:g} bpm "
                 f"in {info['key']}, {info['frames'] / info['sample_rate']:.1f} s")

    _say("2/4 building the dungeon loop bank (incremental: an unchanged graph rebuilds in well under a second)")
    from soundtrack.bank import Bank, build_bank, default_out
    from soundtrack.bank.progress import ConsoleProgress

    dungeon = graphs["dungeon"]
    report = build_bank(dungeon, progress=ConsoleProgress(label="   dungeon bank"))
    _say(f"   {default_out(dungeon)}: {report.stems} stems, {len(report.generated)} generated, "
         f"{len(report.reused)} reused, {report.seconds:.1f} s")

    _say("3/4 playing a scripted dungeon session")
    from soundtrack.graphplot import draw_graph
    from soundtrack.timeline import describe, load_script, plot_timeline, run_session

    script = load_script(GRAPHS / "dungeon_session.toml")
    result = run_session(dungeon, Bank(default_out(dungeon), graph=dungeon), script)
    written.append(write_audio(out / "dungeon_session.wav", result.audio, result.sample_rate))
    written.append(plot_timeline(result, out / "dungeon_timeline.png"))
    written.append(draw_graph(dungeon, out / "dungeon_graph.png"))
    for line in describe(result):
        _say(f"   {line}")

    _say("4/4 filling a podcast bed to exactly 95.25 s")
    try:
        from soundtrack import podcast
    except ImportError:
        podcast = None  # type: ignore[assignment]
    if podcast is not None and hasattr(podcast, "fill"):
        res = podcast.fill(graphs["podcast"], 95.25, state="bed")
        written.append(write_audio(out / "podcast_bed_95.25s.wav", res.audio, graphs["podcast"].sample_rate))
        _say(f"   {len(res.audio)} frames = {len(res.audio) / graphs['podcast'].sample_rate:.5f} s")

    _say(f"\nDone in {time.perf_counter() - t0:.0f} s. Listen and look in {out.resolve()}:")
    for p in written:
        _say(f"   {p}")
    _say(f"   {stems_dir}/ (WAV + JSON grid sidecar + MIDI per stem)")
    return 0
