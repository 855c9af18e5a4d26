"""Whole jobs, file to file, in bounded memory: `fill_file` and `score_files` (what the CLI runs).

Every option is checked before any work (formats, tools, the voice file's header, the duration
ceiling, the chapters). Then the music is rendered block by block into a float scratch file
(measured as it is written), mixed with the voice on the fly, and each output is published by
`encode.publish` (gain, true-peak limit, encode in blocks, decode and measure). The scratch
files live in a ``.NAME.XXXXXXXX.part`` folder beside the first output and the outputs are
written to temporary names renamed together at the end (`files.atomic_paths`): an error or a
signal (with `files.exit_on_signals`, as the CLI runs them) leaves no partial output and no
scratch behind, only what was there before.

Memory stays flat with duration: blocks of `stream.BLOCK` frames, the stems of the sections in
play, and per-100 ms measurements (a few MB per hour).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from soundtrack.audio import LoudnessMeter
from soundtrack.errors import PodcastError
from soundtrack.files import atomic_paths, scratch_dir
from soundtrack.podcast.chapters import Chapter, audacity_labels, podcast_json
from soundtrack.podcast.delivery import Delivery
from soundtrack.podcast.encode import ExportReport, check_tools, publish
from soundtrack.podcast.episode import EpisodeLayout, MusicSpans, _resolve, check_duration, frames_of, plan_episode
from soundtrack.podcast.export import sidecar_path
from soundtrack.podcast.mixdown import BedGains, MixSettings, analyse_voice, bed_gains, mix_readers
from soundtrack.podcast.plan import DEFAULT_MAX_STRETCH, TAIL_CUT_DB, EpisodePlan, check_stretch, plan_fill
from soundtrack.podcast.render import render_plan
from soundtrack.podcast.stream import BLOCK, Scratch, measure
from soundtrack.podcast.voice import VoiceInfo, open_voice, probe_voice
from soundtrack.stem import StemSource

PREVIEW_SECONDS = 4.0  # a preview excerpt runs this long on each side of a chapter change
PREVIEW_GAP_SECONDS = 0.5
PREVIEW_FADE_SECONDS = 0.02


@dataclass
class FillJob:
    """A published fill: its plan and what the decoded file measured."""

    plan: EpisodePlan
    report: ExportReport
    sample_rate: int


@dataclass
class ScoreJob:
    """A published episode: the layout (plan, chapters, warnings), the reports of what was written
    (`music`, `mix`, `preview`: None where not asked for), the bed gains and the levels measured
    on the music as it sits in the mix, relative to the voice (LU; None without a voice)."""

    layout: EpisodeLayout
    music: ExportReport | None = None
    mix: ExportReport | None = None
    preview: ExportReport | None = None
    gains: BedGains | None = None
    measured: dict[str, float] = field(default_factory=dict)
    voice: VoiceInfo | None = None
    written: list[Path] = field(default_factory=list)


class _Sink:
    """Rendered blocks into a scratch file, created on the first block (its channel count)."""

    def __init__(self, path: Path, sample_rate: int) -> None:
        self.path, self.sample_rate = path, sample_rate
        self.scratch: Scratch | None = None

    def __call__(self, block: np.ndarray) -> None:
        if self.scratch is None:
            self.scratch = Scratch(self.path, self.sample_rate, block.shape[1])
        self.scratch.write(block)

    def done(self) -> Scratch:
        assert self.scratch is not None, "render_plan renders at least one frame"
        return self.scratch.close()


def _loudness(s: Scratch) -> LoudnessMeter:
    """The loudness meter of a `_Sink`'s scratch (always measured)."""
    assert s.loudness is not None, "a _Sink's scratch measures its loudness"
    return s.loudness


