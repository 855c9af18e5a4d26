"""`graph check` and `graph show`: what a graph's loader cannot see on its own, and a drawing.

`load_graph` already rejects unknown states, ambiguous events, unreachable states and states with
no way out. `check_graph` adds the rules that need the whole graph at once: a ``*`` transition
syncing to a cue that some source states lack is an error (it could not be played from them);
a ``*`` transition asking for an outro that some source states lack, a param that no state's
layers answer to, and an event that no state can use are warnings. `draw_graph` draws states
(start and terminal marked) and transitions labelled with their events (networkx + matplotlib).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from soundtrack.errors import GraphError
from soundtrack.graph import Graph


@dataclass(frozen=True)
class GraphReport:
    states: int
    transitions: int
    events: tuple[str, ...]
    stingers: int
    params: tuple[str, ...]
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        return (f"{self.states} states, {self.transitions} transitions, {len(self.events)} events "
                f"({', '.join(self.events) or 'none'}), {self.stingers} stingers, params: {', '.join(self.params) or 'none'}")


def check_graph(graph: Graph) -> GraphReport:
    """Whole-graph checks beyond the loader's; raises GraphError on an error, returns warnings."""
    warnings = []
    for t in graph.transitions:
        w = f"{graph.path}: transitions[{t.index}]"
        sources = [s for s in graph.states if s != t.target] if t.source == "*" else [t.source]
        if t.cue is not None:
            lacking = [s for s in sources if t.cue not in graph.states[s].cues]
            if lacking:
                raise GraphError(f"{w}.sync = 'cue:{t.cue}' cannot be played from {', '.join(lacking)}: "
                                 f"they define no cue {t.cue!r} (add cues = {{ {t.cue} = \"bar N\" }} or name the source)")
        if t.outro and t.source == "*":
            lacking = [s for s in sources if graph.states[s].outro == 0]
            if lacking:
                warnings.append(f"{w}.outro = true: {', '.join(lacking)} have no outro; from them the transition cuts without one")
    layers = {layer for s in graph.states.values() for layer in s.layers}
    for p in graph.params.values():
        if not p.layers:
            warnings.append(f"{graph.path}: [params.{p.name}] names no layers, so it changes nothing")
        for layer in p.layers:
            if layer not in layers:
                warnings.append(f"{graph.path}: [params.{p.name}].layers.{layer} is not a layer of any state")
    for ev in sorted(graph.events()):
        usable = any(
            (t.source == "*" and any(s != t.target for s in graph.states)) or t.source != "*"
            for t in graph.transitions if t.on == ev
        )
        if not usable:
            warnings.append(f"{graph.path}: event {ev!r} can never fire")
    return GraphReport(
        states=len(graph.states),
        transitions=len(graph.transitions),
        events=tuple(sorted(graph.events())),
        stingers=len(graph.stingers),
        params=tuple(graph.params),
        warnings=tuple(warnings),
    )


def draw_graph(graph: Graph, path: str | Path) -> Path:
    """Draw the state graph to a PNG: the start state in green, terminal states double-ringed,
    one arrow per (source, target) labelled with its events (``*`` rules drawn dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(graph.states)
    labels: dict[tuple[str, str], list[str]] = {}
    wild: set[tuple[str, str]] = set()
    for t in graph.transitions:
        sources = [s for s in graph.states if s != t.target] if t.source == "*" else [t.source]
        for s in sources:
            key = (s, t.target)
            g.add_edge(*key)
            text = (t.on or "(direct)") + ("" if t.sync == "bar" else f" [{t.sync if t.sync != 'cue' else 'cue:' + str(t.cue)}]")
            if text not in labels.setdefault(key, []):
                labels[key].append(text)
            if t.source == "*":
                wild.add(key)
    pos = nx.circular_layout(g) if len(g) > 2 else nx.spring_layout(g, seed=1)
    fig, ax = plt.subplots(figsize=(9, 7))
    colours = ["#7fc97f" if s == graph.start else "#beaed4" for s in g.nodes]
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color=colours, node_size=2200, edgecolors="black")
    terminal = [s for s, d in graph.states.items() if d.terminal]
    if terminal:
        nx.draw_networkx_nodes(g, pos, nodelist=terminal, ax=ax, node_color="none", node_size=2900, edgecolors="black")
    nx.draw_networkx_labels(g, pos, ax=ax, font_size=10)
    solid = [e for e in g.edges if e not in wild]
    nx.draw_networkx_edges(g, pos, edgelist=solid, ax=ax, arrows=True, arrowsize=18, node_size=2200,
                           connectionstyle="arc3,rad=0.12")
    nx.draw_networkx_edges(g, pos, edgelist=sorted(wild), ax=ax, arrows=True, arrowsize=14, node_size=2200,
                           style="dashed", edge_color="grey", connectionstyle="arc3,rad=0.12")
    nx.draw_networkx_edge_labels(g, pos, edge_labels={k: "\n".join(v) for k, v in labels.items()}, ax=ax, font_size=7,
                                 connectionstyle="arc3,rad=0.12")
    ax.set_title(f"{graph.name}: start = {graph.start} (green), terminal states double-ringed, '*' rules dashed")
    ax.axis("off")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
