"""Routes: standings, computed from the final games in the database.

``GET /standings?season=&date=&game_type=R``: per league and division, each team's wins, losses, ties,
winning percentage, games back of the division leader, division and league rank, runs scored and
allowed, run differential, current streak, last ten, home and away records. Only final games count,
and with ``date`` only those played on or before it (the standings as they stood that evening).

Rules (as MLB's standings page): ``pct`` = W / (W + L) (a tie counts in neither); games back =
((leader W − W) + (L − leader L)) / 2 against the division's best percentage; teams rank by percentage,
then by wins. MLB breaks exact ties with head-to-head records and further rules we do not apply: tied
teams share the order of their ids. League and division are the team's as its latest feed gave them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from sts.api.auth import require
from sts.api.caching import cached_json
from sts.api.deps import db
from sts.api.errors import ApiError
from sts.api.routes._common import documented, one, rows

router = APIRouter(tags=["standings"], dependencies=[Depends(require("read"))], responses=documented(404))


class Record(BaseModel):
    w: int
    l: int  # noqa: E741 (the stat's name)


class TeamStanding(BaseModel):
    team_id: int
    name: str | None
    abbreviation: str | None
    w: int
    l: int  # noqa: E741
    ties: int
    games: int
    pct: float | None = Field(description="W / (W + L), 3 decimals; None before a decision")
    games_back: float = Field(description="behind the division leader (0 for the leader)")
    division_rank: int
    league_rank: int
    runs_scored: int
    runs_allowed: int
    run_differential: int
    streak: str | None = Field(description="W3, L1, … over the latest games; None before the first")
    last_ten: Record
    home: Record
    away: Record


class Division(BaseModel):
    league_id: int | None
    league_name: str | None
    division_id: int | None
    division_name: str | None
    teams: list[TeamStanding]


class Standings(BaseModel):
    season: int
    date: dt.date | None = Field(description="games on or before this date count; None: every final game")
    game_type: str
    games: int = Field(description="final games counted")
    divisions: list[Division]


@dataclass
class Tally:
    """One team's record, built game by game in date order."""

    team_id: int
    w: int = 0
    l: int = 0  # noqa: E741
    ties: int = 0
    rs: int = 0
    ra: int = 0
    home: list[int] = field(default_factory=lambda: [0, 0])
    away: list[int] = field(default_factory=lambda: [0, 0])
    results: list[str] = field(default_factory=list)  # "W" / "L" / "T", oldest first

    def add(self, scored: int, allowed: int, at_home: bool) -> None:
        self.rs += scored
        self.ra += allowed
        split = self.home if at_home else self.away
        if scored > allowed:
            self.w += 1
            split[0] += 1
            self.results.append("W")
        elif scored < allowed:
            self.l += 1
            split[1] += 1
            self.results.append("L")
        else:
            self.ties += 1
            self.results.append("T")

    @property
    def pct(self) -> float | None:
        return round(self.w / (self.w + self.l), 3) if self.w + self.l else None

    def streak(self) -> str | None:
        decided = [r for r in self.results if r != "T"]
        if not decided:
            return None
        n = 1
        while n < len(decided) and decided[-n - 1] == decided[-1]:
            n += 1
        return f"{decided[-1]}{n}"

    def last_ten(self) -> dict[str, int]:
        last = [r for r in self.results if r != "T"][-10:]
        return {"w": last.count("W"), "l": last.count("L")}


def tally(games: Iterable[dict[str, Any]]) -> dict[int, Tally]:
    """Records from final games (dicts with home/away team ids and scores), given oldest first."""
    out: dict[int, Tally] = {}
    for g in games:
        home, away = g["home_team_id"], g["away_team_id"]
        hs, as_ = g["home_score"], g["away_score"]
        if home is None or away is None or hs is None or as_ is None:
            continue
        out.setdefault(home, Tally(home)).add(hs, as_, True)
        out.setdefault(away, Tally(away)).add(as_, hs, False)
    return out


def _order_key(t: Tally) -> tuple[float, int, int]:
    return (-(t.pct if t.pct is not None else 0.5), -t.w, t.team_id)


