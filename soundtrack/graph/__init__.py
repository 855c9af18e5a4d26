"""The soundtrack graph: states, stingers, bridges, transitions and parameters, from TOML.

A `Graph` is deeply immutable data and knows nothing of audio. `load_graph(path)` reads, parses
and validates it with one table-driven validator; every error is one line that names the file,
the table and the key, the bad value (cut short) and what would be valid:

    graphs/dungeon.toml: transitions[3].sync = 'bars' must be one of immediate, beat, bar,
    phrase, end, cue:NAME

Rooms: `model` (the frozen dataclasses and modes), `rows` (one row per key: kind, default, range,
meaning; the limits), `values` (a reader per kind, the messages), `loader` (files, TOML, one
function per table), `structure` (whole-graph rules), `schema` (the JSON Schema, from the rows).
"""

from soundtrack.errors import GraphError
from soundtrack.graph import rows
from soundtrack.graph.loader import load_graph, parse_graph, read_graph_text
from soundtrack.graph.model import (
    CURVES,
    DEFAULT_LOUDNESS,
    QUANTIZE,
    STINGER_SYNCS,
    SYNCS,
    BridgeDef,
    Curve,
    EditSync,
    FrozenMap,
    Graph,
    ParamDef,
    Quantize,
    StateDef,
    StingerDef,
    StingerSync,
    Sync,
    TransitionDef,
)
from soundtrack.graph.rows import MAX_GRAPH_BYTES
from soundtrack.graph.structure import check_structure

__all__ = [
    "CURVES", "DEFAULT_LOUDNESS", "MAX_GRAPH_BYTES", "QUANTIZE", "STINGER_SYNCS", "SYNCS", "BridgeDef", "Curve",
    "EditSync", "FrozenMap", "Graph", "GraphError", "ParamDef", "Quantize", "StateDef", "StingerDef", "StingerSync",
    "Sync", "TransitionDef", "check_structure", "load_graph", "parse_graph", "read_graph_text", "rows",
]
