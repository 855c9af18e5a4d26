"""The Generator protocol and the registry of generators by name.

A generator is narrow and stateless: `generate(spec)` depends on the spec alone (and the
generator's own name and version, which go into the bank's cache key). Generators are registered
by import path so an optional one (a neural model needing torch) costs nothing until it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

from soundtrack.errors import GenerationError, SpecError

if TYPE_CHECKING:  # annotations only: the CLI imports this module for DEFAULT_GENERATOR at start-up
    from soundtrack.stem import Stem, StemSpec

DEFAULT_GENERATOR = "procedural"


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


def get_generator(name: str = DEFAULT_GENERATOR, **options: Any) -> Generator:
    """Instantiate the generator registered as `name` with `options`."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise SpecError(f"generator={name!r} is unknown; available: {', '.join(available())}") from None
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attr)
        except ImportError as e:
            raise GenerationError(f"generator {name!r} cannot be loaded: {e}") from e
    return factory(**options)
