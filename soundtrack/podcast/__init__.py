"""Podcast and video: fill an exact duration, score a whole episode, duck under speech, publish.

    from soundtrack.podcast import Chapter, fill, load_chapters, score_episode
    from soundtrack.podcast.jobs import fill_file, score_files
    r = fill(graph, 95.25, source=bank)          # r.audio: exactly round(95.25 * sr) frames
    print("\\n".join(r.plan.explain()))
    ep = score_episode(graph, load_chapters("ch.txt"), duration=600.0, source=bank)   # in memory
    job = score_files(graph, load_chapters("ch.txt"), voice="voice.m4a", mix="episode.mp3")  # flat memory

- `plan`: exact-duration planning of fills (pure arithmetic on stem grids); `sections`: an episode's
  runs of chapters as exact sections; `episode`: chapters -> states -> runs -> one plan, and the
  `fill` / `score_episode` entry points; `render`: plays a plan through the sequencer, in blocks;
  `chapters`: reading and writing chapter lists; `duck` and `mixdown`: the music against the voice;
  `voice`: voice files decoded to their true length; `delivery`, `encode`, `export`, `stream`:
  formats, loudness, true peak and writing in bounded blocks; `jobs`: whole file-to-file jobs in
  flat memory (what the CLI runs); `batch`: several episodes; `explain`: the per-chapter table.
"""

from soundtrack.podcast.chapters import Chapter, load_chapters
from soundtrack.podcast.delivery import Delivery, Tags
from soundtrack.podcast.duck import DuckSettings, duck, duck_gain, mix_voice
from soundtrack.podcast.episode import EpisodeResult, FillResult, MusicSpans, fill, open_stems, plan_episode, score_episode
from soundtrack.podcast.export import FORMATS, LOUDNESS_PRESETS, export, read_voice
from soundtrack.podcast.plan import (
    DEFAULT_MAX_STRETCH,
    MAX_FILL_SECONDS,
    MIN_FILL_SECONDS,
    TAIL_CUT_DB,
    EpisodePlan,
    PodcastError,
    Section,
    plan_fill,
)

__all__ = [
    "DEFAULT_MAX_STRETCH",
    "FORMATS",
    "MAX_FILL_SECONDS",
    "Delivery",
    "MusicSpans",
    "Tags",
    "LOUDNESS_PRESETS",
    "MIN_FILL_SECONDS",
    "TAIL_CUT_DB",
    "Chapter",
    "DuckSettings",
    "EpisodePlan",
    "EpisodeResult",
    "FillResult",
    "PodcastError",
    "Section",
    "duck",
    "duck_gain",
    "mix_voice",
    "export",
    "fill",
    "load_chapters",
    "open_stems",
    "plan_episode",
    "plan_fill",
    "read_voice",
    "score_episode",
]
