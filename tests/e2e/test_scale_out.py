"""Scale-out: two processor workers in one consumer group share the partitions; one is killed
mid-replay, the other takes over, and every game ends processed exactly once.

Runs on both buses (the PostgreSQL event log, and Kafka with Apicurio under a topic/group prefix of its
own). The events are those of every recorded game, derived from the stand-in's synthesized
in-progress states (every ``STEP``-th one plus the final one) and published while the workers run.

- reference: one worker alone (group ``single``) applies the whole replay to a database of its own;
- pair: workers A and B (group ``pair``) apply it to another database. A is killed right after it
  committed a batch to the database but before it committed the offsets to the bus (the worst moment:
  that batch is delivered again, to B); B finishes the replay.

Then: both workers handled records before the kill, B after it, a batch really was delivered twice, and
the two databases hold the same rows (every table's checksum; ``processed_events`` without
``processed_at``), with each event once in ``processed_events``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sts.adapters.embedded_pg import EmbeddedPostgres
from sts.bootstrap import ensure_topics
from sts.db import migrate
from sts.db.queries import table_checksums
from sts.events.codec import AvroCodec
from sts.events.derive import derive_events
from sts.events.model import GameEvent
from sts.ports import TOPIC_GAME_EVENTS, EventBus, Record, SchemaRegistry
from sts.recordings import scan_recordings
from sts.services.pipeline import game_summaries
from sts.services.processor import Processor
from sts.standin.synth import synthesize
from sts.standin.timeline import GameTimeline
from tests.conftest import _fresh_database
from tests.e2e.test_demo import OBSERVED_ONLY

pytestmark = pytest.mark.slow

STEP = 16
PUBLISH_BATCH = 20
PUBLISH_PAUSE = 0.05
KILL_WITHIN = 120.0  # seconds for both workers to handle their first batches (then A is killed)


@functools.cache
def replay_events(statsapi: Path, step: int = STEP) -> list[GameEvent]:
    """The events of every recorded game, game after game, as ingestion would derive them from every
    ``step``-th synthesized state (and the final one)."""
    events: list[GameEvent] = []
    for _, game in sorted(scan_recordings(statsapi).games.items()):
        timeline = GameTimeline(game.feed)
        n = len(timeline.states)
        previous: dict[str, Any] | None = None
        for i in sorted(set(range(0, n, step)) | {n - 1}):
            current = json.loads(json.dumps(synthesize(timeline, i)))
            events += derive_events(previous, current)
            previous = current
    return events


@dataclass
class BusEnv:
    name: str
    make_bus: Callable[[], EventBus]
    registry: SchemaRegistry


@contextlib.asynccontextmanager
async def postgres_env(bus_db: str) -> AsyncIterator[BusEnv]:
    from sts.adapters.pg_bus import PostgresEventBus
    from sts.adapters.pg_registry import PostgresSchemaRegistry

    migrate(bus_db)
    registry = PostgresSchemaRegistry(bus_db)
    try:
        yield BusEnv("postgres", lambda: PostgresEventBus(bus_db), registry)
    finally:
        await registry.close()


@contextlib.asynccontextmanager
async def kafka_env() -> AsyncIterator[BusEnv]:
    from sts.adapters.confluent_registry import ConfluentSchemaRegistry
    from sts.adapters.prefixed_bus import PrefixedEventBus
    from tests.e2e.test_profiles import delete_topics
    from tests.kafka_backends import new_bus, registry_url, require_kafka, require_registry

    require_kafka()
    require_registry()
    prefix = f"scale-{uuid.uuid4().hex[:8]}."
    registry = ConfluentSchemaRegistry(registry_url())
    try:
        yield BusEnv("kafka", lambda: PrefixedEventBus(new_bus(), prefix), registry)
    finally:
        await registry.close()
        delete_topics(prefix)


@pytest.fixture(params=["postgres", pytest.param("kafka", marks=pytest.mark.kafka)])
async def env(request: pytest.FixtureRequest, pg_url: str) -> AsyncIterator[BusEnv]:
    cm = postgres_env(pg_url) if request.param == "postgres" else kafka_env()
    async with cm as e:
        yield e


@pytest.fixture
def databases(pg_server: EmbeddedPostgres) -> Iterator[tuple[str, str]]:
    """Two fresh migrated databases: the reference run's and the pair's."""
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(contextlib.contextmanager(_fresh_database)(pg_server)) for _ in range(2)]
        for url in urls:
            migrate(url)
        yield urls[0], urls[1]


class Worker:
    """A processor in group ``pair`` whose handled batches are counted, and that can be killed right
    after a batch reached the database, before its offsets are committed."""

    def __init__(self, name: str, bus: EventBus, codec: AvroCodec, db_url: str) -> None:
        self.name = name
        self.processor = Processor(bus, codec, db_url, group="pair", batch_size=50, poll_timeout=0.2)
        self.records = 0
        self.batches = 0
        self.kill_after: Callable[[], bool] = lambda: False
        self.killed_batch: list[Record] = []
        handle = self.processor._handle

        async def counted(records: Sequence[Record]) -> None:
            await handle(records)  # committed to the database
            self.records += len(records)
            self.batches += 1
            if self.kill_after():
                self.killed_batch = list(records)
                raise asyncio.CancelledError  # dies before the bus commit: the batch comes again

        self.processor._handle = counted  # type: ignore[method-assign]


async def until(predicate: Callable[[], Awaitable[bool]] | Callable[[], bool], within: float) -> None:
    async with asyncio.timeout(within):
        while True:
            result = predicate()
            if await result if asyncio.iscoroutine(result) else result:
                return
            await asyncio.sleep(0.1)


async def test_two_workers_share_the_partitions_and_survive_losing_one(
    env: BusEnv, databases: tuple[str, str], shared_data: Path
) -> None:
    ref_db, pair_db = databases
    events = replay_events(shared_data / "statsapi")
    codec = AvroCodec(env.registry)
    publisher = env.make_bus()
    buses = [publisher, env.make_bus(), env.make_bus()]
    await ensure_topics(publisher, 4)
    a = Worker("a", buses[1], codec, pair_db)
    b = Worker("b", buses[2], codec, pair_db)
    a.kill_after = lambda: a.batches >= 3 and b.batches >= 2 and not published.done()
    stop_b = asyncio.Event()

    async def publish_all() -> None:
        for i in range(0, len(events), PUBLISH_BATCH):
            batch = events[i : i + PUBLISH_BATCH]
            if i + PUBLISH_BATCH >= len(events):
                # The last batch waits for A's death (at most KILL_WITHIN): the kill must come mid-replay,
                # and when both workers get their first batches depends on how fast the group forms (a
                # Kafka rebalance on a loaded machine can outlast the ~8 s the rest takes to publish).
                await asyncio.wait([run_a], timeout=KILL_WITHIN)
            await publisher.publish([await codec.message(TOPIC_GAME_EVENTS, ev) for ev in batch])
            await asyncio.sleep(PUBLISH_PAUSE)

    try:
        run_a = asyncio.create_task(a.processor.run(asyncio.Event()))
        run_b = asyncio.create_task(b.processor.run(stop_b))
        published = asyncio.create_task(publish_all())
        with contextlib.suppress(asyncio.CancelledError):
            # A "dies" mid-replay (its task ends cancelled)
            await asyncio.wait([run_a], timeout=KILL_WITHIN)
            assert run_a.done(), f"A was not killed within {KILL_WITHIN} s: {a.batches=}, {b.batches=}"
            await run_a
        assert a.killed_batch, "A was not killed"
        assert not published.done(), "the replay ended before the kill"
        b_before_kill = b.records
        await published
        await until(lambda: b.records > b_before_kill, 60)

        async def drained() -> bool:
            return sum((await publisher.lag("pair", TOPIC_GAME_EVENTS)).values()) == 0

        await until(drained, 120)
        stop_b.set()
        await run_b
        assert a.records > 0 and b_before_kill > 0  # both shared the work before the kill
        assert a.records + b.records >= len(events) + len(a.killed_batch)  # A's last batch came again

        single = Processor(publisher, codec, ref_db, group="single", batch_size=500)
        assert await single.process_available() == len(events)
        await single.close()
    finally:
        for bus in buses:
            await bus.close()

    assert await game_summaries(pair_db) == await game_summaries(ref_db)
    sums = [await checksums(url) for url in (ref_db, pair_db)]
    assert len(sums[0]) >= 8 and sums[0] == sums[1]
    distinct = len({ev.event_id for ev in events})
    for url in (ref_db, pair_db):
        async with await psycopg.AsyncConnection.connect(url) as conn:
            row = await (
                await conn.execute("SELECT count(*), count(DISTINCT event_id) FROM processed_events")
            ).fetchone()
        assert row == (distinct, distinct)


async def checksums(url: str) -> dict[str, str]:
    """Every table, without the wall-clock columns saying when a row was written (both databases see
    the same events, so nothing observed differs: ``processed_events`` is compared too)."""
    written_at = {t: cols for t, cols in OBSERVED_ONLY.items() if t != "game_status_history"}
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await conn.execute("SET TimeZone = 'UTC'")
        return await table_checksums(conn, exclude_columns=written_at)


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
