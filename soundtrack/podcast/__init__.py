"""Podcast and video: fill an exact duration, score a whole episode, duck under speech, publish.

    from soundtrack.podcast import fill, score_episode, duck, export
    r = fill(graph, bank, 95.25)                 # r.audio: exactly round(95.25 * sr) frames
    print("\\n".join(r.plan.explain()))
    ep = score_episode(graph, bank, chapters, duration=3600.0)
    mix = ep.music + voice; export(mix, sr, "episode.mp3", chapters=ep.chapters)

- `plan`: exact-duration planning (pure arithmetic on stem grids); `render`: plays a plan through
  the sequencer; `episode`: chapters -> sections -> one plan; `chapters`: reading and writing
  chapter lists; `duck`: sidechain ducking under a voice; `export`: loudness and file formats.
"""

from soundtrack.podcast.chapters import Chapter, load_chapters
from soundtrack.podcast.delivery import Delivery, Tags
from soundtrack.podcast.duck import DuckSettings, duck, duck_gain, mix_voice
from soundtrack.podcast.episode import (
    EpisodeResult,
    FillResult,
    MusicSpans,
    fill,
    open_stems,
    plan_episode,
    score_episode,
)
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
