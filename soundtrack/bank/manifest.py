"""The manifest as untrusted input: read within limits, checked against the format before use.

A bank may come from anywhere (a download, a game's data folder, an RPC `load`), so nothing in
`manifest.json` or a ``stems/KEY.json`` record is used before `check_manifest` / `check_record`
have accepted it. Every refusal is one `BankError` line naming the file and the key
(``loops/x/manifest.json: stems[3].files.pad.path = '../../etc/passwd' must be
'stems/KEY.pad.flac' ...``), never a traceback and never a partial acceptance.

What the checks guarantee to the code after them:

- every key the loaders read is there with the right type, in range, finite;
- the only paths that are ever opened, ``files.LAYER.path``, are exactly
  ``stems/KEY.LAYER.flac`` for the record's own key (relative, normalised, inside the bank);
  ``graph.path`` is relative and normalised, and it and the composer file names (a state's
  ``files``, a record's ``source.file``: relative to the graph, as the graph gives them) are
  informational: never opened;
- the graph's TOML text is in the manifest and hashes to ``graph.source_sha256``;
- durations, sizes and counts are under the limits below (a FLAC "bomb" that claims hours of
  audio is refused before a byte of it is decoded), and each grid is consistent
  (``0 <= entry <= exit <= frames``, its body no longer than its bars at its tempo).
"""

from __future__ import annotations

import hashlib
import math
import posixpath
import re
from dataclasses import fields
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

from soundtrack.bank.plan import CODEC, FORMAT, FORMAT_VERSION
from soundtrack.bank.store import MANIFEST, layer_path, parse_json, read_limited
from soundtrack.errors import BankError, SoundtrackError
from soundtrack.roles import ROLES
from soundtrack.stem import MAX_BARS, StemGrid, StemSpec
from soundtrack.timing import Meter, parse_bpm

# -- limits (documented in loops/README.md and docs/security.md) -------------------------------
MAX_MANIFEST_BYTES = 64 << 20  # manifest.json
MAX_RECORD_BYTES = 1 << 20  # one stems/KEY.json
MAX_GRAPH_TEXT_BYTES = 1 << 20  # the graph's TOML text kept in the manifest
MAX_STEMS = 10_000
MAX_LAYERS = 16
MAX_CHANNELS = 8
MAX_VARIANTS = 64
MAX_STEM_SECONDS = 300  # a stem's whole length (pickup + bars + tail) at its sample rate
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 100_000  # prompts, styles, messages
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 192_000
FLAC_OVERHEAD_BYTES = 1 << 16  # a FLAC file may exceed raw 24-bit PCM by its headers (plus 1/16)

