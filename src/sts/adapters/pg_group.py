"""Consumer side of the embedded event bus (:mod:`sts.adapters.pg_bus`): wake-ups and group members.

The protocol between members lives in three tables of migration 0001 and is described in the
:mod:`sts.adapters.pg_bus` docstring: members heart-beat, polls rebalance under a per-group advisory
lock (after a membership notification, else once per heartbeat interval), a partition has at most
one owner, and a partition changes owner only after its old owner released it (at its next poll)
or expired (no heartbeat for ``session_timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg
import structlog

from sts.errors import BusError
from sts.ports import Record

if TYPE_CHECKING:
    from sts.adapters.pg_bus import PostgresEventBus

log = structlog.get_logger(__name__)

CHANNEL = "sts_bus"
COLUMNS = 'topic, partition, "offset", key, value, headers, ts'
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# heartbeats and assignments need no fsync: after a crash members simply register again
# (committed offsets, in contrast, are written with the server's default durability)
_NOT_DURABLE = "SET LOCAL synchronous_commit TO off"

TopicPartition = tuple[str, int]


def to_dt(ms: int) -> datetime:
    """Milliseconds since the epoch → an aware UTC datetime (exact)."""
    return _EPOCH + timedelta(milliseconds=ms)


def to_ms(dt: datetime) -> int:
    """An aware datetime → milliseconds since the epoch (exact for millisecond timestamps)."""
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def record_from_row(row: Sequence[Any]) -> Record:
    """A ``bus_records`` row selected as :data:`COLUMNS` → a :class:`Record`."""
    topic, partition, offset, key, value, headers, ts = row
    return Record(topic, partition, offset, key, bytes(value), dict(headers), to_ms(ts))


def target_assignment(
    member: str, members: dict[str, list[str]], partitions: dict[str, int]
) -> set[TopicPartition]:
    """The partitions ``member`` should own: per topic, partition ``p`` goes to the ``p % n``-th of the
    ``n`` members subscribed to that topic, in member-id order (deterministic for every member)."""
    mine: set[TopicPartition] = set()
    for topic in members.get(member, []):
        eligible = sorted(m for m, topics in members.items() if topic in topics)
        index = eligible.index(member)
        mine.update((topic, p) for p in range(partitions[topic]) if p % len(eligible) == index)
    return mine


class Listener:
    """One LISTEN connection per bus (channel :data:`CHANNEL`).

    Calls the callbacks registered for a notification's payload (``t:<topic>`` after a publish,
    ``g:<group>`` after a membership change); reconnects on its own and then calls every callback,
    since notifications sent while it was away are lost.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._callbacks: dict[str, set[Callable[[], None]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sts-bus-listener")
        try:
            await asyncio.wait_for(self._connected.wait(), timeout=30)
        except TimeoutError:
            raise BusError("the event bus could not LISTEN for notifications within 30 s") from None

    def watch(self, payload: str, callback: Callable[[], None]) -> None:
        self._callbacks[payload].add(callback)

    def unwatch(self, callback: Callable[[], None]) -> None:
        for callbacks in self._callbacks.values():
            callbacks.discard(callback)

    async def _run(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._connected.set()
                    self._call_all()  # anything may have happened while we were not listening
                    async for note in conn.notifies():
                        for callback in list(self._callbacks.get(note.payload, ())):
                            callback()
            except psycopg.Error as exc:
                log.warning("event bus listener lost its connection; reconnecting", error=str(exc))
                await asyncio.sleep(1.0)

    def _call_all(self) -> None:
        for callbacks in list(self._callbacks.values()):
            for callback in list(callbacks):
                callback()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class PostgresSubscription:
    """One member of a consumer group (an :class:`sts.ports.Subscription`); made by ``subscribe``."""

    def __init__(self, bus: PostgresEventBus, group: str, topics: list[str]) -> None:
        self.bus = bus
        self.group = group
        self.topics = topics
        self.member_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"
        self._positions: dict[TopicPartition, int] = {}
        self._wake = asyncio.Event()
        self._rebalance_due = True
        self._last_rebalance = 0.0
        self._heartbeat: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def assignment(self) -> set[TopicPartition]:
        """The partitions this member owned at its last poll."""
        return set(self._positions)

    async def join(self) -> None:
        """Register in the group, start heart-beating and tell the other members."""
        for topic in self.topics:
            self.bus._listener.watch(f"t:{topic}", self._on_data)
        self.bus._listener.watch(f"g:{self.group}", self._on_group_change)
        await self._beat(announce=True)
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name=f"sts-bus-heartbeat-{self.group}")

    def _on_data(self) -> None:
        self._wake.set()

    def _on_group_change(self) -> None:
        self._rebalance_due = True
        self._wake.set()

    async def _beat(self, *, announce: bool = False) -> None:
        pool = await self.bus.pool()
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(_NOT_DURABLE)
            await conn.execute(
                "INSERT INTO bus_group_members (group_id, member_id, topics) VALUES (%s, %s, %s) "
                "ON CONFLICT (group_id, member_id) DO UPDATE SET heartbeat_at = now()",
                (self.group, self.member_id, self.topics),
            )
            if announce:
                await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"g:{self.group}"))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.bus.heartbeat_interval)
            try:
                await self._beat()
            except Exception as exc:  # keep beating: a missed beat is retried, a dead task loses the group
                log.warning("heartbeat failed", group=self.group, member=self.member_id, error=str(exc))

    async def _rebalance(self) -> None:
        """Heart-beat, expire silent members, release what is no longer ours, claim what is free."""
        pool = await self.bus.pool()
        timeout = timedelta(seconds=self.bus.session_timeout)
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(_NOT_DURABLE)
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext('sts_bus_group:' || %s))", (self.group,)
            )
            await conn.execute(
                "INSERT INTO bus_group_members (group_id, member_id, topics) VALUES (%s, %s, %s) "
                "ON CONFLICT (group_id, member_id) DO UPDATE SET heartbeat_at = now()",
                (self.group, self.member_id, self.topics),
            )
            expired = await conn.execute(
                "DELETE FROM bus_group_members WHERE group_id = %s AND heartbeat_at < now() - %s",
                (self.group, timeout),
            )
            rows = await (
                await conn.execute(
                    "SELECT member_id, topics FROM bus_group_members WHERE group_id = %s", (self.group,)
                )
            ).fetchall()
            members = {m: list(t) for m, t in rows}
            partitions = {t: self.bus._partitions[t] for t in self.topics}  # cached by subscribe
            target = target_assignment(self.member_id, members, partitions)
            rows = await (
                await conn.execute(
                    "SELECT topic, partition, member_id FROM bus_group_assignments WHERE group_id = %s",
                    (self.group,),
                )
            ).fetchall()
            owners = {(t, p): m for t, p, m in rows}
            release = [tp for tp, m in owners.items() if m == self.member_id and tp not in target]
            claim = sorted(tp for tp in target if tp not in owners)
            if release:
                await conn.execute(
                    "DELETE FROM bus_group_assignments a USING unnest(%s::text[], %s::int[]) AS w(t, p) "
                    "WHERE a.group_id = %s AND a.topic = w.t AND a.partition = w.p",
                    ([t for t, _ in release], [p for _, p in release], self.group),
                )
            if claim:
                await conn.execute(
                    "INSERT INTO bus_group_assignments (group_id, topic, partition, member_id) "
                    "SELECT %s, t, p, %s FROM unnest(%s::text[], %s::int[]) AS w(t, p)",
                    (self.group, self.member_id, [t for t, _ in claim], [p for _, p in claim]),
                )
            kept = {tp for tp, m in owners.items() if m == self.member_id and tp in target}
            fresh = sorted(set(claim) | (kept - set(self._positions)))
            if fresh:  # a newly owned partition starts at the group's committed offset
                starts = await (
                    await conn.execute(
                        "SELECT h.topic, h.partition, "
                        "GREATEST(COALESCE(o.committed_offset, 0), h.start_offset) "
                        "FROM unnest(%s::text[], %s::int[]) AS w(t, p) "
                        "JOIN bus_partitions h ON h.topic = w.t AND h.partition = w.p "
                        "LEFT JOIN bus_group_offsets o ON o.group_id = %s AND o.topic = h.topic "
                        "AND o.partition = h.partition",
                        ([t for t, _ in fresh], [p for _, p in fresh], self.group),
                    )
                ).fetchall()
            else:
                starts = []
            if release or expired.rowcount:
                await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"g:{self.group}"))
        # only once the transaction committed: kept partitions keep their position, claimed ones
        # start at the committed offset, lost ones are forgotten
        positions = {tp: pos for tp, pos in self._positions.items() if tp in kept}
        positions.update({(t, p): start for t, p, start in starts})
        self._positions = positions
        if release:
            log.info("released partitions", group=self.group, member=self.member_id, partitions=release)

    async def _fetch(self, max_records: int) -> list[Record]:
        if not self._positions:
            return []
        tps = sorted(self._positions)
        limit = max(1, math.ceil(max_records / len(tps)))
        pool = await self.bus.pool()
        async with pool.connection() as conn:
            rows = await (
                await conn.execute(
                    f"SELECT {', '.join('r.' + c.strip() for c in COLUMNS.split(','))} "
                    "FROM unnest(%s::text[], %s::int[], %s::bigint[]) AS w(t, p, pos) "
                    "CROSS JOIN LATERAL (SELECT * FROM bus_records r WHERE r.topic = w.t "
                    'AND r.partition = w.p AND r."offset" >= w.pos ORDER BY r."offset" LIMIT %s) r',
                    ([t for t, _ in tps], [p for _, p in tps], [self._positions[tp] for tp in tps], limit),
                )
            ).fetchall()
        by_partition: dict[TopicPartition, list[Record]] = defaultdict(list)
        for row in rows:
            rec = record_from_row(row)
            by_partition[(rec.topic, rec.partition)].append(rec)
        # interleave partitions so that one busy partition cannot starve the others
        batch: list[Record] = []
        queues = [sorted(q, key=lambda r: r.offset) for q in by_partition.values()]
        while len(batch) < max_records and any(queues):
            for q in queues:
                if q and len(batch) < max_records:
                    batch.append(q.pop(0))
        for rec in batch:
            self._positions[(rec.topic, rec.partition)] = rec.offset + 1
        return batch

    async def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:  # noqa: ASYNC109
        """Up to ``max_records`` records of the partitions this member owns, waiting up to ``timeout``
        seconds for one (woken by NOTIFY; re-checks at least every ``heartbeat_interval``)."""
        if self._closed:
            raise BusError("poll on a closed subscription")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._wake.clear()
            try:
                # rebalance when the group changed, else once per heartbeat (to notice expired members)
                if self._rebalance_due or loop.time() - self._last_rebalance >= self.bus.heartbeat_interval:
                    self._rebalance_due = False
                    try:
                        await self._rebalance()
                    except BaseException:
                        self._rebalance_due = True
                        raise
                    self._last_rebalance = loop.time()
                records = await self._fetch(max_records)
            except psycopg.Error as exc:
                raise BusError(f"poll failed: {exc}") from exc
            remaining = deadline - loop.time()
            if records or remaining <= 0:
                return records
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(remaining, self.bus.heartbeat_interval))

    async def commit(self, records: Sequence[Record]) -> None:
        """Store, per partition, the offset after the last of ``records`` (one transaction).

        Offsets of partitions this member no longer owns are not stored (their records will be
        delivered again to the new owner: at-least-once).
        """
        upto: dict[TopicPartition, int] = {}
        for rec in records:
            tp = (rec.topic, rec.partition)
            upto[tp] = max(upto.get(tp, 0), rec.offset + 1)
        if not upto:
            return
        tps = sorted(upto)
        pool = await self.bus.pool()
        try:
            async with pool.connection() as conn, conn.transaction():
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('sts_bus_group:' || %s))", (self.group,)
                )
                cur = await conn.execute(
                    "INSERT INTO bus_group_offsets (group_id, topic, partition, committed_offset) "
                    "SELECT a.group_id, a.topic, a.partition, w.o "
                    "FROM unnest(%s::text[], %s::int[], %s::bigint[]) AS w(t, p, o) "
                    "JOIN bus_group_assignments a ON a.group_id = %s AND a.topic = w.t "
                    "AND a.partition = w.p AND a.member_id = %s "
                    "ON CONFLICT (group_id, topic, partition) "
                    "DO UPDATE SET committed_offset = EXCLUDED.committed_offset, updated_at = now()",
                    (
                        [t for t, _ in tps],
                        [p for _, p in tps],
                        [upto[tp] for tp in tps],
                        self.group,
                        self.member_id,
                    ),
                )
        except psycopg.Error as exc:
            raise BusError(f"commit failed: {exc}") from exc
        if cur.rowcount < len(tps):
            log.warning(
                "commit for partitions no longer owned was dropped", group=self.group, member=self.member_id
            )

    async def close(self) -> None:
        """Leave the group: stop heart-beating, release every partition, tell the other members."""
        if self._closed:
            return
        self._closed = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        self.bus._listener.unwatch(self._on_data)
        self.bus._listener.unwatch(self._on_group_change)
        self.bus._forget(self)
        self._positions.clear()
        with contextlib.suppress(psycopg.Error, BusError):
            pool = await self.bus.pool()
            async with pool.connection() as conn, conn.transaction():
                await conn.execute(
                    "DELETE FROM bus_group_members WHERE group_id = %s AND member_id = %s",
                    (self.group, self.member_id),
                )
                await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"g:{self.group}"))
