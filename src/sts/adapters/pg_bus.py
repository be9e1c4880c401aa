"""The embedded event bus: a durable, partitioned event log in PostgreSQL tables (migration 0001).

How it keeps the :class:`sts.ports.EventBus` contract:

- **Partitions.** A message goes to partition ``crc32(utf-8 key) % partitions`` (:func:`partition_for`),
  so one game always lands in one partition. Publishing locks the partition "head" rows
  (``bus_partitions``, in a fixed order, so publishers never deadlock) and assigns dense offsets
  from ``next_offset`` inside the publishing transaction; ``publish`` returns after COMMIT.
- **Idempotent publish.** A message whose ``event_id`` header is already stored in its topic (or
  appears earlier in the same batch) is skipped without using an offset: the same event published
  twice is stored once. (The ids of purged records may be published again.)
- **Wake-ups.** The publishing transaction sends ``NOTIFY sts_bus, 't:<topic>'`` (delivered at
  commit); one dedicated LISTEN connection per bus object wakes the waiting ``poll`` calls.
  Without a notification a waiting poll re-checks once per ``heartbeat_interval``.
- **Consumer groups.** A member registers in ``bus_group_members`` and heart-beats every
  ``heartbeat_interval`` from a background task. A poll rebalances after a membership notification,
  or when a heartbeat interval has passed since its last rebalance: under a per-group advisory lock
  the member expires members silent for ``session_timeout``, computes the target assignment (live
  members sorted by id, partition ``p`` of a topic goes to member ``p % n`` of those subscribed to
  it), releases partitions that are no longer its own and claims free ones it should own. A
  partition is claimed only once its previous owner released it (at that owner's next poll, i.e.
  after it committed its last batch) or expired, so one partition has one reader at a time.
  Membership changes are announced with ``NOTIFY sts_bus, 'g:<group>'``.
- **Commits** upsert ``bus_group_offsets`` in one transaction, only for partitions the member
  still owns (a commit for a lost partition is dropped: its records will be redelivered).
- **Tail.** ``tail`` follows a topic outside any group: it reads from its positions, then waits
  for the topic's notification (or a heartbeat interval) and reads again.
- **Retention.** ``retention_ms`` of a topic is enforced by :meth:`PostgresEventBus.purge_expired`,
  which the composition root runs periodically (e.g. hourly); nothing is deleted otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
import structlog
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from sts.adapters.pg_group import CHANNEL, COLUMNS, Listener, PostgresSubscription, record_from_row, to_dt
from sts.errors import BusError
from sts.metrics import EVENTS_PUBLISHED
from sts.ports import Message, Record, TopicSpec

log = structlog.get_logger(__name__)

_COPY_TYPES = ["text", "int4", "int8", "text", "bytea", "jsonb", "timestamptz", "text"]


def partition_for(key: str, partitions: int) -> int:
    """The partition of ``key``: stable across processes and restarts."""
    return zlib.crc32(key.encode("utf-8")) % partitions


@contextlib.contextmanager
def _errors(what: str) -> Iterator[None]:
    """Translate database errors into :class:`sts.errors.BusError` at the adapter boundary."""
    try:
        yield
    except psycopg.Error as exc:
        raise BusError(f"{what} failed: {exc}") from exc


class PostgresEventBus:
    """An :class:`sts.ports.EventBus` in the PostgreSQL database at ``url`` (migrated to 0001).

    ``session_timeout``: a group member silent this long loses its partitions.
    ``heartbeat_interval``: how often members heart-beat and idle polls re-check their assignment.
    ``default_partitions``: partitions of topics created implicitly by ``publish``/``subscribe``.
    ``connect_timeout``: how long a call waits for a database connection before it fails with
    :class:`sts.errors.BusError` (e.g. while the server restarts; the pool reconnects by itself).
    Connections are opened on first use; call :meth:`close` when done.
    """

    def __init__(
        self,
        url: str,
        *,
        session_timeout: float = 6.0,
        heartbeat_interval: float = 1.0,
        default_partitions: int = 6,
        pool_size: int = 10,
        connect_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.session_timeout = session_timeout
        self.heartbeat_interval = heartbeat_interval
        self.default_partitions = default_partitions
        # check connections on checkout, so that a restarted server costs no failed call
        self._pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            open=False,
            name="sts-bus",
            check=AsyncConnectionPool.check_connection,
            timeout=connect_timeout,
        )
        self._opened = False
        self._open_lock = asyncio.Lock()
        self._listener = Listener(url)
        self._partitions: dict[str, int] = {}
        self._subscriptions: set[PostgresSubscription] = set()

    async def pool(self) -> AsyncConnectionPool:
        if not self._opened:
            async with self._open_lock:
                if not self._opened:
                    try:
                        await self._pool.open(wait=True, timeout=30)
                    except psycopg.Error as exc:
                        raise BusError(f"event bus database unreachable: {exc}") from exc
                    self._opened = True
        return self._pool

    # ------------------------------------------------------------------ topics

    async def create_topic(self, spec: TopicSpec) -> None:
        """Create ``spec`` (idempotent; updates retention). A different partition count is an error."""
        pool = await self.pool()
        try:
            async with pool.connection() as conn, conn.transaction():
                row = await (
                    await conn.execute(
                        "INSERT INTO bus_topics (name, partitions, retention_ms) VALUES (%s, %s, %s) "
                        "ON CONFLICT (name) DO UPDATE SET retention_ms = EXCLUDED.retention_ms "
                        "RETURNING partitions",
                        (spec.name, spec.partitions, spec.retention_ms),
                    )
                ).fetchone()
                assert row is not None
                if row[0] != spec.partitions:
                    raise BusError(
                        f"topic {spec.name!r} exists with {row[0]} partitions, not {spec.partitions}"
                    )
                await conn.execute(
                    "INSERT INTO bus_partitions (topic, partition) SELECT %s, generate_series(0, %s - 1) "
                    "ON CONFLICT DO NOTHING",
                    (spec.name, spec.partitions),
                )
        except psycopg.Error as exc:
            raise BusError(f"create_topic {spec.name!r}: {exc}") from exc
        self._partitions[spec.name] = spec.partitions

    async def partitions(self, topic: str, *, create: bool = True) -> int:
        """The partition count of ``topic``, creating it with the defaults if it is missing."""
        if topic not in self._partitions:
            pool = await self.pool()
            with _errors(f"topic {topic!r}"):
                async with pool.connection() as conn:
                    row = await (
                        await conn.execute("SELECT partitions FROM bus_topics WHERE name = %s", (topic,))
                    ).fetchone()
            if row is not None:
                self._partitions[topic] = row[0]
            elif create:
                await self.create_topic(TopicSpec(topic, self.default_partitions))
            else:
                raise BusError(f"unknown topic {topic!r}")
        return self._partitions[topic]

    # ------------------------------------------------------------------ publish

    async def publish(self, messages: Sequence[Message]) -> None:
        """Store ``messages`` durably (one transaction), skipping event ids already stored."""
        if not messages:
            return
        parts = [await self.partitions(m.topic) for m in messages]
        placed = [(m, partition_for(m.key, n)) for m, n in zip(messages, parts, strict=True)]
        pool = await self.pool()
        for attempt in range(3):
            try:
                async with pool.connection() as conn, conn.transaction():
                    await self._publish_tx(conn, placed)
                break
            except psycopg.errors.UniqueViolation:
                # the same event id raced in through another partition; the retry skips it
                if attempt == 2:
                    raise BusError("publish kept conflicting on event ids") from None
            except psycopg.Error as exc:
                raise BusError(f"publish failed: {exc}") from exc
        for m in messages:  # as the Kafka adapter counts them (ids already stored included)
            EVENTS_PUBLISHED.labels(topic=m.topic, type=m.headers.get("event_type", "unknown")).inc()

    async def _publish_tx(
        self, conn: psycopg.AsyncConnection[Any], placed: list[tuple[Message, int]]
    ) -> list[Message]:
        heads = sorted({(m.topic, p) for m, p in placed})
        ids = [(m.topic, m.headers["event_id"]) for m, _ in placed if m.headers.get("event_id")]
        # one round trip: the server runs the id check only once it holds the partition locks, so
        # it sees every record a concurrent publisher to these partitions committed
        async with conn.pipeline():
            locked = await conn.execute(
                "SELECT h.topic, h.partition, h.next_offset FROM bus_partitions h "
                "JOIN unnest(%s::text[], %s::int[]) AS w(topic, partition) USING (topic, partition) "
                "ORDER BY h.topic, h.partition FOR UPDATE OF h",
                ([t for t, _ in heads], [p for _, p in heads]),
            )
            known = await conn.execute(
                "SELECT topic, event_id FROM bus_records "
                "JOIN unnest(%s::text[], %s::text[]) AS w(topic, event_id) USING (topic, event_id)",
                ([t for t, _ in ids], [e for _, e in ids]),
            )
        next_offset = {(t, p): o for t, p, o in await locked.fetchall()}
        seen: set[tuple[str, str]] = {(t, e) for t, e in await known.fetchall()}
        stored: list[Message] = []
        now_ms = time.time_ns() // 1_000_000
        async with conn.cursor().copy(f"COPY bus_records ({COLUMNS}, event_id) FROM STDIN") as copy:
            copy.set_types(_COPY_TYPES)
            for m, p in placed:
                event_id = m.headers.get("event_id") or None
                if event_id is not None:
                    if (m.topic, event_id) in seen:
                        continue
                    seen.add((m.topic, event_id))
                offset = next_offset[(m.topic, p)]
                next_offset[(m.topic, p)] = offset + 1
                ts = to_dt(m.timestamp_ms if m.timestamp_ms is not None else now_ms)
                await copy.write_row(
                    (m.topic, p, offset, m.key, m.value, Jsonb(dict(m.headers)), ts, event_id)
                )
                stored.append(m)
        if stored:  # advance the heads and notify (delivered at COMMIT) in one statement
            await conn.execute(
                "WITH heads AS (UPDATE bus_partitions h SET next_offset = w.next_offset "
                "FROM unnest(%s::text[], %s::int[], %s::bigint[]) AS w(topic, partition, next_offset) "
                "WHERE h.topic = w.topic AND h.partition = w.partition RETURNING 1) "
                "SELECT pg_notify(%s, 't:' || topic) FROM unnest(%s::text[]) AS topic",
                (
                    [t for t, _ in heads],
                    [p for _, p in heads],
                    [next_offset[h] for h in heads],
                    CHANNEL,
                    sorted({m.topic for m in stored}),
                ),
            )
        return stored

    # ------------------------------------------------------------------ consume

    async def subscribe(self, group: str, topics: Sequence[str]) -> PostgresSubscription:
        """Join ``group`` for ``topics`` (created with the defaults if missing)."""
        for topic in topics:
            await self.partitions(topic)
        await self.pool()
        await self._listener.start()
        sub = PostgresSubscription(self, group, list(topics))
        await sub.join()
        self._subscriptions.add(sub)
        return sub

    def _forget(self, sub: PostgresSubscription) -> None:
        self._subscriptions.discard(sub)

    async def set_committed(self, group: str, topic: str, offsets: Mapping[int, int]) -> None:
        """Set ``group``'s committed offsets on ``topic`` (refused while the group has a live member)."""
        if not offsets:
            return
        count = await self.partitions(topic, create=False)
        unknown = sorted(p for p in offsets if not 0 <= p < count)
        if unknown:
            raise BusError(f"set_committed: {topic!r} has no partition {unknown[0]}")
        with _errors("set_committed"):
            pool = await self.pool()
            async with pool.connection() as conn, conn.transaction():
                live = await (
                    await conn.execute(
                        "SELECT count(*) FROM bus_group_members WHERE group_id = %s "
                        "AND heartbeat_at >= now() - make_interval(secs => %s)",
                        (group, float(self.session_timeout)),
                    )
                ).fetchone()
                if live and live[0]:
                    raise BusError(f"set_committed: group {group!r} has {live[0]} live member(s)")
                for partition, offset in sorted(offsets.items()):
                    await conn.execute(
                        "INSERT INTO bus_group_offsets (group_id, topic, partition, committed_offset) "
                        "VALUES (%s, %s, %s, %s) ON CONFLICT (group_id, topic, partition) DO UPDATE "
                        "SET committed_offset = EXCLUDED.committed_offset, updated_at = now()",
                        (group, topic, partition, offset),
                    )

    async def read(
        self,
        topic: str,
        *,
        from_offsets: Mapping[int, int] | None = None,
        from_time: datetime | None = None,
        to_time: datetime | None = None,
    ) -> AsyncIterator[Record]:
        """Replay ``topic``, partition by partition, up to its end as of the call.

        A partition starts at ``from_offsets[p]`` (partitions missing from it: at their beginning)
        and, with ``from_time``, not before its first record stamped at or after ``from_time``.
        With ``to_time`` only records stamped before ``to_time`` are returned: ``[from, to)``.
        """
        pool = await self.pool()
        with _errors(f"read {topic!r}"):
            async with pool.connection() as conn:
                heads = await (
                    await conn.execute(
                        "SELECT partition, start_offset, next_offset FROM bus_partitions "
                        "WHERE topic = %s ORDER BY partition",
                        (topic,),
                    )
                ).fetchall()
        if not heads:
            raise BusError(f"unknown topic {topic!r}")
        for partition, start, end in heads:
            pos = max(start, (from_offsets or {}).get(partition, start))
            if from_time is not None:
                pos = max(pos, await self._offset_at(topic, partition, from_time, end))
            while pos < end:
                with _errors(f"read {topic!r}"):
                    async with pool.connection() as conn:
                        rows = await (
                            await conn.execute(
                                f"SELECT {COLUMNS} FROM bus_records WHERE topic = %s AND partition = %s "
                                'AND "offset" >= %s AND "offset" < %s '
                                "AND (%s::timestamptz IS NULL OR ts < %s) "
                                'ORDER BY "offset" LIMIT 1000',
                                (topic, partition, pos, end, to_time, to_time),
                            )
                        ).fetchall()
                if not rows:
                    break
                for row in rows:
                    yield record_from_row(row)
                pos = rows[-1][2] + 1

    async def end_offsets(self, topic: str) -> dict[int, int]:
        """Per partition of ``topic`` (created with the defaults if missing), its next offset."""
        await self.partitions(topic)
        pool = await self.pool()
        with _errors(f"end_offsets {topic!r}"):
            async with pool.connection() as conn:
                rows = await (
                    await conn.execute(
                        "SELECT partition, next_offset FROM bus_partitions WHERE topic = %s", (topic,)
                    )
                ).fetchall()
        return {p: o for p, o in rows}

    async def tail(
        self, topic: str, *, from_offsets: Mapping[int, int] | None = None, batch: int = 1000
    ) -> AsyncIterator[Record]:
        """Follow ``topic`` forever from ``from_offsets`` (missing partitions: their end now).

        Woken by the publishers' notifications (re-checks once per ``heartbeat_interval`` without
        one). Offsets of a partition become visible in order: a publisher holds the partition's head
        row until it commits, so the next publisher's offsets commit after it.
        """
        positions = {**await self.end_offsets(topic), **dict(from_offsets or {})}
        await self._listener.start()
        wake = asyncio.Event()
        self._listener.watch(f"t:{topic}", wake.set)
        parts = sorted(positions)
        pool = await self.pool()
        try:
            while True:
                wake.clear()
                with _errors(f"tail {topic!r}"):
                    async with pool.connection() as conn:
                        rows = await (
                            await conn.execute(
                                f"SELECT {COLUMNS} FROM bus_records r "
                                "JOIN unnest(%s::int[], %s::bigint[]) AS w(partition, pos) "
                                'USING (partition) WHERE r.topic = %s AND r."offset" >= w.pos '
                                'ORDER BY r."offset", r.partition LIMIT %s',
                                (parts, [positions[p] for p in parts], topic, batch),
                            )
                        ).fetchall()
                for row in rows:
                    record = record_from_row(row)
                    positions[record.partition] = record.offset + 1
                    yield record
                if len(rows) < batch:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), self.heartbeat_interval)
        finally:
            self._listener.unwatch(wake.set)

    async def _offset_at(self, topic: str, partition: int, when: datetime, end: int) -> int:
        """The first offset of ``partition`` stamped at or after ``when`` (``end`` if none is)."""
        pool = await self.pool()
        with _errors(f"read {topic!r}"):
            async with pool.connection() as conn:
                row = await (
                    await conn.execute(
                        'SELECT min("offset") FROM bus_records '
                        "WHERE topic = %s AND partition = %s AND ts >= %s",
                        (topic, partition, when),
                    )
                ).fetchone()
        return int(row[0]) if row and row[0] is not None else end

    async def lag(self, group: str, topic: str) -> dict[int, int]:
        """Per partition, how many records follow the group's committed offset."""
        with _errors("lag"):
            pool = await self.pool()
            async with pool.connection() as conn:
                rows = await (
                    await conn.execute(
                        "SELECT h.partition, h.next_offset - GREATEST(COALESCE(o.committed_offset, 0), "
                        "h.start_offset) FROM bus_partitions h LEFT JOIN bus_group_offsets o "
                        "ON o.group_id = %s AND o.topic = h.topic AND o.partition = h.partition "
                        "WHERE h.topic = %s ORDER BY h.partition",
                        (group, topic),
                    )
                ).fetchall()
            if not rows:
                raise BusError(f"unknown topic {topic!r}")
            return {p: max(0, n) for p, n in rows}

    async def purge_expired(self) -> int:
        """Delete records older than their topic's ``retention_ms``; return how many were deleted.

        Run it periodically (the composition root schedules it). Partition heads are locked first so
        that a concurrent publish cannot slip a record below the new ``start_offset``.
        """
        with _errors("purge_expired"):
            pool = await self.pool()
            async with pool.connection() as conn, conn.transaction():
                await conn.execute(
                    "SELECT 1 FROM bus_partitions h JOIN bus_topics t ON t.name = h.topic "
                    "WHERE t.retention_ms IS NOT NULL ORDER BY h.topic, h.partition FOR UPDATE OF h"
                )
                cur = await conn.execute(
                    "DELETE FROM bus_records r USING bus_topics t WHERE r.topic = t.name "
                    "AND t.retention_ms IS NOT NULL "
                    "AND r.ts < now() - t.retention_ms * interval '1 millisecond'"
                )
                deleted = cur.rowcount
                await conn.execute(
                    'UPDATE bus_partitions h SET start_offset = COALESCE((SELECT min(r."offset") '
                    "FROM bus_records r WHERE r.topic = h.topic AND r.partition = h.partition), "
                    "h.next_offset) "
                    "FROM bus_topics t WHERE t.name = h.topic AND t.retention_ms IS NOT NULL"
                )
            return deleted

    # ------------------------------------------------------------------ lifecycle

    async def ready(self) -> None:
        """Raise :class:`sts.errors.BusError` unless the database answers and has the bus tables."""
        try:
            pool = await self.pool()
            async with pool.connection(timeout=5) as conn:
                await conn.execute("SELECT 1 FROM bus_topics LIMIT 1")
        except psycopg.Error as exc:  # PoolTimeout included
            raise BusError(f"event bus not ready: {exc}") from exc

    async def __aenter__(self) -> PostgresEventBus:
        await self.pool()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every subscription, the listener and the pool (idempotent)."""
        for sub in list(self._subscriptions):
            await sub.close()
        await self._listener.stop()
        if self._opened:
            await self._pool.close()
            self._opened = False
