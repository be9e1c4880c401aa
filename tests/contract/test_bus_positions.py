"""Contract tests of the port methods backups and restores rely on, on every backend of
``conftest.py``: :meth:`sts.ports.EventBus.set_committed` (consumer groups placed on restored or
recreated topics) and :meth:`sts.ports.SchemaRegistry.versions` (what a backup records of the registry).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from sts.errors import BusError
from sts.ports import EventBus, SchemaRegistry
from tests.contract.conftest import BusBackend
from tests.contract.test_event_bus import consume, msg, new_topic
from tests.contract.test_schema_registry import V1, V2


async def test_set_committed_places_a_group_where_it_resumes(bus: EventBus, bus_backend: BusBackend) -> None:
    topic = await new_topic(bus, bus_backend, "t.setc", partitions=3)
    await bus.publish([msg(topic, str(745000 + k), i) for k in range(12) for i in range(3)])
    by_partition: dict[int, list[int]] = {p: [] for p in range(3)}
    async for rec in bus.read(topic):
        by_partition[rec.partition].append(rec.offset)
    assert sum(1 for v in by_partition.values() if v) >= 2  # twelve keys spread over the partitions
    # a fresh group placed at offset 2 of every partition skips exactly the first two of each
    await bus.set_committed("g.setc", topic, dict.fromkeys(by_partition, 2))
    assert await bus.lag("g.setc", topic) == {p: max(0, len(v) - 2) for p, v in by_partition.items()}
    expected = sorted((p, o) for p, offsets in by_partition.items() for o in offsets if o >= 2)
    sub = await bus.subscribe("g.setc", [topic])
    got = await consume(sub, len(expected))
    await sub.close()
    assert sorted((r.partition, r.offset) for r in got) == expected
    assert sum((await bus.lag("g.setc", topic)).values()) == 0
    # moved back to the beginning of one partition only: that partition is read again, the other not
    first = max(by_partition, key=lambda p: len(by_partition[p]))
    await _set_when_empty(bus, "g.setc", topic, {first: 0})
    assert await bus.lag("g.setc", topic) == {p: len(v) if p == first else 0 for p, v in by_partition.items()}


async def _set_when_empty(bus: EventBus, group: str, topic: str, offsets: dict[int, int]) -> None:
    """set_committed right after the last member closed (a broker may take a moment to see it gone)."""
    deadline = time.monotonic() + 15
    while True:
        try:
            await bus.set_committed(group, topic, offsets)
            return
        except BusError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def test_set_committed_is_refused_while_the_group_has_a_live_member(
    bus: EventBus, bus_backend: BusBackend
) -> None:
    topic = await new_topic(bus, bus_backend, "t.setlive", partitions=1)
    await bus.publish([msg(topic, "745001", i) for i in range(3)])
    sub = await bus.subscribe("g.setlive", [topic])
    got = await consume(sub, 3)
    assert len(got) == 3
    try:
        with pytest.raises(BusError):
            await bus.set_committed("g.setlive", topic, {0: 0})
    finally:
        await sub.close()
    assert await bus.lag("g.setlive", topic) == {0: 0}  # the refused call changed nothing


async def test_versions_lists_every_version_of_a_subject(registry: SchemaRegistry, subject: str) -> None:
    assert await registry.versions(subject) == []
    first = await registry.register(subject, V1)
    second = await registry.register(subject, V2)
    assert await registry.register(subject, V1) == first  # not a new version
    assert await registry.versions(subject) == [(1, first), (2, second)]