def fill_file(graph: Any, duration: float | str, out: str | Path, *, source: StemSource | None = None,
              state: str | None = None, max_stretch: float = DEFAULT_MAX_STRETCH,
              tail_cut_db: float | None = TAIL_CUT_DB, seed: int = 0, delivery: Delivery | None = None,
              say: Callable[[str], None] | None = None) -> FillJob:
    """Fill exactly `duration` seconds of `state` and publish it to `out` (see `episode.fill` for
    the music, `delivery` for the file). Checks every option before any work."""
    delivery = delivery or Delivery()
    check_stretch(max_stretch)
    check_duration(duration)
    out = delivery.check_path(out)
    check_tools([out])
    graph, source = _resolve(graph, source, say)
    sr = graph.sample_rate
    delivery.check_path(out, music_rate=sr)
    plan = plan_fill(graph, source, check_duration(duration, sr), state=state, max_stretch=max_stretch,
                     tail_cut_db=tail_cut_db, sample_rate=sr)
    with scratch_dir(out) as tmp, atomic_paths(out) as parts:
        sink = _Sink(tmp / "master.wav", sr)
        render_plan(graph, source, plan, seed=seed, sink=sink)
        master = sink.done()
        rep = publish(master.read, master.frames, sr, master.channels, out, parts[0], delivery=delivery, scratch=tmp,
                      lufs=_loudness(master).integrated())
        master.release()
    return FillJob(plan, rep, sr)


def check_score_options(*, out: Path | None, mix: Path | None, preview: Path | None, voice: str | Path | None,
                        duration: float | str | None, delivery: Delivery) -> VoiceInfo | None:
    """Everything about a score job that can be refused before any work, in one-line errors."""
    if out is None and mix is None and preview is None:
        raise PodcastError("give --out (the music), --mix (voice + music) or --preview (excerpts)")
    paths = [p for p in (out, mix, preview) if p is not None]
    for what, p in (("--out", out), ("--mix", mix), ("--preview", preview)):
        if p is not None:
            delivery.check_path(p, what=what)
    if mix is not None and voice is None:
        raise PodcastError("--mix needs --voice: the mix is the voice over the music")
    if len({q.resolve() for q in paths}) != len(paths):
        raise PodcastError("--out, --mix and --preview must be different files")
    check_tools(paths)
    info = probe_voice(voice) if voice is not None else None
    if duration is not None:
        check_duration(duration, what="--duration")
    elif info is None:
        raise PodcastError("give --duration SECONDS or --voice FILE (the episode is as long as the voice)")
    return info


