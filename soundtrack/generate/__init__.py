"""Generators: a `StemSpec` in, a `Stem` out. See `base` for the protocol and registry."""

from soundtrack.generate.base import DEFAULT_GENERATOR, Generator, available, get_generator, register

__all__ = ["DEFAULT_GENERATOR", "Generator", "available", "get_generator", "register"]
