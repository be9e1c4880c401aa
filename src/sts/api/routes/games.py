"""Routes: the schedule, games, and one game's line score, box score, plays and pitches.

Every route needs the ``read`` scope. Per-game bodies go through :func:`sts.api.caching.cached_json`
(ETag, Cache-Control by the game's state, the server cache checked against the game's version).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request
from psycopg.rows import dict_row
from pydantic import BaseModel
from starlette.responses import Response

from sts.api.caching import cached_json
from sts.api.deps import db, require
from sts.api.errors import ApiError, ErrorBody
from sts.api.pagination import Page, PageParams, page

router = APIRouter(tags=["games"], dependencies=[Depends(require("read"))])

Conn = Annotated[psycopg.AsyncConnection[Any], Depends(db)]
BIGINT = 2**63 - 1
GamePk = Annotated[int, Path(ge=-BIGINT, le=BIGINT, description="MLB's gamePk", examples=[747175])]
Id = Annotated[int | None, Query(ge=1, le=BIGINT)]
Code = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_ -]{1,64}$")]
State = Literal["Preview", "Live", "Final"]
MAX_DAYS = 366
CACHE_HEADERS = {
    "ETag": {
        "description": "the body's tag; send it back in If-None-Match",
        "required": True,
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": "by the game's state (docs/api.md)",
        "required": True,
        "schema": {"type": "string"},
    },
    "X-Cache": {
        "description": "hit / miss: the server-side cache; bypass: not kept there",
        "required": True,
        "schema": {"type": "string", "enum": ["hit", "miss", "bypass"]},
    },
}
CACHED: dict[int | str, dict[str, Any]] = {
    200: {"headers": CACHE_HEADERS},
    304: {"description": "Not Modified: the If-None-Match names the current ETag", "headers": CACHE_HEADERS},
}
ONE_GAME: dict[int | str, dict[str, Any]] = {
    **CACHED,
    404: {"model": ErrorBody, "description": "no such game"},
}


# ---- models ----------------------------------------------------------------------------------------


class TeamRef(BaseModel):
    id: int | None
    name: str | None = None
    abbreviation: str | None = None


class TeamScore(TeamRef):
    score: int | None = None


class Venue(BaseModel):
    id: int | None
    name: str | None = None


class Status(BaseModel):
    abstract_state: str | None
    coded_state: str | None
    detailed_state: str | None


class GameSummary(BaseModel):
    game_pk: int
    season: str | None
    game_type: str | None
    official_date: dt.date | None
    game_datetime: dt.datetime | None
    double_header: str | None
    game_number: int | None
    day_night: str | None
    scheduled_innings: int | None
    status: Status
    away: TeamScore
    home: TeamScore
    venue: Venue
    innings_played: int | None
    is_final: bool


class Schedule(BaseModel):
    start: dt.date
    end: dt.date
    games: list[GameSummary]


class GameList(BaseModel):
    items: list[GameSummary]


class SideLine(BaseModel):
    runs: int | None = None
    hits: int | None = None
    errors: int | None = None
    left_on_base: int | None = None


class InningLine(BaseModel):
    inning: int
    away: SideLine
    home: SideLine


class Totals(BaseModel):
    away: SideLine
    home: SideLine


class Linescore(BaseModel):
    game_pk: int
    source: Literal["official", "plays"]
    innings: list[InningLine]
    totals: Totals


class PersonRef(BaseModel):
    id: int | None
    name: str | None = None


class Decisions(BaseModel):
    winner: PersonRef | None = None
    loser: PersonRef | None = None
    save: PersonRef | None = None


class GameDetail(GameSummary):
    decisions: Decisions
    linescore: Linescore


Line = dict[str, int]


class BoxPlayer(BaseModel):
    person_id: int
    name: str | None
    position: str | None
    batting_order: str | None
    appeared: list[str]
    batting: Line
    pitching: Line
    fielding: Line


class BoxTotals(BaseModel):
    batting: Line
    pitching: Line
    fielding: Line


class BoxTeam(BaseModel):
    team: TeamRef
    players: list[BoxPlayer]
    totals: BoxTotals


class Mismatch(BaseModel):
    side: str
    team: str | None = None
    scope: str
    person_id: int | None = None
    name: str | None = None
    group: str
    stat: str
    ours: Any = None
    official: Any = None


class Quality(BaseModel):
    status: Literal["agree", "mismatch", "not_checked"]
    matched: int | None = None
    total: int | None = None
    checked_at: dt.datetime | None = None
    mismatches: list[Mismatch]


class BoxScore(BaseModel):
    """Our box score, derived from the play-by-play once the game is final, and its agreement with
    MLB's official box (``quality``). Stat names are MLB's boxscore keys; innings pitched as outs."""

    game_pk: int
    state: str | None
    derived: bool
    away: BoxTeam
    home: BoxTeam
    quality: Quality


class Count(BaseModel):
    balls: int | None
    strikes: int | None
    outs: int | None


class Play(BaseModel):
    at_bat_index: int
    inning: int | None
    half_inning: str | None
    is_complete: bool | None
    is_scoring_play: bool | None
    event: str | None
    event_type: str | None
    description: str | None
    rbi: int | None
    away_score: int | None
    home_score: int | None
    count: Count
    batter: PersonRef
    pitcher: PersonRef
    bat_side: str | None
    pitch_hand: str | None
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    revision: int


class CodeDesc(BaseModel):
    code: str | None
    description: str | None


class HitData(BaseModel):
    launch_speed: float | None
    launch_angle: float | None
    total_distance: float | None
    trajectory: str | None
    hardness: str | None
    location: str | None
    coord_x: float | None
    coord_y: float | None


class Pitch(BaseModel):
    at_bat_index: int
    event_index: int
    pitch_number: int | None
    play_id: str | None
    inning: int | None
    half_inning: str | None
    batter: PersonRef
    pitcher: PersonRef
    pitch_type: CodeDesc
    call: CodeDesc
    count: Count  # after the pitch, as MLB's feed gives it
    is_in_play: bool | None
    is_strike: bool | None
    is_ball: bool | None
    start_speed: float | None
    end_speed: float | None
    spin_rate: float | None
    spin_direction: float | None
    zone: int | None
    px: float | None
    pz: float | None
    pfx_x: float | None
    pfx_z: float | None
    strike_zone_top: float | None
    strike_zone_bottom: float | None
    extension: float | None
    plate_time: float | None
    break_vertical_induced: float | None
    break_horizontal: float | None
    hit: HitData | None


# ---- queries ---------------------------------------------------------------------------------------

SUMMARY_SQL = """
SELECT g.game_pk, g.season, g.game_type, g.official_date, g.game_datetime, g.double_header,
       g.game_number, g.day_night, g.scheduled_innings, g.abstract_state, g.coded_state,
       g.detailed_state, g.away_score, g.home_score, g.innings_played, g.is_final,
       g.away_team_id, a.name AS away_name, a.abbreviation AS away_abbreviation,
       g.home_team_id, h.name AS home_name, h.abbreviation AS home_abbreviation,
       g.venue_id, v.name AS venue_name
