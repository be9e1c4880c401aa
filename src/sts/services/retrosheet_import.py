"""A season of Retrosheet event files into the season tables through the same write path as our games.

Each game is converted (:func:`sts.retrosheet.convert.convert_game`) into a GUMBO-shaped feed and handed
to :func:`sts.services.season_stats.on_game_final` with source ``retrosheet``: derived lines in
``derived_box_lines`` (``source = 'retrosheet'``), season lines in ``season_batting`` /
``season_pitching`` / ``season_fielding`` / ``season_teams`` recomputed from the Retrosheet lines only.

Keys (documented once, here):

- **Game**: Retrosheet games have no MLB gamePk. :func:`game_key` encodes the Retrosheet game id
  ``TTTYYYYMMDDN`` (home team, date, game number) as ``-(int(TTT, 36) * 10**9 + YYYYMMDD * 10 + N)``:
  always negative (MLBAM gamePks are positive), stable, and decoded back by :func:`game_id`.
- **Team**: ``team_id`` in ``derived_box_lines`` is the Retrosheet team code as a negative integer
  (:func:`sts.retrosheet.crosswalk.surrogate`); the season tables key the team by the code itself
  (``NYA``), as Lahman's rows are keyed by Lahman's teamID.
- **Player**: the engine's person id is the MLBAM id where the Chadwick register maps the Retrosheet id,
  else the converter's negative Retrosheet-derived id. The season tables key a player by his Retrosheet
  id (``season_queries.KEY_COLUMN``); ``player_ids`` gets the crosswalk row of every player imported:
  mapped ones are upserted on their MLBAM id with their Retrosheet (and BBRef) id, the others are
  inserted once as ``source = 'retrosheet'``, ``unmatched = true`` rows with only the Retrosheet id.
- **Quality**: an event file carries no official box, so no ``box_quality`` row is written (and no
  ``derived_pa``: event files carry no handedness; splits are served for statsapi only).

Game type: event files (``.EVA``/``.EVN``) hold regular-season games only (Retrosheet ships the
postseason in separate files), so every game is ``R``. League: from the ``TEAM{year}`` file of the
directory when present. Idempotent: importing again rewrites the same rows (``derived_at`` aside).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from sts.retrosheet.convert import convert_game
from sts.retrosheet.crosswalk import Crosswalk, decode_surrogate, surrogate
from sts.retrosheet.events import Game
from sts.services.season_stats import on_game_final

SOURCE = "retrosheet"
LEAGUE_IDS = {"A": 103, "N": 104}  # sts.stats.season.LEAGUES


def game_key(retro_game_id: str) -> int:
    """The synthetic (negative) game key of a Retrosheet game id such as ``NYA202008051``."""
    team, date, number = retro_game_id[:3], retro_game_id[3:11], retro_game_id[11:]
    if len(retro_game_id) != 12 or not (date.isdigit() and number.isdigit() and team.isalnum()):
        raise ValueError(f"not a Retrosheet game id: {retro_game_id!r}")
    return -(int(team, 36) * 10**9 + int(date) * 10 + int(number))


def game_id(key: int) -> str:
    """The Retrosheet game id of a key from :func:`game_key`."""
    team, rest = divmod(-key, 10**9)
    date, number = divmod(rest, 10)
    code = ""
    while team:
        team, d = divmod(team, 36)
        code = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[d] + code
    return f"{code:0>3}{date:08d}{number}"


def team_id(code: str) -> int:
    return surrogate(code)


@dataclass
class TeamInfo:
    """A ``TEAM{year}`` row: code, league (A/N), city, nickname."""

    code: str
    league: str
    name: str


def parse_teams(text: str) -> dict[str, TeamInfo]:
    out = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 4 and parts[0]:
            out[parts[0]] = TeamInfo(parts[0], parts[1], f"{parts[2]} {parts[3]}")
    return out


@dataclass
class RetroImport:
    games: int = 0
    seasons: set[int] = field(default_factory=set)
    players: int = 0
    unmapped: list[str] = field(default_factory=list)  # Retrosheet ids the register does not map
    anomalies: list[str] = field(default_factory=list)


def game_feed(game: Game, feed: dict[str, Any], teams: dict[str, TeamInfo]) -> dict[str, Any]:
    """The converter's feed made final, keyed and typed for :func:`on_game_final`."""
    feed = copy.copy(feed)
    key = game_key(game.game_id)
    date = game.info.get("date", "").replace("/", "-")
    gd = dict(feed["gameData"])
    gd["game"] = {**gd["game"], "pk": key, "type": "R", "season": date[:4]}
    gd["status"] = {"abstractGameState": "Final", "detailedState": "Final"}
    sides = {}
    for side, team in gd["teams"].items():
        code = str(team["abbreviation"])
        info = teams.get(code)
        sides[side] = {"id": team_id(code), "abbreviation": code, "name": info.name if info else code}
        if info and info.league in LEAGUE_IDS:
            sides[side]["league"] = {"id": LEAGUE_IDS[info.league]}
    gd["teams"] = sides
    feed["gameData"] = gd
    feed["gamePk"] = key
    return feed


