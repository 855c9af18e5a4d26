"""The roles a stem plays, a spec's default length and the default generator's name: plain
constants, light to import.

`soundtrack.stem` (which needs numpy), the graph (a graph's default `generator`), the generator
registry and the CLI's defaults share them; the CLI reads them at start-up, so this module
imports nothing.
"""

from typing import Literal

Role = Literal["intro", "main", "outro", "stinger", "bridge"]
ROLES: tuple[str, ...] = ("intro", "main", "outro", "stinger", "bridge")
DEFAULT_BARS = 8
DEFAULT_GENERATOR = "procedural"  # the embedded generator: no weights, runs anywhere