FROM games g
LEFT JOIN teams a ON a.team_id = g.away_team_id
LEFT JOIN teams h ON h.team_id = g.home_team_id
LEFT JOIN venues v ON v.venue_id = g.venue_id
"""
PEOPLE_JOIN = (
    " LEFT JOIN people b ON b.person_id = pl.batter_id LEFT JOIN people pi ON pi.person_id = pl.pitcher_id"
)
DAY = "coalesce(g.official_date, '0001-01-01'::date)"


async def _rows(
    conn: psycopg.AsyncConnection[Any], sql: str, args: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, args)
        return list(await cur.fetchall())


def _finite(value: Any) -> Any:
    return value if not isinstance(value, float) or math.isfinite(value) else None


def _summary(r: Mapping[str, Any]) -> GameSummary:
    return GameSummary(
        game_pk=r["game_pk"],
        season=r["season"],
        game_type=r["game_type"],
        official_date=r["official_date"],
        game_datetime=r["game_datetime"],
        double_header=r["double_header"],
        game_number=r["game_number"],
        day_night=r["day_night"],
        scheduled_innings=r["scheduled_innings"],
        status=Status(
            abstract_state=r["abstract_state"],
            coded_state=r["coded_state"],
            detailed_state=r["detailed_state"],
        ),
        away=TeamScore(
            id=r["away_team_id"],
            name=r["away_name"],
            abbreviation=r["away_abbreviation"],
            score=r["away_score"],
        ),
        home=TeamScore(
            id=r["home_team_id"],
            name=r["home_name"],
            abbreviation=r["home_abbreviation"],
            score=r["home_score"],
        ),
        venue=Venue(id=r["venue_id"], name=r["venue_name"]),
        innings_played=r["innings_played"],
        is_final=bool(r["is_final"]),
    )


async def _game_row(conn: psycopg.AsyncConnection[Any], game_pk: int) -> dict[str, Any]:
    found = await _rows(conn, SUMMARY_SQL + " WHERE g.game_pk = %s", (game_pk,))
    if not found:
        raise ApiError(404, f"no game {game_pk}", "game_not_found")
    return found[0]


async def _team_id(conn: psycopg.AsyncConnection[Any], team: str) -> int:
    if team.isdigit():
        return int(team)
    found = await _rows(conn, "SELECT team_id FROM teams WHERE upper(abbreviation) = upper(%s)", (team,))
    if not found:
        raise ApiError(422, f"no team with the abbreviation {team!r}", "unknown_team")
    return int(found[0]["team_id"])


def _day_range(date: dt.date | None, start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    if date is not None and (start is not None or end is not None):
        raise ApiError(422, "give either date or start/end, not both")
    if date is not None:
        return date, date
    if start is None and end is None:
        today = dt.datetime.now(dt.UTC).date()
        return today, today
    first = start if start is not None else end
    last = end if end is not None else start
    assert first is not None and last is not None
    if last < first:
        raise ApiError(422, "end is before start")
    if (last - first).days >= MAX_DAYS:
        raise ApiError(422, f"a range of at most {MAX_DAYS} days")
    return first, last


async def _filters(
    conn: psycopg.AsyncConnection[Any],
    first: dt.date | None,
    last: dt.date | None,
    team: str | None,
    state: str | None,
    season: int | None = None,
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if first is not None and last is not None:
        where.append("g.official_date BETWEEN %s AND %s")
        args += [first, last]
    if team is not None:
        tid = await _team_id(conn, team)
        where.append("(g.away_team_id = %s OR g.home_team_id = %s)")
        args += [tid, tid]
    if state is not None:
        where.append("g.abstract_state = %s")
        args.append(state)
    if season is not None:
        where.append("g.season = %s")
        args.append(str(season))
    return where, args


def _where(where: list[str]) -> str:
    return (" WHERE " + " AND ".join(where)) if where else ""


def _query_key(request: Request) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(request.query_params.multi_items()))


def _cursor_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > BIGINT:
        raise ApiError(400, "the cursor is not one this API gave out", "invalid_cursor")
    return value


# ---- schedule and lists ----------------------------------------------------------------------------

TeamParam = Annotated[
    str | None, Query(pattern=r"^[A-Za-z0-9]{1,12}$", description="team id or abbreviation (NYY)")
]
DateParam = Annotated[dt.date | None, Query(description="one day (YYYY-MM-DD)")]


@router.get("/schedule", response_model=Schedule, responses=CACHED, summary="The games of a day or range")
async def schedule(
    request: Request,
    conn: Conn,
    date: DateParam = None,
    start: Annotated[dt.date | None, Query(description="first day of a range")] = None,
    end: Annotated[dt.date | None, Query(description="last day of a range (inclusive)")] = None,
    team: TeamParam = None,
    state: State | None = None,
) -> Response:
    """Games of ``date`` (default: today, UTC) or of ``start``..``end`` (at most 366 days), by date."""
    first, last = _day_range(date, start, end)
    where, args = await _filters(conn, first, last, team, state)

    async def build() -> tuple[Any, str | None]:
        found = await _rows(conn, SUMMARY_SQL + _where(where) + f" ORDER BY {DAY}, g.game_pk", args)
        return Schedule(start=first, end=last, games=[_summary(r) for r in found]), None

    return await cached_json(request, key=f"schedule:{_query_key(request)}", game_pk=None, build=build)


@router.get("/games", response_model=Page[GameSummary], responses=CACHED, summary="Games, paged")
async def games(
    request: Request,
    conn: Conn,
    p: Annotated[PageParams, Depends()],
    date: DateParam = None,
    start: Annotated[dt.date | None, Query(description="first day")] = None,
    end: Annotated[dt.date | None, Query(description="last day (inclusive)")] = None,
    team: TeamParam = None,
    state: State | None = None,
    season: Annotated[int | None, Query(ge=1871, le=2200)] = None,
    sort: Annotated[Literal["date", "-date"], Query(description="by date (then gamePk)")] = "date",
) -> Response:
    """Every stored game matching the filters (no date filter: all of them), by date, cursor paged."""
    first: dt.date | None = None
    last: dt.date | None = None
    if date is not None or start is not None or end is not None:
        first, last = _day_range(date, start, end)
    where, args = await _filters(conn, first, last, team, state, season)
    after = p.after(2)
    if after is not None:
        try:
            day = dt.date.fromisoformat(str(after[0]))
        except ValueError as exc:
            raise ApiError(400, "the cursor is not one this API gave out", "invalid_cursor") from exc
        op = ">" if sort == "date" else "<"
        where.append(f"({DAY}, g.game_pk) {op} (%s, %s)")
        args += [day, _cursor_int(after[1])]
    order = "" if sort == "date" else " DESC"
    sql = SUMMARY_SQL + _where(where) + f" ORDER BY {DAY}{order}, g.game_pk{order} LIMIT %s"

    async def build() -> tuple[Any, str | None]:
        found = await _rows(conn, sql, [*args, p.limit + 1])
        body = page(
            found, p.limit, key=lambda r: [(r["official_date"] or dt.date(1, 1, 1)).isoformat(), r["game_pk"]]
        )
        return {"items": [_summary(r) for r in body["items"]], "next_cursor": body["next_cursor"]}, None

    return await cached_json(request, key=f"games:{_query_key(request)}", game_pk=None, build=build)


@router.get("/games/live", response_model=GameList, responses=CACHED, summary="Games in progress")
async def live_games(request: Request, conn: Conn) -> Response:
    async def build() -> tuple[Any, str | None]:
        found = await _rows(conn, SUMMARY_SQL + f" WHERE g.abstract_state = 'Live' ORDER BY {DAY}, g.game_pk")
        return GameList(items=[_summary(r) for r in found]), "Live"

    return await cached_json(request, key="live", game_pk=None, build=build)


# ---- one game --------------------------------------------------------------------------------------


async def _linescore(conn: psycopg.AsyncConnection[Any], game: Mapping[str, Any]) -> Linescore:
    pk = game["game_pk"]
    innings = await _rows(
        conn,
        "SELECT inning, away_runs, away_hits, away_errors, away_left_on_base, home_runs, home_hits,"
        " home_errors, home_left_on_base FROM linescore_innings WHERE game_pk = %s ORDER BY inning",
        (pk,),
    )
    source: Literal["official", "plays"] = "official"
    if not innings:
        source = "plays"  # not final yet: runs per inning from the completed plays
        innings = await _rows(
            conn,
            """
            SELECT inning,
                   sum(runs) FILTER (WHERE half_inning = 'top')::int AS away_runs,
                   sum(runs) FILTER (WHERE half_inning = 'bottom')::int AS home_runs
            FROM (SELECT inning, half_inning,
                         (away_score + home_score)
                         - coalesce(lag(away_score + home_score) OVER (ORDER BY at_bat_index), 0) AS runs
                  FROM plays WHERE game_pk = %s AND is_complete) s
            WHERE inning IS NOT NULL
            GROUP BY inning ORDER BY inning
            """,
            (pk,),
        )
    team_lines = {
        r["side"]: r
        for r in await _rows(
            conn, "SELECT side, hits, errors, left_on_base FROM team_box_lines WHERE game_pk = %s", (pk,)
        )
    }

    def side_line(r: Mapping[str, Any], side: str) -> SideLine:
        return SideLine(
            runs=r.get(f"{side}_runs"),
            hits=r.get(f"{side}_hits"),
            errors=r.get(f"{side}_errors"),
            left_on_base=r.get(f"{side}_left_on_base"),
        )

    totals = {}
    for side in ("away", "home"):
        t = team_lines.get(side, {})
        totals[side] = SideLine(
            runs=game[f"{side}_score"],
            hits=t.get("hits"),
            errors=t.get("errors"),
            left_on_base=t.get("left_on_base"),
        )
    return Linescore(
        game_pk=pk,
        source=source,
        innings=[
            InningLine(inning=r["inning"], away=side_line(r, "away"), home=side_line(r, "home"))
            for r in innings
        ],
        totals=Totals(**totals),
    )


@router.get("/games/{game_pk}", response_model=GameDetail, responses=ONE_GAME, summary="One game")
async def game(request: Request, conn: Conn, game_pk: GamePk) -> Response:
    """Teams, venue, status, score, decisions and the line score."""

    async def build() -> tuple[Any, str | None]:
        g = await _game_row(conn, game_pk)
        people = await _rows(
            conn,
            "SELECT d.winner_id, d.loser_id, d.save_id, w.full_name AS winner, l.full_name AS loser,"
            " s.full_name AS save FROM decisions d LEFT JOIN people w ON w.person_id = d.winner_id"
            " LEFT JOIN people l ON l.person_id = d.loser_id LEFT JOIN people s ON s.person_id = d.save_id"
            " WHERE d.game_pk = %s",
            (game_pk,),
        )
        d = people[0] if people else {}
        decisions = Decisions(
            **{
                role: PersonRef(id=d[f"{role}_id"], name=d[role]) if d.get(f"{role}_id") else None
                for role in ("winner", "loser", "save")
            }
        )
        detail = GameDetail(
            **_summary(g).model_dump(), decisions=decisions, linescore=await _linescore(conn, g)
        )
        return detail, g["abstract_state"]

    return await cached_json(request, key=f"game:{game_pk}", game_pk=game_pk, build=build, conn=conn)


@router.get("/games/{game_pk}/linescore", response_model=Linescore, responses=ONE_GAME, summary="Line score")
async def linescore(request: Request, conn: Conn, game_pk: GamePk) -> Response:
    """Runs, hits and errors by inning and side (official once final; before that, runs from the plays)."""

    async def build() -> tuple[Any, str | None]:
        g = await _game_row(conn, game_pk)
        return await _linescore(conn, g), g["abstract_state"]

    return await cached_json(request, key=f"linescore:{game_pk}", game_pk=game_pk, build=build, conn=conn)


def _ints(line: Mapping[str, Any] | None) -> dict[str, int]:
    return {
        k: int(v) for k, v in (line or {}).items() if isinstance(v, int | float) and not isinstance(v, bool)
    }


@router.get("/games/{game_pk}/boxscore", response_model=BoxScore, responses=ONE_GAME, summary="Box score")
async def boxscore(request: Request, conn: Conn, game_pk: GamePk) -> Response:
    """Our box score, derived from the play-by-play (available once the game is final), with team
    totals and its data-quality status against MLB's official box: ``agree`` when every compared value
    matches, ``mismatch`` with the values that differ, ``not_checked`` before the comparison ran."""

    async def build() -> tuple[Any, str | None]:
        g = await _game_row(conn, game_pk)
        lines = await _rows(
            conn,
            """
            SELECT d.side, d.person_id, coalesce(p.boxscore_name, p.full_name) AS name, b.position,
                   b.batting_order, d.appeared, d.batting, d.pitching, d.fielding
            FROM derived_box_lines d
            LEFT JOIN people p ON p.person_id = d.person_id
            LEFT JOIN box_lines b ON b.game_pk = d.game_pk AND b.person_id = d.person_id
            WHERE d.game_pk = %s
            ORDER BY d.side, b.batting_order NULLS LAST, d.person_id
            """,
            (game_pk,),
        )
        teams: dict[str, BoxTeam] = {}
        for side in ("away", "home"):
            players = [
                BoxPlayer(
                    person_id=r["person_id"],
                    name=r["name"],
                    position=r["position"],
                    batting_order=r["batting_order"],
                    appeared=list(r["appeared"] or []),
                    batting=_ints(r["batting"]),
                    pitching=_ints(r["pitching"]),
                    fielding=_ints(r["fielding"]),
                )
                for r in lines
                if r["side"] == side
            ]
            totals = {grp: Counter[str]() for grp in ("batting", "pitching", "fielding")}
            for pl in players:
                for grp, total in totals.items():
                    total.update(getattr(pl, grp))
            teams[side] = BoxTeam(
                team=TeamRef(
                    id=g[f"{side}_team_id"], name=g[f"{side}_name"], abbreviation=g[f"{side}_abbreviation"]
                ),
                players=players,
                totals=BoxTotals(**{grp: dict(t) for grp, t in totals.items()}),
            )
        q = await _rows(
            conn,
            "SELECT matched, total, mismatches, checked_at FROM box_quality WHERE game_pk = %s",
            (game_pk,),
        )
        if q:
            mismatches = [Mismatch(**m) for m in q[0]["mismatches"] or []]
            quality = Quality(
                status="mismatch" if mismatches else "agree",
                matched=q[0]["matched"],
                total=q[0]["total"],
                checked_at=q[0]["checked_at"],
                mismatches=mismatches,
            )
        else:
            quality = Quality(status="not_checked", mismatches=[])
        body = BoxScore(
            game_pk=game_pk,
            state=g["abstract_state"],
            derived=bool(lines),
            away=teams["away"],
            home=teams["home"],
            quality=quality,
        )
        return body, g["abstract_state"]

    return await cached_json(request, key=f"box:{game_pk}", game_pk=game_pk, build=build, conn=conn)


@router.get("/games/{game_pk}/plays", response_model=Page[Play], responses=ONE_GAME, summary="Plays, paged")
async def plays(
    request: Request,
    conn: Conn,
    game_pk: GamePk,
    p: Annotated[PageParams, Depends()],
    inning: Annotated[int | None, Query(ge=1, le=99)] = None,
    half: Literal["top", "bottom"] | None = None,
    batter: Id = None,
    pitcher: Id = None,
    event_type: Annotated[Code, Query(description="e.g. home_run, strikeout, walk")] = None,
) -> Response:
    """The game's plate appearances in order (``at_bat_index``), filtered."""
    where = ["pl.game_pk = %s"]
    args: list[Any] = [game_pk]
    for col, value in (
        ("pl.inning", inning),
        ("pl.half_inning", half),
        ("pl.batter_id", batter),
        ("pl.pitcher_id", pitcher),
        ("pl.event_type", event_type),
    ):
        if value is not None:
            where.append(f"{col} = %s")
            args.append(value)
    after = p.after(1)
    if after is not None:
        where.append("pl.at_bat_index > %s")
        args.append(_cursor_int(after[0]))
    sql = (
        "SELECT pl.*, b.full_name AS batter_name, pi.full_name AS pitcher_name FROM plays pl"
        + PEOPLE_JOIN
        + _where(where)
        + " ORDER BY pl.at_bat_index LIMIT %s"
    )

    async def build() -> tuple[Any, str | None]:
        g = await _game_row(conn, game_pk)
        found = await _rows(conn, sql, [*args, p.limit + 1])
        body = page(found, p.limit, key=lambda r: [r["at_bat_index"]])
        items = [
            Play(
                at_bat_index=r["at_bat_index"],
                inning=r["inning"],
                half_inning=r["half_inning"],
                is_complete=r["is_complete"],
                is_scoring_play=r["is_scoring_play"],
                event=r["event"],
                event_type=r["event_type"],
                description=r["description"],
                rbi=r["rbi"],
                away_score=r["away_score"],
                home_score=r["home_score"],
                count=Count(balls=r["balls"], strikes=r["strikes"], outs=r["outs"]),
                batter=PersonRef(id=r["batter_id"], name=r["batter_name"]),
                pitcher=PersonRef(id=r["pitcher_id"], name=r["pitcher_name"]),
                bat_side=r["bat_side"],
                pitch_hand=r["pitch_hand"],
                start_time=r["start_time"],
                end_time=r["end_time"],
                revision=r["revision"],
            )
            for r in body["items"]
        ]
        return {"items": items, "next_cursor": body["next_cursor"]}, g["abstract_state"]

    key = f"plays:{game_pk}:{_query_key(request)}"
    return await cached_json(request, key=key, game_pk=game_pk, build=build, conn=conn)


