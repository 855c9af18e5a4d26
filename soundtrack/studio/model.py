"""The graph as the page draws it: states laid out in columns, transitions, stingers, params.

Everything comes from the same `Graph` the engine plays (and the bank's grids for what each
state really plays at). The layout is deterministic: a state's column is its distance from the
start state along transitions (breadth first), its row its order in the file within that column.
Transitions from ``*`` hang off a separate "any state" node.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from soundtrack.graph import Graph
from soundtrack.studio.edit import FIELDS, state_fields
from soundtrack.studio.source import StudioSource

STINGER_KEYS = "123456789"


def layout(graph: Graph) -> dict[str, tuple[float, float]]:
    """State -> (x, y) in [0, 1]: columns by distance from the start, rows by file order."""
    nexts: dict[str, list[str]] = {s: [] for s in graph.states}
    for t in graph.transitions:
        for src in (list(graph.states) if t.source == "*" else [t.source]):
            if src != t.target and t.target not in nexts[src]:
                nexts[src].append(t.target)
    depth = {graph.start: 0}
    q = deque([graph.start])
    while q:
        s = q.popleft()
        for n in nexts[s]:
            if n not in depth:
                depth[n] = depth[s] + 1
                q.append(n)
    far = max(depth.values(), default=0)
    for s in graph.states:  # unreachable states (the validator refuses them) go last
        depth.setdefault(s, far + 1)
    cols: dict[int, list[str]] = {}
    for s in graph.states:
        cols.setdefault(depth[s], []).append(s)
    width = max(cols) if cols else 0
    out = {}
    for c, names in cols.items():
        for i, s in enumerate(names):
            out[s] = (0.5 if width == 0 else c / width, (i + 1) / (len(names) + 1))
    return out


def graph_model(graph: Graph, text: str, source: StudioSource, *, mute_params: dict[str, str] | None = None,
                layers: tuple[str, ...] = ()) -> dict[str, Any]:
    """JSON for the page (see the module docstring)."""
    import tomlkit

    pos = layout(graph)
    doc = tomlkit.parse(text)
    states: list[dict[str, Any]] = []
    for name, s in graph.states.items():
        try:
            g = source.grid(name, "main")
            plays = {"bpm": float(g.bpm), "meter": str(g.meter), "bars": g.bars, "loop_seconds": round(g.body_frames / g.sample_rate, 3)}
        except Exception:  # noqa: BLE001 - a bank without the state (composer files missing): still drawn
            plays = {}
        x, y = pos[name]
        states.append({"name": name, "x": x, "y": y, "prompt": s.prompt, "intro": s.intro, "main": s.main, "outro": s.outro,
                       "variants": s.variants, "layers": list(s.layers), "terminal": s.terminal,
                       "tempi": [float(t) for t in s.tempi], "cues": sorted(s.cues), "plays": plays,
                       "form": state_fields(graph, doc, name)})
    transitions = [{"index": t.index, "from": t.source, "to": t.target, "on": t.on, "sync": t.sync if t.sync != "cue" else f"cue:{t.cue}",
                    "fade": str(t.fade), "curve": t.curve, "outro": t.outro, "intro": t.intro, "bridge": t.bridge}
                   for t in graph.transitions]
    stingers = [{"name": n, "beats": s.beats, "sync": s.sync, "min_interval": float(s.min_interval),
                 "key": STINGER_KEYS[i] if i < len(STINGER_KEYS) else ""} for i, (n, s) in enumerate(graph.stingers.items())]
    hidden = set((mute_params or {}).values())
    params = [{"name": p.name, "min": p.minimum, "max": p.maximum, "default": p.default, "layers": {k: list(v) for k, v in p.layers.items()},
               "quantize": p.quantize, "ramp": str(p.ramp)} for p in graph.params.values() if p.name not in hidden]
    tempi = sorted({float(t) for s in graph.states.values() for t in s.tempi}
                   | {st["plays"]["bpm"] for st in states if st["plays"] and graph.states[st["name"]].tempi})
    return {
        "name": graph.name, "path": graph.path, "start": graph.start, "sample_rate": graph.sample_rate, "seed": graph.seed,
        "states": states, "transitions": transitions, "stingers": stingers, "params": params,
        "events": sorted(graph.events()), "layers": list(layers), "fields": FIELDS,
        "tempo": {"min": min(tempi), "max": max(tempi), "takes": tempi} if tempi else None,
        "stems": source.describe(),
    }
