"""Chapter lists in and out: Podcasting 2.0 JSON, Audacity labels, TOML; ffmetadata for ffmpeg.

Reading (`load_chapters`, by suffix or content). Times are seconds (``75.5``, ``"75.5s"``),
``mm:ss(.s)`` (``"1:15.5"``) or ``hh:mm:ss(.s)`` (``"0:01:15.5"``) wherever a time is read.

- **Podcasting 2.0 JSON** (``.json``): ``{"version": "1.2.0", "chapters": [{"startTime": 0,
  "title": "Intro"}, ...]}``; optional extra keys pick the music: ``state``, ``event``,
  ``music`` (true; false or ``"silent"`` for no music; ``"20s"`` for music over the chapter's
  first 20 s only) and ``sting`` (a stinger of the graph, its entry on the chapter's start).
- **Audacity labels** (``.txt``): ``start<TAB>end<TAB>label`` per line (a region's end is ignored,
  a point label has start == end). The label is the title; what follows a ``|`` picks the music
  and is not part of the title: ``Interview | bed``, ``Quiet bit | silent``,
  ``News | break | sting=chime``, ``Intro | theme | music=20s``.
- **TOML** (``.toml``): ``[[chapters]]`` (or ``[[events]]``) tables with ``at`` (or ``start``),
  and optional ``title``, ``state``, ``event``, ``music``, ``sting``.

Writing: `podcast_json` (Podcasting 2.0), `audacity_labels`, `ffmetadata` (ffmpeg's chapter
format, for MP3 ID3 CHAP frames and MP4 chapters).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soundtrack.errors import PodcastError

CHAPTER_SUFFIXES = (".json", ".txt", ".toml")
SILENT = "silent"
MAX_CHAPTERS = 10_000
MAX_CHAPTER_FILE_BYTES = 16 << 20


@dataclass(frozen=True)
class Chapter:
    """A chapter starting at `start` seconds; `state` / `event` (optional) pick its music;
    `music` False: no music in it; `music_seconds`: music over its first seconds only; `sting`:
    a stinger whose entry lands on its start; `frame` is filled in once planned."""

    start: float
    title: str
    state: str | None = None
    event: str | None = None
    frame: int = -1
    url: str | None = None
    music: bool = True
    music_seconds: float | None = None
    sting: str | None = None


_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d*)?)$")


def parse_time(v: Any, where: str) -> float:
    """Seconds from a number, ``"12.5"``, ``"12.5s"``, ``"mm:ss(.s)"`` or ``"hh:mm:ss(.s)"``."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise PodcastError(f"{where} = {v!r} must be a time: seconds, mm:ss(.s) or hh:mm:ss(.s)")
    if isinstance(v, str):
        t = v.strip().lower()
        m = _CLOCK.match(t)
        if m:
            h, mm, ss = int(m.group(1) or 0), int(m.group(2)), float(m.group(3))
            if mm >= 60 and m.group(1) is not None or ss >= 60:
                raise PodcastError(f"{where} = {v!r}: minutes and seconds must be under 60")
            v = h * 3600 + mm * 60 + ss
        else:
            try:
                v = float(t.removesuffix("s").strip())
            except ValueError:
                raise PodcastError(f"{where} = {v!r} must be a time: seconds (12.5, '12.5s'), mm:ss(.s) or "
                                   "hh:mm:ss(.s)") from None
    if not v >= 0 or v == float("inf"):
        raise PodcastError(f"{where} = {v!r} must be a time of at least 0 s")
    return float(v)


_num = parse_time  # the name the readers below used


def _opt_str(d: dict[str, Any], key: str, where: str) -> str | None:
    v = d.get(key)
    if v is not None and not isinstance(v, str):
        raise PodcastError(f"{where}.{key} = {v!r} must be a string")
    return v


def _music(v: Any, where: str) -> tuple[bool, float | None]:
    """(music, music_seconds) from a chapter's ``music`` field."""
    if v is None or v is True:
        return True, None
    if v is False or (isinstance(v, str) and v.strip().lower() in (SILENT, "false", "off", "none", "no")):
        return False, None
    if isinstance(v, str) and v.strip().lower() in ("true", "on", "yes", "all"):
        return True, None
    secs = parse_time(v, f"{where}.music")
    if secs <= 0:
        return False, None
    return True, secs


def _chapter(start: float, title: str, d: dict[str, Any], where: str, *, url: str | None = None) -> Chapter:
    state = _opt_str(d, "state", where)
    music, secs = _music(d.get("music"), where)
    if state is not None and state.strip().lower() == SILENT:
        state, music, secs = None, False, None
    return Chapter(start, title, state, _opt_str(d, "event", where), url=url, music=music, music_seconds=secs,
                   sting=_opt_str(d, "sting", where))


