"""The graph model: deeply immutable data that knows nothing of audio.

Every mapping is a `FrozenMap` (insertion-ordered, hashable, picklable, read like a dict) and every
list a tuple; `__post_init__` freezes what it is given, so a graph derived with
`dataclasses.replace(graph, states={...})` is as immutable as a loaded one. The modes are
`Literal` types with one tuple each (`SYNCS`, `STINGER_SYNCS`, `QUANTIZE`; curves are
`soundtrack.audio.CURVES`, the one list the gain ramps use).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable, Iterator, Literal, Mapping, TypeVar, get_args

from soundtrack.audio import CURVES, Curve
from soundtrack.pitch import Key
from soundtrack.roles import DEFAULT_GENERATOR
from soundtrack.stem import DEFAULT_LAYERS
from soundtrack.timing import DEFAULT_SAMPLE_RATE, Duration, Meter, TimePoint

__all__ = [
    "CURVES", "Curve", "EditSync", "Sync", "SYNCS", "StingerSync", "STINGER_SYNCS", "Quantize", "QUANTIZE",
    "DEFAULT_LOUDNESS", "FrozenMap", "freeze", "StateDef", "StingerDef", "BridgeDef", "TransitionDef", "ParamDef",
    "Graph",
]

EditSync = Literal["immediate", "beat", "bar", "phrase", "end"]  # the edit points a rule names by word
Sync = Literal["immediate", "beat", "bar", "phrase", "end", "cue"]  # TransitionDef.sync ("cue:NAME" -> "cue")
StingerSync = Literal["immediate", "beat", "bar"]
Quantize = Literal["immediate", "beat", "bar"]  # when a parameter change starts to ramp
SYNCS: tuple[str, ...] = get_args(EditSync)
STINGER_SYNCS: tuple[str, ...] = get_args(StingerSync)
QUANTIZE: tuple[str, ...] = get_args(Quantize)
DEFAULT_LOUDNESS = -18.0  # LUFS: a game-music level that leaves room for effects and dialogue

K = TypeVar("K")
V = TypeVar("V")


class FrozenMap(Mapping[K, V]):
    """An immutable mapping in insertion (file) order: hashable when its values are, picklable,
    equal to any mapping with the same items, and printed like the dict it froze."""

    __slots__ = ("_items", "_hash")
    _items: dict[K, V]
    _hash: int | None

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        object.__setattr__(self, "_items", dict(items))
        object.__setattr__(self, "_hash", None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"FrozenMap is immutable: cannot set {name!r}")

    def __getitem__(self, key: K) -> V:
        return self._items[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __hash__(self) -> int:
        if self._hash is None:
            object.__setattr__(self, "_hash", hash(frozenset(self._items.items())))
        assert self._hash is not None
        return self._hash

    def __repr__(self) -> str:
        return repr(self._items)

    def __reduce__(self) -> tuple[type, tuple[dict[K, V]]]:
        return (FrozenMap, (self._items,))


def freeze(value: Any) -> Any:
    """Mappings to FrozenMaps and lists to tuples, all the way down; anything else as it is."""
    if isinstance(value, FrozenMap):
        return value
    if isinstance(value, Mapping):
        return FrozenMap((k, freeze(v)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


def _freeze_fields(obj: Any, *names: str) -> None:
    for name in names:
        object.__setattr__(obj, name, freeze(getattr(obj, name)))


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
    cues: Mapping[str, TimePoint] = field(default_factory=FrozenMap)  # named positions in the main loop
    files: Mapping[str, str] = field(default_factory=FrozenMap)  # composer stems to import instead
    tempi: tuple[Fraction, ...] = ()  # extra tempo variants made at bank-build time

    def __post_init__(self) -> None:
        _freeze_fields(self, "layers", "cues", "files", "tempi")


@dataclass(frozen=True)
class StingerDef:
    """A one-shot overlay (a fanfare, a hit) played on the next beat or bar."""

    name: str
    prompt: str
    beats: int = 4
    sync: StingerSync = "beat"
    min_interval: Fraction = Fraction(0)  # seconds: not again within this long
    layers: tuple[str, ...] = ("melody",)
    tempo: Fraction | None = None
    key: Key | None = None
    meter: Meter | None = None
    seed: int = 0
    gain_db: float = 0.0

    def __post_init__(self) -> None:
        _freeze_fields(self, "layers")


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

    def __post_init__(self) -> None:
        _freeze_fields(self, "layers")


@dataclass(frozen=True)
class TransitionDef:
    """How to move from one state (or any, ``*``) to another, and when."""

    index: int  # position in the file's [[transitions]] list, for messages
    source: str  # a state name or "*"
    target: str
    on: str | None  # the event that triggers it; None = used when `target` is requested directly
    sync: Sync = "bar"  # immediate | beat | bar | phrase | end | cue
    cue: str | None = None  # for sync = "cue:NAME"
    phrase: int = 4  # bars per phrase, for sync = "phrase"
    fade: Duration = Duration(Fraction(1), "beats")
    curve: Curve = "equal-power"
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
    layers: Mapping[str, tuple[float, float]] = field(default_factory=FrozenMap)  # fades in across [lo, hi]
    quantize: Quantize = "beat"
    ramp: Duration = Duration(Fraction(1), "beats")

    def __post_init__(self) -> None:
        _freeze_fields(self, "layers")


@dataclass(frozen=True)
class Graph:
    """A whole soundtrack: pure data, validated on load (`soundtrack.graph.load_graph`)."""

    name: str
    path: str
    start: str
    states: Mapping[str, StateDef]
    stingers: Mapping[str, StingerDef] = field(default_factory=FrozenMap)
    bridges: Mapping[str, BridgeDef] = field(default_factory=FrozenMap)
    transitions: tuple[TransitionDef, ...] = ()
    params: Mapping[str, ParamDef] = field(default_factory=FrozenMap)
    tempo: Fraction | None = None
    meter: Meter | None = None
    key: Key | None = None
    seed: int = 0
    sample_rate: int = DEFAULT_SAMPLE_RATE
    loudness: float = DEFAULT_LOUDNESS
    generator: str = DEFAULT_GENERATOR
    # the [generator] table as data: the generator checks it (`soundtrack.generate.base.validate_options`)
    generator_options: Mapping[str, Any] = field(default_factory=FrozenMap)
    source_sha256: str = ""  # of the TOML text: a bank built from other text is stale

    def __post_init__(self) -> None:
        _freeze_fields(self, "states", "stingers", "bridges", "params", "generator_options")
        object.__setattr__(self, "transitions", tuple(self.transitions))

    def events(self) -> set[str]:
        return {t.on for t in self.transitions if t.on is not None}

    def transitions_from(self, state: str) -> list[TransitionDef]:
        return [t for t in self.transitions if t.source in (state, "*")]

    def sources(self, t: TransitionDef) -> list[str]:
        """The states rule `t` can fire from: its source, or for ``*`` every state but its target."""
        return [s for s in self.states if s != t.target] if t.source == "*" else [t.source]

    def to_networkx(self) -> Any:
        """A MultiDiGraph: nodes are states, edges carry the transition (``*`` expanded)."""
        import networkx as nx

        g = nx.MultiDiGraph(name=self.name)
        for s in self.states:
            g.add_node(s)
        for t in self.transitions:
            for s in self.sources(t):
                if s != t.target:
                    g.add_edge(s, t.target, event=t.on, transition=t)
        return g
