"""Reading one value: a reader per row kind that checks the TOML value and converts it, and the
messages, which name the file, the table and the key, echo the value cut to 80 characters and fit
on one line:

    graphs/dungeon.toml: transitions[3].sync = 'bars' must be one of immediate, beat, bar,
    phrase, end, cue:NAME
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any, Callable, Iterable

from soundtrack.errors import GraphError, SoundtrackError
from soundtrack.graph.model import SYNCS
from soundtrack.graph.rows import (
    FADE_RULE,
    FILE_ROLES,
    GENERATOR_PATTERN,
    MAX_FADE_BARS,
    MAX_FADE_BEATS,
    MAX_FADE_SECONDS,
    MAX_NAME,
    MAX_TEXT,
    NAME_PATTERN,
    NAME_RULE,
    Row,
)
from soundtrack.pitch import Key
from soundtrack.timing import Duration, Meter, parse_bpm, parse_duration, parse_time

MAX_ECHO = 80  # characters of a value echoed in a message
MAX_MESSAGE = 480  # characters of a message after the file name
_NAME = re.compile(NAME_PATTERN)
_GENERATOR = re.compile(GENERATOR_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
               dict: "a table"}


def is_name(value: object) -> bool:
    return isinstance(value, str) and len(value) <= MAX_NAME and _NAME.fullmatch(value) is not None


def clip(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 3] + "..."


def show(value: object) -> str:
    """`repr(value)` cut to MAX_ECHO characters (an integer too long to print says so)."""
    try:
        text = repr(value)
    except ValueError:  # an int past sys.get_int_max_str_digits()
        text = f"<an integer of about {int(value.bit_length() * 0.30103) + 1} digits>" if isinstance(value, int) else "?"
    except RecursionError:
        text = "<a value nested too deeply to print>"
    return clip(text, MAX_ECHO)


def label(name: object) -> str:
    """A table key as it appears in a location: itself if it is a name, else its echo."""
    return name if isinstance(name, str) and is_name(name) else show(name)


def one_line(text: str) -> str:
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class Ctx:
    """Formats messages for one file: ``PATH: WHERE MESSAGE`` on one line."""

    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, where: str, message: str) -> GraphError:
        text = one_line(f"{where} {message}" if where else message)
        return GraphError(f"{one_line(self.path)}: {clip(text, MAX_MESSAGE)}")

    def refuse(self, where: str, value: object, message: str) -> GraphError:
        """``WHERE = VALUE MESSAGE``: the value echoed short."""
        return self.error(f"{where} = {show(value)}", message)

    def check_keys(self, table: dict[str, Any], where: str, allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        for k in table:
            if k not in allowed:
                raise self.error(f"{where}.{label(k)}", f"is not a known key; valid keys are {', '.join(allowed)}")

    def check_name(self, where: str, name: object) -> str:
        if not is_name(name):
            raise self.error(where, f"name {show(name)} must {NAME_RULE}")
        assert isinstance(name, str)
        return name


def _typed(ctx: Ctx, where: str, value: object, types: tuple[type, ...]) -> None:
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        raise ctx.refuse(where, value, f"must be {' or '.join(_TYPE_NAMES[t] for t in types)}")


def _reason(e: BaseException) -> str:
    text = str(e)
    return "it holds a number with too many digits" if "Exceeds the limit" in text else clip(text, 160)


def convert(ctx: Ctx, where: str, value: Any, fn: Callable[[Any], Any]) -> Any:
    """`fn(value)`, its refusal (or any ValueError, a number too long for one) as one message."""
    try:
        return fn(value)
    except (SoundtrackError, TypeError, ValueError, OverflowError, ZeroDivisionError) as e:
        raise ctx.refuse(where, value, f"is invalid: {_reason(e)}") from None


def _fmt(x: float | int | None) -> str:
    return f"{x:g}" if isinstance(x, float) and not x.is_integer() else str(int(x or 0))


# -- the readers, one per kind: (ctx, where = "TABLE.KEY", row, TOML value) -> value -------------

def _int(ctx: Ctx, w: str, row: Row, v: Any) -> int:
    _typed(ctx, w, v, (int,))
    if not row.lo <= v <= row.hi:
        raise ctx.refuse(w, v, row.message or f"must be between {row.lo} and {row.hi}")
    return int(v)


def _number(ctx: Ctx, w: str, row: Row, v: Any) -> float:
    _typed(ctx, w, v, (int, float))
    try:
        x = float(v)
    except OverflowError:  # an integer past the float range
        x = math.inf
    if not (math.isfinite(x) and row.lo <= x <= row.hi):  # type: ignore[operator]
        raise ctx.refuse(w, v, row.message or f"must be a finite number between {_fmt(row.lo)} and {_fmt(row.hi)}")
    return x


def _bool(ctx: Ctx, w: str, row: Row, v: Any) -> bool:
    _typed(ctx, w, v, (bool,))
    return bool(v)


def _string(ctx: Ctx, w: str, row: Row, v: Any) -> str:
    _typed(ctx, w, v, (str,))
    if row.most and len(v) > row.most:
        raise ctx.refuse(w, v, f"must be at most {row.most} characters")
    return str(v)


def _name(ctx: Ctx, w: str, row: Row, v: Any) -> str:
    _typed(ctx, w, v, (str,))
    if not is_name(v):
        raise ctx.refuse(w, v, f"must be a name: {NAME_RULE}")
    return str(v)


def _names(ctx: Ctx, w: str, row: Row, v: Any) -> tuple[str, ...]:
    _typed(ctx, w, v, (list,))
    if not v or not all(is_name(x) for x in v) or len(set(v)) != len(v):
        raise ctx.refuse(w, v, "must be a non-empty list of distinct names such as ['drums', 'bass']")
    if len(v) > row.most:
        raise ctx.refuse(w, v, f"must list at most {row.most} layers")
    return tuple(v)


def _bpm(ctx: Ctx, w: str, row: Row, v: Any) -> Any:
    _typed(ctx, w, v, (int, float, str))
    return convert(ctx, w, v, parse_bpm)


def _bpms(ctx: Ctx, w: str, row: Row, v: Any) -> tuple[Any, ...]:
    _typed(ctx, w, v, (list,))
    if len(v) > row.most:
        raise ctx.refuse(w, v, f"must list at most {row.most} tempi")
    return tuple(convert(ctx, w, t, parse_bpm) for t in v)


def _key(ctx: Ctx, w: str, row: Row, v: Any) -> Key:
    _typed(ctx, w, v, (str,))
    key: Key = convert(ctx, w, v, Key.parse)
    return key


def _meter(ctx: Ctx, w: str, row: Row, v: Any) -> Meter:
    _typed(ctx, w, v, (str,))
    meter: Meter = convert(ctx, w, v, Meter.parse)
    return meter


_FADE_LIMITS = {"bars": MAX_FADE_BARS, "beats": MAX_FADE_BEATS, "seconds": MAX_FADE_SECONDS}


def _duration(ctx: Ctx, w: str, row: Row, v: Any) -> Duration:
    _typed(ctx, w, v, (int, float, str))
    d: Duration = convert(ctx, w, v, parse_duration)
    if d.amount > _FADE_LIMITS[d.unit]:
        raise ctx.refuse(w, v, f"must be {FADE_RULE}")
    return d


def _seconds(ctx: Ctx, w: str, row: Row, v: Any) -> Any:
    _typed(ctx, w, v, (int, float, str))
    d: Duration = convert(ctx, w, v, lambda x: parse_duration(x, default_unit="seconds"))
    if d.unit != "seconds":
        raise ctx.refuse(w, v, "must be in seconds, e.g. 5 or '5s'")
    if d.amount > row.hi:  # type: ignore[operator]
        raise ctx.refuse(w, v, f"must be at most {row.hi} seconds")
    return d.amount


def _choice(ctx: Ctx, w: str, row: Row, v: Any) -> str:
    _typed(ctx, w, v, (str,))
    if v not in row.choices:
        raise ctx.refuse(w, v, f"must be one of {', '.join(row.choices)}")
    return str(v)


def _sync(ctx: Ctx, w: str, row: Row, v: Any) -> tuple[str, str | None]:
    """(sync, cue): "cue:NAME" -> ("cue", NAME)."""
    _typed(ctx, w, v, (str,))
    if v.startswith("cue:") and is_name(v[4:]):
        return "cue", v[4:]
    if v in SYNCS:
        return v, None
    raise ctx.refuse(w, v, f"must be one of {', '.join(SYNCS)}, cue:NAME")


def _cues(ctx: Ctx, w: str, row: Row, v: Any) -> dict[str, Any]:
    _typed(ctx, w, v, (dict,))
    if len(v) > row.most:
        raise ctx.refuse(w, v, f"must name at most {row.most} cues")
    out = {}
    for name, pos in v.items():
        ctx.check_name(w, name)
        point = convert(ctx, f"{w}.{name}", pos, parse_time)
        if point.bar is None:
            raise ctx.refuse(f"{w}.{name}", pos, "must be a bar position such as 'bar 5' or '5:3'")
        out[name] = point
    return out


def _files(ctx: Ctx, w: str, row: Row, v: Any) -> dict[str, str]:
    _typed(ctx, w, v, (dict,))
    for role, f in v.items():
        if role not in FILE_ROLES or not isinstance(f, str) or not f.strip() or len(f) > MAX_TEXT:
            raise ctx.error(f"{w}.{label(role)}", "must be intro, main or outro = \"path/to/stem.wav\"")
    return dict(v)


def _param_layers(ctx: Ctx, w: str, row: Row, v: Any) -> dict[str, Any]:
    """Shape only: the ranges are checked against the parameter's min and max by its table."""
    _typed(ctx, w, v, (dict,))
    if len(v) > row.most:
        raise ctx.refuse(w, v, f"must name at most {row.most} layers")
    return dict(v)


