"""Routes: leaderboards.

``GET /leaders?stat=&season=&group=&qualified=&min=&sort=&limit=&source=``

- ``stat``: one of :data:`sts.stats.season.LEADER_STATS` (case-insensitive: ``avg``, ``wrc+``, ``HR``, …);
  an unknown one is a ``422`` whose details list the valid ones.
- qualifiers as MLB defines them (OBR 9.22): 3.1 plate appearances per team game for batting rates,
  1 inning pitched per team game for pitching rates, team games = the most games among the player's
  teams that season. By default rate stats rank qualified players only and counting stats rank
  everyone; ``qualified=true|false`` overrides it. ``min`` is a floor of its own: plate appearances
  (batting) or innings pitched (pitching).
- ``sort``: ``desc`` or ``asc``; the default is the stat's own (ERA, WHIP, K% … lead low).
- Ranks are shared by equal values (1, 2, 2, 4), and ``tied`` says so.

Built from :mod:`sts.services.season_queries` (the same season lines as ``/players/{id}/season`` and
``sts stats leaders``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from sts.api.auth import require
from sts.api.caching import cached_json
from sts.api.deps import db
from sts.api.errors import ApiError
from sts.api.routes._common import Row, documented, no_nan, one, rows, tuples
from sts.services import season_queries
from sts.stats.season import LEADER_STATS, batting_qualifier, lookup_stat

router = APIRouter(tags=["leaders"], dependencies=[Depends(require("read"))], responses=documented(404))

Source = Literal["auto", "statsapi", "lahman", "retrosheet"]


class Leader(BaseModel):
    rank: int
    tied: bool
    player_id: int | None = Field(description="MLBAM id when known")
    player_key: str = Field(description="the source's own player id")
    name: str | None
    teams: list[str]
    value: float
    qualified: bool
    pa: int | None = Field(None, description="plate appearances (batting)")
    ip: float | None = Field(None, description="innings pitched (pitching)")


class Leaderboard(BaseModel):
    stat: str
    group: str
    season: int
    source: str
    sort: str
    qualified_only: bool
    qualifier: str | None = Field(description="what qualifying took this season, e.g. '502 PA'")
    min: float | None
    leaders: list[Leader]


def _unknown(stat: str) -> ApiError:
    return ApiError(
        422,
        f"unknown stat {stat!r}",
        "invalid_parameters",
        details={"stat": stat, "valid": list(LEADER_STATS)},
    )


@router.get("/leaders", response_model=Leaderboard, summary="A leaderboard")
async def leaders(
    request: Request,
    conn: Annotated[psycopg.AsyncConnection[Any], Depends(db)],
    stat: Annotated[str, Query(min_length=1, max_length=16, description=", ".join(LEADER_STATS))],
    season: Annotated[int | None, Query(ge=1871, le=2100, description="default: the latest season")] = None,
    group: Annotated[
        Literal["batting", "pitching"] | None, Query(description="checked against the stat")
    ] = None,
    qualified: Annotated[bool | None, Query(description="default: rate stats only qualified")] = None,
    minimum: Annotated[
        float | None, Query(alias="min", ge=0, le=100_000, description="at least this many PA / IP")
    ] = None,
    sort: Annotated[Literal["asc", "desc"] | None, Query(description="default: the stat's own")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 10,
    source: Annotated[Source, Query(description="auto: the source with the most games that season")] = "auto",
) -> Any:
    found = lookup_stat(stat)
    if found is None:
        raise _unknown(stat)
    name, spec = found
    if group is not None and group != spec.group:
        raise ApiError(
            422, f"{name} is a {spec.group} stat, not {group}", details={"stat": name, "group": spec.group}
        )

    async def build() -> tuple[Any, str | None]:
        year = season if season is not None else await _latest_season(conn, source)
        src = await season_queries.pick_source(tuples(conn), year, source)
        ctx = await season_queries.context(tuples(conn), src, year)
        table = "season_batting" if spec.group == "batting" else "season_pitching"
        by_player: dict[str, list[Row]] = defaultdict(list)
        for r in await rows(conn, f"SELECT * FROM {table} WHERE source = %s AND season = %s", (src, year)):
            by_player[r["player_key"]].append(r)
        only_qualified = spec.rate if qualified is None else qualified
        ascending = spec.ascending if sort is None else sort == "asc"
        entries = []
        for key, player_rows in by_player.items():
            if spec.group == "batting":
                s = season_queries.batting_season(player_rows, ctx)
                volume: float = s["counting"]["pa"]
            else:
                s = season_queries.pitching_season(player_rows, ctx)
                volume = s["counting"]["outs"] / 3
            if only_qualified and not s["qualified"]:
                continue
            if minimum is not None and volume < minimum:
                continue
            value = s["counting"][spec.counting_key] if spec.counting_key else s["rates"].get(name)
            if value is None:
                continue
            if spec.counting_key == "outs":
                value = round(value / 3, 4)
            entries.append({
                "player_key": key, "teams": sorted({r["team"] for r in player_rows}), "value": value,
                "qualified": s["qualified"],
                "pa": s["counting"]["pa"] if spec.group == "batting" else None,
                "ip": round(s["counting"]["outs"] / 3, 4) if spec.group == "pitching" else None,
            })  # fmt: skip
        entries.sort(key=lambda e: (e["value"] if ascending else -e["value"], e["player_key"]))
        top = entries[:limit]
        # equal values share a rank; the rank of a value is one more than the entries ahead of it
        values = [e["value"] for e in entries]
        col = season_queries.KEY_COLUMN.get(src, "mlbam")
        ids = await rows(
            conn,
            f"SELECT mlbam, {col}::text AS k, full_name FROM player_ids WHERE {col}::text = ANY(%s)",
            ([e["player_key"] for e in top],),
        )
        by_key = {r["k"]: r for r in ids}
        for e in top:
            first = values.index(e["value"])
            e["rank"] = first + 1
            e["tied"] = values.count(e["value"]) > 1
            person = by_key.get(e["player_key"], {})
            e["name"] = person.get("full_name")
            mlbam = person.get("mlbam")
            e["player_id"] = int(mlbam) if mlbam is not None else None
        g = max((t["games"] for t in ctx.teams.values()), default=0)
        qualifier = None
        if g:
            qualifier = f"{batting_qualifier(g)} PA" if spec.group == "batting" else f"{g} IP"
        body = {
            "stat": name, "group": spec.group, "season": year, "source": src,
            "sort": "asc" if ascending else "desc", "qualified_only": only_qualified,
            "qualifier": qualifier, "min": minimum, "leaders": top,
        }  # fmt: skip
        return no_nan(body), None

    key = f"leaders:{name}:{season}:{qualified}:{minimum}:{sort}:{limit}:{source}"
    return await cached_json(request, key=key, game_pk=None, build=build)


async def _latest_season(conn: psycopg.AsyncConnection[Any], source: str) -> int:
    where = "" if source == "auto" else "WHERE source = %s"
    row = await one(conn, f"SELECT max(season) AS s FROM season_teams {where}", (source,) if where else None)
    if row is None or row["s"] is None:
        raise ApiError(404, "no season statistics yet; give ?season=")
    return int(row["s"])
