"""The rooms' dependencies point one way, and no import circle exists (module-level imports and
imports inside functions alike; imports only for type checkers do not count).

The declared order, lowest first (docs/architecture.md draws the same picture): a module may
import its own room and the layers below it, never a layer above; rooms on one layer may use
each other as long as no circle forms, except the pairs listed in SEPARATE.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent / "soundtrack"

LAYERS: list[list[str]] = [
    ["soundtrack", "soundtrack.errors", "soundtrack.files", "soundtrack.timing", "soundtrack.pitch", "soundtrack.roles"],
    ["soundtrack.audio", "soundtrack.stem", "soundtrack.stemfile"],
    ["soundtrack.graph"],
    ["soundtrack.analysis", "soundtrack.beats", "soundtrack.stretch", "soundtrack.conform", "soundtrack.generate",
     "soundtrack.importer"],
    ["soundtrack.bank", "soundtrack.sequencer"],
    ["soundtrack.podcast", "soundtrack.timeline", "soundtrack.graphplot", "soundtrack.ipc", "soundtrack.studio"],
    ["soundtrack.demo", "soundtrack.cli", "soundtrack.__main__"],
]
# rooms on one layer that must not know each other: the sequencer plays any StemSource and the
# bank is one; the engine clients' server and the studio are two front ends over the library
SEPARATE = [("soundtrack.sequencer", "soundtrack.bank"), ("soundtrack.ipc", "soundtrack.studio"),
            ("soundtrack.ipc", "soundtrack.podcast"), ("soundtrack.studio", "soundtrack.podcast")]


def modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        parts = p.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def _type_only(tree: ast.AST) -> set[int]:
    """Line numbers of imports under `if TYPE_CHECKING:`."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for sub in node.body:
                for n in ast.walk(sub):
                    if isinstance(n, (ast.Import, ast.ImportFrom)):
                        lines.add(n.lineno)
    return lines


def import_graph() -> nx.DiGraph:
    mods = modules()

    def known(name: str) -> str:
        while name not in mods and "." in name:
            name = name.rsplit(".", 1)[0]
        return name

    g = nx.DiGraph()
    g.add_nodes_from(mods)
    for m, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skip = _type_only(tree)
        pkg = m if path.name == "__init__.py" else m.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    full = ".".join(base + ([node.module] if node.module else []))
                else:
                    full = node.module or ""
                targets = [f"{full}.{a.name}" if f"{full}.{a.name}" in mods else full for a in node.names]
            for t in targets:
                if t.split(".")[0] == "soundtrack":
                    t = known(t)
                    if t != m:
                        g.add_edge(m, t, line=node.lineno)
    return g


def room(module: str) -> tuple[int, str]:
    best = ("", -1)
    for i, layer in enumerate(LAYERS):
        for r in layer:
            if (module == r or module.startswith(r + ".")) and len(r) > len(best[0]):
                best = (r, i)
    assert best[1] >= 0, f"{module} is in no declared layer: add its room to LAYERS (and docs/architecture.md)"
    return best[1], best[0]


def test_every_module_has_a_room() -> None:
    for m in modules():
        room(m)


def test_no_import_circle() -> None:
    g = import_graph()
    cycles = [c for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert not cycles, "import circles: " + "; ".join(" <-> ".join(sorted(c)) for c in cycles)


def test_dependencies_point_down() -> None:
    g = import_graph()
    bad = []
    for a, b, d in g.edges(data=True):
        (la, ra), (lb, rb) = room(a), room(b)
        if lb > la:
            bad.append(f"{a}:{d['line']} imports {b} (layer {lb} above {la})")
        for x, y in SEPARATE:
            if {ra, rb} == {x, y}:
                bad.append(f"{a}:{d['line']} imports {b} ({x} and {y} must not know each other)")
    assert not bad, "\n".join(sorted(bad))


def test_generators_share_the_prompt_reader_not_each_other() -> None:
    """The neural generator reads tempo and meter from `generate.prompt`, as the procedural
    composer does; neither reaches into the other."""
    g = import_graph()
    for a, b in (("soundtrack.generate.musicgen", "soundtrack.generate.procedural"),
                 ("soundtrack.generate.procedural", "soundtrack.generate.musicgen")):
        reach = nx.descendants(g, a) if a in g else set()
        assert not any(m == b or m.startswith(b + ".") for m in reach), f"{a} reaches {b}"
    assert g.has_edge("soundtrack.generate.musicgen", "soundtrack.generate.prompt")
    assert g.has_edge("soundtrack.generate.procedural.prompt", "soundtrack.generate.prompt")


def test_the_checker_sees_what_it_must(tmp_path, monkeypatch) -> None:
    """The import graph finds imports inside functions and ignores type-only ones."""
    g = import_graph()
    assert g.has_edge("soundtrack.cli", "soundtrack.sequencer") or g.has_edge("soundtrack.ipc.app", "soundtrack.sequencer")
    assert not g.has_edge("soundtrack.sequencer.snapshot", "soundtrack.sequencer.engine")  # TYPE_CHECKING only
    assert g.has_edge("soundtrack.sequencer.engine", "soundtrack.sequencer.snapshot")
    assert room("soundtrack.sequencer.engine") == (4, "soundtrack.sequencer")
