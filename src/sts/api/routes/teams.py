"""Routes: teams. The teams of our games, one team, its roster for a season, its season line.

- ``GET /teams``                   every team seen in a game feed (``teams`` table), by id; ``league_id``
  and ``division_id`` filter; cursor-paged.
- ``GET /teams/{id}``              one team with its venue, league and division.
- ``GET /teams/{id}/roster``       the players who appeared for it in the season's final games (our
  derived box lines): games, games started, batting and pitching appearances, positions played.
- ``GET /teams/{id}/season``       as ``sts stats team``: record, batting and pitching totals with rates,
  and splits (our games), from :func:`sts.services.season_queries.team_season`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from sts.api.auth import require
from sts.api.caching import cached_json
from sts.api.deps import db
from sts.api.errors import ApiError
from sts.api.pagination import Page, PageParams, page
from sts.api.routes._common import Row, documented, no_nan, one, rows, tuples
from sts.services import season_queries

router = APIRouter(tags=["teams"], dependencies=[Depends(require("read"))], responses=documented(404))

TeamId = Annotated[int, Path(ge=1, le=2**53, description="MLBAM team id")]
Conn = Annotated[psycopg.AsyncConnection[Any], Depends(db)]
Source = Literal["auto", "statsapi", "lahman", "retrosheet"]


class Team(BaseModel):
    id: int
    name: str | None
    abbreviation: str | None
    team_name: str | None = None
    location_name: str | None = None
    short_name: str | None = None
    league_id: int | None = None
    league_name: str | None = None
    division_id: int | None = None
    division_name: str | None = None
    venue_id: int | None = None
    venue_name: str | None = None


class RosterEntry(BaseModel):
    id: int
    full_name: str | None
    primary_position: str | None
    primary_number: str | None
    games: int
    games_batting: int
    games_pitching: int
    games_started_pitching: int
    positions: list[str]
    first_game: date | None
    last_game: date | None


class Roster(BaseModel):
    team_id: int
    season: int
    games: int = Field(description="final games of the team in the season, in our database")
    players: list[RosterEntry]


class GroupTotals(BaseModel):
    counting: dict[str, int | None]
    rates: dict[str, float | None]


class TeamSeason(BaseModel):
    team_id: int
    team: str
    name: str | None
    league: str | None
    season: int
    source: str
    games: int | None
    w: int | None
    l: int | None  # noqa: E741 (the stat's name)
    park_factor: float | None
    batting: GroupTotals
    pitching: GroupTotals
    splits: dict[str, Any] | None


_TEAM = (
    "SELECT t.team_id AS id, t.name, t.abbreviation, t.team_name, t.location_name, t.short_name,"
    " t.league_id, t.league_name, t.division_id, t.division_name, t.venue_id, v.name AS venue_name"
    " FROM teams t LEFT JOIN venues v ON v.venue_id = t.venue_id"
)


@router.get("/teams", response_model=Page[Team], summary="Teams")
async def teams(
    p: Annotated[PageParams, Depends()],
    conn: Conn,
    league_id: Annotated[int | None, Query(ge=0, le=2**53)] = None,
    division_id: Annotated[int | None, Query(ge=0, le=2**53)] = None,
) -> dict[str, Any]:
    after = p.after(1)
    where, args = ["TRUE"], []
    for column, value in (("t.league_id", league_id), ("t.division_id", division_id)):
        if value is not None:
            where.append(f"{column} = %s")
            args.append(value)
    if after is not None:
        where.append("t.team_id > %s")
        args.append(after[0])
    found = await rows(
        conn, f"{_TEAM} WHERE {' AND '.join(where)} ORDER BY t.team_id LIMIT %s", [*args, p.limit + 1]
    )
    return page(found, p.limit, key=lambda r: [r["id"]])


async def _team(conn: psycopg.AsyncConnection[Any], team_id: int) -> Row:
    team = await one(conn, f"{_TEAM} WHERE t.team_id = %s", (team_id,))
    if team is None:
        raise ApiError(404, f"no team {team_id}")
    return team


@router.get("/teams/{team_id}", response_model=Team, summary="A team")
async def team(team_id: TeamId, conn: Conn) -> Row:
    return await _team(conn, team_id)


async def _latest_season(conn: psycopg.AsyncConnection[Any], team_id: int) -> int:
    row = await one(
        conn,
        "SELECT max(season::int) AS s FROM games WHERE (home_team_id = %s OR away_team_id = %s)"
        " AND season ~ '^[0-9]+$'",
        (team_id, team_id),
    )
    if row is None or row["s"] is None:
        raise ApiError(404, f"no games of team {team_id}; give ?season=")
    return int(row["s"])


@router.get("/teams/{team_id}/roster", response_model=Roster, summary="Who played for a team in a season")
async def roster(
    request: Request,
    team_id: TeamId,
    conn: Conn,
    season: Annotated[int | None, Query(ge=1871, le=2100, description="default: its latest season")] = None,
) -> Any:
    async def build() -> tuple[Any, str | None]:
        await _team(conn, team_id)
        year = season if season is not None else await _latest_season(conn, team_id)
        players = await rows(
            conn,
            "SELECT d.person_id AS id, p.full_name, p.primary_position, p.primary_number,"
            " count(*)::int AS games,"
            " count(*) FILTER (WHERE d.batting <> '{}'::jsonb)::int AS games_batting,"
            " count(*) FILTER (WHERE d.pitching <> '{}'::jsonb)::int AS games_pitching,"
            " count(*) FILTER (WHERE (d.pitching->>'gamesStarted')::int > 0)::int AS games_started_pitching,"
            " min(d.official_date) AS first_game, max(d.official_date) AS last_game,"
            " coalesce(array_agg(DISTINCT b.position) FILTER (WHERE b.position IS NOT NULL), '{}')"
            "   AS positions"
            " FROM derived_box_lines d LEFT JOIN people p ON p.person_id = d.person_id"
            " LEFT JOIN box_lines b ON b.game_pk = d.game_pk AND b.person_id = d.person_id"
            " WHERE d.team_id = %s AND d.season = %s AND d.source = 'statsapi'"
            " GROUP BY d.person_id, p.full_name, p.primary_position, p.primary_number"
            " ORDER BY p.full_name, d.person_id",
            (team_id, year),
        )
        games = await one(
            conn,
            "SELECT count(*)::int AS n FROM games WHERE is_final AND season = %s"
            " AND (home_team_id = %s OR away_team_id = %s)",
            (str(year), team_id, team_id),
        )
        body = {"team_id": team_id, "season": year, "games": games["n"] if games else 0, "players": players}
        return body, None

    return await cached_json(request, key=f"roster:{team_id}:{season}", game_pk=None, build=build)


@router.get("/teams/{team_id}/season", response_model=TeamSeason, summary="A team's season line")
async def team_season(
    request: Request,
    team_id: TeamId,
    conn: Conn,
    season: Annotated[int | None, Query(ge=1871, le=2100, description="default: its latest season")] = None,
    source: Annotated[Source, Query(description="auto: the source with the most games that season")] = "auto",
) -> Any:
    async def build() -> tuple[Any, str | None]:
        t = await _team(conn, team_id)
        year = season if season is not None else await _latest_season(conn, team_id)
        src = await season_queries.pick_source(tuples(conn), year, source)
        # our own seasons key teams by MLBAM id; Lahman and Retrosheet by their codes (matched by name)
        needle = str(team_id) if src == "statsapi" else (t["name"] or str(team_id))
        found = await season_queries.team_season(tuples(conn), needle, year, src)
        if found is None:
            raise ApiError(404, f"no {src} season {year} for team {team_id}")
        return no_nan({"team_id": team_id, **found}), None

    key = f"team-season:{team_id}:{season}:{source}"
    return await cached_json(request, key=key, game_pk=None, build=build)
