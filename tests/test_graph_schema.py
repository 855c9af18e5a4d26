"""docs/graph.schema.json is generated from the loader's own table, is up to date, and agrees with
the loader on the shipped graphs and on a few refusals (editors complete and check graphs with it)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from soundtrack.graph import rows
from soundtrack.graph.schema import SCHEMA_PATH, graph_schema, schema_json

ROOT = Path(__file__).resolve().parent.parent
GRAPHS = [p for p in sorted((ROOT / "graphs").glob("*.toml")) if "soundtrack" in tomllib.loads(p.read_text())]  # not scripts


def test_the_schema_file_is_up_to_date() -> None:
    assert SCHEMA_PATH == ROOT / "docs" / "graph.schema.json"
    assert SCHEMA_PATH.read_bytes() == schema_json().encode("utf-8"), (
        "docs/graph.schema.json is stale: run .venv/bin/python -m soundtrack.graph.schema --write")


def test_the_schema_is_generated_from_the_rows() -> None:
    s = graph_schema()
    defs = s["definitions"]
    for name, table in rows.TABLES.items():
        props = defs[name]["properties"]
        assert list(props) == [r.key for r in table], name
        assert defs[name]["additionalProperties"] is False
        for r in table:
            assert props[r.key]["description"].startswith(r.doc), (name, r.key)
    assert defs["stingers"]["properties"]["gain_db"]["maximum"] == rows.MAX_GAIN_DB
    assert set(s["properties"]) == set(rows.TOP_TABLES)


def _validator():  # noqa: ANN202 - a jsonschema validator, when the package is installed
    jsonschema = pytest.importorskip("jsonschema")
    cls = jsonschema.validators.validator_for(graph_schema())
    cls.check_schema(graph_schema())
    return cls(graph_schema())


@pytest.mark.parametrize("path", GRAPHS, ids=[p.name for p in GRAPHS])
def test_shipped_graphs_validate_against_the_schema(path: Path) -> None:
    doc = tomllib.loads(path.read_text())
    errors = [e.message for e in _validator().iter_errors(doc)]
    assert errors == []


@pytest.mark.parametrize("edit", [
    lambda d: d["stingers"]["treasure"].update(gain_db=100),
    lambda d: d["states"]["explore"].update(intorr=1),
    lambda d: d["transitions"][0].update(sync="bars"),
    lambda d: d["transitions"][0].update(fade="1000 bars"),
    lambda d: d["transitions"][0].update(on=""),
    lambda d: d["states"].update({"bad name": {"prompt": "x"}}),
    lambda d: d["soundtrack"].update(tempo=500),
    lambda d: d["soundtrack"].pop("name"),
    lambda d: d.update(stinger={}),
])
def test_the_schema_refuses_what_the_loader_refuses(edit) -> None:
    doc = tomllib.loads((ROOT / "graphs" / "dungeon.toml").read_text())
    edit(doc)
    assert list(_validator().iter_errors(doc)), "the schema accepted it"


def test_the_schema_is_plain_json() -> None:
    json.loads(schema_json())
    assert schema_json().endswith("\n")
