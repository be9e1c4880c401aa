"""Dead letters: index the dead-letter topics, and list, show, retry and purge their entries.

The bus keeps every dead letter as written (topics are append-only); the table ``dead_letters``
(migration ``0007_dead_letters``) keeps what happened to each entry since. :func:`index` reads the
dead-letter topics from where it stopped last time (``dead_letter_offsets``) and adds one row per new
entry; every other function works on the table.

Topics and groups
    ``mlb.game-events.dlq`` holds the records of ``mlb.game-events`` that a consumer group could not
    apply (``DeadLetter``, one topic shared by every group; each entry names its ``consumer_group``,
    and every view here is per topic and group). ``mlb.snapshots.dlq`` holds the snapshots ingestion
    rejected (``SnapshotRejected``); their group is :data:`SNAPSHOT_GROUP`.

Retry contract (:func:`retry`)
    Only ``pending`` entries are retried; a retried entry is ``retried`` and retrying it again does
    nothing. A game event is decoded again (the writer schema may have been registered since) and
    applied by its group's own apply function, which is idempotent by event id, so a retry can never
    duplicate a row. The processor's apply skips an event older than the newest state applied for its
    game (later snapshots went through meanwhile): such a retry fails, saying so, since only a
    rebuild of that game from its snapshots brings the event's facts back.
    A snapshot is handed to ingestion again (``reingest``), which validates, stores
    and publishes it as if it had just been fetched. A retry that fails again leaves the entry
    ``pending`` with the new error in ``last_error``. An entry whose bytes cannot be read as a dead
    letter at all (``unreadable``) is listed and shown but can only be purged.

Purge (:func:`purge`) marks entries ``purged`` and clears their payload and stack; the row stays so
that indexing never brings the entry back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import structlog
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from sts.errors import STSError
from sts.events.model import GameEvent
from sts.metrics import DEAD_LETTER_OLDEST_AGE, DEAD_LETTERS_PENDING
from sts.ports import TOPIC_GAME_EVENTS_DLQ, TOPIC_SNAPSHOTS_DLQ, EventBus, Record
from sts.services.ingest import Ingestor, Snapshot
from sts.services.processor import DLQ_NAMESPACE, Apply, Codec, apply_events

log = structlog.get_logger(__name__)

DLQ_TOPICS = (TOPIC_GAME_EVENTS_DLQ, TOPIC_SNAPSHOTS_DLQ)
SNAPSHOT_GROUP = "ingest"
"""The group named for the entries of ``mlb.snapshots.dlq`` (ingestion is not a consumer group)."""
UNKNOWN_GROUP = "?"
STATUSES = ("pending", "retried", "purged")

Reingest = Callable[[dict[str, Any]], Awaitable[str]]
"""Hands a snapshot entry back to ingestion; returns what happened, raises when it is rejected again."""


class DeadLetterError(STSError):
    """A dead-letter entry that does not exist, or a request that cannot be done."""


# --------------------------------------------------------------------------- indexing


def _when(value: Any, fallback_ms: int) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return datetime.fromtimestamp(fallback_ms / 1000, UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


async def entry_of(codec: Codec, record: Record) -> dict[str, Any]:
    """The ``dead_letters`` row of one record of a dead-letter topic. Never raises for bad bytes: a
    record that is not a readable dead letter becomes an ``unreadable`` entry holding its bytes."""
    base: dict[str, Any] = {
        "topic": record.topic,
        "dlq_partition": record.partition,
        "dlq_offset": record.offset,
        "game_pk": _int_or_none(record.key),
        "original_topic": None,
        "original_partition": None,
        "original_offset": None,
        "original_key": record.key,
        "source_url": None,
        "headers": {str(k): str(v) for k, v in record.headers.items()},
        "reason": None,
        "stack": None,
        "attempts": 0,
    }
    try:
        event: GameEvent | None = await codec.decode(record.value)
    except Exception as exc:  # garbage on the dead-letter topic itself: keep it, say why
        event, error = None, f"{type(exc).__name__}: {exc}"
    p = event.payload if event is not None else {}
    if event is not None and event.event_type == "DeadLetter":
        return base | {
            "id": event.event_id,
            "kind": "event",
            "consumer_group": str(p["consumer_group"]),
            "game_pk": event.game_pk,
            "original_topic": p["original_topic"],
            "original_partition": p["original_partition"],
            "original_offset": p["original_offset"],
            "original_key": p.get("original_key"),
            "payload": bytes(p["original_value"]),
            "headers": dict(p.get("headers") or {}),
            "error": p["error"],
            "stack": p.get("stack"),
            "attempts": p["attempts"],
            "failed_at": _when(p["failed_at"], record.timestamp_ms),
        }
    if event is not None and event.event_type == "SnapshotRejected":
        return base | {
            "id": event.event_id,
            "kind": "snapshot",
            "consumer_group": SNAPSHOT_GROUP,
            "game_pk": event.game_pk,
            "source_url": p.get("url"),
            "payload": bytes(p["payload"]),
            "reason": p["reason"],
            "error": f"{p['reason']}: {p['detail']}",
            "attempts": 1,
            "failed_at": _when(p["fetched_at"], record.timestamp_ms),
        }
    if event is not None:
        error = f"a {event.event_type} event is not a dead letter"
    return base | {
        "id": str(uuid.uuid5(DLQ_NAMESPACE, f"unreadable/{record.topic}/{record.partition}/{record.offset}")),
        "kind": "unreadable",
        "consumer_group": str(record.headers.get("consumer_group", UNKNOWN_GROUP)),
        "payload": record.value,
        "error": f"not a readable dead letter: {error}",
        "failed_at": datetime.fromtimestamp(record.timestamp_ms / 1000, UTC),
    }


_COLUMNS = (
    "id", "topic", "dlq_partition", "dlq_offset", "kind", "consumer_group", "game_pk", "original_topic",
    "original_partition", "original_offset", "original_key", "source_url", "payload", "headers", "reason",
    "error", "stack", "attempts", "failed_at",
)  # fmt: skip
_REOPENED = [c for c in _COLUMNS if c != "id"]
_INSERT = (
    f"INSERT INTO dead_letters ({', '.join(_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_COLUMNS))}) "
    # the same failure written twice is one entry; the same record failing again AFTER its entry was
    # resolved (retried or purged) reopens it, with the new failure
    f"ON CONFLICT (id) DO UPDATE SET ({', '.join(_REOPENED)}) = "
    f"ROW({', '.join('EXCLUDED.' + c for c in _REOPENED)}), status = 'pending', last_error = NULL, "
    "resolved_at = NULL "
    "WHERE dead_letters.status <> 'pending' AND EXCLUDED.failed_at > dead_letters.resolved_at"
)
_ADVANCE = (
    "INSERT INTO dead_letter_offsets (topic, partition, next_offset) VALUES (%s, %s, %s) "
    "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = GREATEST("
    "dead_letter_offsets.next_offset, EXCLUDED.next_offset)"
)


async def index(
    bus: EventBus, codec: Codec, conn: psycopg.AsyncConnection[Any], topics: Sequence[str] = DLQ_TOPICS
) -> int:
    """Add the entries written to ``topics`` since the last call to ``dead_letters``; return how many
    rows are new or reopened. The same failure written twice is one entry; a record that fails again
    after its entry was resolved reopens the entry (``pending`` again, with the new failure)."""
    new = 0
    for topic in topics:
        cur = await conn.execute(
            "SELECT partition, next_offset FROM dead_letter_offsets WHERE topic = %s", (topic,)
        )
        start = {int(p): int(o) for p, o in await cur.fetchall()}
        async for record in bus.read(topic, from_offsets=start):
            row = await entry_of(codec, record)
            row["headers"] = Jsonb(row["headers"])
            async with conn.transaction():
                cur = await conn.execute(_INSERT, [row[c] for c in _COLUMNS])
                new += cur.rowcount
                await conn.execute(_ADVANCE, (topic, record.partition, record.offset + 1))
    if new:
        log.info("dead letters indexed", new=new)
    return new


# --------------------------------------------------------------------------- queries


def parse_age(text: str) -> timedelta:
    """``90s``, ``15m``, ``12h``, ``7d`` or ``2w`` as a duration; raises :class:`DeadLetterError`."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    value, unit = text.strip()[:-1], text.strip()[-1:].lower()
    try:
        number = float(value)
    except ValueError:
        number = -1
    if unit not in units or number < 0:
        raise DeadLetterError(f"not a duration: {text!r} (use e.g. 90s, 15m, 12h, 7d, 2w)")
    return timedelta(seconds=number * units[unit])


