"""Whole-graph rules, the last step of loading (and of `graph check`): each needs more than one
table at once. An error here names the file, the table and the key like any other.

- a cue a rule syncs to must be defined by every state the rule can fire from (for ``*``: every
  state but its target), or the rule could not be played from them;
- an event may have one meaning per source state;
- a parameter's layers must be layers of some state;
- every state is reachable from the start state, and every state has a way out unless terminal.
"""

from __future__ import annotations

from soundtrack.graph.model import Graph, TransitionDef
from soundtrack.graph.values import Ctx


def check_structure(g: Graph) -> None:
    """Raise GraphError on the first whole-graph rule `g` breaks."""
    ctx = Ctx(g.path)
    for t in g.transitions:
        if t.cue is not None:
            _check_cue(ctx, g, t)
    _check_events(ctx, g)
    all_layers = {layer for s in g.states.values() for layer in s.layers}
    for p in g.params.values():
        for layer in p.layers:
            if layer not in all_layers:
                raise ctx.error(f"[params.{p.name}].layers.{layer}",
                                f"is not a layer of any state (layers: {', '.join(sorted(all_layers))})")
    _check_paths(ctx, g)


def _check_cue(ctx: Ctx, g: Graph, t: TransitionDef) -> None:
    w = f"transitions[{t.index}].sync = 'cue:{t.cue}'"
    lacking = [s for s in g.sources(t) if t.cue not in g.states[s].cues]
    if not lacking:
        return
    named = g.states.values() if t.source == "*" else [g.states[t.source]]
    known = sorted({c for s in named for c in s.cues})
    if t.cue not in known:
        raise ctx.error(w, f"names cue {t.cue!r}, which no source state defines (cues: {', '.join(known) or 'none'})")
    raise ctx.error(w, f"cannot be played from {', '.join(lacking)}: they define no cue {t.cue!r} "
                       f"(add cues = {{ {t.cue} = \"bar N\" }} or name the source)")


def _check_events(ctx: Ctx, g: Graph) -> None:
    seen: dict[tuple[str, str], TransitionDef] = {}
    for t in g.transitions:
        if t.on is None:
            continue
        k = (t.source, t.on)
        first = seen.setdefault(k, t)
        if first.target != t.target:
            raise ctx.error(
                f"transitions[{t.index}].on = {t.on!r}",
                f"gives event {t.on!r} a second meaning in state {t.source!r}: transitions[{first.index}] "
                f"already goes to {first.target!r}, this one to {t.target!r}",
            )


def _check_paths(ctx: Ctx, g: Graph) -> None:
    import networkx as nx

    nxg = g.to_networkx()
    reachable = {g.start} | nx.descendants(nxg, g.start)
    for s in g.states:
        if s not in reachable:
            raise ctx.error(f"[states.{s}]", f"is unreachable from the start state {g.start!r}: no transition leads to it")
    for s, sd in g.states.items():
        if nxg.out_degree(s) == 0 and not sd.terminal and len(g.states) > 1:
            raise ctx.error(f"[states.{s}]", "has no way out: add a transition from it (or from '*'), or mark it "
                            "terminal = true")