async def store_players(
    conn: psycopg.AsyncConnection[Any], crosswalk: Crosswalk, names: dict[str, str]
) -> None:
    """Crosswalk rows for the Retrosheet ids in ``names`` (see the module docstring)."""
    mapped = [(crosswalk.mlbam[r], r, crosswalk.bbref.get(r), n) for r, n in sorted(names.items())
              if r in crosswalk.mlbam]  # fmt: skip
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO player_ids (mlbam, retro, bbref, full_name, source, unmatched)"
            " VALUES (%s, %s, %s, %s, 'chadwick', false) ON CONFLICT (mlbam) DO UPDATE SET"
            " retro = COALESCE(player_ids.retro, EXCLUDED.retro),"
            " bbref = COALESCE(player_ids.bbref, EXCLUDED.bbref),"
            " full_name = COALESCE(player_ids.full_name, EXCLUDED.full_name), unmatched = false"
            " WHERE player_ids.retro IS DISTINCT FROM COALESCE(player_ids.retro, EXCLUDED.retro)"
            " OR player_ids.bbref IS DISTINCT FROM COALESCE(player_ids.bbref, EXCLUDED.bbref)"
            " OR player_ids.full_name IS NULL OR player_ids.unmatched",
            mapped,
        )
        await cur.executemany(
            "INSERT INTO player_ids (retro, full_name, source, unmatched)"
            " SELECT %s, %s, 'retrosheet', true WHERE NOT EXISTS (SELECT 1 FROM player_ids WHERE retro = %s)",
            [(r, n, r) for r, n in sorted(names.items()) if r not in crosswalk.mlbam],
        )


async def import_games(
    conn: psycopg.AsyncConnection[Any], games: Iterable[Game], crosswalk: Crosswalk,
    teams: dict[str, TeamInfo] | None = None,
) -> RetroImport:  # fmt: skip
    """Convert and store every game (one transaction per game, inside the caller's transaction if any)."""
    teams = teams or {}
    inverse = {m: r for r, m in crosswalk.mlbam.items()}

    def player_key(pid: int) -> str:
        return decode_surrogate(pid) if pid < 0 else inverse.get(pid, str(pid))

    def team_key(tid: int) -> str:
        return decode_surrogate(tid)

    result = RetroImport()
    converted = []
    names: dict[str, str] = {}
    for game in games:
        conv = convert_game(game, crosswalk)
        converted.append((game, conv))
        result.anomalies += [f"{game.game_id}: {a}" for a in conv.anomalies]
        for pid, retro in conv.players.items():
            entry = conv.feed["gameData"]["players"].get(f"ID{pid}", {})
            names.setdefault(retro, str(entry.get("fullName") or retro))
    await store_players(conn, crosswalk, names)
    for game, conv in converted:
        feed = game_feed(game, conv.feed, teams)
        await on_game_final(conn, feed, SOURCE, player_key=player_key, team_key=team_key)
        result.games += 1
        result.seasons.add(int(feed["gameData"]["game"]["season"]))
    result.players = len(names)
    result.unmapped = sorted(r for r in names if r not in crosswalk.mlbam)
    return result
