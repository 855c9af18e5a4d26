"""`load_graph` and `parse_graph`: TOML text to a validated `Graph`, one function per table.

A graph is untrusted input. The file must be a regular file of at most `MAX_GRAPH_BYTES` (a FIFO or
a device is refused before a byte is read, so neither hangs nor fills memory), TOML nested too
deeply or holding an integer too long to convert is one error line like any other, and every
key is read through its row (`rows`, `values`). Whole-graph rules run last (`structure`).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any, NamedTuple

from soundtrack.errors import GraphError
from soundtrack.graph.model import BridgeDef, Graph, ParamDef, StateDef, StingerDef, TransitionDef, freeze
from soundtrack.graph.rows import BRIDGE, MAX_GRAPH_BYTES, MAX_OPTIONS, MAX_TEXT, PARAM, SOUNDTRACK, STATE, STINGER, TOP_TABLES, TRANSITION
from soundtrack.graph.structure import check_structure
from soundtrack.graph.values import Ctx, label, read_table, show
from soundtrack.timing import Meter

_LONG_INT = re.compile(r"\d{4301,}")


def read_graph_text(path: str | Path) -> str:
    """The text of graph file `path`: a regular file (links followed) of at most MAX_GRAPH_BYTES,
    UTF-8, with newlines read as Python's text mode reads them."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)  # O_NONBLOCK: opening a FIFO does not wait for a writer
    except FileNotFoundError:
        raise GraphError(f"{path}: no such graph file") from None
    except OSError as e:
        raise GraphError(f"{path}: cannot read graph file: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise GraphError(f"{path}: is not a regular file")
        if st.st_size > MAX_GRAPH_BYTES:
            raise GraphError(f"{path}: is larger than {MAX_GRAPH_BYTES // 1024} KiB ({st.st_size} bytes), "
                             "the most a graph may be")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(MAX_GRAPH_BYTES + 1)
    except OSError as e:
        raise GraphError(f"{path}: cannot read graph file: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_GRAPH_BYTES:  # it grew while we read it
        raise GraphError(f"{path}: is larger than {MAX_GRAPH_BYTES // 1024} KiB, the most a graph may be")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise GraphError(f"{path}: cannot read graph file: {e}") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def load_graph(path: str | Path) -> Graph:
    """Read, parse and validate a graph TOML file."""
    return parse_graph(read_graph_text(path), path=str(path))


def _parse_toml(ctx: Ctx, text: str) -> dict[str, Any]:
    if len(text) > MAX_GRAPH_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_GRAPH_BYTES:
        raise ctx.error("", f"is larger than {MAX_GRAPH_BYTES // 1024} KiB, the most a graph may be")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ctx.error("", f"is not valid TOML: {e}") from None
    except RecursionError:
        raise ctx.error("", "is nested too deeply to be a graph (arrays or inline tables inside one another)") from None
    except ValueError:  # tomllib's int() of a number longer than sys.get_int_max_str_digits()
        m = _LONG_INT.search(text)
        where = f" (at line {text.count(chr(10), 0, m.start()) + 1})" if m else ""
        raise ctx.error("", f"is not valid TOML: an integer has more than 4300 digits{where}") from None
    except MemoryError:
        raise ctx.error("", "is too large to parse") from None


def parse_graph(text: str, *, path: str = "<graph>") -> Graph:
    """Parse and validate graph TOML text; `path` is used in messages."""
    ctx = Ctx(path)
    doc = _parse_toml(ctx, text)
    for k in doc:
        if k not in TOP_TABLES:
            raise ctx.error(f"[{label(k)}]", f"is not a known table; valid tables are {', '.join(TOP_TABLES)}")
    top = _soundtrack(ctx, doc)
    states = {name: _state(ctx, name, t, top) for name, t in _named_tables(ctx, doc, "states").items()}
    if not states:
        raise ctx.error("[states]", "must define at least one state, e.g. [states.explore]")
    stingers = {name: _stinger(ctx, name, t, top) for name, t in _named_tables(ctx, doc, "stingers").items()}
    bridges = {name: _bridge(ctx, name, t, top) for name, t in _named_tables(ctx, doc, "bridges").items()}
    transitions = tuple(_transition(ctx, i, t, states, bridges) for i, t in enumerate(_array_of_tables(ctx, doc)))
    params = {name: _param(ctx, name, t) for name, t in _named_tables(ctx, doc, "params").items()}
    start = top.values.get("start", next(iter(states)))
    if start not in states:
        raise ctx.error(f"[soundtrack].start = {show(start)}", f"is not a state; states are {', '.join(states)}")
    v = top.values
    graph = Graph(
        name=v["name"], path=path, start=start, states=states, stingers=stingers, bridges=bridges,
        transitions=transitions, params=params, tempo=top.tempo, meter=top.meter, key=top.key, seed=top.seed,
        sample_rate=v["sample_rate"], loudness=v["loudness"], generator=v["generator"],
        generator_options=_generator_options(ctx, doc),
        source_sha256=hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
    )
    check_structure(graph)
    return graph


# -- one function per table ----------------------------------------------------------------------

class _Top(NamedTuple):
    """The [soundtrack] table: what every segment inherits, and its other values by key."""

    values: dict[str, Any]
    tempo: Any
    key: Any
    meter: Meter | None
    seed: int
    layers: tuple[str, ...]


def _soundtrack(ctx: Ctx, doc: dict[str, Any]) -> _Top:
    top = doc.get("soundtrack")
    if not isinstance(top, dict):
        raise ctx.error("[soundtrack]", "table is missing; it needs at least name and start")
    v = read_table(ctx, top, "[soundtrack]", SOUNDTRACK)
    return _Top(v, v.get("tempo"), v.get("key"), v.get("meter"), v["seed"], v["layers"])


def _inherited(v: dict[str, Any], top: _Top) -> dict[str, Any]:
    """tempo, key, meter, seed and layers: the segment's own, else the soundtrack's."""
    return {"tempo": v.get("tempo", top.tempo), "key": v.get("key", top.key), "meter": v.get("meter", top.meter),
            "seed": v.get("seed", top.seed), "layers": v.get("layers", top.layers)}


def _state(ctx: Ctx, name: str, table: dict[str, Any], top: _Top) -> StateDef:
    w = f"[states.{name}]"
    v = read_table(ctx, table, w, STATE)
    files = v.get("files", {})
    if "prompt" not in v and not files:
        raise ctx.error(f"{w}.prompt", "is missing (or give files = {intro = ..., main = ...})")
    # a composer's intro/outro file says how long it is: naming one is enough to have one
    intro = v["intro"] if "intro" in table else (1 if "intro" in files else 0)
    outro = v["outro"] if "outro" in table else (1 if "outro" in files else 0)
    for role, count in (("intro", intro), ("outro", outro)):
        if role in files and count == 0:
            raise ctx.error(f"{w}.files.{role}", f"is given but {role} = 0; remove one of them")
    inherited = _inherited(v, top)
    beats = (inherited["meter"] or Meter()).beats
    cues = v.get("cues", {})
    for cname, cue in cues.items():
        if cue.bar > v["main"]:
            raise ctx.error(f"{w}.cues.{cname}", f"is at bar {cue.bar} but the main loop has {v['main']} bars")
        if cue.beat > beats:
            raise ctx.refuse(f"{w}.cues.{cname}", table["cues"][cname], f"is beat {cue.beat} of a {beats}-beat bar")
    return StateDef(name=name, prompt=v.get("prompt", ""), intro=intro, main=v["main"], variants=v["variants"],
                    outro=outro, terminal=v["terminal"], cues=cues, files=files, tempi=v.get("tempi", ()),
                    **inherited)


def _stinger(ctx: Ctx, name: str, table: dict[str, Any], top: _Top) -> StingerDef:
    v = read_table(ctx, table, f"[stingers.{name}]", STINGER)
    inherited = {**_inherited(v, top), "layers": v["layers"]}  # a stinger's own default: melody
    return StingerDef(name=name, prompt=v["prompt"], beats=v["beats"], sync=v["sync"], min_interval=v["min_interval"],
                      gain_db=v["gain_db"], **inherited)


def _bridge(ctx: Ctx, name: str, table: dict[str, Any], top: _Top) -> BridgeDef:
    v = read_table(ctx, table, f"[bridges.{name}]", BRIDGE)
    return BridgeDef(name=name, prompt=v["prompt"], bars=v["bars"], **_inherited(v, top))


def _transition(ctx: Ctx, i: int, table: dict[str, Any], states: dict[str, StateDef],
                bridges: dict[str, BridgeDef]) -> TransitionDef:
    w = f"transitions[{i}]"
    v = read_table(ctx, table, w, TRANSITION)
    source, target = v["from"], v["to"]
    if source != "*" and source not in states:
        raise ctx.refuse(f"{w}.from", source, f"is not a state; use one of {', '.join(states)} or '*'")
    if target not in states:
        raise ctx.refuse(f"{w}.to", target, f"is not a state; use one of {', '.join(states)}")
    bridge = v.get("bridge")
    if bridge is not None and bridge not in bridges:
        raise ctx.refuse(f"{w}.bridge", bridge, f"is not a bridge; define [bridges.{label(bridge)}] "
                         f"(bridges: {', '.join(bridges) or 'none'})")
    if v["outro"] and source != "*" and states[source].outro == 0:
        raise ctx.error(f"{w}.outro = true", f"but state {source!r} has no outro (outro = 0 bars)")
    sync, cue = v["sync"]
    return TransitionDef(index=i, source=source, target=target, on=v.get("on"), sync=sync, cue=cue,
                         phrase=v["phrase"], fade=v["fade"], curve=v["curve"], outro=v["outro"], intro=v["intro"],
                         bridge=bridge)


def _param(ctx: Ctx, name: str, table: dict[str, Any]) -> ParamDef:
    w = f"[params.{name}]"
    v = read_table(ctx, table, w, PARAM)
    lo, hi = v["min"], v["max"]
    if not lo < hi:
        raise ctx.error(f"{w}.min = {lo!r}", f"must be below max = {hi!r}")
    default = v.get("default", lo)
    if not lo <= default <= hi:
        raise ctx.error(f"{w}.default = {default!r}", f"must be between min = {lo:g} and max = {hi:g}")
    layers: dict[str, tuple[float, float]] = {}
    for lname, rng in v.get("layers", {}).items():
        ok = isinstance(rng, list) and len(rng) == 2 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in rng)
        if not ok or not lo <= rng[0] <= rng[1] <= hi:
            raise ctx.refuse(f"{w}.layers.{label(lname)}", rng,
                             f"must be [from, to] with {lo:g} <= from <= to <= {hi:g}")
        layers[lname] = (float(rng[0]), float(rng[1]))
    return ParamDef(name=name, default=default, minimum=lo, maximum=hi, layers=layers, quantize=v["quantize"],
                    ramp=v["ramp"])


def _generator_options(ctx: Ctx, doc: dict[str, Any]) -> Any:
    """The [generator] table as data: names to strings, finite numbers, booleans or lists of
    them. What they mean is the generator's business (`soundtrack.generate.base.validate_options`)."""
    t = doc.get("generator", {})
    w = "[generator]"
    if not isinstance(t, dict):
        raise ctx.error(w, "must be a table such as [generator] model = \"facebook/musicgen-small\"")
    if len(t) > MAX_OPTIONS:
        raise ctx.error(w, f"has {len(t)} options; at most {MAX_OPTIONS}")
    for k, value in t.items():
        ctx.check_name(w, k)
        items = value if isinstance(value, list) and len(value) <= MAX_OPTIONS else [value]
        if not all(_plain(x) for x in items):
            raise ctx.refuse(f"{w}.{k}", value, "must be a string, a finite number, true or false (or a list of them)")
    return freeze(t)


def _plain(x: object) -> bool:
    if isinstance(x, str):
        return len(x) <= MAX_TEXT
    if isinstance(x, float):
        return x == x and abs(x) != float("inf")
    return isinstance(x, (bool, int)) and (isinstance(x, bool) or abs(x) < 2**63)


def _named_tables(ctx: Ctx, doc: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    t = doc.get(name, {})
    if not isinstance(t, dict):
        raise ctx.error(f"[{name}]", f"must be tables such as [{name}.NAME]")
    most = TOP_TABLES[name].most
    if len(t) > most:
        raise ctx.error(f"[{name}]", f"defines {len(t)} tables; at most {most}")
    for k, v in t.items():
        ctx.check_name(f"[{name}.{label(k)}]", k)
        if not isinstance(v, dict):
            raise ctx.error(f"[{name}.{k}]", "must be a table")
    return t


def _array_of_tables(ctx: Ctx, doc: dict[str, Any]) -> list[dict[str, Any]]:
    t = doc.get("transitions", [])
    if not isinstance(t, list) or not all(isinstance(x, dict) for x in t):
        raise ctx.error("transitions", "must be an array of tables: [[transitions]]")
    if len(t) > TOP_TABLES["transitions"].most:
        raise ctx.error("transitions", f"has {len(t)} entries; at most {TOP_TABLES['transitions'].most}")
    return t

