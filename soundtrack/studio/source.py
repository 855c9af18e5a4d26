"""`StudioSource`: a bank's stems, kept decoded from one bank version to the next.

A regeneration rebuilds a few stems and writes a new manifest; the studio then opens the bank
again. Decoding every stem again (the dungeon's is about 0.45 GB) would be slow and would hold
two copies, so a new `StudioSource` takes over the decoded `Stem` of every cache key the two
versions share and decodes only the stems the rebuild made (`prepare`, on a worker thread).
Everything is read through `Bank`: this class only remembers what it handed out.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from soundtrack.bank import Bank
from soundtrack.stem import Stem, StemGrid

StemId = tuple[str, str, int, Fraction | None]  # (name, role, variant, tempo take)


def stem_ids(bank: Bank) -> dict[StemId, str]:
    """Every stem of `bank` by (name, role, variant, tempo) -> its cache key (from the manifest)."""
    out: dict[StemId, str] = {}
    for rec in bank.manifest["stems"]:
        tempo = None if rec["tempo"] is None else Fraction(rec["tempo"])
        out[(rec["name"], rec["role"], int(rec["variant"]), tempo)] = rec["key"]
    return out


class StudioSource:
    """A `StemSource` over `bank` that reuses the decoded stems of `previous` where the keys match."""

    def __init__(self, bank: Bank, previous: StudioSource | None = None) -> None:
        self.bank = bank
        self.ids = stem_ids(bank)
        wanted = set(self.ids.values())
        self._decoded: dict[str, Stem] = {}
        if previous is not None:
            self._decoded = {k: s for k, s in previous._decoded.items() if k in wanted}

    @property
    def sample_rate(self) -> int:
        return self.bank.sample_rate

    def key(self, name: str, role: str, variant: int = 0, *, tempo: Fraction | int | None = None) -> str:
        return str(self.bank.record(name, role, variant, tempo=tempo)["key"])

    def grid(self, name: str, role: str, variant: int = 0, *, tempo: Fraction | int | None = None) -> StemGrid:
        return self.bank.grid(name, role, variant, tempo=tempo)

    def stem(self, name: str, role: str, variant: int = 0, *, tempo: Fraction | int | None = None) -> Stem:
        key = self.key(name, role, variant, tempo=tempo)
        s = self._decoded.get(key)
        if s is None:
            s = self._decoded[key] = self.bank.stem(name, role, variant, tempo=tempo)
        return s

    def prepare(self) -> int:
        """Decode every stem not yet held (call it off the audio path); returns how many were decoded."""
        n = 0
        for (name, role, variant, tempo), key in self.ids.items():
            if key not in self._decoded:
                self.stem(name, role, variant, tempo=tempo)
                n += 1
        return n

    def changed_names(self, other: StudioSource) -> set[str]:
        """Names (states, stingers, bridges) whose stems differ between `other` and this source."""
        names = {i[0] for i in self.ids} | {i[0] for i in other.ids}
        return {n for n in names
                if {i: k for i, k in self.ids.items() if i[0] == n} != {i: k for i, k in other.ids.items() if i[0] == n}}

    def describe(self) -> list[dict[str, Any]]:
        """Every stem for the page's audition list: name, role, variant, tempo, layers, seconds."""
        out = []
        for rec in self.bank.manifest["stems"]:
            g = rec["grid"]
            out.append({"name": rec["name"], "role": rec["role"], "variant": int(rec["variant"]),
                        "tempo": rec["tempo"], "layers": list(rec["layers"]), "bars": int(g["bars"]),
                        "seconds": round(int(g["frames"]) / int(g["sample_rate"]), 3)})
        return out