@router.get(
    "/games/{game_pk}/pitches", response_model=Page[Pitch], responses=ONE_GAME, summary="Pitches, paged"
)
async def pitches(
    request: Request,
    conn: Conn,
    game_pk: GamePk,
    p: Annotated[PageParams, Depends()],
    pitcher: Id = None,
    batter: Id = None,
    inning: Annotated[int | None, Query(ge=1, le=99)] = None,
    pitch_type: Annotated[Code, Query(description="MLB pitch type code: FF, SL, CH, …")] = None,
    call: Annotated[Code, Query(description="MLB call code: B, C, S, F, X, …")] = None,
) -> Response:
    """Every pitch in order, with its pitch data (type, speed, spin, zone, location, call, count after
    the pitch) and, for a ball in play, its hit data (launch speed and angle, distance, trajectory)."""
    where = ["e.game_pk = %s", "e.is_pitch"]
    args: list[Any] = [game_pk]
    for col, value in (
        ("pl.pitcher_id", pitcher),
        ("pl.batter_id", batter),
        ("e.inning", inning),
        ("e.pitch_type_code", pitch_type),
        ("e.call_code", call),
    ):
        if value is not None:
            where.append(f"{col} = %s")
            args.append(value)
    after = p.after(2)
    if after is not None:
        where.append("(e.at_bat_index, e.event_index) > (%s, %s)")
        args += [_cursor_int(after[0]), _cursor_int(after[1])]
    sql = (
        "SELECT e.*, pl.batter_id, pl.pitcher_id, b.full_name AS batter_name, pi.full_name AS pitcher_name"
        " FROM play_events e JOIN plays pl ON pl.game_pk = e.game_pk AND pl.at_bat_index = e.at_bat_index"
        + PEOPLE_JOIN
        + _where(where)
        + " ORDER BY e.at_bat_index, e.event_index LIMIT %s"
    )

    async def build() -> tuple[Any, str | None]:
        g = await _game_row(conn, game_pk)
        found = await _rows(conn, sql, [*args, p.limit + 1])
        body = page(found, p.limit, key=lambda r: [r["at_bat_index"], r["event_index"]])
        items = []
        for raw in body["items"]:
            r = {k: _finite(v) for k, v in raw.items()}
            hit = None
            if any(
                r[c] is not None for c in ("launch_speed", "launch_angle", "total_distance", "trajectory")
            ):
                hit = HitData(
                    launch_speed=r["launch_speed"],
                    launch_angle=r["launch_angle"],
                    total_distance=r["total_distance"],
                    trajectory=r["trajectory"],
                    hardness=r["hardness"],
                    location=r["location"],
                    coord_x=r["hit_coord_x"],
                    coord_y=r["hit_coord_y"],
                )
            items.append(
                Pitch(
                    at_bat_index=r["at_bat_index"],
                    event_index=r["event_index"],
                    pitch_number=r["pitch_number"],
                    play_id=r["play_id"],
                    inning=r["inning"],
                    half_inning=r["half_inning"],
                    batter=PersonRef(id=r["batter_id"], name=r["batter_name"]),
                    pitcher=PersonRef(id=r["pitcher_id"], name=r["pitcher_name"]),
                    pitch_type=CodeDesc(code=r["pitch_type_code"], description=r["pitch_type_description"]),
                    call=CodeDesc(code=r["call_code"], description=r["call_description"]),
                    count=Count(balls=r["balls"], strikes=r["strikes"], outs=r["outs"]),
                    is_in_play=r["is_in_play"],
                    is_strike=r["is_strike"],
                    is_ball=r["is_ball"],
                    start_speed=r["start_speed"],
                    end_speed=r["end_speed"],
                    spin_rate=r["spin_rate"],
                    spin_direction=r["spin_direction"],
                    zone=r["zone"],
                    px=r["px"],
                    pz=r["pz"],
                    pfx_x=r["pfx_x"],
                    pfx_z=r["pfx_z"],
                    strike_zone_top=r["strike_zone_top"],
                    strike_zone_bottom=r["strike_zone_bottom"],
                    extension=r["extension"],
                    plate_time=r["plate_time"],
                    break_vertical_induced=r["break_vertical_induced"],
                    break_horizontal=r["break_horizontal"],
                    hit=hit,
                )
            )
        return {"items": items, "next_cursor": body["next_cursor"]}, g["abstract_state"]

    key = f"pitches:{game_pk}:{_query_key(request)}"
    return await cached_json(request, key=key, game_pk=game_pk, build=build, conn=conn)