def score_files(graph: Any, chapters: Sequence[Chapter], *, out: str | Path | None = None,
                mix: str | Path | None = None, preview: str | Path | None = None, voice: str | Path | None = None,
                duration: float | str | None = None, source: StemSource | None = None,
                max_stretch: float = DEFAULT_MAX_STRETCH, tail_cut_db: float | None = TAIL_CUT_DB, seed: int = 0,
                delivery: Delivery | None = None, mixing: MixSettings | None = None, music: MusicSpans | None = None,
                sting: str | None = None, lead_in: str = "music", chapters_out: str | Path | None = None,
                say: Callable[[str], None] | None = None) -> ScoreJob:
    """Score an episode and publish it: `out` the music (as it sits under the voice, at the mix's
    gain, when there is a voice), `mix` voice + music, `preview` excerpts around each chapter
    change, `chapters_out` the chapters with their states (Podcasting 2.0 JSON). With `voice` the
    episode is as long as the voice (unless `duration`) and the music is set against it
    (`mixdown`); without, the music is normalised on its own."""
    delivery = delivery or Delivery()
    mixing = mixing or MixSettings()
    check_stretch(max_stretch)
    out_p, mix_p, prev_p = (Path(x) if x is not None else None for x in (out, mix, preview))
    info = check_score_options(out=out_p, mix=mix_p, preview=prev_p, voice=voice, duration=duration, delivery=delivery)
    graph, source = _resolve(graph, source, say)
    sr = graph.sample_rate
    for what, p in (("--out", out_p), ("--mix", mix_p), ("--preview", prev_p)):
        if p is not None:
            delivery.check_path(p, what=what, music_rate=sr)
    first = next(p for p in (mix_p, out_p, prev_p) if p is not None)
    targets: list[Path] = []
    for p in (out_p, mix_p):
        if p is not None:
            targets += [p, sidecar_path(p)]
    if prev_p is not None:
        targets += [prev_p, prev_p.with_suffix(".labels.txt")]
    if chapters_out is not None:
        targets.append(Path(chapters_out))
    job = ScoreJob(layout=None)  # type: ignore[arg-type]
    with scratch_dir(first) as tmp, atomic_paths(*targets) as parts:
        part = dict(zip(targets, parts))
        v = open_voice(voice, sr, tmp, info=info) if voice is not None else None
        if v is not None:
            job.voice = v.info
        if duration is not None:
            frames = frames_of(duration, sr)
        else:
            assert v is not None, "check_score_options: no --duration needs a voice"
            frames = v.frames
        lay = plan_episode(graph, source, chapters, Fraction(frames, sr), max_stretch=max_stretch,
                           tail_cut_db=tail_cut_db, sample_rate=sr, music=music, sting=sting,
                           lead_in=lead_in)  # type: ignore[arg-type]
        job.layout = lay
        sink = _Sink(tmp / "music.wav", sr)
        render_plan(graph, source, lay.plan, rules=lay.rules, seed=seed, sink=sink)
        m = sink.done()
        ch = m.channels
        if v is not None:
            an = analyse_voice(v.read, frames, sr, v.channels, ch, mixing.duck)
            gains = bed_gains(_loudness(m).block_powers(), an, mixing)
            job.gains = gains
            mixr, bedr = mix_readers(m.read, ch, v.read, v.channels, an, gains)
            mix_lufs, bed_powers = _measure_mix(mixr, bedr, frames, sr, ch)
            gain = 0.0 if delivery.target_lufs is None else delivery.target_lufs - mix_lufs
            job.measured = _relative_levels(bed_powers, an, gains)
        else:
            mixr = bedr = m.read
            mix_lufs = _loudness(m).integrated()
            gain = 0.0 if delivery.target_lufs is None or mix_lufs <= -70 else delivery.target_lufs - mix_lufs
        if delivery.sample_rate not in (None, sr) or delivery.channels not in (None, ch):
            lufs, _ = measure(_remapped(mixr, frames, sr, ch, delivery), *_delivered(frames, sr, ch, delivery))
            gain = 0.0 if delivery.target_lufs is None else delivery.target_lufs - lufs
        chs = lay.chapters
        if mix_p is not None:
            job.mix = publish(mixr, frames, sr, ch, mix_p, part[mix_p], delivery=delivery, scratch=tmp, chapters=chs,
                              gain_db=gain)
            part[sidecar_path(mix_p)].write_text(podcast_json(chs), encoding="utf-8")
        if out_p is not None:
            job.music = publish(bedr, frames, sr, ch, out_p, part[out_p], delivery=delivery, scratch=tmp, chapters=chs,
                                gain_db=gain, aim=v is None)  # under a voice: the mix's gain, not a target
            part[sidecar_path(out_p)].write_text(podcast_json(chs), encoding="utf-8")
        if prev_p is not None:
            job.preview = _preview(mixr, frames, sr, ch, lay, prev_p, part[prev_p],
                                   part[prev_p.with_suffix(".labels.txt")], delivery=delivery, gain=gain, scratch=tmp)
        if chapters_out is not None:
            part[Path(chapters_out)].write_text(podcast_json(chs), encoding="utf-8")
        m.release()
        if v is not None:
            v.scratch.release()
    job.written = [t for t in targets if t.exists()]
    return job


