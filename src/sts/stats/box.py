"""The derived box score: per-player batting/pitching/fielding lines, team totals and the linescore.

Stat names are MLB's own (``liveData.boxscore`` keys), so a derived line and an official line compare
key by key. Lines hold integers only; innings pitched are kept as outs (see :func:`format_outs`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

SIDES = ("away", "home")
GROUPS = ("batting", "pitching", "fielding")


def format_outs(outs: int) -> str:
    """Outs as MLB's innings-pitched string: 19 outs -> ``"6.1"``."""
    return f"{outs // 3}.{outs % 3}"


@dataclass
class PlayerBox:
    """One player's game. A group is *present* when the player appeared in that role
    (the official box leaves a group empty otherwise)."""

    person_id: int
    side: str
    batting: Counter[str] = field(default_factory=Counter)
    pitching: Counter[str] = field(default_factory=Counter)
    fielding: Counter[str] = field(default_factory=Counter)
    present: set[str] = field(default_factory=set)

    def group(self, name: str) -> Counter[str]:
        line: Counter[str] = getattr(self, name)
        return line


@dataclass
class InningLine:
    runs: int = 0
    hits: int = 0
    errors: int = 0
    leftOnBase: int = 0
    played: bool = False  # False for a bottom half that was not needed


@dataclass
class TeamBox:
    side: str
    players: dict[int, PlayerBox] = field(default_factory=dict)
    batting: Counter[str] = field(default_factory=Counter)
    pitching: Counter[str] = field(default_factory=Counter)
    fielding: Counter[str] = field(default_factory=Counter)
    innings: list[InningLine] = field(default_factory=list)

    def player(self, pid: int) -> PlayerBox:
        box = self.players.get(pid)
        if box is None:
            box = self.players[pid] = PlayerBox(pid, self.side)
        return box

    def group(self, name: str) -> Counter[str]:
        line: Counter[str] = getattr(self, name)
        return line

    @property
    def runs(self) -> int:
        return sum(i.runs for i in self.innings)

    @property
    def hits(self) -> int:
        return sum(i.hits for i in self.innings)

    @property
    def errors(self) -> int:
        return sum(i.errors for i in self.innings)

    @property
    def left_on_base(self) -> int:
        return sum(i.leftOnBase for i in self.innings)


@dataclass
class GameBox:
    game_pk: int | None
    teams: dict[str, TeamBox] = field(default_factory=lambda: {s: TeamBox(s) for s in SIDES})
    innings_played: int = 0
    walk_off: bool = False
    #: ``(person_id, group, stat)`` values the plays cannot decide (see DECISIONS in
    #: :mod:`sts.stats.compare`); they are reported as such, never compared or guessed.
    undetermined: set[tuple[int, str, str]] = field(default_factory=set)

    def find(self, pid: int) -> PlayerBox | None:
        for team in self.teams.values():
            if pid in team.players:
                return team.players[pid]
        return None
