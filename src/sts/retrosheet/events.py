"""Retrosheet event files and rosters as plain records. Pure: text in, dataclasses out.

An event file holds games, each an ``id`` record followed by ``version``, ``info``, ``start``, then
``play``/``sub``/``com`` and the adjustment records (``badj``, ``padj``, ``ladj``, ``radj``, ``presadj``),
and finally ``data,er`` records. Lines end in CRLF as Retrosheet ships them; quoted fields (names,
comments) may hold commas.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Start:
    """A ``start`` or ``sub`` record: who, for which team (0 visitor, 1 home), batting slot (0 when a
    pitcher does not bat) and fielding position (1-9, 10 DH, 11 pinch hitter, 12 pinch runner)."""

    player: str
    name: str
    team: int
    slot: int
    position: int


@dataclass(frozen=True)
class PlayRecord:
    inning: int
    team: int
    batter: str
    count: str
    pitches: str
    event: str


@dataclass(frozen=True)
class Record:
    """Any record of the game body, in file order: ``kind`` is play/sub/com/badj/padj/ladj/radj/presadj."""

    kind: str
    fields: tuple[str, ...]
    play: PlayRecord | None = None
    sub: Start | None = None


@dataclass
class Game:
    game_id: str
    info: dict[str, str] = field(default_factory=dict)
    starts: list[Start] = field(default_factory=list)
    body: list[Record] = field(default_factory=list)
    earned_runs: dict[str, int] = field(default_factory=dict)  # data,er: pitcher -> ER

    @property
    def visitor(self) -> str:
        return self.info.get("visteam", "")

    @property
    def home(self) -> str:
        return self.info.get("hometeam", "")


@dataclass(frozen=True)
class RosterEntry:
    player: str
    last: str
    first: str
    bats: str
    throws: str
    team: str
    position: str


def _start(fields: list[str]) -> Start:
    return Start(fields[1], fields[2], int(fields[3]), int(fields[4]), int(fields[5]))


def parse_line(line: str) -> list[str]:
    return next(csv.reader([line.rstrip("\r\n")]))


def parse_events(text: str) -> list[Game]:
    """Every game of an event file, in file order."""
    games: list[Game] = []
    game: Game | None = None
    for raw in text.splitlines():
        if not raw.strip():
            continue
        fields = parse_line(raw)
        kind = fields[0]
        if kind == "id":
            game = Game(fields[1])
            games.append(game)
            continue
        if game is None:
            raise ValueError(f"record before the first id: {raw!r}")
        if kind == "version":
            continue
        if kind == "info":
            game.info[fields[1]] = fields[2] if len(fields) > 2 else ""
        elif kind == "start":
            game.starts.append(_start(fields))
        elif kind == "sub":
            game.body.append(Record(kind, tuple(fields[1:]), sub=_start(fields)))
        elif kind == "play":
            play = PlayRecord(int(fields[1]), int(fields[2]), fields[3], fields[4], fields[5], fields[6])
            game.body.append(Record(kind, tuple(fields[1:]), play=play))
        elif kind == "data":
            if fields[1] == "er":
                game.earned_runs[fields[2]] = int(fields[3])
        else:  # com, badj, padj, ladj, radj, presadj
            game.body.append(Record(kind, tuple(fields[1:])))
    return games


def parse_roster(text: str) -> list[RosterEntry]:
    """A ``TEAMyyyy.ROS`` file: ``id,last,first,bats,throws,team,position``."""
    out = []
    for raw in text.splitlines():
        f = parse_line(raw) if raw.strip() else []
        if len(f) >= 7:
            out.append(RosterEntry(*f[:7]))
    return out


def parse_teams(text: str) -> dict[str, tuple[str, str, str]]:
    """``TEAMyyyy``: ``{code: (league, city, nickname)}``."""
    out = {}
    for raw in text.splitlines():
        f = parse_line(raw) if raw.strip() else []
        if len(f) >= 4:
            out[f[0]] = (f[1], f[2], f[3])
    return out
