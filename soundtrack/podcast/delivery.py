"""What a published file should be: format, loudness, true-peak ceiling, rate, channels, bitrate,
tags. One place for the defaults and the limits, shared by the library and the CLI, and checked
before any work starts (`Delivery.check_path`, `Delivery.__post_init__`).

| suffix | written by | length | chapters | tags |
| --- | --- | --- | --- | --- |
| .wav | soundfile, 24-bit PCM | exact | NAME.chapters.json sidecar | - |
| .flac | soundfile, 24-bit | exact | sidecar | Vorbis comments (title, artist, album) |
| .ogg | soundfile, Vorbis, in chunks | exact (granule positions) | sidecar | Vorbis comments |
| .mp3 | ffmpeg + libmp3lame, LAME/Xing header | exact (decoders trim delay and padding) | ID3v2 CHAP/CTOC + sidecar | ID3v2 (title, artist, album, cover) |
| .m4a, .aac | ffmpeg AAC in MP4, edit list (`mp4gapless`) | exact | MP4 chapters + sidecar | MP4 (title, artist, album, cover) |

Lossy formats are limited to the ceiling less `LOSSY_MARGIN_DB` before encoding; the encoded file
is decoded and measured, and encoded once more with the ceiling lowered by the overshoot if its
true peak is still over (`encode.publish`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from soundtrack.errors import PodcastError

FORMATS = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac")
LOSSY = (".ogg", ".mp3", ".m4a", ".aac")
LOUDNESS_PRESETS = {"podcast": -16.0, "streaming": -14.0, "mono": -19.0, "broadcast": -23.0}
LOUDNESS_RANGE = (-40.0, -5.0)
TRUE_PEAK_DB = -1.0
TRUE_PEAK_RANGE = (-20.0, 0.0)
LOSSY_MARGIN_DB = 0.5  # first try: limit this far under the ceiling before a lossy encoder
SAMPLE_RATES = (8_000, 11_025, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000, 88_200, 96_000)
MP3_RATES = (8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000)
AAC_RATES = (8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000, 64_000, 88_200, 96_000)
BITRATE_RANGE = (32, 320)  # kbit/s
DEFAULT_BITRATE = "192k"
ARTWORK_SUFFIXES = (".jpg", ".jpeg", ".png")


def parse_bitrate(text: str | int) -> int:
    """'192k', '192', 192 or '192000' -> 192 (kbit/s), within `BITRATE_RANGE`."""
    s = str(text).strip().lower()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(k|kbps|kb/s|kbit/s)?", s)
    if not m:
        raise PodcastError(f"bitrate={text!r} must be kbit/s such as 128k or 192")
    v = float(m.group(1))
    if v >= 1000 and not m.group(2):
        v /= 1000
    if not BITRATE_RANGE[0] <= v <= BITRATE_RANGE[1]:
        raise PodcastError(f"bitrate={text!r} must be between {BITRATE_RANGE[0]}k and {BITRATE_RANGE[1]}k")
    return int(round(v))


@dataclass(frozen=True)
class Tags:
    """Metadata written into the file where the format carries it (see the module table)."""

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    artwork: Path | None = None  # a .jpg or .png cover (MP3 and M4A)

    def __post_init__(self) -> None:
        for k in ("title", "artist", "album"):
            v = getattr(self, k)
            if v is not None and (not isinstance(v, str) or len(v) > 1000 or "\0" in v):
                raise PodcastError(f"--{k} {v!r} must be text of at most 1000 characters")
        if self.artwork is not None:
            p = Path(self.artwork)
            if p.suffix.lower() not in ARTWORK_SUFFIXES:
                raise PodcastError(f"--artwork {p}: must be a {', '.join(ARTWORK_SUFFIXES)} image")
            if not p.is_file():
                raise PodcastError(f"--artwork {p}: no such file")
            object.__setattr__(self, "artwork", p)

    @property
    def text(self) -> dict[str, str]:
        return {k: v for k in ("title", "artist", "album") if (v := getattr(self, k))}

    def __bool__(self) -> bool:
        return bool(self.text) or self.artwork is not None


@dataclass(frozen=True)
class Delivery:
    """How to publish: `target_lufs` (None: keep the level), `true_peak_db` ceiling, output
    `sample_rate` (None: the music's), `channels` (None: the music's; 1 or 2), `bitrate` for lossy
    formats, `tags`."""

    target_lufs: float | None = -16.0
    true_peak_db: float = TRUE_PEAK_DB
    sample_rate: int | None = None
    channels: int | None = None
    bitrate: str = DEFAULT_BITRATE
    tags: Tags = field(default_factory=Tags)

    def __post_init__(self) -> None:
        t = self.target_lufs
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not LOUDNESS_RANGE[0] <= t <= LOUDNESS_RANGE[1]):
            raise PodcastError(f"target_lufs={t!r} must be between {LOUDNESS_RANGE[0]:g} and {LOUDNESS_RANGE[1]:g} LUFS "
                               "(presets: " + ", ".join(f"{k} {v:g}" for k, v in LOUDNESS_PRESETS.items()) + ")")
        tp = self.true_peak_db
        if isinstance(tp, bool) or not isinstance(tp, (int, float)) or not TRUE_PEAK_RANGE[0] <= tp <= TRUE_PEAK_RANGE[1]:
            raise PodcastError(f"true_peak_db={tp!r} must be between {TRUE_PEAK_RANGE[0]:g} and {TRUE_PEAK_RANGE[1]:g} dBTP")
        sr = self.sample_rate
        if sr is not None and (isinstance(sr, bool) or not isinstance(sr, int) or sr not in SAMPLE_RATES):
            raise PodcastError(f"sample_rate={sr!r} must be one of {', '.join(map(str, SAMPLE_RATES))} Hz")
        ch = self.channels
        if ch is not None and (isinstance(ch, bool) or ch not in (1, 2)):
            raise PodcastError(f"channels={ch!r} must be 1 (mono) or 2 (stereo)")
        object.__setattr__(self, "bitrate", f"{parse_bitrate(self.bitrate)}k")
        if not isinstance(self.tags, Tags):
            raise TypeError(f"tags must be a Tags, got {type(self.tags).__name__}")

    def check_path(self, path: str | Path, *, what: str = "--out", music_rate: int | None = None) -> Path:
        """`path` as a Path, refused (one line) when its suffix is not a known format, it is a
        folder, or the format cannot carry the rate asked for (a missing folder is created)."""
        p = Path(path)
        ext = p.suffix.lower()
        if ext not in FORMATS:
            raise PodcastError(f"{what} {p}: unsupported format {p.suffix!r}; use one of {', '.join(FORMATS)}")
        if p.is_dir():
            raise PodcastError(f"{what} {p}: is a folder; give a file name")
        sr = self.sample_rate or music_rate
        if sr is not None:
            if ext == ".mp3" and sr not in MP3_RATES:
                raise PodcastError(f"{what} {p}: MP3 cannot carry {sr} Hz; use --sample-rate {', '.join(map(str, MP3_RATES))}")
            if ext in (".m4a", ".aac") and sr not in AAC_RATES:
                raise PodcastError(f"{what} {p}: AAC cannot carry {sr} Hz; use --sample-rate {', '.join(map(str, AAC_RATES))}")
        return p

    @property
    def bitrate_kbps(self) -> int:
        return parse_bitrate(self.bitrate)


def lossy(path: str | Path) -> bool:
    return Path(path).suffix.lower() in LOSSY
