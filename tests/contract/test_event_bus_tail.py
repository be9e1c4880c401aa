"""``EventBus.end_offsets`` and ``EventBus.tail`` on every backend (see ``conftest.py``).

A tail follows a topic outside any group: from its end (or given offsets), every new record of every
partition in offset order, each once, soon after it is published, for as long as it is iterated.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
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


MARKER = "marker"  # the key of the records that show a tail is following (not part of what is checked)


class Follower:
    """A task of its own iterating ``tail`` into ``got``, so that the test can publish meanwhile."""

    def __init__(self, tail: AsyncIterator[Record]) -> None:
        self.tail = tail
        self.got: list[Record] = []
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        async for r in self.tail:
            self.got.append(r)

    def records(self) -> list[Record]:
        """What it got, without the markers."""
        if self.task.done():
            self.task.result()  # the tail failed: say why
        return [r for r in self.got if r.key != MARKER]

    async def wait_for(self, n: int, within: float = 60.0) -> list[Record]:
        deadline = time.monotonic() + within
        while len(self.records()) < n:
            assert time.monotonic() < deadline, f"only {len(self.records())} of {n} records after {within} s"
            await asyncio.sleep(0.05)
        return self.records()

    async def close(self) -> None:
        self.task.cancel()  # (ends the iteration inside the generator, which closes the tail)
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.tail.aclose()  # type: ignore[attr-defined]


async def following(bus: EventBus, topic: str, followers: list[Follower], within: float = 60.0) -> None:
    """Return once every follower's tail is following ``topic``: publish a marker record at a time until
    each has received one. A tail starts at the end of the topic when it is first iterated, which on a
    loaded machine (or a broker: a consumer of its own, every partition's high watermark) can take
    longer than any fixed sleep; a record published before that would be skipped as "old"."""
    deadline = time.monotonic() + within
    for i in itertools.count():
        await bus.publish([msg(topic, MARKER, i)])
        waited = time.monotonic() + 0.5
        while time.monotonic() < waited:
            if all(any(r.key == MARKER for r in f.got) for f in followers):
                return
            await asyncio.sleep(0.02)
        for f in followers:
            f.records()  # a tail that failed says why now
        assert time.monotonic() < deadline, f"a tail did not start following {topic} within {within} s"


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
    follower = Follower(bus.tail(topic))
    try:
        await following(bus, topic, [follower])  # the tail is waiting at the end
        for i in range(0, 20, 5):
            await bus.publish([msg(topic, k, j) for j in range(i, i + 5) for k in keys])
        got = await follower.wait_for(8 * 20)
        by_key: dict[str, list[Record]] = defaultdict(list)
        for r in got:
            by_key[r.key].append(r)
        for key in keys:
            assert [r.value for r in by_key[key]] == [f"{key}:{j}".encode() for j in range(20)]
            assert [r.offset for r in by_key[key]] == sorted(r.offset for r in by_key[key])
        assert all(r.topic == topic for r in got)
        assert got[0].headers["event_type"] == "Test"
        await asyncio.sleep(1.5)  # nothing more comes (no record twice)
        assert len(follower.records()) == 8 * 20, [r.value for r in follower.records()[8 * 20 :]]
    finally:
        await follower.close()


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
    followers = [Follower(bus.tail(topic)), Follower(bus.tail(topic))]
    try:
        await following(bus, topic, followers)
        await bus.publish([msg(topic, str(k), i) for k in range(4) for i in range(3)])
        a, b = [await f.wait_for(12) for f in followers]
        assert sorted((r.partition, r.offset) for r in a) == sorted((r.partition, r.offset) for r in b)
        # tails are not group members: a group still reads everything from the beginning
        sub = await bus.subscribe("g.tails", [topic])
        seen: list[Record] = []
        deadline = time.monotonic() + 60
        while len([r for r in seen if r.key != MARKER]) < 12 and time.monotonic() < deadline:
            seen += await sub.poll(timeout=0.5)
        await sub.close()
        assert len([r for r in seen if r.key != MARKER]) == 12
    finally:
        for f in followers:
            await f.close()
