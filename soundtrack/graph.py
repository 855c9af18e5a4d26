"""The soundtrack graph: states, stingers, bridges, transitions and parameters, from TOML.

A `Graph` is immutable data and knows nothing of audio. `load_graph(path)` parses and validates
it; every error names the file, the table and the key, the bad value and what would be valid:

    graphs/dungeon.toml: transitions[3].sync = 'bars' must be one of immediate, beat, bar,
    phrase, end, cue:NAME
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable

from soundtrack.errors import GraphError, SoundtrackError
from soundtrack.generate import DEFAULT_GENERATOR
from soundtrack.pitch import Key
from soundtrack.stem import DEFAULT_LAYERS, MAX_BARS, MAX_STINGER_BEATS
from soundtrack.timing import (
    DEFAULT_SAMPLE_RATE,
    Duration,
    Meter,
    TimePoint,
    check_sample_rate,
    parse_bpm,
    parse_duration,
    parse_time,
)

SYNCS = ("immediate", "beat", "bar", "phrase", "end")
CURVES = ("equal-power", "linear", "s-curve")
QUANTIZE = ("immediate", "beat", "bar")
DEFAULT_LOUDNESS = -18.0  # LUFS: a game-music level that leaves room for effects and dialogue
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


@dataclass(frozen=True)
class StateDef:
    """One music state: its prompt and how many bars each of its segments has."""

    name: str
    prompt: str
    intro: int = 0
    main: int = 8
    variants: int = 1
    outro: int = 0
    layers: tuple[str, ...] = DEFAULT_LAYERS
    tempo: Fraction | None = None
    key: Key | None = None
    meter: Meter | None = None
    seed: int = 0
    terminal: bool = False  # may have no way out (a victory sting, an episode's outro)
    cues: dict[str, TimePoint] = field(default_factory=dict)  # named positions in the main loop
    files: dict[str, str] = field(default_factory=dict)  # composer stems to import instead
    tempi: tuple[Fraction, ...] = ()  # extra tempo variants made at bank-build time


@dataclass(frozen=True)
class StingerDef:
    """A one-shot overlay (a fanfare, a hit) played on the next beat or bar."""

    name: str
    prompt: str
    beats: int = 4
    sync: str = "beat"
    min_interval: Fraction = Fraction(0)  # seconds: not again within this long
    layers: tuple[str, ...] = ("melody",)
    tempo: Fraction | None = None
    key: Key | None = None
    meter: Meter | None = None
    seed: int = 0
    gain_db: float = 0.0


@dataclass(frozen=True)
class BridgeDef:
    """A segment played once between two states by a transition that names it."""

    name: str
    prompt: str
    bars: int = 1
    layers: tuple[str, ...] = DEFAULT_LAYERS
    tempo: Fraction | None = None
    key: Key | None = None
    meter: Meter | None = None
    seed: int = 0


@dataclass(frozen=True)
class TransitionDef:
    """How to move from one state (or any, ``*``) to another, and when."""

    index: int  # position in the file's [[transitions]] list, for messages
    source: str  # a state name or "*"
    target: str
    on: str | None  # the event that triggers it; None = used when `target` is requested directly
    sync: str = "bar"  # immediate | beat | bar | phrase | end | cue
    cue: str | None = None  # for sync = "cue:NAME"
    phrase: int = 4  # bars per phrase, for sync = "phrase"
    fade: Duration = Duration(Fraction(1), "beats")
    curve: str = "equal-power"
    outro: bool = False
    intro: bool = True
    bridge: str | None = None


@dataclass(frozen=True)
class ParamDef:
    """A game parameter (0..1 unless given) whose value fades layers in and out."""

    name: str
    default: float = 0.5
    minimum: float = 0.0
    maximum: float = 1.0
    layers: dict[str, tuple[float, float]] = field(default_factory=dict)  # fades in across [lo, hi]
    quantize: str = "beat"
    ramp: Duration = Duration(Fraction(1), "beats")


@dataclass(frozen=True)
class Graph:
    """A whole soundtrack: pure data, validated on load."""

    name: str
    path: str
    start: str
    states: dict[str, StateDef]
    stingers: dict[str, StingerDef] = field(default_factory=dict)
    bridges: dict[str, BridgeDef] = field(default_factory=dict)
    transitions: tuple[TransitionDef, ...] = ()
    params: dict[str, ParamDef] = field(default_factory=dict)
    tempo: Fraction | None = None
    meter: Meter | None = None
    key: Key | None = None
    seed: int = 0
    sample_rate: int = DEFAULT_SAMPLE_RATE
    loudness: float = DEFAULT_LOUDNESS
    generator: str = DEFAULT_GENERATOR
    # [generator] table: constructor options for the generator (model, device, guidance_scale, max_batch)
    generator_options: dict[str, Any] = field(default_factory=dict)
    source_sha256: str = ""  # of the TOML text: a bank built from other text is stale

    def events(self) -> set[str]:
        return {t.on for t in self.transitions if t.on is not None}

    def transitions_from(self, state: str) -> list[TransitionDef]:
        return [t for t in self.transitions if t.source in (state, "*")]

    def to_networkx(self) -> Any:
        """A MultiDiGraph: nodes are states, edges carry the transition (``*`` expanded)."""
        import networkx as nx

        g = nx.MultiDiGraph(name=self.name)
        for s in self.states:
            g.add_node(s)
        for t in self.transitions:
            sources = list(self.states) if t.source == "*" else [t.source]
            for s in sources:
                if s != t.target:
                    g.add_edge(s, t.target, event=t.on, transition=t)
        return g


# -- loading -----------------------------------------------------------------------------------


class _Ctx:
    """Formats messages that name the file, the table and the key."""

    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, where: str, message: str) -> GraphError:
        return GraphError(f"{self.path}: {where} {message}" if where else f"{self.path}: {message}")

    def check_keys(self, table: dict[str, Any], where: str, allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        for k in table:
            if k not in allowed:
                raise self.error(f"{where}.{k}", f"is not a known key; valid keys are {', '.join(allowed)}")


def _typed(ctx: _Ctx, table: dict[str, Any], where: str, key: str, types: tuple[type, ...], default: Any) -> Any:
    if key not in table:
        return default
    v = table[key]
    if isinstance(v, bool) and bool not in types:
        raise ctx.error(f"{where}.{key} = {v!r}", f"must be {_type_names(types)}")
    if not isinstance(v, types):
        raise ctx.error(f"{where}.{key} = {v!r}", f"must be {_type_names(types)}")
    return v


def _type_names(types: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list", dict: "a table"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _int_range(ctx: _Ctx, table: dict, where: str, key: str, default: int, lo: int, hi: int) -> int:
    v = _typed(ctx, table, where, key, (int,), default)
    if not lo <= v <= hi:
        raise ctx.error(f"{where}.{key} = {v!r}", f"must be between {lo} and {hi}")
    return v


def _convert(ctx: _Ctx, where: str, key: str, value: Any, fn: Any) -> Any:
    try:
        return fn(value)
    except (SoundtrackError, TypeError) as e:
        raise ctx.error(f"{where}.{key} = {value!r}", f"is invalid: {e}") from None


def _musical(ctx: _Ctx, table: dict, where: str) -> tuple[Fraction | None, Key | None, Meter | None]:
    tempo = key = meter = None
    if "tempo" in table:
        tempo = _convert(ctx, where, "tempo", _typed(ctx, table, where, "tempo", (int, float, str), None), parse_bpm)
    if "key" in table:
        key = _convert(ctx, where, "key", _typed(ctx, table, where, "key", (str,), None), Key.parse)
    if "meter" in table:
        meter = _convert(ctx, where, "meter", _typed(ctx, table, where, "meter", (str,), None), Meter.parse)
    return tempo, key, meter


def _layers(ctx: _Ctx, table: dict, where: str, default: tuple[str, ...]) -> tuple[str, ...]:
    v = _typed(ctx, table, where, "layers", (list,), None)
    if v is None:
        return default
    if not v or not all(isinstance(x, str) and _NAME_RE.match(x) for x in v) or len(set(v)) != len(v):
        raise ctx.error(f"{where}.layers = {v!r}", "must be a non-empty list of distinct names such as ['drums', 'bass']")
    return tuple(v)


def _name(ctx: _Ctx, where: str, name: str) -> str:
    if not _NAME_RE.match(name):
        raise ctx.error(where, f"name {name!r} must start with a letter or _ and use letters, digits, _ or -")
    return name


_SOUNDTRACK_KEYS = ("name", "tempo", "meter", "key", "seed", "start", "sample_rate", "loudness", "generator", "layers")
_STATE_KEYS = (
    "prompt", "intro", "main", "variants", "outro", "layers", "tempo", "key", "meter", "seed",
    "terminal", "cues", "files", "tempi",
)
_STINGER_KEYS = ("prompt", "beats", "sync", "min_interval", "layers", "tempo", "key", "meter", "seed", "gain_db")
_BRIDGE_KEYS = ("prompt", "bars", "layers", "tempo", "key", "meter", "seed")
_TRANSITION_KEYS = ("from", "to", "on", "sync", "phrase", "fade", "curve", "outro", "intro", "bridge")
_PARAM_KEYS = ("default", "min", "max", "layers", "quantize", "ramp")
_TOP_KEYS = ("soundtrack", "generator", "states", "stingers", "bridges", "transitions", "params")
_GENERATOR_KEYS = ("model", "device", "guidance_scale", "max_batch")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def load_graph(path: str | Path) -> Graph:
    """Read, parse and validate a graph TOML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GraphError(f"{path}: no such graph file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise GraphError(f"{path}: cannot read graph file: {e}") from None
    return parse_graph(text, path=str(path))


def parse_graph(text: str, *, path: str = "<graph>") -> Graph:
    """Parse and validate graph TOML text; `path` is used in messages."""
    ctx = _Ctx(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ctx.error("", f"is not valid TOML: {e}") from None
    for k in doc:
        if k not in _TOP_KEYS:
            raise ctx.error(f"[{k}]", f"is not a known table; valid tables are {', '.join(_TOP_KEYS)}")

    top = doc.get("soundtrack")
    if not isinstance(top, dict):
        raise ctx.error("[soundtrack]", "table is missing; it needs at least name and start")
    w = "[soundtrack]"
    ctx.check_keys(top, w, _SOUNDTRACK_KEYS)
    name = _typed(ctx, top, w, "name", (str,), None)
    if name is None:
        raise ctx.error(f"{w}.name", "is missing")
    _name(ctx, f"{w}.name", name)
    tempo, key, meter = _musical(ctx, top, w)
    seed = _int_range(ctx, top, w, "seed", 0, 0, 2**31 - 1)
    sample_rate = _convert(ctx, w, "sample_rate", _typed(ctx, top, w, "sample_rate", (int,), DEFAULT_SAMPLE_RATE), check_sample_rate)
    loudness = float(_typed(ctx, top, w, "loudness", (int, float), DEFAULT_LOUDNESS))
    if not -40.0 <= loudness <= -6.0:
        raise ctx.error(f"{w}.loudness = {loudness!r}", "must be an integrated loudness in LUFS between -40 and -6")
    generator = _typed(ctx, top, w, "generator", (str,), DEFAULT_GENERATOR)
    generator_options = _generator_options(ctx, doc)
    default_layers = _layers(ctx, top, w, DEFAULT_LAYERS)

    states_doc = doc.get("states")
    if not isinstance(states_doc, dict) or not states_doc:
        raise ctx.error("[states]", "must define at least one state, e.g. [states.explore]")
    states: dict[str, StateDef] = {}
    for sname, st in states_doc.items():
        w = f"[states.{sname}]"
        _name(ctx, w, sname)
        if not isinstance(st, dict):
            raise ctx.error(w, "must be a table")
        ctx.check_keys(st, w, _STATE_KEYS)
        s_tempo, s_key, s_meter = _musical(ctx, st, w)
        prompt = _typed(ctx, st, w, "prompt", (str,), None)
        files = _typed(ctx, st, w, "files", (dict,), {})
        if prompt is None and not files:
            raise ctx.error(f"{w}.prompt", "is missing (or give files = {intro = ..., main = ...})")
        for role, f in files.items():
            if role not in ("intro", "main", "outro") or not isinstance(f, str):
                raise ctx.error(f"{w}.files.{role}", "must be intro, main or outro = \"path/to/stem.wav\"")
        cues = {}
        for cname, cval in _typed(ctx, st, w, "cues", (dict,), {}).items():
            _name(ctx, f"{w}.cues", cname)
            cues[cname] = _convert(ctx, f"{w}.cues", cname, cval, parse_time)
            if cues[cname].bar is None:
                raise ctx.error(f"{w}.cues.{cname} = {cval!r}", "must be a bar position such as 'bar 5' or '5:3'")
        tempi = tuple(
            _convert(ctx, w, "tempi", t, parse_bpm) for t in _typed(ctx, st, w, "tempi", (list,), [])
        )
        # a composer's intro/outro file says how long it is: naming one is enough to have one
        intro = _int_range(ctx, st, w, "intro", 1 if "intro" in files else 0, 0, MAX_BARS)
        outro = _int_range(ctx, st, w, "outro", 1 if "outro" in files else 0, 0, MAX_BARS)
        for role, count in (("intro", intro), ("outro", outro)):
            if role in files and count == 0:
                raise ctx.error(f"{w}.files.{role}", f"is given but {role} = 0; remove one of them")
        states[sname] = StateDef(
            name=sname,
            prompt=prompt or "",
            intro=intro,
            main=_int_range(ctx, st, w, "main", 8, 1, MAX_BARS),
            variants=_int_range(ctx, st, w, "variants", 1, 1, 16),
            outro=outro,
            layers=_layers(ctx, st, w, default_layers),
            tempo=s_tempo if s_tempo is not None else tempo,
            key=s_key if s_key is not None else key,
            meter=s_meter if s_meter is not None else meter,
            seed=_int_range(ctx, st, w, "seed", seed, 0, 2**31 - 1),
            terminal=_typed(ctx, st, w, "terminal", (bool,), False),
            cues=cues,
            files=dict(files),
            tempi=tempi,
        )
        for cname, cue in cues.items():
            if cue.bar > states[sname].main:
                raise ctx.error(f"{w}.cues.{cname}", f"is at bar {cue.bar} but the main loop has {states[sname].main} bars")

    stingers: dict[str, StingerDef] = {}
    for sname, st in _table_of_tables(ctx, doc, "stingers").items():
        w = f"[stingers.{sname}]"
        ctx.check_keys(st, w, _STINGER_KEYS)
        s_tempo, s_key, s_meter = _musical(ctx, st, w)
        sync = _typed(ctx, st, w, "sync", (str,), "beat")
        if sync not in ("immediate", "beat", "bar"):
            raise ctx.error(f"{w}.sync = {sync!r}", "must be one of immediate, beat, bar")
        mi = _typed(ctx, st, w, "min_interval", (int, float, str), 0)
        min_interval = _convert(ctx, w, "min_interval", mi, lambda v: parse_duration(v, default_unit="seconds"))
        if min_interval.unit != "seconds":
            raise ctx.error(f"{w}.min_interval = {mi!r}", "must be in seconds, e.g. 5 or '5s'")
        stingers[sname] = StingerDef(
            name=sname,
            prompt=_required_str(ctx, st, w, "prompt"),
            beats=_int_range(ctx, st, w, "beats", 4, 1, MAX_STINGER_BEATS),
            sync=sync,
            min_interval=min_interval.amount,
            layers=_layers(ctx, st, w, ("melody",)),
            tempo=s_tempo if s_tempo is not None else tempo,
            key=s_key if s_key is not None else key,
            meter=s_meter if s_meter is not None else meter,
            seed=_int_range(ctx, st, w, "seed", seed, 0, 2**31 - 1),
            gain_db=float(_typed(ctx, st, w, "gain_db", (int, float), 0.0)),
        )

    bridges: dict[str, BridgeDef] = {}
    for bname, bt in _table_of_tables(ctx, doc, "bridges").items():
        w = f"[bridges.{bname}]"
        ctx.check_keys(bt, w, _BRIDGE_KEYS)
        b_tempo, b_key, b_meter = _musical(ctx, bt, w)
        bridges[bname] = BridgeDef(
            name=bname,
            prompt=_required_str(ctx, bt, w, "prompt"),
            bars=_int_range(ctx, bt, w, "bars", 1, 1, MAX_BARS),
            layers=_layers(ctx, bt, w, default_layers),
            tempo=b_tempo if b_tempo is not None else tempo,
            key=b_key if b_key is not None else key,
            meter=b_meter if b_meter is not None else meter,
            seed=_int_range(ctx, bt, w, "seed", seed, 0, 2**31 - 1),
        )

    transitions = tuple(_transition(ctx, i, t, states, bridges) for i, t in enumerate(_array_of_tables(ctx, doc, "transitions")))
    params: dict[str, ParamDef] = {}
    for pname, pt in _table_of_tables(ctx, doc, "params").items():
        params[pname] = _param(ctx, pname, pt)

    start = _typed(ctx, top, "[soundtrack]", "start", (str,), None)
    if start is None:
        start = next(iter(states))
    if start not in states:
        raise ctx.error(f"[soundtrack].start = {start!r}", f"is not a state; states are {', '.join(states)}")

    graph = Graph(
        name=name,
        path=path,
        start=start,
        states=states,
        stingers=stingers,
        bridges=bridges,
        transitions=transitions,
        params=params,
        tempo=tempo,
        meter=meter,
        key=key,
        seed=seed,
        sample_rate=sample_rate,
        loudness=loudness,
        generator=generator,
        generator_options=generator_options,
        source_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )
    _validate_structure(ctx, graph)
    return graph


def _generator_options(ctx: _Ctx, doc: dict) -> dict[str, Any]:
    """The [generator] table: options passed to the generator's constructor (None-free)."""
    if "generator" not in doc:
        return {}
    t = doc["generator"]
    w = "[generator]"
    if not isinstance(t, dict):
        raise ctx.error(w, "must be a table such as [generator] model = \"facebook/musicgen-small\"")
    ctx.check_keys(t, w, _GENERATOR_KEYS)
    out: dict[str, Any] = {}
    model = _typed(ctx, t, w, "model", (str,), None)
    if model is not None:
        if not model.strip():
            raise ctx.error(f"{w}.model = {model!r}", "must be a model id such as facebook/musicgen-small or a folder")
        out["model"] = model
    device = _typed(ctx, t, w, "device", (str,), None)
    if device is not None:
        if not _DEVICE_RE.match(device):
            raise ctx.error(f"{w}.device = {device!r}", "must be one of auto, cpu, cuda, cuda:N, mps")
        if device != "auto":
            out["device"] = device
    gs = _typed(ctx, t, w, "guidance_scale", (int, float), None)
    if gs is not None:
        if not 1.0 <= gs <= 20.0:
            raise ctx.error(f"{w}.guidance_scale = {gs!r}", "must be between 1 (no guidance) and 20")
        out["guidance_scale"] = float(gs)
    if "max_batch" in t:
        out["max_batch"] = _int_range(ctx, t, w, "max_batch", 4, 1, 64)
    return out


def _required_str(ctx: _Ctx, table: dict, where: str, key: str) -> str:
    v = _typed(ctx, table, where, key, (str,), None)
    if v is None:
        raise ctx.error(f"{where}.{key}", "is missing")
    return v


def _table_of_tables(ctx: _Ctx, doc: dict, name: str) -> dict[str, dict]:
    t = doc.get(name, {})
    if not isinstance(t, dict):
        raise ctx.error(f"[{name}]", f"must be tables such as [{name}.NAME]")
    for k, v in t.items():
        _name(ctx, f"[{name}.{k}]", k)
        if not isinstance(v, dict):
            raise ctx.error(f"[{name}.{k}]", "must be a table")
    return t


def _array_of_tables(ctx: _Ctx, doc: dict, name: str) -> list[dict]:
    t = doc.get(name, [])
    if not isinstance(t, list) or not all(isinstance(x, dict) for x in t):
        raise ctx.error(f"{name}", f"must be an array of tables: [[{name}]]")
    return t


def _transition(ctx: _Ctx, i: int, t: dict, states: dict, bridges: dict) -> TransitionDef:
    w = f"transitions[{i}]"
    ctx.check_keys(t, w, _TRANSITION_KEYS)
    source = _required_str(ctx, t, w, "from")
    target = _required_str(ctx, t, w, "to")
    if source != "*" and source not in states:
        raise ctx.error(f"{w}.from = {source!r}", f"is not a state; use one of {', '.join(states)} or '*'")
    if target not in states:
        raise ctx.error(f"{w}.to = {target!r}", f"is not a state; use one of {', '.join(states)}")
    on = _typed(ctx, t, w, "on", (str,), None)
    sync_text = _typed(ctx, t, w, "sync", (str,), "bar")
    cue = None
    if sync_text.startswith("cue:"):
        cue = sync_text[4:]
        sync = "cue"
        known = set(states[source].cues) if source != "*" else {c for s in states.values() for c in s.cues}
        if cue not in known:
            raise ctx.error(f"{w}.sync = {sync_text!r}", f"names cue {cue!r}, which no source state defines (cues: {', '.join(sorted(known)) or 'none'})")
    elif sync_text in SYNCS:
        sync = sync_text
    else:
        raise ctx.error(f"{w}.sync = {sync_text!r}", f"must be one of {', '.join(SYNCS)}, cue:NAME")
    fade_v = _typed(ctx, t, w, "fade", (int, float, str), 1)
    fade = _convert(ctx, w, "fade", fade_v, parse_duration)
    curve = _typed(ctx, t, w, "curve", (str,), "equal-power")
    if curve not in CURVES:
        raise ctx.error(f"{w}.curve = {curve!r}", f"must be one of {', '.join(CURVES)}")
    bridge = _typed(ctx, t, w, "bridge", (str,), None)
    if bridge is not None and bridge not in bridges:
        raise ctx.error(f"{w}.bridge = {bridge!r}", f"is not a bridge; define [bridges.{bridge}] (bridges: {', '.join(bridges) or 'none'})")
    outro = _typed(ctx, t, w, "outro", (bool,), False)
    if outro and source != "*" and states[source].outro == 0:
        raise ctx.error(f"{w}.outro = true", f"but state {source!r} has no outro (outro = 0 bars)")
    return TransitionDef(
        index=i,
        source=source,
        target=target,
        on=on,
        sync=sync,
        cue=cue,
        phrase=_int_range(ctx, t, w, "phrase", 4, 1, 64),
        fade=fade,
        curve=curve,
        outro=outro,
        intro=_typed(ctx, t, w, "intro", (bool,), True),
        bridge=bridge,
    )


def _param(ctx: _Ctx, pname: str, pt: dict) -> ParamDef:
    w = f"[params.{pname}]"
    ctx.check_keys(pt, w, _PARAM_KEYS)
    lo = float(_typed(ctx, pt, w, "min", (int, float), 0.0))
    hi = float(_typed(ctx, pt, w, "max", (int, float), 1.0))
    if not lo < hi:
        raise ctx.error(f"{w}.min = {lo!r}", f"must be below max = {hi!r}")
    default = float(_typed(ctx, pt, w, "default", (int, float), lo))
    if not lo <= default <= hi:
        raise ctx.error(f"{w}.default = {default!r}", f"must be between min = {lo:g} and max = {hi:g}")
    layers: dict[str, tuple[float, float]] = {}
    for lname, rng in _typed(ctx, pt, w, "layers", (dict,), {}).items():
        ok = isinstance(rng, list) and len(rng) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in rng)
        if not ok or not lo <= rng[0] <= rng[1] <= hi:
            raise ctx.error(f"{w}.layers.{lname} = {rng!r}", f"must be [from, to] with {lo:g} <= from <= to <= {hi:g}")
        layers[lname] = (float(rng[0]), float(rng[1]))
    quantize = _typed(ctx, pt, w, "quantize", (str,), "beat")
    if quantize not in QUANTIZE:
        raise ctx.error(f"{w}.quantize = {quantize!r}", f"must be one of {', '.join(QUANTIZE)}")
    ramp = _convert(ctx, w, "ramp", _typed(ctx, pt, w, "ramp", (int, float, str), 1), parse_duration)
    return ParamDef(name=pname, default=default, minimum=lo, maximum=hi, layers=layers, quantize=quantize, ramp=ramp)


def _validate_structure(ctx: _Ctx, g: Graph) -> None:
    """Graph-level rules: ambiguous events, unknown layers, unreachable states, no way out."""
    seen: dict[tuple[str, str], TransitionDef] = {}
    for t in g.transitions:
        if t.on is None:
            continue
        k = (t.source, t.on)
        if k in seen and seen[k].target != t.target:
            first = seen[k]
            raise ctx.error(
                f"transitions[{t.index}].on = {t.on!r}",
                f"gives event {t.on!r} a second meaning in state {t.source!r}: transitions[{first.index}] "
                f"already goes to {first.target!r}, this one to {t.target!r}",
            )
        seen[k] = t
    all_layers = {layer for s in g.states.values() for layer in s.layers}
    for p in g.params.values():
        for layer in p.layers:
            if layer not in all_layers:
                raise ctx.error(f"[params.{p.name}].layers.{layer}", f"is not a layer of any state (layers: {', '.join(sorted(all_layers))})")

    import networkx as nx

    nxg = g.to_networkx()
    reachable = {g.start} | nx.descendants(nxg, g.start)
    for s in g.states:
        if s not in reachable:
            raise ctx.error(f"[states.{s}]", f"is unreachable from the start state {g.start!r}: no transition leads to it")
    for s, sd in g.states.items():
        if nxg.out_degree(s) == 0 and not sd.terminal and len(g.states) > 1:
            raise ctx.error(f"[states.{s}]", "has no way out: add a transition from it (or from '*'), or mark it terminal = true")
