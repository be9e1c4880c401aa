"""The processor: consumes ``mlb.game-events`` and keeps the normalized PostgreSQL model up to date.

Lifecycle of one batch (:meth:`Processor.step`):

1. poll up to ``batch_size`` records from the consumer group (default ``processor``);
2. decode them with the codec and apply them with :func:`apply_events` in ONE transaction;
3. commit the group's offsets only after that transaction has committed (at-least-once delivery;
   :func:`apply_events` is idempotent, so a redelivered batch changes nothing);
4. when the batch fails, retry it ``max_attempts`` times, then apply its records one by one: a record
   that still fails after ``max_attempts`` is written to ``mlb.game-events.dlq`` as a ``DeadLetter``
   (with the original bytes, headers, error and stack) and skipped, so one bad record cannot stop
   the stream. Losing the database connection is not the record's fault: it is raised, not
   dead-lettered, and :meth:`Processor.run` reconnects after a pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import psycopg
import structlog

from sts.db.normalized import write_events
from sts.errors import BackendError
from sts.events.model import GameEvent
from sts.metrics import CONSUMER_LAG, DEAD_LETTERS, EVENTS_CONSUMED, PROCESS_LATENCY, SNAPSHOT_TO_ROWS
from sts.ports import TOPIC_GAME_EVENTS, TOPIC_GAME_EVENTS_DLQ, EventBus, Message, Record, Subscription
from sts.services.ingest import FETCHED_AT_HEADER

log = structlog.get_logger(__name__)

DLQ_NAMESPACE = uuid.UUID("0b8a4c1e-93f5-4d8e-a6f4-2f1c8d3e7b60")


class Codec(Protocol):
    """What the processor needs of :class:`sts.events.codec.AvroCodec`."""

    async def decode(self, data: bytes) -> GameEvent: ...

    async def message(self, topic: str, event: GameEvent) -> Message: ...


async def apply_events(conn: psycopg.AsyncConnection[Any], events: Sequence[GameEvent]) -> int:
    """Apply ``events`` (bus order) to the normalized tables in one transaction and return how many
    were new. Idempotent: events already applied are skipped, rows whose content is unchanged are not
    rewritten, and any sequence of snapshots of a game leads to the same rows."""
    async with conn.transaction():
        return await write_events(conn, events)


Apply = Callable[[psycopg.AsyncConnection[Any], Sequence[GameEvent]], Awaitable[int]]
"""What a consumer does with one batch of decoded events (default :func:`apply_events`)."""


class Processor:
    """One member of a consumer group that applies game events to PostgreSQL."""

    def __init__(
        self,
        bus: EventBus,
        codec: Codec,
        db_url: str,
        group: str = "processor",
        *,
        batch_size: int = 500,
        max_attempts: int = 3,
        poll_timeout: float = 1.0,
        retry_pause: float = 0.2,
        apply: Apply | None = None,
    ) -> None:
        self.bus = bus
        self.apply: Apply = apply or apply_events
        self.codec = codec
        self.db_url = db_url
        self.group = group
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.poll_timeout = poll_timeout
        self.retry_pause = retry_pause
        self.dead_letters = 0
        self._sub: Subscription | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(self.db_url)
        return self._conn

    async def _subscription(self) -> Subscription:
        if self._sub is None:
            self._sub = await self.bus.subscribe(self.group, [TOPIC_GAME_EVENTS])
        return self._sub

    async def close(self) -> None:
        """Leave the group and close the database connection (idempotent)."""
        if self._sub is not None:
            await self._sub.close()
            self._sub = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def run(self, stop: asyncio.Event) -> None:
        """Process batches until ``stop`` is set, then close. Database or bus outages are logged and
        retried after a pause; the uncommitted batch is delivered again."""
        try:
            while not stop.is_set():
                try:
                    await self.step()
                except (psycopg.OperationalError, psycopg.InterfaceError, BackendError, OSError) as exc:
                    log.warning("processor backend unavailable, retrying", error=str(exc), group=self.group)
                    await self._drop_connection()
                    await _sleep_or_stop(stop, 1.0)
        finally:
            await self.close()

    async def process_available(self, *, idle_polls: int = 2) -> int:
        """Process until the group has no lag and ``idle_polls`` polls in a row return nothing; return
        how many records were handled. Does not close (call :meth:`close`)."""
        handled, idle = 0, 0
        while idle < idle_polls:
            n = await self.step()
            handled += n
            if n:
                idle = 0
            elif sum((await self.bus.lag(self.group, TOPIC_GAME_EVENTS)).values()) == 0:
                idle += 1
        return handled

    # ------------------------------------------------------------------ one batch

    async def step(self) -> int:
        """Poll, apply and commit one batch; return the number of records handled."""
        sub = await self._subscription()
        records = await sub.poll(self.batch_size, self.poll_timeout)
        if records:
            started = time.perf_counter()
            await self._handle(records)
            await sub.commit(records)
            PROCESS_LATENCY.observe(time.perf_counter() - started)
            _observe_snapshot_latency(self.group, records)
            for topic in {r.topic for r in records}:
                EVENTS_CONSUMED.labels(self.group, topic).inc(sum(1 for r in records if r.topic == topic))
        lag = await self.bus.lag(self.group, TOPIC_GAME_EVENTS)
        CONSUMER_LAG.labels(self.group, TOPIC_GAME_EVENTS).set(sum(lag.values()))
        return len(records)

    async def _handle(self, records: Sequence[Record]) -> None:
        error: BaseException | None = None
        for attempt in range(self.max_attempts):
            try:
                events = [await self.codec.decode(r.value) for r in records]
                await self.apply(await self._connection(), events)
                return
            except (psycopg.OperationalError, psycopg.InterfaceError):
                raise  # the database, not the record: run() reconnects and the batch is redelivered
            except Exception as exc:  # a bad record somewhere in the batch: isolate it below
                error = exc
                log.warning("batch failed", attempt=attempt + 1, error=repr(exc), records=len(records))
                await asyncio.sleep(self.retry_pause * attempt)
        log.warning("applying the batch record by record", error=repr(error), records=len(records))
        for record in records:
            await self._handle_one(record)

    async def _handle_one(self, record: Record) -> None:
        last: BaseException | None = None
        event: GameEvent | None = None
        for attempt in range(self.max_attempts):
            try:
                event = await self.codec.decode(record.value)
                await self.apply(await self._connection(), [event])
                return
            except (psycopg.OperationalError, psycopg.InterfaceError):
                raise  # the database, not the record: run() reconnects and the batch is redelivered
            except Exception as exc:
                last = exc
                await asyncio.sleep(self.retry_pause * attempt)
        assert last is not None
        await self._dead_letter(record, last, event)

    async def _dead_letter(self, record: Record, error: BaseException, event: GameEvent | None) -> None:
        try:
            game_pk = int(record.key)
        except (TypeError, ValueError):
            game_pk = 0
        key = f"{self.group}/{record.topic}/{record.partition}/{record.offset}"
        dead_id = str(uuid.uuid5(DLQ_NAMESPACE, key))
        payload: dict[str, Any] = {
            "event_id": dead_id,
            "game_pk": game_pk,
            "timecode": event.payload.get("timecode") if event is not None else None,
            "original_topic": record.topic,
            "original_partition": record.partition,
            "original_offset": record.offset,
            "original_key": record.key,
            "original_value": record.value,
            "original_timestamp_ms": record.timestamp_ms,
            "headers": {str(k): str(v) for k, v in record.headers.items()},
            "consumer_group": self.group,
            "error": f"{type(error).__name__}: {error}",
            "stack": "".join(traceback.format_exception(error)),
            "attempts": self.max_attempts,
            "failed_at": datetime.now(UTC).isoformat(),
        }
        dead = GameEvent("DeadLetter", dead_id, game_pk, payload)
        await self.bus.publish([await self.codec.message(TOPIC_GAME_EVENTS_DLQ, dead)])
        self.dead_letters += 1
        DEAD_LETTERS.labels(TOPIC_GAME_EVENTS_DLQ, type(error).__name__).inc()
        log.error(
            "record dead-lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            game_pk=game_pk,
            error=payload["error"],
        )

    async def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.close()
            finally:
                self._conn = None


def _observe_snapshot_latency(group: str, records: Sequence[Record]) -> None:
    """``sts_snapshot_to_rows_seconds``: once per snapshot of the batch (its events share the fetch time
    that ingestion put in their headers), wall clock now minus that fetch time."""
    now_ms = time.time() * 1000
    fetched = {r.headers.get(FETCHED_AT_HEADER) for r in records} - {None, ""}
    for value in fetched:
        with contextlib.suppress(TypeError, ValueError):
            SNAPSHOT_TO_ROWS.labels(group).observe(max(0.0, (now_ms - int(str(value))) / 1000))


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