def games_back(leader: Tally, team: Tally) -> float:
    return ((leader.w - team.w) + (team.l - leader.l)) / 2


def rank(teams: Sequence[Tally]) -> list[tuple[Tally, float, int]]:
    """``teams`` of one division in standings order with games back of the leader and rank."""
    ordered = sorted(teams, key=_order_key)
    if not ordered:
        return []
    return [(t, games_back(ordered[0], t), i) for i, t in enumerate(ordered, 1)]


@router.get("/standings", response_model=Standings, summary="Standings by league and division")
async def standings(
    request: Request,
    conn: Annotated[psycopg.AsyncConnection[Any], Depends(db)],
    season: Annotated[int | None, Query(ge=1871, le=2100, description="default: the latest season")] = None,
    on: Annotated[
        dt.date | None, Query(alias="date", description="as they stood after this date's games")
    ] = None,
    game_type: Annotated[
        str, Query(min_length=1, max_length=2, description="R regular season (default), P postseason, …")
    ] = "R",
) -> Any:
    async def build() -> tuple[Any, str | None]:
        year = season
        if year is None:
            latest = await one(
                conn, "SELECT max(season::int) AS s FROM games WHERE is_final AND season ~ '^[0-9]+$'"
            )
            if latest is None or latest["s"] is None:
                raise ApiError(404, "no final games yet")
            year = int(latest["s"])
        where = ["g.is_final", "g.season = %s", "g.game_type = %s"]
        args: list[Any] = [str(year), game_type]
        if on is not None:
            where.append("g.official_date <= %s")
            args.append(on)
        games = await rows(
            conn,
            "SELECT g.game_pk, g.home_team_id, g.away_team_id, g.home_score, g.away_score FROM games g"
            f" WHERE {' AND '.join(where)}"
            " ORDER BY g.official_date, g.game_datetime NULLS LAST, g.game_number NULLS LAST, g.game_pk",
            args,
        )
        tallies = tally(games)
        teams = {
            t["team_id"]: t
            for t in await rows(
                conn,
                "SELECT team_id, name, abbreviation, league_id, league_name, division_id, division_name"
                " FROM teams WHERE team_id = ANY(%s)",
                (list(tallies),),
            )
        }
        by_division: dict[tuple[Any, ...], list[Tally]] = {}
        by_league: dict[Any, list[Tally]] = {}
        for t in tallies.values():
            info = teams.get(t.team_id, {})
            div = (info.get("league_id"), info.get("league_name"), info.get("division_id"),
                   info.get("division_name"))  # fmt: skip
            by_division.setdefault(div, []).append(t)
            by_league.setdefault(info.get("league_id"), []).append(t)
        league_rank = {
            t.team_id: i for ts in by_league.values() for i, t in enumerate(sorted(ts, key=_order_key), 1)
        }
        divisions = []
        for div in sorted(by_division, key=lambda d: (d[0] is None, d[0] or 0, d[2] is None, d[2] or 0)):
            entries = []
            for t, gb, r in rank(by_division[div]):
                info = teams.get(t.team_id, {})
                entries.append({
                    "team_id": t.team_id, "name": info.get("name"), "abbreviation": info.get("abbreviation"),
                    "w": t.w, "l": t.l, "ties": t.ties, "games": t.w + t.l + t.ties, "pct": t.pct,
                    "games_back": gb, "division_rank": r, "league_rank": league_rank[t.team_id],
                    "runs_scored": t.rs, "runs_allowed": t.ra, "run_differential": t.rs - t.ra,
                    "streak": t.streak(), "last_ten": t.last_ten(),
                    "home": {"w": t.home[0], "l": t.home[1]}, "away": {"w": t.away[0], "l": t.away[1]},
                })  # fmt: skip
            divisions.append({"league_id": div[0], "league_name": div[1], "division_id": div[2],
                              "division_name": div[3], "teams": entries})  # fmt: skip
        body = {"season": year, "date": on, "game_type": game_type, "games": len(games),
                "divisions": divisions}  # fmt: skip
        return body, None

    return await cached_json(request, key=f"standings:{season}:{on}:{game_type}", game_pk=None, build=build)
