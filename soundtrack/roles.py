"""The roles a stem plays and a spec's default length: plain constants, light to import.

`soundtrack.stem` (which needs numpy) and the CLI's defaults share them; the CLI reads them
at start-up, so this module imports nothing.
"""

from typing import Literal

Role = Literal["intro", "main", "outro", "stinger", "bridge"]
ROLES: tuple[str, ...] = ("intro", "main", "outro", "stinger", "bridge")
DEFAULT_BARS = 8
