"""Processor.run / process_available end to end on the embedded bus (PostgreSQL event log)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest

from sts.adapters.pg_bus import PostgresEventBus
from sts.adapters.pg_registry import PostgresSchemaRegistry
from sts.db.queries import table_checksums
from sts.events.codec import AvroCodec
from sts.events.derive import derive_events
from sts.events.model import GameEvent
from sts.ports import TOPIC_GAME_EVENTS, TOPIC_GAME_EVENTS_DLQ, Message, TopicSpec
from sts.services.processor import Processor
from tests.events.feeds import load, states


@pytest.fixture
async def bus(migrated_pg_url: str) -> AsyncIterator[PostgresEventBus]:
    bus = PostgresEventBus(migrated_pg_url, session_timeout=2.0, heartbeat_interval=0.5)
    await bus.create_topic(TopicSpec(TOPIC_GAME_EVENTS, partitions=3))
    await bus.create_topic(TopicSpec(TOPIC_GAME_EVENTS_DLQ, partitions=1))
    yield bus
    await bus.close()


@pytest.fixture
async def codec(migrated_pg_url: str) -> AsyncIterator[AvroCodec]:
    registry = PostgresSchemaRegistry(migrated_pg_url)
    yield AvroCodec(registry)
    await registry.close()


async def _publish(bus: PostgresEventBus, codec: AvroCodec, events: list[GameEvent]) -> None:
    await bus.publish([await codec.message(TOPIC_GAME_EVENTS, e) for e in events])


async def _counts(url: str) -> tuple[int, int, int]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT (SELECT count(*) FROM games), (SELECT count(*) FROM plays), "
            "(SELECT count(*) FROM play_events WHERE is_pitch)"
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])


async def test_processor_applies_a_replayed_game_and_dead_letters_poison(
    bus: PostgresEventBus, codec: AvroCodec, migrated_pg_url: str
) -> None:
    final = load("feed_live_744914.json")
    other = load("feed_live_718594.json")
    previous = None
    for state in states(final, 10):
        await _publish(bus, codec, derive_events(previous, state))
        previous = state
    await _publish(bus, codec, derive_events(None, other))
    # a record no codec can read, and one that decodes but cannot be stored (index out of range)
    await bus.publish([Message(TOPIC_GAME_EVENTS, str(final["gamePk"]), b"not avro")])
    bad = next(e for e in derive_events(None, final) if e.event_type == "Substitution")
    bad.payload["at_bat_index"] = 2**40
    bad = GameEvent(
        bad.event_type,
        "00000000-0000-0000-0000-000000000001",
        bad.game_pk,
        {**bad.payload, "event_id": "00000000-0000-0000-0000-000000000001"},
    )
    await _publish(bus, codec, [bad])

    proc = Processor(bus, codec, migrated_pg_url, batch_size=200, retry_pause=0.0)
    try:
        handled = await proc.process_available()
    finally:
        await proc.close()
    plays = len(final["liveData"]["plays"]["allPlays"]) + len(other["liveData"]["plays"]["allPlays"])
    pitches = sum(
        1
        for f in (final, other)
        for p in f["liveData"]["plays"]["allPlays"]
        for e in p["playEvents"]
        if e.get("isPitch")
    )
    assert await _counts(migrated_pg_url) == (2, plays, pitches)
    assert proc.dead_letters == 2 and handled > plays
    assert sum((await bus.lag("processor", TOPIC_GAME_EVENTS)).values()) == 0
    dead = [await codec.decode(r.value) async for r in bus.read(TOPIC_GAME_EVENTS_DLQ)]
    assert sorted(d.payload["original_value"][:8] for d in dead)[1] == b"not avro"
    assert all(d.event_type == "DeadLetter" and d.payload["attempts"] == 3 for d in dead)
    assert any("out of range" in d.payload["error"] for d in dead)

    # a second group replays the whole topic onto the same database: nothing changes
    async with await psycopg.AsyncConnection.connect(migrated_pg_url) as conn:
        before = await table_checksums(conn, exclude_tables=("processed_events",))
        replay = Processor(bus, codec, migrated_pg_url, group="replay", retry_pause=0.0)
        try:
            await replay.process_available()
        finally:
            await replay.close()
        assert await table_checksums(conn, exclude_tables=("processed_events",)) == before


async def test_run_until_stopped(bus: PostgresEventBus, codec: AvroCodec, migrated_pg_url: str) -> None:
    feed = load("feed_live_744914.json")
    proc = Processor(bus, codec, migrated_pg_url, poll_timeout=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(proc.run(stop))
    await _publish(bus, codec, derive_events(None, feed))
    # wait for the whole game to be applied: a deadline of 60 s rather than 100 pauses of 0.1 s (a loaded
    # machine applying a whole game's events can take longer than those ten seconds)
    deadline = asyncio.get_running_loop().time() + 60
    while asyncio.get_running_loop().time() < deadline:
        if (await _counts(migrated_pg_url))[1] == len(feed["liveData"]["plays"]["allPlays"]):
            break
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert (await _counts(migrated_pg_url))[1] == len(feed["liveData"]["plays"]["allPlays"])
