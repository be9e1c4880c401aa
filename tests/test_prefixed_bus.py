"""``STS_TOPIC_PREFIX`` (:class:`sts.adapters.prefixed_bus.PrefixedEventBus`) on the embedded bus: two
namespaces on one backend never see each other's records or groups, and services see logical names."""

from __future__ import annotations

from sts.adapters.pg_bus import PostgresEventBus
from sts.adapters.prefixed_bus import PrefixedEventBus
from sts.ports import EventBus, Message, TopicSpec

TOPIC = "mlb.game-events"


async def test_two_namespaces_share_a_backend_without_seeing_each_other(migrated_pg_url: str) -> None:
    inner = PostgresEventBus(migrated_pg_url)
    a, b = PrefixedEventBus(inner, "a."), PrefixedEventBus(inner, "b.")
    try:
        assert isinstance(a, EventBus)
        for bus, name in ((a, "a"), (b, "b")):
            await bus.create_topic(TopicSpec(TOPIC, partitions=2))
            await bus.publish([Message(TOPIC, str(k), f"{name}{k}".encode()) for k in range(5)])
        await inner.create_topic(TopicSpec(TOPIC, partitions=2))  # the unprefixed topic stays empty

        sub = await a.subscribe("processor", [TOPIC])
        records = []
        while len(records) < 5:
            records += await sub.poll(10, 1.0)
        assert {r.value for r in records} == {f"a{k}".encode() for k in range(5)}
        assert {r.topic for r in records} == {TOPIC}  # the logical name
        assert sum((await a.lag("processor", TOPIC)).values()) == 5
        await sub.commit(records)
        assert sum((await a.lag("processor", TOPIC)).values()) == 0
        assert sum((await b.lag("processor", TOPIC)).values()) == 5  # b's group is another group
        await sub.close()

        replayed = [r async for r in b.read(TOPIC)]
        assert sorted(r.value for r in replayed) == sorted(f"b{k}".encode() for k in range(5))
        assert {r.topic for r in replayed} == {TOPIC}
        assert [r async for r in inner.read(TOPIC)] == []
        assert len([r async for r in inner.read("a." + TOPIC)]) == 5  # what the backend holds
    finally:
        await inner.close()
