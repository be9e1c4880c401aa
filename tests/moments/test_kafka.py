"""The ``moments`` consumer on Kafka with the Apicurio registry (the database stays PostgreSQL): the
same moments as on the embedded bus, across a restart, each published once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest

from sts.adapters.confluent_registry import ConfluentSchemaRegistry
from sts.adapters.prefixed_bus import PrefixedEventBus
from sts.events.codec import AvroCodec
from sts.events.derive import derive_events
from sts.moments.consumer import GROUP, moments_consumer
from sts.ports import TOPIC_GAME_EVENTS, TOPIC_GAME_EVENTS_DLQ, TOPIC_NOTABLE_MOMENTS, TopicSpec
from tests import kafka_backends as kb
from tests.events.feeds import load, states
from tests.moments.test_recorded import moments_of

pytestmark = pytest.mark.kafka

GAME = 747175


@pytest.fixture
async def kafka() -> AsyncIterator[tuple[PrefixedEventBus, AvroCodec]]:
    kb.require_kafka()
    kb.require_registry()
    prefix = f"test-moments-{uuid.uuid4().hex[:8]}."
    bus = PrefixedEventBus(kb.new_bus(), prefix)
    registry = ConfluentSchemaRegistry(kb.registry_url())
    try:
        for topic in (TOPIC_GAME_EVENTS, TOPIC_GAME_EVENTS_DLQ, TOPIC_NOTABLE_MOMENTS):
            await bus.create_topic(TopicSpec(topic, partitions=2))
            kb._created.append(bus.topic(topic))  # deleted at the end, like every test topic
        yield bus, AvroCodec(registry)
    finally:
        await bus.close()
        await registry.close()
        kb.delete_test_topics()


async def test_moments_on_kafka_across_a_restart(
    kafka: tuple[PrefixedEventBus, AvroCodec], migrated_pg_url: str
) -> None:
    bus, codec = kafka
    final = load("recorded/feed_live_747175.stub.json")
    snapshots = states(final, 10)
    previous = None
    for i, state in enumerate(snapshots):
        await bus.publish([await codec.message(TOPIC_GAME_EVENTS, e) for e in derive_events(previous, state)])
        previous = state
        if i == len(snapshots) // 2:  # a consumer handles the first half, then stops
            proc = moments_consumer(bus, codec, migrated_pg_url, retry_pause=0.0)
            try:
                await proc.process_available()
            finally:
                await proc.close()
    proc = moments_consumer(bus, codec, migrated_pg_url, retry_pause=0.0)
    try:
        await proc.process_available()
    finally:
        await proc.close()
    assert sum((await bus.lag(GROUP, TOPIC_GAME_EVENTS)).values()) == 0

    async with await psycopg.AsyncConnection.connect(migrated_pg_url) as conn:
        cur = await conn.execute("SELECT event_id, rule, at_bat_index FROM notable_moments ORDER BY 3, 2")
        rows = await cur.fetchall()
    expected = moments_of(final)
    assert [tuple(r) for r in rows] == [(m.event_id, m.rule, m.at_bat_index) for m in expected]
    assert [(r[1], r[2]) for r in rows] == [("lead_change", 51), ("lead_change", 74), ("walk_off", 74)]
    published = [await codec.decode(r.value) async for r in bus.read(TOPIC_NOTABLE_MOMENTS)]
    assert sorted(e.event_id for e in published) == sorted(r[0] for r in rows)
    walk_off = next(e for e in published if e.payload["rule"] == "walk_off")
    assert walk_off.payload["player_ids"] == [672695] and walk_off.game_pk == GAME
