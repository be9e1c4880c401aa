"""Routes: notable moments (no-hitter watch, walk-offs, lead changes, milestones, …).

- ``GET /moments?game_pk=&rule=&team_id=&player_id=&since=&include_retracted=``: moments of the
  ``notable_moments`` table, newest game first and, within a game, latest play first; cursor-paged.
  ``since`` keeps the games played on or after that date. A moment a later revision of the plays
  undid is ``retracted``: left out unless ``include_retracted=true`` (the row is kept, never deleted).
- ``GET /moments/{event_id}``: one moment (also a retracted one). Its id is the ``event_id`` of the
  ``NotableMoment`` event on ``mlb.notable-moments`` (and of the live stream).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from sts.api.auth import require
from sts.api.deps import db
from sts.api.errors import ApiError
from sts.api.pagination import Page, PageParams, page
from sts.api.routes._common import Row, documented, one, rows
from sts.moments.model import RULES

router = APIRouter(tags=["moments"], dependencies=[Depends(require("read"))], responses=documented(404))

Conn = Annotated[psycopg.AsyncConnection[Any], Depends(db)]
Rule = Literal[RULES]  # type: ignore[valid-type]


class Moment(BaseModel):
    event_id: str
    game_pk: int
    official_date: dt.date | None
    rule: str
    natural_key: str = Field(description="what makes the moment unique within its game and rule")
    at_bat_index: int
    inning: int | None
    half_inning: str
    team_id: int | None
    player_ids: list[int]
    headline: str
    details: dict[str, Any]
    retracted: bool


_SELECT = (
    "SELECT m.event_id, m.game_pk, g.official_date, m.rule, m.natural_key, m.at_bat_index, m.inning,"
    " m.half_inning, m.team_id, m.player_ids, m.headline, m.details, m.retracted"
    " FROM notable_moments m LEFT JOIN games g ON g.game_pk = m.game_pk"
)
_DAY_ZERO = "'0001-01-01'::date"


@router.get("/moments", response_model=Page[Moment], summary="Notable moments")
async def moments(
    p: Annotated[PageParams, Depends()],
    conn: Conn,
    game_pk: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    rule: Annotated[Rule | None, Query(description="one rule")] = None,
    team_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    player_id: Annotated[int | None, Query(ge=1, le=2**53, description="moments naming this player")] = None,
    since: Annotated[dt.date | None, Query(description="games on or after this date")] = None,
    include_retracted: bool = False,
) -> dict[str, Any]:
    after = p.after(4)
    where: list[str] = ["TRUE"]
    args: list[Any] = []
    for clause, value in (
        ("m.game_pk = %s", game_pk),
        ("m.rule = %s", rule),
        ("m.team_id = %s", team_id),
        ("%s = ANY(m.player_ids)", player_id),
        ("g.official_date >= %s", since),
    ):
        if value is not None:
            where.append(clause)
            args.append(value)
    if not include_retracted:
        where.append("NOT m.retracted")
    order = f'coalesce(g.official_date, {_DAY_ZERO}), m.game_pk, m.at_bat_index, m.event_id COLLATE "C"'
    if after is not None:
        where.append(f"({order}) < (%s::date, %s, %s, %s)")
        args += after
    found = await rows(
        conn,
        f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY "
        f"coalesce(g.official_date, {_DAY_ZERO}) DESC, m.game_pk DESC, m.at_bat_index DESC,"
        ' m.event_id COLLATE "C" DESC'
        " LIMIT %s",
        [*args, p.limit + 1],
    )
    return page(
        found,
        p.limit,
        key=lambda r: [
            str(r["official_date"] or "0001-01-01"),
            r["game_pk"],
            r["at_bat_index"],
            r["event_id"],
        ],
    )


@router.get("/moments/{event_id}", response_model=Moment, summary="One notable moment")
async def moment(
    event_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")], conn: Conn
) -> Row:
    found = await one(conn, f"{_SELECT} WHERE m.event_id = %s", (event_id,))
    if found is None:
        raise ApiError(404, f"no moment {event_id}")
    return found
