"""Several episodes in one `soundtrack score` run (`--episodes`): found in a folder or listed.

- A **folder**: every voice file ``NAME.EXT`` (EXT one of `VOICE_SUFFIXES`) with a chapter file
  ``NAME.json``, ``NAME.txt`` or ``NAME.toml`` beside it is an episode; the mix goes to
  ``OUT_DIR/NAME.FORMAT`` (OUT_DIR defaults to the folder). A voice without chapters is refused.
- A **TOML list**: ``[[episodes]]`` tables with ``chapters`` (required), ``voice``, ``duration``,
  ``mix``, ``out`` and ``preview`` (paths relative to the list's folder); without ``mix``/``out``,
  the mix (or, without a voice, the music) goes to ``OUT_DIR/NAME.FORMAT`` with NAME the chapter
  file's stem.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from soundtrack.errors import PodcastError
from soundtrack.podcast.delivery import FORMATS

VOICE_SUFFIXES = (".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus")
CHAPTER_SUFFIXES = (".json", ".txt", ".toml")
MAX_EPISODES = 1000


def _fmt(fmt: str) -> str:
    ext = "." + fmt.lower().lstrip(".")
    if ext not in FORMATS:
        raise PodcastError(f"--format {fmt!r} must be one of {', '.join(f.lstrip('.') for f in FORMATS)}")
    return ext


def find_episodes(where: str | Path, *, out_dir: str | Path | None, fmt: str) -> list[dict]:
    """The episodes in a folder or a TOML list (see the module docstring), as dicts of chapters,
    voice, out, mix, preview, duration, chapters_out."""
    ext = _fmt(fmt)
    p = Path(where)
    if p.is_dir():
        eps = []
        voices = sorted(q for q in p.iterdir() if q.suffix.lower() in VOICE_SUFFIXES and not q.name.startswith("."))
        dest = Path(out_dir) if out_dir else p
        for v in voices:
            ch = next((v.with_suffix(s) for s in CHAPTER_SUFFIXES if v.with_suffix(s).is_file()), None)
            if ch is None:
                raise PodcastError(f"--episodes {p}: voice {v.name} has no chapters beside it "
                                   f"({', '.join(v.stem + s for s in CHAPTER_SUFFIXES)})")
            out = dest / (v.stem + ext)
            if out.resolve() == v.resolve():
                out = dest / (v.stem + ".scored" + ext)
            eps.append({"chapters": ch, "voice": v, "mix": out, "out": None, "preview": None, "duration": None,
                        "chapters_out": None})
        if not eps:
            raise PodcastError(f"--episodes {p}: no voice files ({', '.join(VOICE_SUFFIXES)}) with chapters in it")
        return _checked(eps, p)
    if p.suffix.lower() != ".toml" or not p.is_file():
        raise PodcastError(f"--episodes {p}: expected a folder of voice + chapter files or a .toml list of [[episodes]]")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PodcastError(f"--episodes {p}: cannot read the list: {exc}") from None
    items = data.get("episodes")
    if not isinstance(items, list) or not items:
        raise PodcastError(f"--episodes {p}: expected [[episodes]] tables with chapters = FILE")
    base = p.parent
    dest = Path(out_dir) if out_dir else base
    eps = []
    for i, e in enumerate(items):
        where_ = f"--episodes {p}: episodes[{i}]"
        if not isinstance(e, dict) or not isinstance(e.get("chapters"), str):
            raise PodcastError(f"{where_} needs chapters = \"FILE\"")
        for k in ("voice", "mix", "out", "preview"):
            if k in e and not isinstance(e[k], str):
                raise PodcastError(f"{where_}.{k} = {e[k]!r} must be a path")
        unknown = set(e) - {"chapters", "voice", "mix", "out", "preview", "duration"}
        if unknown:
            raise PodcastError(f"{where_}: unknown key {sorted(unknown)[0]!r}; keys are chapters, voice, mix, out, "
                               "preview, duration")
        ch = base / e["chapters"]
        ep = {"chapters": ch, "voice": base / e["voice"] if e.get("voice") else None,
              "mix": base / e["mix"] if e.get("mix") else None, "out": base / e["out"] if e.get("out") else None,
              "preview": base / e["preview"] if e.get("preview") else None,
              "duration": e.get("duration"), "chapters_out": None}
        if ep["mix"] is None and ep["out"] is None:
            ep["mix" if ep["voice"] is not None else "out"] = dest / (ch.stem + ext)
        eps.append(ep)
    return _checked(eps, p)


def _checked(eps: list[dict], where: Path) -> list[dict]:
    if len(eps) > MAX_EPISODES:
        raise PodcastError(f"--episodes {where}: {len(eps)} episodes; at most {MAX_EPISODES} in one run")
    seen: dict[Path, int] = {}
    for i, e in enumerate(eps):
        for k in ("mix", "out", "preview"):
            if e[k] is not None:
                r = Path(e[k]).resolve()
                if r in seen:
                    raise PodcastError(f"--episodes {where}: episodes {seen[r] + 1} and {i + 1} both write {e[k]}")
                seen[r] = i
    return eps