def _filters(
    *,
    topic: str | None = None,
    group: str | None = None,
    status: str | None = None,
    game_pk: int | None = None,
    older_than: timedelta | None = None,
) -> tuple[str, list[Any]]:
    if status is not None and status not in STATUSES:
        raise DeadLetterError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
    clauses: list[str] = ["TRUE"]
    params: list[Any] = []
    for column, value in (
        ("topic", topic),
        ("consumer_group", group),
        ("status", status),
        ("game_pk", game_pk),
    ):
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    if older_than is not None:
        clauses.append("failed_at < now() - %s")
        params.append(older_than)
    return " AND ".join(clauses), params


async def list_entries(
    conn: psycopg.AsyncConnection[Any], *, limit: int | None = None, **filters: Any
) -> list[dict[str, Any]]:
    """Entries (without payload and stack), oldest failure first, filtered by ``topic``, ``group``,
    ``status``, ``game_pk`` and ``older_than``."""
    where, params = _filters(**filters)
    sql = (
        "SELECT id, topic, kind, consumer_group, game_pk, original_topic, original_partition, "
        "original_offset, reason, error, attempts, failed_at, status, retries, last_error, "
        "last_retry_at, resolved_at, now() - failed_at AS age "
        f"FROM dead_letters WHERE {where} ORDER BY failed_at, topic, dlq_partition, dlq_offset"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        return list(await cur.fetchall())


async def summary(conn: psycopg.AsyncConnection[Any], **filters: Any) -> list[dict[str, Any]]:
    """Per topic, group and status: how many entries, and the age of the oldest failure."""
    where, params = _filters(**filters)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT topic, consumer_group, status, count(*) AS entries, now() - min(failed_at) AS oldest "
            f"FROM dead_letters WHERE {where} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            params,
        )
        return list(await cur.fetchall())


