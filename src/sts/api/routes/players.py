"""Routes: players. Search, profile, game logs, season line with splits, career.

- ``GET /players?q=``               people whose name contains ``q`` (case- and accent-insensitive),
  exact full-name matches first; cursor-paged.
- ``GET /players/{id}``             profile from the ``people`` table (the latest feed that named him),
  with his ids in the other databases (Lahman, Retrosheet, Baseball-Reference, FanGraphs) when known.
- ``GET /players/{id}/games``       one line per final game he appeared in: our derived batting,
  pitching and fielding lines (MLB stat names), newest first; ``season``, ``group`` and ``game_type``
  filter; cursor-paged.
- ``GET /players/{id}/season``      as ``sts stats player``: counting stats, every rate, qualification,
  fielding, splits (our games) of one season; ``group`` keeps batting or pitching only.
- ``GET /players/{id}/career``      counting totals over every season of a source, with the rates that
  need no season constants, and the seasons counted.
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
from sts.api.routes._common import Row, documented, fold, fold_sql, like_escape, no_nan, one, rows, tuples
from sts.services import season_queries

router = APIRouter(tags=["players"], dependencies=[Depends(require("read"))], responses=documented(404))

PlayerId = Annotated[int, Path(ge=1, le=2**53, description="MLBAM person id")]
Conn = Annotated[psycopg.AsyncConnection[Any], Depends(db)]
Paging = Annotated[PageParams, Depends()]
Season = Annotated[int | None, Query(ge=1871, le=2100, description="season, e.g. 2024")]
Source = Literal["auto", "statsapi", "lahman", "retrosheet"]
Group = Literal["batting", "pitching"]


class PlayerSummary(BaseModel):
    id: int
    full_name: str | None
    boxscore_name: str | None = None
    primary_position: str | None = None
    primary_number: str | None = None
    bats: str | None = None
    throws: str | None = None
    birth_date: date | None = None


class PlayerProfile(PlayerSummary):
    first_name: str | None = None
    last_name: str | None = None
    height: str | None = None
    weight: int | None = None
    birth_city: str | None = None
    birth_country: str | None = None
    mlb_debut_date: str | None = None
    active: bool | None = None
    ids: dict[str, str | None] = Field(description="the player's ids in other databases (crosswalk)")
    last_seen_game_pk: int | None = Field(None, description="the game whose feed last updated this profile")
    teams: list[int] = Field(description="teams he appeared for in our games")


class GameLine(BaseModel):
    game_pk: int
    official_date: date | None
    season: int
    game_type: str | None
    side: str
    team_id: int | None
    team: str | None
    opponent_team_id: int | None
    opponent: str | None
    team_score: int | None
    opponent_score: int | None
    result: str | None = Field(description="W or L (from the final score), None for a tie or no score")
    batting: dict[str, Any] | None = Field(description="MLB stat names; None when he did not bat")
    pitching: dict[str, Any] | None = Field(description="MLB stat names; None when he did not pitch")
    fielding: dict[str, Any] | None
    source: str


class GroupLine(BaseModel):
    counting: dict[str, int]
    rates: dict[str, float | None]
    qualified: bool
    team_games: int
    park_factor: float | None = None


class PlayerSeason(BaseModel):
    id: int
    full_name: str | None
    season: int
    source: str
    teams: list[str]
    team_names: dict[str, str | None]
    batting: GroupLine | None
    pitching: GroupLine | None
    fielding: list[dict[str, Any]]
    splits: dict[str, Any] | None = Field(description="our games only (source statsapi)")


class CareerGroup(BaseModel):
    counting: dict[str, int]
    rates: dict[str, float | None]


class PlayerCareer(BaseModel):
    id: int
    full_name: str | None
    source: str
    sources: list[str] = Field(description="every source holding seasons of this player")
    seasons: list[int]
    batting: CareerGroup | None = None
    pitching: CareerGroup | None = None


_SUMMARY = (
    "person_id AS id, full_name, boxscore_name, primary_position, primary_number, bats, throws, birth_date"
)


@router.get("/players", response_model=Page[PlayerSummary], summary="Search players by name")
async def search_players(
    p: Paging,
    conn: Conn,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="part of the name")] = None,
) -> dict[str, Any]:
    """Players whose full name contains ``q`` ignoring case and accents; an exact full-name match comes
    first, then by name (accents aside). Without ``q``: every player, by name."""
    after = p.after(3)
    needle = fold(q.strip()) if q else ""
    where, args = ["TRUE"], []
    if needle:
        where.append(f"{fold_sql('full_name')} LIKE %s")
        args.append(f"%{like_escape(needle)}%")
    rank = f"CASE WHEN {fold_sql('full_name')} = %s THEN 0 ELSE 1 END"
    sort = "(" + fold_sql("coalesce(full_name, '')") + ') COLLATE "C"'
    if after is not None:
        where.append(f"({rank}, {sort}, person_id) > (%s, %s, %s)")
        args += [needle, *after]
    found = await rows(
        conn,
        f"SELECT {_SUMMARY}, {rank} AS rank, {sort} AS sort FROM people "
        f"WHERE {' AND '.join(where)} ORDER BY rank, sort, person_id LIMIT %s",
        [needle, *args, p.limit + 1],
    )
    result = page(found, p.limit, key=lambda r: [r["rank"], r["sort"], r["id"]])
    for r in result["items"]:
        r.pop("rank"), r.pop("sort")
    return result


_ID_KEYS = ("mlbam", "lahman", "retro", "bbref", "fangraphs")


async def _person(conn: psycopg.AsyncConnection[Any], player_id: int) -> Row:
    person = await one(conn, "SELECT * FROM people WHERE person_id = %s", (player_id,))
    if person is None:
        raise ApiError(404, f"no player {player_id}")
    return person


async def _crosswalk(conn: psycopg.AsyncConnection[Any], player_id: int, name: str | None) -> Row:
    found = await season_queries.resolve_player(conn, str(player_id))
    return found[0] if found else {"mlbam": player_id, "full_name": name}


@router.get("/players/{player_id}", response_model=PlayerProfile, summary="A player's profile")
async def player(request: Request, player_id: PlayerId, conn: Conn) -> Any:
    async def build() -> tuple[Any, str | None]:
        person = await _person(conn, player_id)
        extra = ((person.get("extra") or {}).get("person")) or {}
        ids = await _crosswalk(conn, player_id, person["full_name"])
        teams = await rows(
            conn,
            "SELECT DISTINCT team_id FROM derived_box_lines WHERE person_id = %s AND team_id IS NOT NULL "
            "ORDER BY team_id",
            (player_id,),
        )
        weight = extra.get("weight")
        return {
            "id": player_id,
            **{k: person.get(k) for k in PlayerSummary.model_fields if k != "id"},
            "first_name": person.get("first_name"),
            "last_name": person.get("last_name"),
            "height": extra.get("height"),
            "weight": weight if isinstance(weight, int) else None,
            "birth_city": extra.get("birthCity"),
            "birth_country": extra.get("birthCountry"),
            "mlb_debut_date": extra.get("mlbDebutDate"),
            "active": extra.get("active") if isinstance(extra.get("active"), bool) else None,
            "ids": {k: None if ids.get(k) is None else str(ids[k]) for k in _ID_KEYS},
            "last_seen_game_pk": person.get("source_game_pk"),
            "teams": [t["team_id"] for t in teams],
        }, None

    return await cached_json(request, key=f"player:{player_id}", game_pk=None, build=build)


@router.get("/players/{player_id}/games", response_model=Page[GameLine], summary="A player's game log")
async def player_games(
    player_id: PlayerId,
    p: Paging,
    conn: Conn,
    season: Season = None,
    group: Annotated[Group | None, Query(description="only games he batted in / pitched in")] = None,
    game_type: Annotated[str | None, Query(max_length=2, description="R regular, P postseason…")] = None,
) -> dict[str, Any]:
    """His lines in final games, newest first, as our engine derived them from the play-by-play (they
    match MLB's official box score; ``/games/{game_pk}`` shows the data-quality check)."""
    await _person(conn, player_id)
    after = p.after(2)
    where: list[str] = ["d.person_id = %s"]
    args: list[Any] = [player_id]
    if season is not None:
        where.append("d.season = %s")
        args.append(season)
    if group is not None:
        where.append(f"d.{group} <> '{{}}'::jsonb")
    if game_type is not None:
        where.append("d.game_type = %s")
        args.append(game_type)
    if after is not None:
        where.append("(coalesce(d.official_date, '0001-01-01'::date), d.game_pk) < (%s::date, %s)")
        args += after
    found = await rows(
        conn,
        "SELECT d.game_pk, d.official_date, d.season, d.game_type, d.side, d.team_id, d.opponent_team_id,"
        " coalesce(t.abbreviation, t.name) AS team, coalesce(o.abbreviation, o.name) AS opponent,"
        " CASE d.side WHEN 'home' THEN g.home_score ELSE g.away_score END AS team_score,"
        " CASE d.side WHEN 'home' THEN g.away_score ELSE g.home_score END AS opponent_score,"
        " d.batting, d.pitching, d.fielding, d.source"
        " FROM derived_box_lines d LEFT JOIN games g ON g.game_pk = d.game_pk"
        " LEFT JOIN teams t ON t.team_id = d.team_id LEFT JOIN teams o ON o.team_id = d.opponent_team_id"
        f" WHERE {' AND '.join(where)}"
        " ORDER BY coalesce(d.official_date, '0001-01-01'::date) DESC, d.game_pk DESC LIMIT %s",
        [*args, p.limit + 1],
    )
    for r in found:
        ts, os_ = r["team_score"], r["opponent_score"]
        r["result"] = None if ts is None or os_ is None or ts == os_ else "W" if ts > os_ else "L"
        for g in ("batting", "pitching", "fielding"):
            r[g] = r[g] or None
    return page(found, p.limit, key=lambda r: [str(r["official_date"] or "0001-01-01"), r["game_pk"]])


async def _latest_season(conn: psycopg.AsyncConnection[Any], player_id: int) -> int:
    row = await one(
        conn,
        "SELECT max(season) AS s FROM (SELECT season FROM derived_box_lines WHERE person_id = %(p)s"
        " UNION ALL SELECT season FROM season_batting WHERE source = 'statsapi' AND player_key = %(k)s"
        " UNION ALL SELECT season FROM season_pitching WHERE source = 'statsapi' AND player_key = %(k)s) x",
        {"p": player_id, "k": str(player_id)},
    )
    if row is None or row["s"] is None:
        raise ApiError(404, f"no season statistics for player {player_id}; give ?season=")
    return int(row["s"])


@router.get("/players/{player_id}/season", response_model=PlayerSeason, summary="A player's season line")
async def player_season(
    request: Request,
    player_id: PlayerId,
    conn: Conn,
    season: Annotated[int | None, Query(ge=1871, le=2100, description="default: his latest season")] = None,
    group: Annotated[Group | None, Query(description="batting or pitching only")] = None,
    source: Annotated[Source, Query(description="auto: the source with the most games that season")] = "auto",
) -> Any:
    async def build() -> tuple[Any, str | None]:
        person = await _person(conn, player_id)
        year = season if season is not None else await _latest_season(conn, player_id)
        ids = await _crosswalk(conn, player_id, person["full_name"])
        s = await season_queries.player_season(tuples(conn), ids, year, source)
        splits = s.get("splits")
        if group is not None:
            other = "pitching" if group == "batting" else "batting"
            s[other] = None
            if splits:
                splits = {group: splits[group]} if group in splits else {}
        body = {
            "id": player_id,
            "full_name": person["full_name"],
            "season": year,
            "source": s["source"],
            "teams": s["teams"],
            "team_names": s.get("team_names") or {},
            "batting": s["batting"],
            "pitching": s["pitching"],
            "fielding": s["fielding"] if group in (None, "batting") else [],
            "splits": splits,
        }
        return no_nan(body), None

    key = f"player-season:{player_id}:{season}:{group}:{source}"
    return await cached_json(request, key=key, game_pk=None, build=build)


@router.get("/players/{player_id}/career", response_model=PlayerCareer, summary="A player's career totals")
async def player_career(
    player_id: PlayerId,
    conn: Conn,
    source: Annotated[Source, Query(description="auto: the source with the most of his seasons")] = "auto",
) -> Any:
    person = await _person(conn, player_id)
    ids = await _crosswalk(conn, player_id, person["full_name"])
    counts: dict[str, int] = {}
    for src, col in season_queries.KEY_COLUMN.items():
        key = ids.get(col)
        if key is None:
            continue
        row = await one(
            conn,
            "SELECT count(DISTINCT season) AS n FROM (SELECT season FROM season_batting"
            " WHERE source = %(s)s AND player_key = %(k)s UNION ALL SELECT season FROM season_pitching"
            " WHERE source = %(s)s AND player_key = %(k)s) x",
            {"s": src, "k": str(key)},
        )
        if row and row["n"]:
            counts[src] = int(row["n"])
    chosen = source if source != "auto" else max(counts, key=lambda s: (counts[s], s), default="statsapi")
    key = ids.get(season_queries.KEY_COLUMN[chosen])
    career = (
        await season_queries._career(tuples(conn), chosen, str(key)) if key is not None else {"seasons": []}
    )
    return no_nan({"id": player_id, "full_name": person["full_name"], "source": chosen,
                   "sources": sorted(counts), **career})  # fmt: skip