def _delivered(frames: int, sr: int, ch: int, d: Delivery) -> tuple[int, int, int]:
    from soundtrack.podcast.stream import resampled_frames

    r = d.sample_rate or sr
    return resampled_frames(frames, sr, r), r, d.channels or ch


def _remapped(read, frames: int, sr: int, ch: int, d: Delivery):
    from soundtrack.podcast.stream import mapped_reader, resampled_reader

    r = mapped_reader(read, ch, d.channels or ch)
    return resampled_reader(r, frames, sr, d.sample_rate or sr)[0]


def _measure_mix(mixr, bedr, frames: int, sr: int, ch: int) -> tuple[float, np.ndarray]:
    """(the mix's integrated loudness, the placed music's block powers) in one pass."""
    from soundtrack.audio import LoudnessMeter

    mm, bm = LoudnessMeter(sr, ch), LoudnessMeter(sr, ch)
    for s in range(0, frames, BLOCK):
        e = min(frames, s + BLOCK)
        mm.add(mixr(s, e))
        bm.add(bedr(s, e))
    return mm.integrated(), bm.block_powers()


def _relative_levels(bed_powers: np.ndarray, an: Any, gains: BedGains) -> dict[str, float]:
    """The placed music's loudness under speech and in pauses, in LU relative to the voice,
    measured on the blocks where the music is fully down / fully up."""
    from soundtrack.audio import gated_loudness

    n = min(bed_powers.shape[0], an.powers.shape[0])
    out = {"voice_lufs": gains.voice_lufs}
    for k, val in (("speech", 1.0), ("pause", 0.0)):
        sel = an.ducked_blocks(n, val)
        if sel.any():
            out[f"music_{k}_lu"] = gated_loudness(bed_powers[:n], sel) - gains.voice_lufs
    return out


def _preview(read, frames: int, sr: int, ch: int, lay: EpisodeLayout, path: Path, part: Path, labels_part: Path, *,
             delivery: Delivery, gain: float, scratch: Path) -> ExportReport:
    """Excerpts of the mix around each chapter change (`PREVIEW_SECONDS` each side, faded at
    their edges, `PREVIEW_GAP_SECONDS` of silence between) and an Audacity label per change."""
    from soundtrack.audio import fade_curve

    half, gap, fade = (round(x * sr) for x in (PREVIEW_SECONDS, PREVIEW_GAP_SECONDS, PREVIEW_FADE_SECONDS))
    changes = [c for c in lay.chapters[1:]] or lay.chapters[:1]
    windows = []
    for c in changes:
        a, b = max(0, c.frame - half), min(frames, c.frame + half)
        if b > a:
            windows.append((a, b, c))
    total = sum(b - a for a, b, _ in windows) + gap * max(0, len(windows) - 1)
    spans = []
    pos = 0
    labels = []
    for a, b, c in windows:
        spans.append((pos, a, b))
        labels.append(Chapter((pos + c.frame - a) / sr, f"{c.title} ({c.state or 'silent'})"))
        pos += (b - a) + gap
    up = fade_curve(fade, "s-curve")[:, None]

    def rd(lo: int, hi: int) -> np.ndarray:
        out = np.zeros((hi - lo, ch), np.float32)
        for p0, a, b in spans:
            s, e = max(lo, p0), min(hi, p0 + (b - a))
            if e > s:
                x = read(a + s - p0, a + e - p0)
                idx = np.arange(s - p0, e - p0)
                g = np.ones((e - s, 1), np.float32)
                head, tail = idx < fade, idx >= (b - a) - fade
                g[head] = up[idx[head]]
                g[tail] = up[(b - a) - 1 - idx[tail]]
                out[s - lo : e - lo] = x * g
        return out

    rep = publish(rd, max(1, total), sr, ch, path, part, delivery=delivery, scratch=scratch, gain_db=gain, aim=False)
    labels_part.write_text(audacity_labels(labels, total / sr), encoding="utf-8")
    return rep