async def get_entry(conn: psycopg.AsyncConnection[Any], entry_id: str) -> dict[str, Any]:
    """The whole entry whose id is ``entry_id`` or starts with it (at least 4 characters)."""
    if len(entry_id) < 4:
        raise DeadLetterError(f"id {entry_id!r} is too short (give at least 4 characters)")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT *, now() - failed_at AS age FROM dead_letters WHERE id LIKE %s ORDER BY id LIMIT 2",
            (entry_id.replace("%", r"\%").replace("_", r"\_") + "%",),
        )
        rows = await cur.fetchall()
    if not rows:
        raise DeadLetterError(f"no dead letter {entry_id!r}")
    if len(rows) > 1:
        raise DeadLetterError(f"id {entry_id!r} is ambiguous: {rows[0]['id']}, {rows[1]['id']}, …")
    return dict(rows[0])


async def decoded_payload(codec: Codec, entry: Mapping[str, Any]) -> tuple[Any, str | None]:
    """The payload of ``entry`` in readable form and ``None``, or ``None`` and why it cannot be read.
    An event is decoded with the codec, a snapshot parsed as JSON; never raises."""
    raw = entry.get("payload")
    if raw is None:
        return None, "no payload (purged)"
    try:
        if entry["kind"] == "event":
            event = await codec.decode(bytes(raw))
            return {"event_type": event.event_type, **event.payload}, None
        if entry["kind"] == "snapshot":
            return json.loads(bytes(raw)), None
        return None, "the entry itself could not be read as a dead letter"
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------- retry


@dataclass(frozen=True)
class RetryOutcome:
    id: str
    ok: bool
    detail: str