HEX64 = re.compile(r"^[0-9a-f]{64}$")
_LAYER = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_BPM = re.compile(r"^[0-9]{1,6}(?:/[0-9]{1,6})?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def max_flac_bytes(frames: int, channels: int) -> int:
    """The largest a 24-bit FLAC of `frames` x `channels` can honestly be (verbatim subframes)."""
    raw = frames * channels * 3
    return raw + raw // 16 + FLAC_OVERHEAD_BYTES


def decoded_bytes(record: dict[str, Any]) -> int:
    """Bytes of float32 audio a checked record decodes to: every layer and the mix."""
    g = record["grid"]
    return int(g["frames"]) * int(record["channels"]) * 4 * (len(record["layers"]) + 1)


# -- the checker -------------------------------------------------------------------------------
def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Check:
    """Formats refusals as ``FILE: WHERE must be ...`` (one line, values cut to 60 chars)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, value: Any, must: str) -> BankError:
        shown = "" if value is _MISSING else f" = {_show(value)}"
        if value is _MISSING:
            return BankError(f"{self.path}: {where} is missing; it {must}")
        return BankError(f"{self.path}: {where}{shown} {must}")

    def get(self, obj: dict[str, Any], key: str, where: str) -> Any:
        if key not in obj:
            raise BankError(f"{self.path}: {where}.{key} is missing" if where else f"{self.path}: {key} is missing")
        return obj[key]

    def obj(self, v: Any, where: str) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise self.fail(where, v, "must be a JSON object")
        return v

    def lst(self, v: Any, where: str, *, max_len: int) -> list[Any]:
        if not isinstance(v, list):
            raise self.fail(where, v, "must be a JSON list")
        if len(v) > max_len:
            raise self.fail(where, f"<{len(v)} items>", f"must have at most {max_len} items")
        return v

    def text(self, v: Any, where: str, *, max_chars: int = MAX_TEXT_CHARS, name: bool = False) -> str:
        if not isinstance(v, str):
            raise self.fail(where, v, "must be a string")
        if len(v) > max_chars:
            raise self.fail(where, v, f"must be at most {max_chars} characters")
        if name and (not v or _CONTROL.search(v)):
            raise self.fail(where, v, "must be a non-empty name without control characters")
        return v

    def integer(self, v: Any, where: str, lo: int, hi: int) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise self.fail(where, v, f"must be a whole number from {lo} to {hi}")
        return v

    def number(self, v: Any, where: str, *, lo: float = -1e6, hi: float = 1e6) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
            raise self.fail(where, v, f"must be a finite number from {lo:g} to {hi:g}")
        return float(v)

    def boolean(self, v: Any, where: str) -> bool:
        if not isinstance(v, bool):
            raise self.fail(where, v, "must be true or false")
        return v

    def hex64(self, v: Any, where: str) -> str:
        if not isinstance(v, str) or not HEX64.match(v):
            raise self.fail(where, v, "must be 64 lowercase hex digits (a sha256)")
        return v

    def bpm(self, v: Any, where: str) -> Fraction:
        if not isinstance(v, str) or not _BPM.match(v):
            raise self.fail(where, v, "must be a tempo string such as \"120\" or \"261/2\"")
        try:
            return parse_bpm(Fraction(v))
        except (SoundtrackError, ValueError, ZeroDivisionError) as e:
            raise self.fail(where, v, f"is not a valid tempo: {e}") from None

    def one_of(self, v: Any, where: str, allowed: tuple[Any, ...]) -> Any:
        if not isinstance(v, (str, int, type(None))) or isinstance(v, bool) or v not in allowed:
            raise self.fail(where, v, f"must be one of {', '.join(repr(a) for a in allowed)}")
        return v

    def exact(self, v: Any, where: str, want: Any, must: str) -> Any:
        if type(v) is not type(want) or v != want:
            raise self.fail(where, v, must)
        return v

    def rel_path(self, v: Any, where: str) -> str:
        """An informational path: relative, forward slashes, normalised, no '..'."""
        s = self.text(v, where, max_chars=1000)
        parts = s.split("/")
        if (not s or s.startswith("/") or "\\" in s or ":" in s or _CONTROL.search(s)
                or any(p in ("", ".", "..") for p in parts) or posixpath.normpath(s) != s):
            raise self.fail(where, v, "must be a relative, normalised path with forward slashes and no '..'")
        return s

    def layers(self, v: Any, where: str) -> list[str]:
        items = self.lst(v, where, max_len=MAX_LAYERS)
        if not items:
            raise self.fail(where, v, "must name at least one layer")
        for i, name in enumerate(items):
            if not isinstance(name, str) or not _LAYER.match(name) or len(name) > 64:
                raise self.fail(f"{where}[{i}]", name, "must be a layer name (letters, digits, _ and -)")
        if len(set(items)) != len(items):
            raise self.fail(where, v, "must not name a layer twice")
        return items


_MISSING = object()
_SPEC_FIELDS = {f.name for f in fields(StemSpec)}


def _keyed(c: _Check, parent: dict[str, Any], where: str, spec: dict[str, Callable[[Any, str], Any]],
           optional: dict[str, Callable[[Any, str], Any]] | None = None) -> None:
    """Check each required key of `parent` with its checker, then each optional one present."""
    for key, check in spec.items():
        w = f"{where}.{key}" if where else key
        if key not in parent:
            raise BankError(f"{c.path}: {w} is missing")
        check(parent[key], w)
    for key, check in (optional or {}).items():
        if key in parent:
            check(parent[key], f"{where}.{key}" if where else key)


def _grid(c: _Check, v: Any, where: str, sample_rate: int) -> None:
    g = c.obj(v, where)
    _keyed(c, g, where, {
        "sample_rate": lambda x, w: c.one_of(x, w, (sample_rate,)),
        "bpm": c.bpm,
        "meter": lambda x, w: _meter(c, x, w),
        "entry": lambda x, w: c.integer(x, w, 0, MAX_STEM_SECONDS * sample_rate),
        "exit": lambda x, w: c.integer(x, w, 0, MAX_STEM_SECONDS * sample_rate),
        "frames": lambda x, w: c.integer(x, w, 1, MAX_STEM_SECONDS * sample_rate),
        "bars": lambda x, w: c.integer(x, w, 0, MAX_BARS),
    })
    if not g["entry"] <= g["exit"] <= g["frames"]:
        raise c.fail(where, f"entry {g['entry']}, exit {g['exit']}, frames {g['frames']}",
                     "must have 0 <= entry <= exit <= frames")
    meter = Meter.parse(g["meter"])
    bpm = Fraction(g["bpm"])
    body_max = math.ceil(Fraction(g["bars"] * meter.beats * 60 * sample_rate) / bpm) + 1
    if g["exit"] - g["entry"] > body_max:
        raise c.fail(f"{where}.exit", g["exit"],
                     f"is {g['exit'] - g['entry']} frames after entry; {g['bars']} bars of {meter} at {bpm} bpm are "
                     f"at most {body_max}")
    try:
        StemGrid.from_dict(g)
    except (SoundtrackError, ValueError, TypeError) as e:
        raise BankError(f"{c.path}: {where} is not a valid grid: {str(e)[:120]}") from None


def _meter(c: _Check, v: Any, where: str) -> Meter:
    s = c.text(v, where, max_chars=10)
    try:
        return Meter.parse(s)
    except (SoundtrackError, ValueError, TypeError) as e:
        raise c.fail(where, v, f"is not a meter such as \"4/4\": {e}") from None


def _spec(c: _Check, v: Any, where: str) -> None:
    d = c.obj(v, where)
    extra = sorted(set(d) - _SPEC_FIELDS)
    if extra:
        raise c.fail(f"{where}.{extra[0]}", d[extra[0]], f"is not a stem spec field ({', '.join(sorted(_SPEC_FIELDS))})")
    try:
        spec_from_dict(d)
    except (SoundtrackError, ValueError, TypeError, OverflowError, ZeroDivisionError) as e:
        raise BankError(f"{c.path}: {where} is not a valid stem spec: {str(e).splitlines()[0][:120]}") from None


def spec_from_dict(d: dict[str, Any]) -> StemSpec:
    """The StemSpec a record's ``spec`` describes (checked by `check_record` first)."""
    d = dict(d)
    if d.get("tempo") is not None:
        t = d["tempo"]
        if not isinstance(t, str) or not _BPM.match(t):
            raise ValueError(f"tempo={_show(t)} must be a tempo string")
        d["tempo"] = Fraction(t)
    if not isinstance(d.get("layers"), list):
        raise TypeError("layers must be a list")
    d["layers"] = tuple(d["layers"])
    for k in ("prompt", "style", "soundfont"):
        if isinstance(d.get(k), str) and len(d[k]) > MAX_TEXT_CHARS:
            raise ValueError(f"{k} is longer than {MAX_TEXT_CHARS} characters")
    return StemSpec(**d)


def _music_key(c: _Check, v: Any, where: str) -> None:
    from soundtrack.pitch import Key

    s = c.text(v, where, max_chars=40)
    try:
        Key.parse(s)
    except (SoundtrackError, ValueError, TypeError) as e:
        raise c.fail(where, v, f"is not a musical key such as \"D minor\": {e}") from None


def _ident(c: _Check, v: Any, where: str) -> None:
    g = c.obj(v, where)
    _keyed(c, g, where, {"name": lambda x, w: c.text(x, w, max_chars=MAX_NAME_CHARS, name=True),
                         "version": lambda x, w: c.text(x, w, max_chars=1000)})


def check_record(rec: Any, path: Path, where: str, *, sample_rate: int, key: str | None = None) -> dict[str, Any]:
    """Check a stem record as `finish_stem` writes it (stems/KEY.json, or the core of a manifest
    record); `key`: the key it must have. Returns it; BankError names `where` and the key."""
    c = _Check(path)
    rec = c.obj(rec, where)
    k = c.hex64(c.get(rec, "key", where), f"{where}.key")
    if key is not None and k != key:
        raise c.fail(f"{where}.key", k, f"must be {key} (the file's name)")
    _keyed(c, rec, where, {
        "channels": lambda x, w: c.integer(x, w, 1, MAX_CHANNELS),
        "layers": c.layers,
        "grid": lambda x, w: _grid(c, x, w, sample_rate),
        "files": lambda x, w: c.obj(x, w),
        "loudness_lufs": lambda x, w: None if x is None else c.number(x, w, lo=-200, hi=50),
        "true_peak_dbtp": lambda x, w: c.number(x, w, lo=-1000, hi=50),
        "gain_db": lambda x, w: c.number(x, w, lo=-1000, hi=1000),
        "limited": c.boolean,
        "music_key": lambda x, w: _music_key(c, x, w),
        "spec": lambda x, w: _spec(c, x, w),
        "generator": lambda x, w: _ident(c, x, w),
        "tempo": lambda x, w: None if x is None else c.bpm(x, w),
    }, {
        "style": lambda x, w: c.text(x, w),
        "meta": lambda x, w: c.obj(x, w),
    })
    files = rec["files"]
    frames, channels = rec["grid"]["frames"], rec["channels"]
    if set(files) != set(rec["layers"]):
        raise c.fail(f"{where}.files", sorted(files), f"must have one entry per layer: {', '.join(rec['layers'])}")
    for layer in rec["layers"]:
        w = f"{where}.files.{layer}"
        f = c.obj(files[layer], w)
        want = layer_path(k, layer)
        _keyed(c, f, w, {
            "path": lambda x, ww: c.exact(x, ww, want, f"must be {want!r} (relative to the bank, inside it)"),
            "sha256": c.hex64,
            "bytes": lambda x, ww: c.integer(x, ww, 0, max_flac_bytes(frames, channels)),
        })
    return rec


def check_manifest(m: dict[str, Any], path: Path) -> dict[str, Any]:
    """Check a whole manifest (see module doc); returns it. BankError names the file and key."""
    c = _Check(path)
    if m.get("format") != FORMAT:
        raise BankError(f"{path}: not a soundtrack bank manifest (format must be {FORMAT!r})")
    if m.get("format_version") != FORMAT_VERSION:
        raise BankError(f"{path}: bank format_version={_show(m.get('format_version'))}, this soundtrack reads "
                        f"{FORMAT_VERSION}; rebuild the bank")
    name = lambda x, w: c.text(x, w, max_chars=MAX_NAME_CHARS, name=True)  # noqa: E731
    _keyed(c, m, "", {
        "created_by": lambda x, w: c.text(x, w, max_chars=200),
        "sample_rate": lambda x, w: c.integer(x, w, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE),
        "graph": lambda x, w: c.obj(x, w),
        "generator": lambda x, w: _ident(c, x, w),
        "loudness": lambda x, w: c.obj(x, w),
        "codec": lambda x, w: c.exact(x, w, CODEC, f"must be {CODEC}"),
        "states": lambda x, w: c.obj(x, w),
        "stingers": lambda x, w: c.obj(x, w),
        "bridges": lambda x, w: c.obj(x, w),
        "skipped": lambda x, w: [c.text(s, f"{w}[{i}]") for i, s in enumerate(c.lst(x, w, max_len=MAX_STEMS))],
        "stems": lambda x, w: c.lst(x, w, max_len=MAX_STEMS),
    })
    sr = m["sample_rate"]
    g = m["graph"]
    if "text" not in g:
        raise BankError(f"{path}: graph.text is missing (the bank was built before banks kept their graph's text); "
                        f"rebuild it: soundtrack bank build GRAPH --out {path.parent}")
    _keyed(c, g, "graph", {
        "name": name,
        "path": c.rel_path,
        "source_sha256": c.hex64,
        "text": lambda x, w: c.text(x, w, max_chars=MAX_GRAPH_TEXT_BYTES),
    })
    if hashlib.sha256(g["text"].encode("utf-8")).hexdigest() != g["source_sha256"]:
        raise c.fail("graph.text", "<the graph's TOML>", "does not hash to graph.source_sha256")
    _keyed(c, m["loudness"], "loudness", {"target_lufs": lambda x, w: c.number(x, w, lo=-70, hi=0),
                                          "true_peak_dbtp": lambda x, w: c.number(x, w, lo=-70, hi=0)})
    for sname, st in m["states"].items():
        w = f"states.{sname}"
        name(sname, w)
        st = c.obj(st, w)
        _keyed(c, st, w, {
            "intro": lambda x, ww: c.integer(x, ww, 0, MAX_BARS),
            "main": lambda x, ww: c.integer(x, ww, 1, MAX_BARS),
            "outro": lambda x, ww: c.integer(x, ww, 0, MAX_BARS),
            "variants": lambda x, ww: c.integer(x, ww, 1, MAX_VARIANTS),
            "layers": c.layers,
            "tempi": lambda x, ww: [c.bpm(t, f"{ww}[{i}]") for i, t in enumerate(c.lst(x, ww, max_len=64))],
        }, {"files": lambda x, ww: [c.text(p, f"{ww}.{r}", max_chars=1000, name=True) for r, p in c.obj(x, ww).items()]})
    for kind, length in (("stingers", "beats"), ("bridges", "bars")):
        for iname, item in m[kind].items():
            w = f"{kind}.{iname}"
            name(iname, w)
            _keyed(c, c.obj(item, w), w, {length: lambda x, ww: c.integer(x, ww, 1, MAX_BARS * 32), "layers": c.layers})
    seen: set[tuple[Any, ...]] = set()
    kinds = {"state": m["states"], "stinger": m["stingers"], "bridge": m["bridges"]}
    for i, rec in enumerate(m["stems"]):
        w = f"stems[{i}]"
        check_record(rec, path, w, sample_rate=sr)
        _keyed(c, rec, w, {
            "id": lambda x, ww: c.text(x, ww, max_chars=MAX_NAME_CHARS * 2, name=True),
            "kind": lambda x, ww: c.one_of(x, ww, tuple(kinds)),
            "name": name,
            "role": lambda x, ww: c.one_of(x, ww, ROLES),
            "variant": lambda x, ww: c.integer(x, ww, 0, MAX_VARIANTS - 1),
            "base": lambda x, ww: None if x is None else c.hex64(x, ww),
        }, {
            "context": c.hex64,
            "source": lambda x, ww: _keyed(c, c.obj(x, ww), ww, {
                "file": lambda y, www: c.text(y, www, max_chars=1000, name=True), "sha256": c.hex64}),
        })
        if rec["name"] not in kinds[rec["kind"]]:
            raise c.fail(f"{w}.name", rec["name"], f"must be one of the manifest's {rec['kind']}s")
        if (rec["kind"] == "state") != (rec["role"] in ("intro", "main", "outro")) or (
                rec["kind"] != "state" and rec["role"] != rec["kind"]):
            raise c.fail(f"{w}.role", rec["role"], f"does not fit kind {rec['kind']!r}")
        if (rec["tempo"] is None) != (rec["base"] is None):
            raise c.fail(f"{w}.base", rec["base"], "must be given exactly for a tempo variant (a record with a tempo)")
        ident = (rec["name"], rec["role"], rec["variant"], None if rec["tempo"] is None else Fraction(rec["tempo"]))
        if ident in seen:
            raise c.fail(f"{w}.id", rec["id"], "repeats another record's name, role, variant and tempo")
        seen.add(ident)
    return m


def read_manifest(root: Path) -> dict[str, Any]:
    """The checked manifest of the bank in `root` (BankError: missing, unreadable or malformed)."""
    root = Path(root)
    path = root / MANIFEST
    if not root.is_dir():
        raise BankError(f"{root}: no such bank folder; build it with: soundtrack bank build GRAPH --out {root}")
    try:
        data = read_limited(path, limit=MAX_MANIFEST_BYTES, what="the manifest")
    except FileNotFoundError:
        raise BankError(f"{root}: not a bank (no {MANIFEST}); build it with: soundtrack bank build GRAPH --out {root}") from None
    except OSError as e:
        raise BankError(f"{path}: the manifest cannot be read: {e.strerror or e}") from None
    m = parse_json(data, path, what="the manifest")
    return check_manifest(m, path)