def _ref(ctx: Ctx, w: str, row: Row, v: Any) -> str:
    """A state's, source's or bridge's name: that it exists is checked against the whole graph."""
    _typed(ctx, w, v, (str,))
    return str(v)


def _generator(ctx: Ctx, w: str, row: Row, v: Any) -> str:
    _typed(ctx, w, v, (str,))
    if len(v) > row.most or not _GENERATOR.fullmatch(v):
        raise ctx.refuse(w, v, "must be a generator name such as procedural or musicgen, or module:Factory")
    return str(v)


READERS: dict[str, Callable[[Ctx, str, Row, Any], Any]] = {
    "int": _int, "number": _number, "bool": _bool, "string": _string, "name": _name, "names": _names,
    "bpm": _bpm, "bpms": _bpms, "key": _key, "meter": _meter, "duration": _duration, "seconds": _seconds,
    "choice": _choice, "sync": _sync, "cues": _cues, "files": _files, "param_layers": _param_layers,
    "state": _ref, "source": _ref, "bridge": _ref, "generator": _generator,
}


@lru_cache(maxsize=None)
def default_value(row: Row) -> Any:
    """The row's default, read by its own reader (so a default outside its own range cannot exist)."""
    v = list(row.default) if isinstance(row.default, tuple) else row.default
    return READERS[row.kind](Ctx("<defaults>"), row.key, row, v)


def read_table(ctx: Ctx, table: dict[str, Any], where: str, rows: tuple[Row, ...]) -> dict[str, Any]:
    """The table's values by key, each checked and converted by its row's reader; an absent key
    takes its row's default (and is left out when the row has none). Unknown keys and missing
    required ones are errors."""
    ctx.check_keys(table, where, (r.key for r in rows))
    out: dict[str, Any] = {}
    for row in rows:
        if row.key in table:
            out[row.key] = READERS[row.kind](ctx, f"{where}.{row.key}", row, table[row.key])
        elif row.required:
            raise ctx.error(f"{where}.{row.key}", "is missing")
        elif row.default is not None:
            out[row.key] = default_value(row)
    return out
