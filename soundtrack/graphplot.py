"""`graph check` and `graph show`: a graph's warnings and summary, and a drawing.

Every error is the loader's (`soundtrack.graph`: one validator, so `serve` refuses exactly what
`graph check` refuses). `check_graph` re-runs its whole-graph rules (for a graph built in code)
and adds warnings for what is legal but likely a mistake: a ``*`` transition asking for an outro
that some source states lack (from them it cuts without one), a param that names no layers, and
an event that no state can use. `draw_graph` draws states (start and terminal marked) and
transitions labelled with their events (networkx + matplotlib).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from soundtrack.graph import Graph, check_structure


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
    """The loader's whole-graph rules (GraphError on an error) and the warnings above."""
    check_structure(graph)
    warnings = []
    for t in graph.transitions:
        if t.outro and t.source == "*":
            lacking = [s for s in graph.sources(t) if graph.states[s].outro == 0]
            if lacking:
                warnings.append(f"{graph.path}: transitions[{t.index}].outro = true: {', '.join(lacking)} have no "
                                "outro; from them the transition cuts without one")
    for p in graph.params.values():
        if not p.layers:
            warnings.append(f"{graph.path}: [params.{p.name}] names no layers, so it changes nothing")
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
        for s in graph.sources(t):
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
