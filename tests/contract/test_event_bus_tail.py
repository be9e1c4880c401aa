"""``EventBus.end_offsets`` and ``EventBus.tail`` on every backend (see ``conftest.py``).

A tail follows a topic outside any group: from its end (or given offsets), every new record of every
partition in offset order, each once, soon after it is published, for as long as it is iterated.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator

from sts.ports import EventBus, Message, Record, TopicSpec
from tests.contract.conftest import BusBackend


def msg(topic: str, key: str, i: int) -> Message:
    return Message(topic, key, f"{key}:{i}".encode(), {"event_id": f"{key}-{i}", "event_type": "Test"})


async def take(records: AsyncIterator[Record], n: int, timeout: float = 20.0) -> list[Record]:  # noqa: ASYNC109
    """The next ``n`` records of ``records`` (fails after ``timeout`` seconds)."""
    got: list[Record] = []

    async def collect() -> None:
        async for r in records:
            got.append(r)
            if len(got) == n:
                return

    try:
        await asyncio.wait_for(collect(), timeout)
    except TimeoutError:
        raise AssertionError(f"only {len(got)} of {n} records after {timeout} s") from None
    return got


async def nothing_more(records: AsyncIterator[Record], wait: float = 1.5) -> None:
    """Assert that ``records`` yields nothing within ``wait`` seconds."""
    extra = await take_some(records, wait)
    assert extra == [], f"unexpected records: {[r.value for r in extra]}"


async def take_some(records: AsyncIterator[Record], wait: float) -> list[Record]:
    got: list[Record] = []

    async def collect() -> None:
        async for r in records:
            got.append(r)

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(collect(), wait)
    return got


async def test_end_offsets_follow_publishes(bus: EventBus, bus_backend: BusBackend) -> None:
    topic = bus_backend.topic("t.ends")
    await bus.create_topic(TopicSpec(topic, partitions=3))
    assert await bus.end_offsets(topic) == {0: 0, 1: 0, 2: 0}
    await bus.publish([msg(topic, str(k), i) for k in range(10) for i in range(3)])
    ends = await bus.end_offsets(topic)
    per_partition: dict[int, int] = defaultdict(int)
    async for r in bus.read(topic):
        per_partition[r.partition] = max(per_partition[r.partition], r.offset + 1)
    assert ends == {p: per_partition.get(p, 0) for p in range(3)}
    assert sum(ends.values()) == 30


async def test_tail_from_the_end_sees_new_records_in_order(bus: EventBus, bus_backend: BusBackend) -> None:
    topic = bus_backend.topic("t.tail")
    await bus.create_topic(TopicSpec(topic, partitions=4))
    keys = [str(745000 + k) for k in range(8)]
    await bus.publish([msg(topic, k, -1) for k in keys])  # before the tail: not seen
    tail = bus.tail(topic)
    try:
        first = asyncio.ensure_future(take(tail, 8 * 20))
        await asyncio.sleep(1.0)  # the tail is waiting at the end
        for i in range(0, 20, 5):
            await bus.publish([msg(topic, k, j) for j in range(i, i + 5) for k in keys])
        got = await first
        by_key: dict[str, list[Record]] = defaultdict(list)
        for r in got:
            by_key[r.key].append(r)
        for key in keys:
            assert [r.value for r in by_key[key]] == [f"{key}:{j}".encode() for j in range(20)]
            assert [r.offset for r in by_key[key]] == sorted(r.offset for r in by_key[key])
        assert all(r.topic == topic for r in got)
        assert got[0].headers["event_type"] == "Test"
        await nothing_more(tail)
    finally:
        await tail.aclose()  # type: ignore[attr-defined]


async def test_tail_from_offsets_then_live(bus: EventBus, bus_backend: BusBackend) -> None:
    topic = bus_backend.topic("t.tailfrom")
    await bus.create_topic(TopicSpec(topic, partitions=2))
    await bus.publish([msg(topic, str(k), i) for i in range(5) for k in range(6)])
    stored = [r async for r in bus.read(topic)]
    # start after the third record of partition 0 and at the beginning of partition 1
    from_offsets = {0: 3, 1: 0}
    expected = {(r.partition, r.offset) for r in stored if r.partition == 1 or r.offset >= 3}
    tail = bus.tail(topic, from_offsets=from_offsets)
    try:
        backlog = await take(tail, len(expected))
        assert {(r.partition, r.offset) for r in backlog} == expected
        await bus.publish([msg(topic, "late", 0), msg(topic, "late", 1)])
        live = await take(tail, 2)
        assert [r.value for r in live] == [b"late:0", b"late:1"]
        assert len({(r.partition, r.offset) for r in backlog + live}) == len(backlog) + 2
    finally:
        await tail.aclose()  # type: ignore[attr-defined]


async def test_two_tails_each_see_everything(bus: EventBus, bus_backend: BusBackend) -> None:
    topic = bus_backend.topic("t.tails")
    await bus.create_topic(TopicSpec(topic, partitions=3))
    tails = [bus.tail(topic), bus.tail(topic)]
    try:
        waits = [asyncio.ensure_future(take(t, 12)) for t in tails]
        await asyncio.sleep(1.0)
        await bus.publish([msg(topic, str(k), i) for k in range(4) for i in range(3)])
        a, b = [await w for w in waits]
        assert sorted((r.partition, r.offset) for r in a) == sorted((r.partition, r.offset) for r in b)
        # tails are not group members: a group still reads everything from the beginning
        sub = await bus.subscribe("g.tails", [topic])
        seen: list[Record] = []
        for _ in range(40):
            seen += await sub.poll(timeout=0.5)
            if len(seen) >= 12:
                break
        await sub.close()
        assert len(seen) == 12
    finally:
        for t in tails:
            await t.aclose()  # type: ignore[attr-defined]
