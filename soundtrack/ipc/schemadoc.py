"""What `soundtrack.ipc.schema` generates, and the check of values against it.

- `check(type, value)`, `check_result(method, result)`, `check_notification(kind, payload)`:
  the problems of a value against its declared type ([] when it conforms): no missing field,
  no undeclared field, every type right.
- `markdown(name)`: docs/protocol.md's generated blocks (``errors``, ``limits``, ``methods``,
  ``notifications``), each between ``<!-- generated: NAME -->`` and ``<!-- end generated: NAME -->``.
- `typescript()`: integrations/node/protocol.d.ts, the wire types index.d.ts imports.

``python -m soundtrack.ipc.schemadoc --write`` rewrites both files; ``--check`` exits 1 when
either differs from what the schema generates (tests/test_ipc_schema.py runs the same check).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from soundtrack.ipc.protocol import DEFAULT_LIMITS, ErrorCode
from soundtrack.ipc.schema import ERRORS, MARKER_BASE, METHODS, METHODS_LIST, NOTIFICATIONS, NOTIFY, TYPES, F, Method

REPO = Path(__file__).resolve().parents[2]
PROTOCOL_MD = REPO / "docs" / "protocol.md"
PROTOCOL_DTS = REPO / "integrations" / "node" / "protocol.d.ts"
BLOCKS = ("errors", "limits", "methods", "notifications")

# -- the type language ----------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(Record<string,|'[^']*'|[A-Za-z_][A-Za-z0-9_]*|-?[0-9]+|\[\]|[|()>])")
_PRIMS = {"int", "number", "string", "bool", "bin", "null", "unknown"}


def parse_type(text: str) -> Any:
    """A type expression as a tree: ("union", [..]), ("array", t), ("record", t), ("lit", v),
    ("prim", name) or ("named", name)."""
    tokens = [m.group(1) for m in _TOKEN.finditer(text)]
    if "".join(tokens).replace(" ", "") != text.replace(" ", ""):
        raise ValueError(f"cannot parse type {text!r}")
    pos = 0

    def union() -> Any:
        nonlocal pos
        items = [postfix()]
        while pos < len(tokens) and tokens[pos] == "|":
            pos += 1
            items.append(postfix())
        return items[0] if len(items) == 1 else ("union", items)

    def postfix() -> Any:
        nonlocal pos
        t = atom()
        while pos < len(tokens) and tokens[pos] == "[]":
            pos += 1
            t = ("array", t)
        return t

    def atom() -> Any:
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            t = union()
            pos += 1  # ")"
            return t
        if tok == "Record<string,":
            t = union()
            pos += 1  # ">"
            return ("record", t)
        if tok.startswith("'"):
            return ("lit", tok[1:-1])
        if tok.lstrip("-").isdigit():
            return ("lit", int(tok))
        if tok in _PRIMS:
            return ("prim", tok)
        if tok in TYPES:
            return ("named", tok)
        raise ValueError(f"unknown type {tok!r} in {text!r}")

    tree = union()
    if pos != len(tokens):
        raise ValueError(f"cannot parse type {text!r}")
    return tree


def check(type_text: str, value: Any, where: str = "value") -> list[str]:
    """Problems of `value` against `type_text` ([] when it conforms)."""
    return _check(parse_type(type_text), value, where)


def _check(t: Any, v: Any, where: str) -> list[str]:
    kind = t[0]
    if kind == "union":
        best: list[str] | None = None
        for option in t[1]:
            e = _check(option, v, where)
            if not e:
                return []
            if best is None or len(e) < len(best):
                best = e
        return (best or []) if _named_only(t) else [f"{where}: {v!r:.60} is none of {_ts(t)}"]
    if kind == "prim":
        name = t[1]
        ok = {
            "int": isinstance(v, int) and not isinstance(v, bool),
            "number": isinstance(v, (int, float)) and not isinstance(v, bool),
            "string": isinstance(v, str),
            "bool": isinstance(v, bool),
            "bin": isinstance(v, (bytes, bytearray, memoryview)),
            "null": v is None,
            "unknown": True,
        }[name]
        return [] if ok else [f"{where}: {v!r:.60} is not {name}"]
    if kind == "lit":
        return [] if v == t[1] and type(v) is type(t[1]) else [f"{where}: {v!r:.60} is not {t[1]!r}"]
    if kind == "array":
        if not isinstance(v, list):
            return [f"{where}: {v!r:.60} is not an array"]
        return [e for i, x in enumerate(v) for e in _check(t[1], x, f"{where}[{i}]")]
    if kind == "record":
        if not isinstance(v, dict) or not all(isinstance(k, str) for k in v):
            return [f"{where}: {v!r:.60} is not a map with string keys"]
        return [e for k, x in v.items() for e in _check(t[1], x, f"{where}.{k}")]
    name = t[1]
    if name == "Marker":
        if not isinstance(v, dict) or v.get("kind") not in NOTIFY or not NOTIFY[v["kind"]].marker:
            return [f"{where}: {v!r:.60} is not a marker"]
        return check_fields(notification_fields(v["kind"]), v, where)
    return check_fields(TYPES[name], v, where)


def _named_only(t: Any) -> bool:
    return all(o[0] == "named" for o in t[1])


def check_fields(fields: tuple[F, ...], v: Any, where: str) -> list[str]:
    if not isinstance(v, dict):
        return [f"{where}: {v!r:.60} is not a map"]
    declared = {f.name: f for f in fields}
    errs = [f"{where}: field {k!r} is not declared" for k in v if k not in declared]
    for f in fields:
        if f.name not in v:
            if not f.optional:
                errs.append(f"{where}: field {f.name!r} is missing")
            continue
        errs.extend(_check(parse_type(f.type), v[f.name], f"{where}.{f.name}"))
    return errs


def notification_fields(kind: str) -> tuple[F, ...]:
    n = NOTIFY[kind]
    if not n.marker:
        return n.fields
    base = tuple(F("kind", f"'{kind}'", b.doc) if b.name == "kind" else b for b in MARKER_BASE)
    return base + n.fields


def check_result(method: str, result: Any) -> list[str]:
    m = METHODS[method]
    if isinstance(m.result, str):
        return check(m.result, result, f"{method}()")
    return check_fields(m.result, result, f"{method}()")


def check_notification(kind: str, payload: Any) -> list[str]:
    if kind not in NOTIFY:
        return [f"notification {kind!r} is not declared"]
    return check_fields(notification_fields(kind), payload, f"notification {kind}")


# -- TypeScript -----------------------------------------------------------------------------------


def _ts(t: Any, nested: bool = False) -> str:
    kind = t[0]
    if kind == "union":
        s = " | ".join(_ts(o, True) for o in t[1])
        return f"({s})" if nested else s
    if kind == "prim":
        return {"int": "number", "number": "number", "bool": "boolean", "bin": "Uint8Array"}.get(t[1], t[1])
    if kind == "lit":
        return f"'{t[1]}'" if isinstance(t[1], str) else str(t[1])
    if kind == "array":
        return f"{_ts(t[1], True)}[]"
    if kind == "record":
        return f"Record<string, {_ts(t[1])}>"
    return t[1]


def ts_type(text: str) -> str:
    return _ts(parse_type(text))


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _doc(text: str, indent: str = "") -> str:
    text = text.replace("*/", "* /")
    return f"{indent}/** {text} */\n" if text else ""


def _interface(name: str, fields: tuple[F, ...], doc: str = "") -> str:
    out = _doc(doc) + f"export interface {name} {{\n"
    for f in fields:
        out += _doc(f.doc, "  ") + f"  {_key(f.name)}{'?' if f.optional else ''}: {ts_type(f.type)};\n"
    return out + "}\n"


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else repr(name)


def typescript() -> str:
    """integrations/node/protocol.d.ts: every wire type, method and notification of the schema."""
    out = [
        "// The soundtrack protocol's wire types, generated from soundtrack/ipc/schema.py by\n"
        "// `python -m soundtrack.ipc.schemadoc --write`: do not edit (tests/test_ipc_schema.py checks it).\n"
        "// docs/protocol.md explains every field; index.d.ts (the Node client) imports these.\n",
        "export type ProtocolVersion = 1;\n",
        "export interface ErrorCodes {\n" + "".join(f"  readonly {c.name}: {int(c)};\n" for c in ErrorCode) + "}\n",
        "export type ErrorCodeName = keyof ErrorCodes;\n",
        "export interface Limits {\n" + "".join(_doc(f"{doc} ({unit})" if unit else doc, "  ") + f"  {name}: number;\n"
                                          for name, _v, unit, doc in DEFAULT_LIMITS.table()) + "}\n",
    ]
    for name, fields in TYPES.items():
        if name == "Marker":
            continue
        out.append(_interface(name, fields))
    for n in NOTIFICATIONS:
        out.append(_interface(f"{_pascal(n.kind)}Notification", notification_fields(n.kind), n.doc))
    markers = [f"{_pascal(n.kind)}Notification" for n in NOTIFICATIONS if n.marker]
    out.append("/** A musical marker: a notification payload, or one of `render`'s `markers`. */\n"
               f"export type Marker = {' | '.join(markers)};\n")
    out.append("export interface Notifications {\n" + "".join(f"  {n.kind}: {_pascal(n.kind)}Notification;\n" for n in NOTIFICATIONS) + "}\n")
    out.append("export type NotificationKind = keyof Notifications;\n")
    for m in METHODS_LIST:
        params = tuple(F(p.name, p.type, f"{p.doc} (default: {p.default})" if not p.required else p.doc, optional=not p.required)
                       for p in m.params)
        out.append(_interface(f"{_pascal(m.name)}Params", params, f"`{m.name}`'s named parameters (its positional order is this order)."))
        if isinstance(m.result, str):
            out.append(f"export type {_pascal(m.name)}Result = {ts_type(m.result)};\n")
        else:
            out.append(_interface(f"{_pascal(m.name)}Result", m.result))
    out.append("export interface Methods {\n" + "".join(
        f"  {m.name}: {{ params: {_pascal(m.name)}Params; result: {_pascal(m.name)}Result; role: '{m.role}' }};\n"
        for m in METHODS_LIST) + "}\n")
    out.append("export type MethodName = keyof Methods;\n")
    return "\n".join(out)


# -- markdown -------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_type(text: str) -> str:
    return f"`{_cell(text)}`"


def _signature(m: Method) -> str:
    def one(p: Any) -> str:
        if p.required:
            return p.name
        d = p.default if not any(ch.isspace() for ch in p.default) or p.default.startswith('"') else f"<{p.default}>"
        return f"{p.name}={d}"

    return f"{m.name}({', '.join(one(p) for p in m.params)})"


def _fields_table(fields: tuple[F, ...], head: str = "field") -> str:
    rows = [f"| {head} | type | meaning |", "| --- | --- | --- |"]
    for f in fields:
        rows.append(f"| `{f.name}`{' (optional)' if f.optional else ''} | {_md_type(f.type)} | {_cell(f.doc)} |")
    return "\n".join(rows)


def markdown(block: str) -> str:
    """One generated block of docs/protocol.md (without its markers)."""
    if block == "errors":
        rows = ["| code | name | sent when |", "| ---: | --- | --- |"]
        rows += [f"| {int(c)} | `{c.name}` | {_cell(ERRORS[c])} |" for c in ErrorCode]
        return "\n".join(rows)
    if block == "limits":
        rows = ["| limit | default | unit | what it bounds, and what happens past it |", "| --- | ---: | --- | --- |"]
        rows += [f"| `{name}` | {value:,} | {unit} | {_cell(doc)} |" if isinstance(value, int) else
                 f"| `{name}` | {value:g} | {unit} | {_cell(doc)} |" for name, value, unit, doc in DEFAULT_LIMITS.table()]
        return "\n".join(rows)
    if block == "notifications":
        base = ", ".join(f"`{f.name}`" for f in MARKER_BASE)
        rows = [f"Every marker payload (the first {sum(n.marker for n in NOTIFICATIONS)} kinds) has {base}; "
                "`bar` and `beat` are there when `position` is a plain `BAR:BEAT`.", "",
                "| kind | marker | its own fields | sent when |", "| --- | --- | --- | --- |"]
        for n in NOTIFICATIONS:
            own = "; ".join(f"`{f.name}`{'?' if f.optional else ''} ({_cell(ts_type(f.type))}): {_cell(f.doc)}" for f in n.fields)
            rows.append(f"| `{n.kind}` | {'yes' if n.marker else 'no'} | {own} | {_cell(n.doc)} |")
        return "\n".join(rows)
    if block == "methods":
        parts = []
        named = [f"#### `{name}`\n\n{_fields_table(fields)}" for name, fields in TYPES.items() if name != "Marker"]
        for m in METHODS_LIST:
            s = [f"### `{_signature(m)}` — {m.role}", "", m.doc, ""]
            if m.params:
                rows = ["| parameter | type | default | meaning |", "| --- | --- | --- | --- |"]
                rows += [f"| `{p.name}` | {_md_type(p.type)} | {'required' if p.required else _cell(p.default)} | {_cell(p.doc)} |"
                         for p in m.params]
                s += rows + [""]
            if isinstance(m.result, str):
                s.append(f"Result: {_md_type(m.result)} (see Result types).")
            else:
                s += ["Result:", "", _fields_table(m.result)]
            if m.errors:
                s += ["", "Errors: " + ", ".join(f"`{c.name}`" for c in m.errors) + "."]
            parts.append("\n".join(s))
        return "\n\n".join(parts) + "\n\n### Result types\n\n" + "\n\n".join(named)
    raise ValueError(f"block={block!r} must be one of {', '.join(BLOCKS)}")


def _marks(block: str) -> tuple[str, str]:
    return (f"<!-- generated: {block} (python -m soundtrack.ipc.schemadoc --write; do not edit) -->",
            f"<!-- end generated: {block} -->")


def render_doc(text: str) -> str:
    """`text` (docs/protocol.md) with every generated block replaced by what the schema gives."""
    for block in BLOCKS:
        begin, end = _marks(block)
        a, b = text.find(begin), text.find(end)
        if a < 0 or b < a:
            raise ValueError(f"{PROTOCOL_MD}: the generated block {block!r} is missing ({begin!r} ... {end!r})")
        text = text[: a + len(begin)] + "\n\n" + markdown(block) + "\n\n" + text[b:]
    return text


def main(argv: list[str]) -> int:
    if argv not in (["--write"], ["--check"]):
        print("usage: python -m soundtrack.ipc.schemadoc --write | --check", file=sys.stderr)
        return 2
    doc = PROTOCOL_MD.read_text(encoding="utf-8")
    want = {PROTOCOL_MD: render_doc(doc), PROTOCOL_DTS: typescript()}
    stale = [p for p, text in want.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    if argv == ["--write"]:
        for p in stale:
            p.write_text(want[p], encoding="utf-8")
            print(f"wrote {p.relative_to(REPO)}")
        return 0
    for p in stale:
        print(f"{p.relative_to(REPO)} differs from the schema; run: python -m soundtrack.ipc.schemadoc --write", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
