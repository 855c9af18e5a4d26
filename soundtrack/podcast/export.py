"""Loudness and publishing of an array: normalize to a target, write WAV/FLAC/OGG/MP3/M4A with
chapters and tags.

`export(audio, sr, path, target_lufs=-16, chapters=...)` gains the audio to the target
integrated loudness (BS.1770-4) and limits it so its true peak stays at or under -1 dBTP (less a
margin before a lossy encoder, checked on the decoded file and encoded once more if over), then
writes by suffix (the table is in `delivery`), in bounded blocks, all or nothing with its
chapter sidecar. The loudness and true peak it reports are measured on the decoded file.

Presets: podcast -16 LUFS (Apple), streaming -14 (Spotify), mono -19 (Apple's mono equivalent of
-16), broadcast -23 (EBU R128).

For hour-long fills and episodes, `jobs` streams from the renderer to the encoder instead: this
function needs the whole array in memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from soundtrack.audio import as_frames
from soundtrack.files import atomic_paths, scratch_dir
from soundtrack.podcast.chapters import Chapter, podcast_json
from soundtrack.podcast.delivery import FORMATS, LOUDNESS_PRESETS, TRUE_PEAK_DB, Delivery, Tags
from soundtrack.podcast.encode import ExportReport, check_tools, publish
from soundtrack.podcast.stream import array_reader
from soundtrack.podcast.voice import read_voice

__all__ = ["FORMATS", "LOUDNESS_PRESETS", "TRUE_PEAK_DB", "ExportReport", "export", "read_voice", "sidecar_path"]


def sidecar_path(path: Path) -> Path:
    """Where the Podcasting 2.0 chapters of an export go: NAME.chapters.json beside it."""
    return path.with_name(path.stem + ".chapters.json")


def export(audio: np.ndarray, sample_rate: int, path: str | Path, *, target_lufs: float | None = -16.0,
           true_peak_db: float = TRUE_PEAK_DB, chapters: list[Chapter] | None = None, title: str | None = None,
           bitrate: str = "192k", delivery: Delivery | None = None) -> ExportReport:
    """Normalize `audio` (float32, frames x channels) to `target_lufs` (None: keep its level,
    still limited to `true_peak_db`) and write it to `path` by suffix. `delivery` (when given)
    carries every option instead (rate, channels, bitrate, tags)."""
    p = Path(path)
    d = delivery or Delivery(target_lufs=target_lufs, true_peak_db=true_peak_db, bitrate=bitrate,
                             tags=Tags(title=title))
    a = as_frames(audio)
    d.check_path(p, what="export", music_rate=sample_rate)
    check_tools([p])
    paths = [p] + ([sidecar_path(p)] if chapters else [])
    with scratch_dir(p) as tmp, atomic_paths(*paths) as parts:
        rep = publish(array_reader(a), a.shape[0], sample_rate, a.shape[1], p, parts[0], delivery=d, scratch=tmp,
                      chapters=chapters)
        if chapters:
            parts[1].write_text(podcast_json(chapters), encoding="utf-8")
    if chapters:
        kept = rep.chapters if rep.chapters != "none" else ""
        rep = _with_chapters(rep, (kept + " + " if kept else "") + sidecar_path(p).name)
    return rep


def _with_chapters(rep: ExportReport, kept: str) -> ExportReport:
    from dataclasses import replace

    return replace(rep, chapters=kept)
