"""Solo and mute through the engine's own layer gains.

The sequencer fades layers by parameters, and a layer named by several parameters gets the
product of their gains. The studio plays a *monitor graph*: the graph from the file plus one
hidden parameter per music layer (``studio_mute_LAYER``, default 1, ``layers = {LAYER = [0,
1]}``, quantize ``immediate``, a 20 ms ramp). Muting a layer sets its parameter to 0: the layer
ramps out per sample, click-free, on every state that has it. At 1 the extra gain is exactly
1.0 and multiplies nothing away, so an unmuted session is bit-identical to one played on the
file's graph (a take replays with `soundtrack render GRAPH` on the file; tests/test_studio.py
checks the bits). Stingers are not layered music and are never muted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import tomlkit

from soundtrack.graph import Graph, parse_graph

PREFIX = "studio_mute_"
RAMP = "0.02s"


def music_layers(graph: Graph) -> tuple[str, ...]:
    """Every state's layers, in the order they first appear."""
    out: list[str] = []
    for s in graph.states.values():
        for layer in s.layers:
            if layer not in out:
                out.append(layer)
    return tuple(out)


def monitor_graph(graph: Graph, text: str) -> tuple[Graph, dict[str, str]]:
    """(the monitor graph, layer -> its hidden parameter's name) for `graph` parsed from `text`."""
    doc = tomlkit.parse(text)
    if "params" not in doc:
        doc["params"] = tomlkit.table(is_super_table=True)
    params = doc["params"]
    names: dict[str, str] = {}
    for layer in music_layers(graph):
        name = PREFIX + layer
        while name in graph.params or name in params:
            name = "_" + name
        t = tomlkit.table()
        t["default"] = 1.0
        t["layers"] = {layer: [0.0, 1.0]}
        t["quantize"] = "immediate"
        t["ramp"] = RAMP
        params[name] = t
        names[layer] = name
    return parse_graph(tomlkit.dumps(doc), path=graph.path), names


@dataclass
class Monitor:
    """Which layers are muted and soloed; `gains()` is what each layer's hidden param should be."""

    layers: tuple[str, ...]
    muted: set[str] = field(default_factory=set)
    soloed: set[str] = field(default_factory=set)

    def set(self, what: str, layer: str, on: bool) -> None:
        if what not in ("mute", "solo"):
            raise ValueError(f"what={what!r} must be mute or solo")
        if layer not in self.layers:
            raise ValueError(f"layer {layer!r} is not a layer of this graph; layers are {', '.join(self.layers)}")
        target = self.muted if what == "mute" else self.soloed
        (target.add if on else target.discard)(layer)

    def gains(self) -> dict[str, float]:
        return {layer: 0.0 if layer in self.muted or (self.soloed and layer not in self.soloed) else 1.0
                for layer in self.layers}

    @property
    def neutral(self) -> bool:
        return all(g == 1.0 for g in self.gains().values())

    def to_json(self) -> dict:
        return {"layers": list(self.layers), "muted": sorted(self.muted), "soloed": sorted(self.soloed), "gains": self.gains()}
