"""The Generator protocol and the registry of generators by name.

A generator is narrow and stateless: `generate(spec)` depends on the spec alone (and the
generator's own name and version, which go into the bank's cache key). Generators are registered
by import path so an optional one (a neural model needing torch) costs nothing until it is used.

Options that arrive as data (a graph's ``[generator]`` table, which the graph passes through
unread) are the generator's to check: `validate_options(name, options)` hands them to the
factory's own ``validate_options(options, *, where)`` and returns the constructor's keyword
arguments; a factory without one has its options checked against its signature.
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, runtime_checkable

from soundtrack.errors import GenerationError, SpecError
from soundtrack.roles import DEFAULT_GENERATOR

if TYPE_CHECKING:  # annotations only: the CLI imports this module for DEFAULT_GENERATOR at start-up
    from soundtrack.stem import Stem, StemSpec

__all__ = ["DEFAULT_GENERATOR", "Generator", "Options", "available", "get_generator", "register", "resolve", "unregister",
           "validate_options"]


@runtime_checkable
class Generator(Protocol):
    """Turns one StemSpec into one Stem. Same spec, same generator version: same audio, bit for bit."""

    name: str
    version: str

    def generate(self, spec: StemSpec) -> Stem: ...


# name -> "module:attribute" (imported on first use) or a factory
_REGISTRY: dict[str, str | Callable[..., Generator]] = {
    "procedural": "soundtrack.generate.procedural:ProceduralGenerator",
    "musicgen": "soundtrack.generate.musicgen:MusicgenGenerator",
}


def register(name: str, factory: str | Callable[..., Generator]) -> None:
    """Register a generator factory (a callable, or a lazy ``"module:Class"`` path) under `name`."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"generator name must be a non-empty string, got {name!r}")
    _REGISTRY[name] = factory


def available() -> list[str]:
    return sorted(_REGISTRY)


def _factory(name: str) -> Callable[..., Generator]:
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise SpecError(f"generator={name!r} is unknown; available: {', '.join(available())}") from None
    return _load(name, factory)


def _load(name: str, factory: str | Callable[..., Generator]) -> Callable[..., Generator]:
    if not isinstance(factory, str):
        return factory
    module, _, attr = factory.partition(":")
    try:
        loaded: Callable[..., Generator] = getattr(importlib.import_module(module), attr)
    except ImportError as e:
        raise GenerationError(f"generator {name!r} cannot be loaded: {e}") from e
    return loaded


def get_generator(name: str = DEFAULT_GENERATOR, **options: Any) -> Generator:
    """Instantiate the generator registered as `name` with `options`."""
    return _factory(name)(**options)


def validate_options(name: str, options: Mapping[str, Any], *, where: str = "[generator]") -> dict[str, Any]:
    """Generator `name`'s constructor options from data (a graph's ``[generator]`` table), checked
    and normalised by the generator itself; raises SpecError naming `where` (e.g.
    ``"graphs/x.toml: [generator]"``) and the key. A factory without a ``validate_options`` of its
    own takes the options its signature names, unchanged. `name` may be an unregistered
    ``"package.module:Factory"``, as a graph's `generator` may be."""
    factory = _load(name, name) if name not in _REGISTRY and ":" in name else _factory(name)
    own = getattr(factory, "validate_options", None)
    if callable(own):
        return dict(own(options, where=where))
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # no signature to read: the constructor will say
        return dict(options)
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return dict(options)
    known = {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    for key in options:
        if key not in known:
            raise SpecError(f"{where}.{key} is not an option of generator {name!r}; "
                            f"its options are {', '.join(sorted(known)) or 'none'}")
    return dict(options)


Options = tuple[tuple[str, Any], ...]  # constructor options, sorted by name (hashable, picklable)
_INSTANCES: dict[tuple[str, Options], Generator] = {}  # one instance per process, reference and options


def resolve(ref: str, options: Options | Mapping[str, Any] = ()) -> Generator:
    """The one place a generator is made from a reference: `ref` is a registered name or
    ``"package.module:Factory"`` (registered under that reference on first use), constructed
    with `options` (a graph's [generator] table, the CLI's --model) once per process."""
    opts: Options = tuple(sorted(options.items())) if isinstance(options, Mapping) else tuple(options)
    gen = _INSTANCES.get((ref, opts))
    if gen is None:
        if ref not in _REGISTRY and ":" in ref:
            register(ref, ref)
        try:
            gen = get_generator(ref, **dict(opts))
        except TypeError as e:
            if not opts:
                raise
            raise GenerationError(
                f"generator {ref!r} does not take the options {', '.join(k for k, _ in opts)} (from the graph's "
                f"[generator] table or --model): {e}"
            ) from None
        for attr in ("name", "version"):
            if not isinstance(getattr(gen, attr, None), str):
                raise GenerationError(f"generator {ref!r} has no string `{attr}`; the bank's cache key needs it")
        _INSTANCES[(ref, opts)] = gen
    return gen


def unregister(name: str) -> None:
    """Forget generator `name` and its instances (a one-off generator, such as an import's)."""
    _REGISTRY.pop(name, None)
    for key in [k for k in _INSTANCES if k[0] == name]:
        del _INSTANCES[key]