async def _retry_event(
    entry: Mapping[str, Any], codec: Codec, appliers: Mapping[str, Apply], conn: psycopg.AsyncConnection[Any]
) -> str:
    group = entry["consumer_group"]
    if group not in appliers:
        known = ", ".join(sorted(appliers)) or "none"
        raise DeadLetterError(f"no consumer known for group {group!r} (known: {known})")
    event = await codec.decode(bytes(entry["payload"]))
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        await conn.rollback()
    new = await appliers[group](conn, [event])
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        await conn.commit()
    if new:
        return f"applied {event.event_type} {event.event_id} ({new} new)"
    if appliers[group] is apply_events and not await _processed(conn, event.event_id):
        # write_events skips (and does not record) an event older than the newest state applied
        # for its game: later snapshots of the game went through while this one waited
        raise DeadLetterError(
            f"{event.event_type} {event.event_id} not applied: it is older than the newest state applied "
            f"for game {event.game_pk}; rebuild it from its snapshots (sts rebuild --game {event.game_pk}), "
            "then purge this entry"
        )
    return (
        f"{event.event_type} {event.event_id}: nothing new (already applied, or older than the game's state)"
    )


async def _processed(conn: psycopg.AsyncConnection[Any], event_id: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM processed_events WHERE event_id = %s::uuid", (event_id,))
    found = await cur.fetchone() is not None
    await conn.rollback()
    return found


async def retry(
    conn: psycopg.AsyncConnection[Any],
    entry_ids: Sequence[str],
    *,
    codec: Codec,
    apply_url: str,
    appliers: Mapping[str, Apply],
    reingest: Reingest | None = None,
) -> list[RetryOutcome]:
    """Retry the given entries in the order they first failed (per original partition and offset, so
    the events of one game keep their order) and record each outcome; see the module docstring.
    ``conn`` is the state connection (autocommit); applies run on a connection of their own to
    ``apply_url``, as in the consumer."""
    entries = [await get_entry(conn, i) for i in dict.fromkeys(entry_ids)]
    entries.sort(  # bus order within each partition (one game is in one partition), then failure time
        key=lambda e: (e["topic"], e["original_partition"] or 0, e["original_offset"] or 0, e["failed_at"])
    )
    outcomes: list[RetryOutcome] = []
    async with await psycopg.AsyncConnection.connect(apply_url) as apply_conn:
        for entry in entries:
            if entry["status"] != "pending":
                outcomes.append(RetryOutcome(entry["id"], True, f"already {entry['status']}: nothing to do"))
                continue
            try:
                if entry["kind"] == "event":
                    detail = await _retry_event(entry, codec, appliers, apply_conn)
                elif entry["kind"] == "snapshot":
                    if reingest is None:
                        raise DeadLetterError(
                            "snapshot entries are retried by re-ingesting: no ingestor given"
                        )
                    detail = await reingest(entry)
                else:
                    raise DeadLetterError("an unreadable entry cannot be retried (show it, then purge it)")
            except (psycopg.OperationalError, psycopg.InterfaceError):
                raise  # the database, not the entry
            except Exception as exc:
                if (
                    not apply_conn.closed
                    and apply_conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
                ):
                    await apply_conn.rollback()
                error = f"{type(exc).__name__}: {exc}"
                await conn.execute(
                    "UPDATE dead_letters SET retries = retries + 1, last_error = %s, last_retry_at = now() "
                    "WHERE id = %s",
                    (error, entry["id"]),
                )
                outcomes.append(RetryOutcome(entry["id"], False, error))
                log.warning("dead letter retry failed", id=entry["id"], error=error)
                continue
            await conn.execute(
                "UPDATE dead_letters SET status = 'retried', retries = retries + 1, last_retry_at = now(), "
                "resolved_at = now() WHERE id = %s AND status = 'pending'",
                (entry["id"],),
            )
            outcomes.append(RetryOutcome(entry["id"], True, detail))
            log.info("dead letter retried", id=entry["id"], detail=detail)
    return outcomes


def reingester(ingestor: Ingestor) -> Reingest:
    """Retry of a snapshot entry: ingest its payload again, as if it had just been fetched."""

    async def reingest(entry: dict[str, Any]) -> str:
        snap = Snapshot(int(entry["game_pk"]), bytes(entry["payload"]), entry.get("source_url") or "")
        result = await ingestor.ingest(snap)
        if result.outcome == "rejected":
            raise DeadLetterError(f"rejected again by ingestion: {result.reason}")
        return f"re-ingested: {result.outcome} at {result.timecode} ({result.events} events published)"

    return reingest


async def pending_ids(conn: psycopg.AsyncConnection[Any], **filters: Any) -> list[str]:
    """Ids of the pending entries matching ``filters`` (as :func:`list_entries`)."""
    return [e["id"] for e in await list_entries(conn, **(filters | {"status": "pending"}))]


# --------------------------------------------------------------------------- purge


async def purge(
    conn: psycopg.AsyncConnection[Any],
    entry_ids: Sequence[str] = (),
    *,
    resolved: bool = False,
    older_than: timedelta | None = None,
    topic: str | None = None,
    group: str | None = None,
) -> list[str]:
    """Mark entries ``purged`` (payload and stack cleared, row kept) and return their ids: the given
    ids, or every entry that is resolved (``retried``) and/or failed longer than ``older_than`` ago,
    within ``topic``/``group``. Refuses to guess: without ids, ``resolved`` or ``older_than`` it raises."""
    if entry_ids:
        ids = [(await get_entry(conn, i))["id"] for i in entry_ids]
    elif resolved or older_than is not None:
        where, params = _filters(
            topic=topic, group=group, status="retried" if resolved else None, older_than=older_than
        )
        cur = await conn.execute(f"SELECT id FROM dead_letters WHERE {where} AND status <> 'purged'", params)
        ids = [r[0] for r in await cur.fetchall()]
    else:
        raise DeadLetterError("say what to purge: entry ids, --resolved and/or --older-than")
    cur = await conn.execute(
        "UPDATE dead_letters SET status = 'purged', payload = NULL, stack = NULL, "
        "resolved_at = coalesce(resolved_at, now()) WHERE id = ANY(%s) AND status <> 'purged' RETURNING id",
        (ids,),
    )
    return [r[0] for r in await cur.fetchall()]


# --------------------------------------------------------------------------- metrics

_seen_labels: set[tuple[str, str]] = set()


async def refresh_metrics(conn: psycopg.AsyncConnection[Any]) -> dict[tuple[str, str], tuple[int, float]]:
    """Set the dead-letter gauges from the table: pending entries and the age of the oldest pending
    failure (seconds) per topic and group (0 for a topic/group that has none left). Returns them."""
    cur = await conn.execute(
        "SELECT topic, consumer_group, count(*), extract(epoch FROM now() - min(failed_at)) "
        "FROM dead_letters WHERE status = 'pending' GROUP BY 1, 2"
    )
    values = {(t, g): (int(n), max(float(age), 0.0)) for t, g, n, age in await cur.fetchall()}
    for labels in _seen_labels - set(values):
        DEAD_LETTERS_PENDING.labels(*labels).set(0)
        DEAD_LETTER_OLDEST_AGE.labels(*labels).set(0)
    for labels, (n, age) in values.items():
        DEAD_LETTERS_PENDING.labels(*labels).set(n)
        DEAD_LETTER_OLDEST_AGE.labels(*labels).set(age)
    _seen_labels.update(values)
    return values


class DeadLetterMonitor:
    """Indexes the dead-letter topics and refreshes the dead-letter gauges every ``interval`` seconds
    (a task of the pipeline, so ``/metrics`` shows the depth and age). Errors are logged and retried."""

    def __init__(self, bus: EventBus, codec: Codec, db_url: str, *, interval: float = 15.0) -> None:
        self.bus, self.codec, self.db_url, self.interval = bus, codec, db_url, interval

    async def once(self) -> dict[tuple[str, str], tuple[int, float]]:
        async with await psycopg.AsyncConnection.connect(self.db_url, autocommit=True) as conn:
            await index(self.bus, self.codec, conn)
            return await refresh_metrics(conn)

    async def run(self, stop: asyncio.Event) -> None:
        """Every ``interval`` seconds until ``stop``, and once more when stopped (the final depth)."""
        while True:
            # whether ``stop`` was set *before* this pass: a pass already under way when it is set may
            # have read the topics before the last dead letters were written, so one more follows
            stopping = stop.is_set()
            try:
                await self.once()
            except Exception as exc:  # an outage of the database or the bus: try again later
                log.warning("dead-letter monitor failed, retrying", error=repr(exc))
            if stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
