"""Routes: operators (scope ``admin``). Dead letters and the state of ingestion.

- ``GET /ops/dead-letters?status=&group=&topic=&kind=&game_pk=``: entries of the ``dead_letters``
  table (as ``sts dlq list``), oldest failure first, without payloads; cursor-paged.
- ``GET /ops/dead-letters/{id}``: one entry (its id or a unique prefix of at least 4 characters, as
  ``sts dlq show``), with its stack and, with ``include_payload=true``, its payload decoded (an event
  with the registry's schema, a snapshot as JSON).
- ``GET /ops/ingestion``: per game (newest first, ``state`` filters): its state, the last timecode
  applied to the database and when MLB stamped it, the raw snapshots stored in the object store and
  when the latest was stored, the snapshots rejected; per consumer group, its lag on
  ``mlb.game-events`` (``bus.lag``); the dead-letter depth per topic, group and status.

Reads go through :mod:`sts.services.dlq` where it has them. The entries are those indexed from the
dead-letter topics so far (the pipeline's dead-letter monitor indexes them every few seconds).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any, Literal

import psycopg
import structlog
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from sts.api.auth import require
from sts.api.context import ApiContext
from sts.api.deps import context, db
from sts.api.errors import ApiError
from sts.api.pagination import Page, PageParams, page
from sts.api.routes._common import Row, documented, rows
from sts.ports import BUCKET_LIVE, TOPIC_GAME_EVENTS, EventBus, ObjectStore
from sts.services import dlq

log = structlog.get_logger(__name__)

router = APIRouter(
    tags=["operations"], dependencies=[Depends(require("admin"))], responses=documented(404, 409)
)

Conn = Annotated[psycopg.AsyncConnection[Any], Depends(db)]
Ctx = Annotated[ApiContext, Depends(context)]
#: the consumer groups of the pipeline (see sts.services.pipeline), all reading mlb.game-events
GROUPS = ("processor", "season-stats", "moments")


class DeadLetter(BaseModel):
    id: str
    topic: str
    kind: str = Field(description="event (a consumer could not apply it), snapshot (ingestion rejected it)…")
    consumer_group: str
    game_pk: int | None
    original_topic: str | None
    original_partition: int | None
    original_offset: int | None
    reason: str | None
    error: str
    attempts: int
    failed_at: dt.datetime
    age_seconds: float
    status: str
    retries: int
    last_error: str | None
    last_retry_at: dt.datetime | None
    resolved_at: dt.datetime | None


class DeadLetterDetail(DeadLetter):
    original_key: str | None
    source_url: str | None
    headers: dict[str, Any]
    stack: str | None
    payload_bytes: int | None = Field(description="size of the kept payload; None once purged")
    payload: Any = Field(None, description="decoded payload (with include_payload=true)")
    payload_error: str | None = Field(None, description="why the payload could not be decoded")


class GameIngestion(BaseModel):
    game_pk: int
    official_date: dt.date | None
    away: str | None
    home: str | None
    abstract_state: str | None
    detailed_state: str | None
    is_final: bool
    latest_timecode: str | None = Field(description="timecode of the latest snapshot applied to the database")
    latest_timecode_at: dt.datetime | None = Field(description="that timecode as a UTC time")
    snapshots_stored: int | None = Field(description="raw snapshots in the object store (None: not readable)")
    last_stored_at: dt.datetime | None = Field(description="when the latest raw snapshot was stored")
    snapshots_rejected: int = Field(description="snapshots of this game ingestion rejected (dead letters)")
    dead_letters_pending: int


class ConsumerLag(BaseModel):
    group: str
    topic: str
    lag: int | None = Field(description="records after the group's committed offsets, all partitions")
    partitions: dict[str, int]
    error: str | None = None


class DeadLetterDepth(BaseModel):
    topic: str
    consumer_group: str
    status: str
    entries: int
    oldest_seconds: float | None


class Ingestion(BaseModel):
    games: list[GameIngestion]
    consumers: list[ConsumerLag] = Field(description="empty when this API process has no event bus")
    dead_letters: list[DeadLetterDepth]


_ENTRY = (
    "SELECT id, topic, kind, consumer_group, game_pk, original_topic, original_partition, original_offset,"
    " reason, error, attempts, failed_at, extract(epoch FROM now() - failed_at)::float8 AS age_seconds,"
    " status, retries, last_error, last_retry_at, resolved_at"
)


@router.get("/ops/dead-letters", response_model=Page[DeadLetter], summary="Dead letters")
async def dead_letters(
    p: Annotated[PageParams, Depends()],
    conn: Conn,
    status: Annotated[Literal["pending", "retried", "purged"] | None, Query()] = None,
    group: Annotated[
        str | None, Query(max_length=200, description="consumer group (ingest: snapshots)")
    ] = None,
    topic: Annotated[str | None, Query(max_length=200)] = None,
    kind: Annotated[Literal["event", "snapshot", "unreadable"] | None, Query()] = None,
    game_pk: Annotated[int | None, Query(ge=0, le=2**53)] = None,
) -> dict[str, Any]:
    after = p.after(2)
    where: list[str] = ["TRUE"]
    args: list[Any] = []
    for column, value in (
        ("status", status),
        ("consumer_group", group),
        ("topic", topic),
        ("kind", kind),
        ("game_pk", game_pk),
    ):
        if value is not None:
            where.append(f"{column} = %s")
            args.append(value)
    if after is not None:
        where.append("(failed_at, id) > (%s::timestamptz, %s)")
        args += after
    found = await rows(
        conn,
        f"{_ENTRY} FROM dead_letters WHERE {' AND '.join(where)} ORDER BY failed_at, id LIMIT %s",
        [*args, p.limit + 1],
    )
    return page(found, p.limit, key=lambda r: [r["failed_at"].isoformat(), r["id"]])


@router.get("/ops/dead-letters/{entry_id}", response_model=DeadLetterDetail, summary="One dead letter")
async def dead_letter(
    ctx: Ctx,
    conn: Conn,
    entry_id: Annotated[str, Path(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9-]+$")],
    include_payload: bool = False,
) -> Any:
    try:
        entry = await dlq.get_entry(conn, entry_id)
    except dlq.DeadLetterError as exc:
        status = 409 if "ambiguous" in str(exc) else 404
        raise ApiError(status, str(exc)) from exc
    payload = entry.get("payload")
    out = {k: entry.get(k) for k in DeadLetterDetail.model_fields if k in entry}
    out["age_seconds"] = entry["age"].total_seconds()
    out["headers"] = entry.get("headers") or {}
    out["payload_bytes"] = None if payload is None else len(payload)
    if include_payload:
        if ctx.codec is None and entry["kind"] == "event":
            out["payload_error"] = "this API process has no schema registry to decode events with"
        else:
            decoded, error = await dlq.decoded_payload(ctx.codec, entry)  # type: ignore[arg-type]
            out["payload"], out["payload_error"] = decoded, error
    return out


def _store(ctx: ApiContext) -> ObjectStore | None:
    """The object store of the deployment (the one the app was given, else one opened from settings)."""
    store = ctx.extras.get("store") or ctx.extras.get("ops_store")
    if store is None:
        from sts.bootstrap import make_store

        try:
            store = ctx.extras["ops_store"] = make_store(ctx.settings)
        except Exception as exc:  # a misconfigured store must not break the rest of the page
            log.warning("ops: no object store", error=repr(exc))
            return None
    return store


async def _snapshots(store: ObjectStore | None, game_pk: int) -> tuple[int | None, dt.datetime | None]:
    if store is None:
        return None, None
    count, last = 0, None
    try:
        async for info in store.list(BUCKET_LIVE, f"{game_pk}/"):
            count += 1
            last = info.last_modified if last is None or info.last_modified > last else last
    except Exception as exc:  # the store being down is what an operator wants to see, not a 500
        log.warning("ops: listing snapshots failed", game_pk=game_pk, error=repr(exc))
        return None, None
    return count, last


def _timecode_at(timecode: str | None) -> dt.datetime | None:
    if not timecode:
        return None
    try:
        return dt.datetime.strptime(timecode, "%Y%m%d_%H%M%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


async def _lag(bus: EventBus, group: str) -> Row:
    try:
        by_partition = await bus.lag(group, TOPIC_GAME_EVENTS)
    except Exception as exc:  # one group's failure is shown in its row, the others still answer
        return {"group": group, "topic": TOPIC_GAME_EVENTS, "lag": None, "partitions": {},
                "error": f"{type(exc).__name__}: {exc}"[:300]}  # fmt: skip
    return {"group": group, "topic": TOPIC_GAME_EVENTS, "lag": sum(by_partition.values()),
            "partitions": {str(p): n for p, n in sorted(by_partition.items())}}  # fmt: skip


async def _lags(ctx: ApiContext) -> list[Row]:
    """Every group's lag, measured concurrently (on Kafka each takes a consumer's round trips)."""
    if ctx.bus is None:
        return []
    return list(await asyncio.gather(*(_lag(ctx.bus, g) for g in GROUPS)))


@router.get("/ops/ingestion", response_model=Ingestion, summary="Ingestion status")
async def ingestion(
    ctx: Ctx,
    conn: Conn,
    state: Annotated[
        Literal["Preview", "Live", "Final"] | None, Query(description="games in this state")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="games, newest first")] = 50,
) -> Any:
    where, args = ("WHERE g.abstract_state = %s", [state]) if state else ("", [])
    games = await rows(
        conn,
        "SELECT g.game_pk, g.official_date, coalesce(a.abbreviation, a.name) AS away,"
        " coalesce(h.abbreviation, h.name) AS home, g.abstract_state, g.detailed_state, g.is_final,"
        " g.latest_timecode,"
        " (SELECT count(*) FROM dead_letters d WHERE d.game_pk = g.game_pk AND d.kind = 'snapshot')::int"
        "   AS snapshots_rejected,"
        " (SELECT count(*) FROM dead_letters d WHERE d.game_pk = g.game_pk AND d.status = 'pending')::int"
        "   AS dead_letters_pending"
        " FROM games g LEFT JOIN teams a ON a.team_id = g.away_team_id"
        f" LEFT JOIN teams h ON h.team_id = g.home_team_id {where}"
        " ORDER BY g.official_date DESC NULLS LAST, g.game_pk DESC LIMIT %s",
        [*args, limit],
    )
    store = _store(ctx)
    for g in games:
        g["latest_timecode_at"] = _timecode_at(g["latest_timecode"])
        g["snapshots_stored"], g["last_stored_at"] = await _snapshots(store, g["game_pk"])
    summary = await dlq.summary(conn)
    depth = [{"topic": s["topic"], "consumer_group": s["consumer_group"], "status": s["status"],
              "entries": s["entries"],
              "oldest_seconds": s["oldest"].total_seconds() if s["oldest"] is not None else None}
             for s in summary]  # fmt: skip
    return {"games": games, "consumers": await _lags(ctx), "dead_letters": depth}
