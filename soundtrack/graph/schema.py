"""A JSON Schema (draft-07) of the graph format, generated from the loader's rows, so editors can
complete and check graphs/*.toml (Taplo / Even Better TOML: ``#:schema ../docs/graph.schema.json``).

The schema is the loader's table written for editors: the same keys, kinds, defaults, ranges and
descriptions. It cannot say everything the loader checks (that a transition's target is a state, a
cue is inside its loop): the loader stays the authority. Regenerate docs/graph.schema.json with

    .venv/bin/python -m soundtrack.graph.schema --write

(tests/test_graph_schema.py fails while the file is stale).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from soundtrack.graph.model import SYNCS
from soundtrack.graph.rows import (
    FILE_ROLES,
    GENERATOR_PATTERN,
    MAX_FADE_BARS,
    MAX_FADE_BEATS,
    MAX_FADE_SECONDS,
    MAX_NAME,
    MAX_TEXT,
    NAME_PATTERN,
    TOP_TABLES,
    Row,
    Table,
)

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "graph.schema.json"
_NUM = r"[0-9]+(\.[0-9]+)?"


def _ci(word: str) -> str:
    """A case-insensitive regex for `word` (JSON Schema patterns have no flags)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


def _below(n: int) -> str:
    """A regex for the whole numbers 0 .. n-1 (n >= 1), leading zeros allowed."""
    digits = str(n)
    alts = [f"[0-9]{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for i, d in enumerate(digits):
        if d != "0":
            rest = len(digits) - i - 1
            low = "0" if d == "1" else f"[0-{int(d) - 1}]"
            if not (i == 0 and d == "1" and len(digits) > 1):  # a leading 0 is a shorter number
                alts.append(digits[:i] + low + (f"[0-9]{{{rest}}}" if rest else ""))
    return "0*(" + "|".join(alts) + ")"


def _upto(n: int) -> str:
    """A regex for decimal numbers from 0 to n inclusive."""
    return rf"({_below(n)}(\.[0-9]+)?|0*{n}(\.0+)?)"


def _string(pattern: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "pattern": f"^{pattern}$", **extra}


NAME = _string(NAME_PATTERN, maxLength=MAX_NAME)
_SECONDS_UNIT = "(" + "|".join(_ci(u) for u in ("seconds", "second", "secs", "sec", "s")) + ")"


def _bpm(row: Row) -> dict[str, Any]:
    return {"anyOf": [{"type": "number", "minimum": row.lo, "maximum": row.hi},
                      _string(rf"\s*{_NUM}\s*({_ci('bpm')})?\s*")]}


def _duration(row: Row) -> dict[str, Any]:
    beats = f"{_upto(MAX_FADE_BEATS)}(\\s*{_ci('beats')}|\\s*{_ci('beat')})?"
    bars = f"{_upto(MAX_FADE_BARS)}\\s*({_ci('bars')}|{_ci('bar')})"
    secs = f"{_upto(MAX_FADE_SECONDS)}\\s*{_SECONDS_UNIT}"
    ms = f"{_upto(MAX_FADE_SECONDS * 1000)}\\s*{_ci('ms')}"
    return {"anyOf": [{"type": "number", "minimum": 0, "maximum": MAX_FADE_BEATS},
                      _string(rf"\s*({beats}|{bars}|{secs}|{ms})\s*")]}


def _seconds(row: Row) -> dict[str, Any]:
    hi = int(row.hi or 0)
    return {"anyOf": [{"type": "number", "minimum": 0, "maximum": hi},
                      _string(rf"\s*({_upto(hi)}(\s*{_SECONDS_UNIT})?|{_upto(hi * 1000)}\s*{_ci('ms')})\s*")]}


_CUE = _string(rf"\s*({_ci('bar')}\s*[0-9]+(\s*,?\s*{_ci('beat')}\s*[0-9]+)?|[0-9]+:[0-9]+)\s*")
_PLAIN = [{"type": "string", "maxLength": MAX_TEXT}, {"type": "number"}, {"type": "boolean"}]


def _kind(row: Row) -> dict[str, Any]:
    k = row.kind
    if k == "int":
        return {"type": "integer", "minimum": row.lo, "maximum": row.hi}
    if k == "number":
        return {"type": "number", "minimum": row.lo, "maximum": row.hi}
    if k == "bool":
        return {"type": "boolean"}
    if k == "string":
        return {"type": "string", "maxLength": row.most}
    if k in ("name", "state", "bridge"):
        return dict(NAME, minLength=1)
    if k == "source":
        return {"anyOf": [NAME, {"const": "*"}]}
    if k == "names":
        return {"type": "array", "items": NAME, "minItems": 1, "maxItems": row.most, "uniqueItems": True}
    if k == "bpm":
        return _bpm(row)
    if k == "bpms":
        return {"type": "array", "items": _bpm(row), "maxItems": row.most}
    if k == "key":
        return {"type": "string", "maxLength": 40, "examples": ["D minor", "F major", "A dorian"]}
    if k == "meter":
        return _string(r"\s*[0-9]+\s*/\s*(1|2|4|8|16|32)\s*", examples=["4/4", "3/4", "7/8"])
    if k == "duration":
        return _duration(row)
    if k == "seconds":
        return _seconds(row)
    if k == "choice":
        return {"type": "string", "enum": list(row.choices)}
    if k == "sync":
        return {"anyOf": [{"type": "string", "enum": list(SYNCS)}, _string(f"cue:{NAME_PATTERN}")]}
    if k == "cues":
        return {"type": "object", "propertyNames": NAME, "maxProperties": row.most, "additionalProperties": _CUE}
    if k == "files":
        path = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}
        return {"type": "object", "properties": {r: path for r in FILE_ROLES}, "additionalProperties": False}
    if k == "param_layers":
        pair = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
        return {"type": "object", "propertyNames": NAME, "maxProperties": row.most, "additionalProperties": pair}
    if k == "generator":
        return _string(GENERATOR_PATTERN, maxLength=row.most)
    raise AssertionError(f"row {row.key}: no schema for kind {k!r}")


