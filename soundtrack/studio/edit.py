"""Edit one state of a graph in its TOML text, keeping the file's formatting and comments.

`edit_state(text, state, changes)` sets or removes keys of ``[states.NAME]`` with tomlkit, so
every other byte of the file (comments, blank lines, key order, inline tables) stays as it was,
and a trailing comment stays on its line. The result is validated with `parse_graph`: an edit
the graph refuses raises its `GraphError`, which names the file, the table and the key.
"""

from __future__ import annotations

from typing import Any

import tomlkit

from soundtrack.errors import GraphError
from soundtrack.graph import Graph, parse_graph

#: The keys the studio's form edits, and what each must be.
FIELDS: dict[str, str] = {
    "prompt": "text",
    "tempo": "bpm (empty: the graph's)",
    "key": "a key such as 'D minor' (empty: the graph's)",
    "meter": "a meter such as '3/4' (empty: the graph's)",
    "intro": "bars, 0 = none",
    "main": "bars per loop",
    "outro": "bars, 0 = none",
    "variants": "main loops to alternate",
    "layers": "layer names, comma-separated",
}
_INTS = ("intro", "main", "outro", "variants")


def state_fields(graph: Graph, text: str | Any, state: str) -> dict[str, Any]:
    """The form's values for `state`: what the file says (absent where it inherits) and what
    plays. `text` is the TOML text or its parsed tomlkit document."""
    if state not in graph.states:
        raise GraphError(f"{graph.path}: no state {state!r}; states are {', '.join(graph.states)}")
    doc = tomlkit.parse(text) if isinstance(text, str) else text
    raw = doc.get("states", {}).get(state, {})
    s = graph.states[state]
    own = {k: _plain(raw[k]) for k in FIELDS if k in raw}
    return {
        "own": own,
        "effective": {
            "prompt": s.prompt, "intro": s.intro, "main": s.main, "outro": s.outro, "variants": s.variants,
            "layers": list(s.layers),
            "tempo": None if (s.tempo or graph.tempo) is None else float(s.tempo or graph.tempo),  # type: ignore[arg-type]
            "key": None if (s.key or graph.key) is None else str(s.key or graph.key),
            "meter": None if (s.meter or graph.meter) is None else str(s.meter or graph.meter),
        },
    }


def _plain(v: Any) -> Any:
    return v.unwrap() if hasattr(v, "unwrap") else v


def _coerce(key: str, value: Any, where: str) -> Any:
    """The TOML value for a form value; None removes the key (the state inherits it)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if key == "prompt":
        if not isinstance(value, str):
            raise GraphError(f"{where}.prompt = {value!r} must be text")
        return value.strip()
    if key in _INTS:
        try:
            n = float(value)
        except (TypeError, ValueError):
            raise GraphError(f"{where}.{key} = {value!r} must be a whole number of {FIELDS[key]}") from None
        if n != int(n):
            raise GraphError(f"{where}.{key} = {value!r} must be a whole number of {FIELDS[key]}")
        return int(n)
    if key == "tempo":
        try:
            bpm = float(value)
        except (TypeError, ValueError):
            raise GraphError(f"{where}.tempo = {value!r} must be a number of beats per minute") from None
        return int(bpm) if bpm == int(bpm) else bpm
    if key == "layers":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(x, str) for x in items):
            raise GraphError(f"{where}.layers = {value!r} must be layer names, e.g. drums, bass, harmony")
        return [x.strip() for x in items if x.strip()]
    if not isinstance(value, str):
        raise GraphError(f"{where}.{key} = {value!r} must be text such as {FIELDS[key]}")
    return value.strip()


def edit_state(text: str, state: str, changes: dict[str, Any], *, path: str = "<graph>") -> tuple[str, Graph]:
    """(new TOML text, its validated Graph) with `changes` made to ``[states.STATE]``.

    Keys are those of `FIELDS`; a value of None or "" removes the key (the state inherits it).
    A value equal to the file's is left untouched (byte for byte)."""
    where = f"{path}: [states.{state}]"
    doc = tomlkit.parse(text)
    states = doc.get("states")
    if states is None or state not in states:
        raise GraphError(f"{where} is not in the file")
    table = states[state]
    for key, value in changes.items():
        if key not in FIELDS:
            raise GraphError(f"{where}.{key} cannot be edited here; fields are {', '.join(FIELDS)}")
        new = _coerce(key, value, where)
        if new is None:
            if key == "prompt":
                raise GraphError(f"{where}.prompt must not be empty")
            if key in table:
                del table[key]
            continue
        if key in table and _plain(table[key]) == new:
            continue
        table[key] = new
    out = tomlkit.dumps(doc)
    return out, parse_graph(out, path=path)
