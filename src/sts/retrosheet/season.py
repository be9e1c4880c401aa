"""Team season totals from derived boxes, and their comparison with Lahman's ``Teams`` table.

Pure: boxes and rows in, tables out. A team's batting totals are the sums of its players' derived
lines; runs allowed, earned runs and outs pitched come from its pitchers. Lahman keys teams by its own
``teamID``; its ``teamIDretro`` column gives the Retrosheet code, so no hand-made map is needed.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field

from sts.stats import GameBox

#: (Lahman column, derived group, derived stat)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("R", "batting", "runs"),
    ("AB", "batting", "atBats"),
    ("H", "batting", "hits"),
    ("2B", "batting", "doubles"),
    ("3B", "batting", "triples"),
    ("HR", "batting", "homeRuns"),
    ("BB", "batting", "baseOnBalls"),
    ("SO", "batting", "strikeOuts"),
    ("SB", "batting", "stolenBases"),
    ("CS", "batting", "caughtStealing"),
    ("HBP", "batting", "hitByPitch"),
    ("SF", "batting", "sacFlies"),
    ("RA", "pitching", "runs"),
    ("ER", "pitching", "earnedRuns"),
    ("IPouts", "pitching", "outs"),
    ("HA", "pitching", "hits"),
    ("HRA", "pitching", "homeRuns"),
    ("BBA", "pitching", "baseOnBalls"),
    ("SOA", "pitching", "strikeOuts"),
    ("E", "fielding", "errors"),
)


#: columns compared player by player only (Lahman's Batting, Pitching and Fielding rows; the Teams
#: table does not carry them): (column, derived group, derived stat)
PLAYER_COLUMNS: tuple[tuple[str, str, str], ...] = (
    *COLUMNS,
    ("RBI", "batting", "rbi"),
    ("IBB", "batting", "intentionalWalks"),
    ("SH", "batting", "sacBunts"),
    ("GIDP", "batting", "groundIntoDoublePlay"),
    ("BFP", "pitching", "battersFaced"),
    ("WP", "pitching", "wildPitches"),
    ("BK", "pitching", "balks"),
    ("HBPA", "pitching", "hitBatsmen"),
    ("IBBA", "pitching", "intentionalWalks"),
    ("PO", "fielding", "putOuts"),
    ("A", "fielding", "assists"),
    ("PB", "fielding", "passedBall"),
)


@dataclass
class LahmanTeam:
    team_id: str
    retro_id: str
    name: str
    values: dict[str, int]


@dataclass
class TeamSeason:
    team: str
    games: int = 0
    totals: Counter[str] = field(default_factory=Counter)


def parse_lahman_teams(text: str, year: int) -> list[LahmanTeam]:
    out = []
    for row in csv.DictReader(io.StringIO(text)):
        if row["yearID"] != str(year):
            continue
        values = {col: int(row[col]) for col, _, _ in COLUMNS if row.get(col, "").strip()}
        out.append(LahmanTeam(row["teamID"], row["teamIDretro"], row["name"], values))
    return out


def add_game(seasons: dict[str, TeamSeason], box: GameBox, teams: dict[str, str]) -> None:
    """Add one game's box; ``teams`` maps ``away``/``home`` to Retrosheet team codes."""
    for side, team in box.teams.items():
        season = seasons.setdefault(teams[side], TeamSeason(teams[side]))
        season.games += 1
        for col, group, stat in COLUMNS:
            season.totals[col] += team.group(group)[stat]


@dataclass(frozen=True)
class Difference:
    team: str
    lahman_team: str
    column: str
    retrosheet: int
    lahman: int

    @property
    def delta(self) -> int:
        return self.retrosheet - self.lahman


def compare_with_lahman(seasons: dict[str, TeamSeason], lahman: list[LahmanTeam]) -> list[Difference]:
    """Every (team, column) where the derived total differs from Lahman's (missing teams included)."""
    diffs = []
    for row in sorted(lahman, key=lambda r: r.retro_id):
        season = seasons.get(row.retro_id, TeamSeason(row.retro_id))
        for col, _, _ in COLUMNS:
            if col in row.values and season.totals[col] != row.values[col]:
                diffs.append(Difference(row.retro_id, row.team_id, col, season.totals[col], row.values[col]))
    return diffs
