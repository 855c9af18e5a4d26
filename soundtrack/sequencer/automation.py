"""Parameter-driven layer gains: each `[params.*]` parameter fades the layers it names.

One `Envelope` per (parameter, layer); a layer named by several parameters gets the product of
their gains, and layers named by none stay at unity. Gains are functions of the absolute output
frame, so rendering in blocks of any size gives the same values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from soundtrack.graph import Graph, ParamDef
from soundtrack.sequencer.clips import F32, Envelope, Table


def layer_target(p: ParamDef, layer: str, value: float) -> float:
    """The gain of `layer` when parameter `p` is `value`: 0 below its range, 1 above it, an
    S-curve (smoothstep) between."""
    lo, hi = p.layers[layer]
    if value >= hi:
        return 1.0
    if value <= lo:
        return 0.0
    x = (value - lo) / (hi - lo)
    return float(x * x * (3.0 - 2.0 * x))


class LayerGains:
    """The parameters' values and the layer gain envelopes they drive."""

    def __init__(self, graph: Graph) -> None:
        self.values: dict[str, float] = {}
        self.layer_envs: dict[str, list[Envelope]] = {}
        self._penv: dict[tuple[str, str], Envelope] = {}
        self._prune_at = 0  # the earliest frame at which prune() has anything to forget
        for p in graph.params.values():
            self.values[p.name] = p.default
            for layer in p.layers:
                env = Envelope(layer_target(p, layer, p.default))
                self._penv[(p.name, layer)] = env
                self.layer_envs.setdefault(layer, []).append(env)

    def ramp(self, p: ParamDef, value: float, frame: int, n: int, table: Table) -> dict[str, float]:
        """Move `p`'s layers toward their gains at `value` along `table` (0 -> 1, n frames) from
        output frame `frame`; returns each layer's target gain."""
        gains = {}
        for layer in p.layers:
            target = layer_target(p, layer, value)
            self._penv[(p.name, layer)].ramp(frame, n, target, table)
            gains[layer] = target
        self._prune_at = 0  # new segments: look again at the next prune
        self.values[p.name] = value
        return gains

    def set(self, p: ParamDef, value: float) -> None:
        """Set `p` to `value` at once, with no ramp (a restored session starts there)."""
        for layer in p.layers:
            self._penv[(p.name, layer)].reset(layer_target(p, layer, value))
        self.values[p.name] = value

    def at(self, frame: int) -> dict[str, float]:
        """Each param-controlled layer's gain at output frame `frame`."""
        out = {}
        for layer, envs in self.layer_envs.items():
            g = 1.0
            for e in envs:
                g *= float(e.value_at(frame))
            out[layer] = g
        return out

    def block(self, a: int, b: int, channels: int) -> dict[str, Any]:
        """The gains over output frames [a, b): layer -> float32 scalar (constant) or a
        (b - a, channels) float32 array; {} when every layer is at unity."""
        gains: dict[str, Any] = {}
        unity = True
        for layer, envs in self.layer_envs.items():
            g: Any = envs[0].render_wide(a, b, channels)
            for e in envs[1:]:
                g = g * e.render_wide(a, b, channels)  # elementwise: the same products per column
            if type(g) is np.float32:
                if g != 1.0:
                    unity = False
            else:
                unity = False
            gains[layer] = g
        return {} if unity else gains

    def prune(self, frame: int) -> None:
        """Forget envelope segments that ended before `frame` (nothing to do, and nothing
        looked at, until the first segment's end: this runs every block)."""
        if frame < self._prune_at:
            return
        nxt = None
        for envs in self.layer_envs.values():
            for e in envs:
                e.prune(frame)
                if e.segs and (nxt is None or e.segs[0][1] < nxt):
                    nxt = e.segs[0][1]
        self._prune_at = nxt if nxt is not None else 1 << 62