def _check_count(items: list, path: str) -> None:
    if len(items) > MAX_CHAPTERS:
        raise PodcastError(f"{path}: {len(items)} chapters; at most {MAX_CHAPTERS} are read")


def parse_podcast_json(text: str, *, path: str = "<json>") -> list[Chapter]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise PodcastError(f"{path}: not JSON: {e}") from None
    items = data.get("chapters") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise PodcastError(f"{path}: expected Podcasting 2.0 chapters: an object with a \"chapters\" list")
    _check_count(items, path)
    out = []
    for i, c in enumerate(items):
        where = f"{path}: chapters[{i}]"
        if not isinstance(c, dict) or "startTime" not in c:
            raise PodcastError(f"{where} must be an object with startTime (seconds) and title")
        out.append(_chapter(parse_time(c["startTime"], f"{where}.startTime"), str(c.get("title", "")), c, where,
                            url=_opt_str(c, "url", where)))
    return out


def parse_label(label: str, where: str) -> tuple[str, dict[str, Any]]:
    """An Audacity label ``Title | state | sting=NAME | music=20s`` -> (title, fields)."""
    parts = [x.strip() for x in label.split("|")]
    title = parts[0]
    fields: dict[str, Any] = {}
    for tok in parts[1:]:
        if not tok:
            continue
        k, eq, v = tok.partition("=")
        k = k.strip().lower()
        if eq:
            if k not in ("state", "event", "sting", "music"):
                raise PodcastError(f"{where}: label field {tok!r}: use STATE, silent, state=, event=, sting= or music=")
            fields[k] = v.strip()
        elif k == SILENT:
            fields["music"] = False
        elif "state" in fields:
            raise PodcastError(f"{where}: label {label!r} names two states ({fields['state']!r}, {tok!r})")
        else:
            fields["state"] = tok
    return title, fields


def parse_audacity(text: str, *, path: str = "<labels>") -> list[Chapter]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("\\"):  # "\" lines carry spectral selections
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise PodcastError(f"{path}:{n}: expected 'start<TAB>end<TAB>label', got {line!r}")
        where = f"{path}:{n}"
        title, fields = parse_label(parts[2] if len(parts) > 2 else "", where)
        out.append(_chapter(parse_time(parts[0], f"{where} start"), title, fields, where))
        _check_count(out, path)
    return out


def parse_toml(text: str, *, path: str = "<toml>") -> list[Chapter]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PodcastError(f"{path}: not TOML: {e}") from None
    items = data.get("chapters", data.get("events"))
    if not isinstance(items, list):
        raise PodcastError(f"{path}: expected [[chapters]] tables with at = seconds and title / state / event")
    _check_count(items, path)
    out = []
    for i, c in enumerate(items):
        where = f"{path}: chapters[{i}]"
        if not isinstance(c, dict) or not ("at" in c or "start" in c):
            raise PodcastError(f"{where} needs at = seconds")
        out.append(_chapter(parse_time(c.get("at", c.get("start")), f"{where}.at"), str(c.get("title", "")), c, where))
    return out


def load_chapters(path: str | Path) -> list[Chapter]:
    """Chapters from a Podcasting 2.0 JSON, an Audacity label file or a TOML list (by suffix;
    an unknown suffix is tried as JSON, then labels)."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_CHAPTER_FILE_BYTES:
            raise PodcastError(f"{p}: {p.stat().st_size} bytes; a chapter file is at most {MAX_CHAPTER_FILE_BYTES >> 20} MB")
        text = p.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise PodcastError(f"{p}: cannot read chapters ({e.strerror})") from None
    except UnicodeDecodeError:
        raise PodcastError(f"{p}: not a text file (UTF-8); expected chapters as .json, .txt (Audacity labels) or .toml") from None
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
        if not c.music:
            d["music"] = False
        elif c.music_seconds is not None:
            d["music"] = f"{c.music_seconds:g}s"
        if c.sting:
            d["sting"] = c.sting
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


def ffmetadata(chapters: list[Chapter], end: float, *, title: str | None = None,
               tags: dict[str, str] | None = None) -> str:
    """ffmpeg's FFMETADATA1 text: global `tags` (title, artist, album, ...; `title` alone is
    the same as tags={"title": ...}), then one [CHAPTER] per chapter (millisecond timebase)."""
    lines = [";FFMETADATA1"]
    meta = dict(tags or {})
    if title:
        meta.setdefault("title", title)
    for k, v in meta.items():
        lines.append(f"{k}={_ffescape(v)}")
    for i, c in enumerate(chapters):
        stop = chapters[i + 1].start if i + 1 < len(chapters) else end
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={round(c.start * 1000)}", f"END={round(stop * 1000)}",
                  f"title={_ffescape(c.title)}"]
    return "\n".join(lines) + "\n"
