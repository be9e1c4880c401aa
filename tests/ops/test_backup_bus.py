"""Where ``sts restore`` puts the consumer groups (:func:`sts.services.restore.place_groups`), on a real
bus (the PostgreSQL event log of a migrated database, used here as a bus of its own, the way Kafka is
one beside the database): new empty topics, topics that survived, and a bus that is not the backed-up
one. The drill (``test_dr_drill.py``) covers the first case end to end on Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from sts.adapters.pg_bus import PostgresEventBus
from sts.bootstrap import ensure_topics
from sts.ports import TOPIC_GAME_EVENTS, Message
from sts.services.backup import GROUPS, TOPICS, BackupError, bus_positions
from sts.services.restore import place_groups

PARTITIONS = 3


@pytest.fixture
async def bus(migrated_pg_url: str) -> AsyncIterator[PostgresEventBus]:
    bus = PostgresEventBus(migrated_pg_url, default_partitions=PARTITIONS)
    await ensure_topics(bus, PARTITIONS)
    yield bus
    await bus.close()


async def _publish(bus: PostgresEventBus, n: int, start: int = 0) -> None:
    await bus.publish(
        [
            Message(TOPIC_GAME_EVENTS, str(745000 + i % 7), b"x", {"event_id": f"e-{start + i}"})
            for i in range(n)
        ]
    )


async def _consume_all(bus: PostgresEventBus, group: str) -> int:
    sub = await bus.subscribe(group, [TOPIC_GAME_EVENTS])
    seen = 0
    try:
        for _ in range(20):
            batch = await sub.poll(timeout=0.3)
            if not batch:
                break
            seen += len(batch)
            await sub.commit(batch)
    finally:
        await sub.close()
    return seen


async def _dead_letter_offsets(url: str) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        return list(
            await (await conn.execute("SELECT topic, next_offset FROM dead_letter_offsets")).fetchall()
        )


async def test_the_manifest_positions_are_end_offsets_and_committed_offsets(bus: PostgresEventBus) -> None:
    await _publish(bus, 30)
    assert await _consume_all(bus, "processor") == 30
    saved = await bus_positions(bus)
    ends = saved["topics"][TOPIC_GAME_EVENTS]
    assert set(saved["topics"]) == set(TOPICS) and sum(ends.values()) == 30
    assert saved["groups"]["processor"][TOPIC_GAME_EVENTS] == ends  # all consumed
    assert all(sum(saved["groups"][g][TOPIC_GAME_EVENTS].values()) == 0 for g in GROUPS if g != "processor")


async def test_new_empty_topics_start_every_group_at_zero(
    bus: PostgresEventBus, migrated_pg_url: str
) -> None:
    manifest = {
        "bus": {
            "topics": {TOPIC_GAME_EVENTS: {"0": 500, "1": 400, "2": 300}},
            "groups": {g: {TOPIC_GAME_EVENTS: {"0": 480, "1": 400, "2": 250}} for g in GROUPS},
        }
    }
    async with await psycopg.AsyncConnection.connect(migrated_pg_url, autocommit=True) as conn:
        await conn.execute("INSERT INTO dead_letter_offsets VALUES ('mlb.snapshots.dlq', 0, 12)")
    placed = await place_groups(bus, manifest, migrated_pg_url)
    assert placed["mode"] == "fresh" and placed["records_now"] == 0
    # the old offsets would have skipped the first 480 events of the new topic: every one is read
    await _publish(bus, 25)
    for group in GROUPS:
        assert sum((await bus.lag(group, TOPIC_GAME_EVENTS)).values()) == 25
    assert await _consume_all(bus, "processor") == 25
    assert await _dead_letter_offsets(migrated_pg_url) == [("mlb.snapshots.dlq", 0)]  # its topic is new too


async def test_surviving_topics_rewind_groups_to_the_backup(
    bus: PostgresEventBus, migrated_pg_url: str
) -> None:
    await _publish(bus, 40)
    assert await _consume_all(bus, "processor") == 40
    saved = await bus_positions(bus)  # the backup's view: processor at the end, others at 0
    manifest = {"bus": saved}
    await _publish(bus, 15, start=40)  # after the backup
    assert await _consume_all(bus, "processor") == 15  # the lost database had applied these
    placed = await place_groups(bus, manifest, migrated_pg_url)
    assert placed["mode"] == "rewind"
    # the processor reads again exactly what came after the backup; the others everything
    assert sum((await bus.lag("processor", TOPIC_GAME_EVENTS)).values()) == 15
    assert sum((await bus.lag("season-stats", TOPIC_GAME_EVENTS)).values()) == 55


async def test_a_bus_with_fewer_records_than_the_backup_is_refused(
    bus: PostgresEventBus, migrated_pg_url: str
) -> None:
    await _publish(bus, 5)
    manifest = {
        "bus": {
            "topics": {TOPIC_GAME_EVENTS: {"0": 500, "1": 400, "2": 300}},
            "groups": {"processor": {TOPIC_GAME_EVENTS: {"0": 500, "1": 400, "2": 300}}},
        }
    }
    with pytest.raises(BackupError, match="fewer than the backup saw"):
        await place_groups(bus, manifest, migrated_pg_url)
    assert sum((await bus.lag("processor", TOPIC_GAME_EVENTS)).values()) == 5  # nothing was moved
