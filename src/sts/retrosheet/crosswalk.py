"""Retrosheet ids to the person ids the box-score engine keys on.

The engine keys players by integer ids (MLBAM's). A Retrosheet id the Chadwick register maps is
replaced by its MLBAM id; one it does not map is kept, encoded losslessly as a negative integer
(:func:`surrogate`), so no player is dropped and :meth:`Crosswalk.retro_id` always gives the
Retrosheet id back. Unmapped players are listed by :meth:`Crosswalk.unmapped`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


def surrogate(retro_id: str) -> int:
    """A negative integer that encodes ``retro_id`` (never collides with an MLBAM id, which is > 0)."""
    return -int.from_bytes(retro_id.encode("ascii"), "big")


def decode_surrogate(pid: int) -> str:
    raw = -pid
    return raw.to_bytes((raw.bit_length() + 7) // 8, "big").decode("ascii")


@dataclass
class Crosswalk:
    """``retro -> mlbam`` (plus ``bbref``), from the Chadwick register."""

    mlbam: Mapping[str, int]
    bbref: Mapping[str, str] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)

    def person(self, retro_id: str) -> int:
        pid = self.mlbam.get(retro_id)
        if pid is None:
            self.missing.add(retro_id)
            return surrogate(retro_id)
        return pid

    def retro_id(self, pid: int) -> str:
        if pid < 0:
            return decode_surrogate(pid)
        for rid, mid in self.mlbam.items():
            if mid == pid:
                return rid
        return str(pid)

    def unmapped(self) -> list[str]:
        return sorted(self.missing)


def parse_register(text: str) -> Crosswalk:
    """The Chadwick register CSV (``key_mlbam``, ``key_retro``, ``key_bbref`` ...)."""
    mlbam: dict[str, int] = {}
    bbref: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(text)):
        retro, mid = row.get("key_retro") or "", row.get("key_mlbam") or ""
        if retro and mid.isdigit():
            mlbam[retro] = int(mid)
            if row.get("key_bbref"):
                bbref[retro] = row["key_bbref"]
    return Crosswalk(mlbam, bbref)


def reverse(crosswalk: Crosswalk, ids: Iterable[int]) -> dict[int, str]:
    """``{engine id: retro id}`` for ``ids``."""
    inverse = {m: r for r, m in crosswalk.mlbam.items()}
    return {i: (decode_surrogate(i) if i < 0 else inverse.get(i, str(i))) for i in ids}
