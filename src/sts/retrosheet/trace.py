"""Tracing a team-total difference with Lahman down to players and then to the plays that carry it.

Pure. Lahman's per-player rows (Batting, Pitching, Fielding) narrow a team difference to the players
whose season lines differ; :func:`plays_for` then lists that player's plays which count toward the
column, read from the converted feed, so the disagreeing play is among a handful shown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sts.retrosheet.season import Difference
from sts.retrosheet.season_import import GameImport, SeasonImport, player_seasons
from sts.stats.feed import get, person_id
from sts.stats.rules import HITS, PA_EVENTS, STRIKEOUTS, WALKS

_BATTER_EVENTS: dict[str, frozenset[str]] = {
    "H": frozenset(HITS),
    "2B": frozenset({"double"}),
    "3B": frozenset({"triple"}),
    "HR": frozenset({"home_run"}),
    "BB": WALKS,
    "SO": STRIKEOUTS,
    "HBP": frozenset({"hit_by_pitch"}),
    "SF": frozenset({"sac_fly", "sac_fly_double_play"}),
    "SH": frozenset({"sac_bunt", "sac_bunt_double_play"}),
    "IBB": frozenset({"intent_walk"}),
    "GIDP": frozenset({"grounded_into_double_play"}),
}
_PITCHER_COLUMNS = {"HA": "H", "HRA": "HR", "BBA": "BB", "SOA": "SO", "HBPA": "HBP", "IBBA": "IBB"}
_CREDITS = {"PO": "f_putout", "A": "f_assist"}
_RUNNING = {"WP": "wild_pitch", "BK": "balk"}


@dataclass
class PlayerTrace:
    team: str
    player: str  # Retrosheet id
    column: str
    retrosheet: int
    lahman: int
    plays: list[str] = field(default_factory=list)


def _plays_of(imp: GameImport) -> Iterator[Mapping[str, Any]]:
    yield from get(imp.converted.feed, "liveData", "plays", "allPlays", default=[])


def _counts(play: Mapping[str, Any], column: str, pid: int) -> bool:
    etype = get(play, "result", "eventType")
    runners = get(play, "runners", default=[])
    if column in _BATTER_EVENTS:
        return bool(person_id(get(play, "matchup", "batter")) == pid and etype in _BATTER_EVENTS[column])
    if column in _PITCHER_COLUMNS:
        events = _BATTER_EVENTS[_PITCHER_COLUMNS[column]]
        return bool(person_id(get(play, "matchup", "pitcher")) == pid and etype in events)
    if column == "RBI":
        return bool(person_id(get(play, "matchup", "batter")) == pid and get(play, "result", "rbi"))
    pitcher = person_id(get(play, "matchup", "pitcher")) == pid
    if column == "BFP":
        return pitcher and etype in PA_EVENTS
    if column in _RUNNING:
        return pitcher and any(get(r, "details", "eventType") == _RUNNING[column] for r in runners)
    for r in runners:
        if column in _CREDITS and any(
            person_id(get(c, "player")) == pid and c.get("credit") == _CREDITS[column]
            for c in get(r, "credits", default=[])
        ):
            return True
        mv, d = get(r, "movement", default={}), get(r, "details", default={})
        kind = str(d.get("eventType") or "")
        is_runner = person_id(get(d, "runner")) == pid
        if column == "R" and is_runner and mv.get("end") == "score":
            return True
        # a defensive indifference is the usual place where two records disagree on a steal
        if column == "SB" and is_runner and kind.startswith(("stolen_base", "defensive_indiff")):
            return True
        if column == "CS" and is_runner and "caught_stealing" in kind:
            return True
        if (
            column in ("RA", "ER")
            and mv.get("end") == "score"
            and person_id(get(d, "responsiblePitcher")) == pid
        ):
            return column == "RA" or bool(d.get("earned"))
        if column == "E" and any(
            person_id(get(c, "player")) == pid and "error" in str(c.get("credit"))
            for c in get(r, "credits", default=[])
        ):
            return True
        if column == "IPouts" and mv.get("isOut") and person_id(get(play, "matchup", "pitcher")) == pid:
            return True
    return column == "AB" and person_id(get(play, "matchup", "batter")) == pid


def plays_for(season: SeasonImport, team: str, retro_id: str, column: str) -> list[str]:
    """``"GAMEID #n inning half: event"`` for each play of ``retro_id`` (on ``team``) counting toward
    ``column``."""
    out = []
    for imp in season.games:
        if team not in imp.teams.values():
            continue
        ids = [pid for pid, rid in imp.converted.players.items() if rid == retro_id]
        if not ids:
            continue
        for play in _plays_of(imp):
            if _counts(play, column, ids[0]):
                about = play["about"]
                out.append(
                    f"{imp.game.game_id} #{about['atBatIndex']} {about['halfInning'][:3]} {about['inning']}: "
                    f"{play['result']['description']}"
                )
    return out


def trace(
    season: SeasonImport,
    diffs: list[Difference],
    lahman_players: Mapping[tuple[str, str], Mapping[str, int]],
    max_plays: int = 12,
    max_traced: int = 40,
) -> list[PlayerTrace]:
    """Players whose season value in a differing (team, column) is not Lahman's, with their plays
    (listed for the first ``max_traced`` players)."""
    ours = player_seasons(season)
    out: list[PlayerTrace] = []
    for diff in diffs:
        players = {p for (t, p) in ours if t == diff.team} | {
            p for (t, p) in lahman_players if t == diff.team
        }
        for player in sorted(players):
            mine = ours.get((diff.team, player), Counter())[diff.column]
            theirs = int(lahman_players.get((diff.team, player), {}).get(diff.column, 0))
            if mine != theirs:
                plays = plays_for(season, diff.team, player, diff.column) if len(out) < max_traced else []
                out.append(PlayerTrace(diff.team, player, diff.column, mine, theirs, plays[:max_plays]))
    return out


def player_differences(
    season: SeasonImport,
    lahman_players: Mapping[tuple[str, str], Mapping[str, int]],
    max_plays: int = 12,
    max_traced: int = 40,
) -> list[PlayerTrace]:
    """Every (team, player, column) whose derived season value is not Lahman's player-table value
    (Batting, Pitching, Fielding), with the plays that count toward it (for the first ``max_traced``
    only: a partial season differs everywhere and listing plays is a scan of the season)."""
    ours = player_seasons(season)
    out: list[PlayerTrace] = []
    for key in sorted(set(ours) | set(lahman_players)):
        mine, theirs = ours.get(key, Counter()), lahman_players.get(key, {})
        for column in sorted(set(mine) | set(theirs)):
            a, b = mine.get(column, 0), int(theirs.get(column, 0))
            if a != b:
                plays = plays_for(season, key[0], key[1], column) if len(out) < max_traced else []
                out.append(PlayerTrace(key[0], key[1], column, a, b, plays[:max_plays]))
    return out
