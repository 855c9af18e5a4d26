"""Chapter lists in and out: Podcasting 2.0 JSON, Audacity labels, TOML; ffmetadata for ffmpeg.

Reading (`load_chapters`, by suffix or content):

- **Podcasting 2.0 JSON** (``.json``): ``{"version": "1.2.0", "chapters": [{"startTime": 0,
  "title": "Intro"}, ...]}``; optional extra keys ``state`` and ``event`` pick the music.
- **Audacity labels** (``.txt``): ``start<TAB>end<TAB>label`` per line (seconds; a region's end is
  ignored, a point label has start == end); the label is the title.
- **TOML** (``.toml``): ``[[chapters]]`` (or ``[[events]]``) tables with ``at`` (seconds, or
  ``"12.5s"``) or ``start``, and optional ``title``, ``state``, ``event``.

Writing: `podcast_json` (Podcasting 2.0), `audacity_labels`, `ffmetadata` (ffmpeg's chapter
format, for MP3 ID3 CHAP frames and MP4 chapters).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soundtrack.podcast.plan import PodcastError

CHAPTER_SUFFIXES = (".json", ".txt", ".toml")


@dataclass(frozen=True)
class Chapter:
    """A chapter starting at `start` seconds; `state` / `event` (optional) pick its music; `frame`
    is filled in once planned."""

    start: float
    title: str
    state: str | None = None
    event: str | None = None
    frame: int = -1
    url: str | None = None


def _num(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise PodcastError(f"{where} = {v!r} must be a number of seconds")
    if isinstance(v, str):
        t = v.strip().lower().removesuffix("s").strip()
        try:
            v = float(t)
        except ValueError:
            raise PodcastError(f"{where} = {v!r} must be a number of seconds such as 12.5 or '12.5s'") from None
    if not v >= 0:
        raise PodcastError(f"{where} = {v!r} must not be negative")
    return float(v)


def _opt_str(d: dict[str, Any], key: str, where: str) -> str | None:
    v = d.get(key)
    if v is not None and not isinstance(v, str):
        raise PodcastError(f"{where}.{key} = {v!r} must be a string")
    return v


def parse_podcast_json(text: str, *, path: str = "<json>") -> list[Chapter]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise PodcastError(f"{path}: not JSON: {e}") from None
    items = data.get("chapters") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise PodcastError(f"{path}: expected Podcasting 2.0 chapters: an object with a \"chapters\" list")
    out = []
    for i, c in enumerate(items):
        where = f"{path}: chapters[{i}]"
        if not isinstance(c, dict) or "startTime" not in c:
            raise PodcastError(f"{where} must be an object with startTime (seconds) and title")
        out.append(Chapter(_num(c["startTime"], f"{where}.startTime"), str(c.get("title", "")),
                           _opt_str(c, "state", where), _opt_str(c, "event", where), url=_opt_str(c, "url", where)))
    return out


def parse_audacity(text: str, *, path: str = "<labels>") -> list[Chapter]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("\\"):  # "\" lines carry spectral selections
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise PodcastError(f"{path}:{n}: expected 'start<TAB>end<TAB>label', got {line!r}")
        out.append(Chapter(_num(parts[0], f"{path}:{n} start"), parts[2].strip() if len(parts) > 2 else ""))
    return out


def parse_toml(text: str, *, path: str = "<toml>") -> list[Chapter]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PodcastError(f"{path}: not TOML: {e}") from None
    items = data.get("chapters", data.get("events"))
    if not isinstance(items, list):
        raise PodcastError(f"{path}: expected [[chapters]] tables with at = seconds and title / state / event")
    out = []
    for i, c in enumerate(items):
        where = f"{path}: chapters[{i}]"
        if not isinstance(c, dict) or not ("at" in c or "start" in c):
            raise PodcastError(f"{where} needs at = seconds")
        out.append(Chapter(_num(c.get("at", c.get("start")), f"{where}.at"), str(c.get("title", "")),
                           _opt_str(c, "state", where), _opt_str(c, "event", where)))
    return out


def load_chapters(path: str | Path) -> list[Chapter]:
    """Chapters from a Podcasting 2.0 JSON, an Audacity label file or a TOML list (by suffix;
    an unknown suffix is tried as JSON, then labels)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise PodcastError(f"{p}: cannot read chapters ({e.strerror})") from None
    suffix = p.suffix.lower()
    if suffix == ".json":
        return parse_podcast_json(text, path=str(p))
    if suffix == ".toml":
        return parse_toml(text, path=str(p))
    if suffix == ".txt" or "\t" in text:
        return parse_audacity(text, path=str(p))
    if text.lstrip().startswith("{"):
        return parse_podcast_json(text, path=str(p))
    raise PodcastError(f"{p}: unknown chapter format; use {', '.join(CHAPTER_SUFFIXES)}")


# -- writing -----------------------------------------------------------------------------------


def podcast_json(chapters: list[Chapter]) -> str:
    """Podcasting 2.0 chapters JSON (with each chapter's music state as an extra key)."""
    items = []
    for c in chapters:
        d: dict[str, Any] = {"startTime": round(c.start, 3), "title": c.title}
        if c.url:
            d["url"] = c.url
        if c.state:
            d["state"] = c.state
        items.append(d)
    return json.dumps({"version": "1.2.0", "chapters": items}, indent=2) + "\n"


def audacity_labels(chapters: list[Chapter], end: float) -> str:
    """An Audacity label track: one region per chapter, to the next chapter's start (or `end`)."""
    lines = []
    for i, c in enumerate(chapters):
        stop = chapters[i + 1].start if i + 1 < len(chapters) else end
        lines.append(f"{c.start:.6f}\t{stop:.6f}\t{c.title}")
    return "\n".join(lines) + "\n"


def _ffescape(s: str) -> str:
    for ch in ("\\", "=", ";", "#", "\n"):
        s = s.replace(ch, "\\" + ch)
    return s


def ffmetadata(chapters: list[Chapter], end: float, *, title: str | None = None) -> str:
    """ffmpeg's FFMETADATA1 text with one [CHAPTER] per chapter (millisecond timebase)."""
    lines = [";FFMETADATA1"]
    if title:
        lines.append(f"title={_ffescape(title)}")
    for i, c in enumerate(chapters):
        stop = chapters[i + 1].start if i + 1 < len(chapters) else end
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={round(c.start * 1000)}", f"END={round(stop * 1000)}",
                  f"title={_ffescape(c.title)}"]
    return "\n".join(lines) + "\n"
