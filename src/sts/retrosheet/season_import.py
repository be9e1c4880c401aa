"""A season of Retrosheet games through the box-score engine. Pure: parsed games in, boxes and totals out.

Besides the team totals it checks each pitcher's derived earned runs against Retrosheet's own
``data,er`` records, the only official per-pitcher figure an event file carries.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sts.retrosheet.convert import Converted, convert_game
from sts.retrosheet.crosswalk import Crosswalk
from sts.retrosheet.events import Game
from sts.retrosheet.season import PLAYER_COLUMNS, TeamSeason, add_game
from sts.stats import GameBox, derive_box


@dataclass
class GameImport:
    game: Game
    converted: Converted
    box: GameBox

    @property
    def teams(self) -> dict[str, str]:
        """``away``/``home`` as the feed and the box use them: ``away`` bats first (``htbf`` swaps)."""
        teams = self.converted.feed["gameData"]["teams"]
        return {side: str(teams[side]["id"]) for side in ("away", "home")}


@dataclass(frozen=True)
class EarnedRunCheck:
    game_id: str
    pitcher: str  # Retrosheet id
    derived: int
    data_er: int


@dataclass
class SeasonImport:
    games: list[GameImport] = field(default_factory=list)
    teams: dict[str, TeamSeason] = field(default_factory=dict)
    er_mismatches: list[EarnedRunCheck] = field(default_factory=list)
    er_checked: int = 0

    @property
    def anomalies(self) -> list[str]:
        return [f"{g.game.game_id}: {a}" for g in self.games for a in g.converted.anomalies]


def import_game(game: Game, crosswalk: Crosswalk) -> GameImport:
    converted = convert_game(game, crosswalk)
    return GameImport(game, converted, derive_box(converted.feed))


def earned_run_checks(imp: GameImport) -> list[EarnedRunCheck]:
    out = []
    for pid, retro in imp.converted.players.items():
        if retro not in imp.game.earned_runs:
            continue
        player = imp.box.find(pid)
        derived = player.pitching["earnedRuns"] if player else 0
        out.append(EarnedRunCheck(imp.game.game_id, retro, derived, imp.game.earned_runs[retro]))
    return out


def import_season(games: list[Game], crosswalk: Crosswalk) -> SeasonImport:
    season = SeasonImport()
    for game in games:
        imp = import_game(game, crosswalk)
        season.games.append(imp)
        add_game(season.teams, imp.box, imp.teams)
        checks = earned_run_checks(imp)
        season.er_checked += len(checks)
        season.er_mismatches += [c for c in checks if c.derived != c.data_er]
    return season


def player_seasons(season: SeasonImport) -> dict[tuple[str, str], Counter[str]]:
    """``{(team, retro id): {Lahman column: value}}`` summed over the season for every column of
    :data:`~sts.retrosheet.season.PLAYER_COLUMNS`."""
    out: dict[tuple[str, str], Counter[str]] = {}
    for imp in season.games:
        for side, team in imp.box.teams.items():
            code = imp.teams[side]
            for pid, player in team.players.items():
                line = out.setdefault((code, imp.converted.players.get(pid, str(pid))), Counter())
                for col, group, stat in PLAYER_COLUMNS:
                    line[col] += player.group(group)[stat]
    return out