def _default(row: Row) -> Any:
    return list(row.default) if isinstance(row.default, tuple) else row.default


def _property(row: Row) -> dict[str, Any]:
    desc = row.doc
    if row.inherit:
        desc += f" Default: {row.inherit}."
    elif row.default is not None:
        desc += f" Default: {json.dumps(_default(row))}."
    out: dict[str, Any] = {"description": desc, **_kind(row)}
    if row.default is not None:
        out["default"] = _default(row)
    return out


def _definition(t: Table) -> dict[str, Any]:
    d: dict[str, Any] = {"type": "object", "description": t.doc,
                         "properties": {r.key: _property(r) for r in t.rows}, "additionalProperties": False}
    required = [r.key for r in t.rows if r.required]
    if required:
        d["required"] = required
    if t.name == "states":  # a prompt, or composer files to import
        d["anyOf"] = [{"required": ["prompt"]}, {"required": ["files"]}]
    return d


def _top(t: Table) -> dict[str, Any]:
    ref = {"$ref": f"#/definitions/{t.name}"}
    if t.shape == "table":
        return ref
    if t.shape == "array":
        return {"type": "array", "description": t.doc, "maxItems": t.most, "items": ref}
    if t.shape == "options":
        value = {"anyOf": [*_PLAIN, {"type": "array", "items": {"anyOf": _PLAIN}, "maxItems": t.most}]}
        return {"type": "object", "description": t.doc, "propertyNames": NAME, "maxProperties": t.most,
                "additionalProperties": value}
    named = {"type": "object", "description": t.doc, "propertyNames": NAME, "maxProperties": t.most,
             "additionalProperties": ref}
    return dict(named, minProperties=1) if t.name == "states" else named


def graph_schema() -> dict[str, Any]:
    """The JSON Schema of a graph TOML document (draft-07)."""
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "soundtrack graph",
        "description": "An adaptive soundtrack: states, stingers, bridges, transitions and parameters "
                       "(generated from soundtrack/graph/rows.py; see the README's Graphs section).",
        "type": "object",
        "properties": {name: _top(t) for name, t in TOP_TABLES.items()},
        "required": ["soundtrack", "states"],
        "additionalProperties": False,
        "definitions": {name: _definition(t) for name, t in TOP_TABLES.items() if t.rows},
    }


def schema_json() -> str:
    return json.dumps(graph_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        SCHEMA_PATH.write_bytes(schema_json().encode("utf-8"))
        print(SCHEMA_PATH)
        return 0
    if argv:
        print("usage: python -m soundtrack.graph.schema [--write]", file=sys.stderr)
        return 2
    sys.stdout.write(schema_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
