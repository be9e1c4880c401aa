"""What the Kafka bus and the Confluent-compatible registry promise beyond the shared contract suites.

Needs the local broker and registry (``deploy/local/kafka.sh start``, ``deploy/local/apicurio.sh start``;
settings in :mod:`tests.kafka_backends`); the URL-parsing tests at the top need neither.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sts.adapters.kafka_bus import KafkaEventBus, from_url, parse_url
from sts.config import Settings
from sts.errors import BusError, ConfigError, SchemaError
from sts.ports import EventBus, Message, SchemaRegistry, TopicSpec
from tests.kafka_backends import (
    delete_test_topics,
    kafka_url,
    new_bus,
    registry_url,
    require_kafka,
    require_registry,
    unique_topic,
)

REPO = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------- no services needed


def test_url_parsing() -> None:
    assert parse_url("kafka://127.0.0.1:9092") == ("127.0.0.1:9092", {})
    assert parse_url("kafka://a:9092,b:9093?client.id=sts&security.protocol=SSL") == (
        "a:9092,b:9093",
        {"client.id": "sts", "security.protocol": "SSL"},
    )
    with pytest.raises(ConfigError):
        parse_url("postgresql://x/y")
    with pytest.raises(ConfigError):
        parse_url("kafka://")
    bus = from_url("kafka://h:1?linger.ms=20", Settings(partitions=9))
    assert (bus.bootstrap, bus.default_partitions, bus.config["linger.ms"]) == ("h:1", 9, "20")
    assert isinstance(bus, EventBus)  # the port, checked structurally; no broker is contacted


async def test_the_registry_adapter_is_a_schema_registry() -> None:
    from sts.adapters.confluent_registry import ConfluentSchemaRegistry

    registry = ConfluentSchemaRegistry("http://127.0.0.1:1/apis/ccompat/v7")
    assert isinstance(registry, SchemaRegistry)
    await registry.close()


def murmur2(data: bytes) -> int:
    """Kafka's Java ``Utils.murmur2`` (the default partitioner's hash)."""
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    rest = length % 4
    tail = data[length - rest :]
    if rest == 3:
        h ^= tail[2] << 16
    if rest >= 2:
        h ^= tail[1] << 8
    if rest >= 1:
        h ^= tail[0]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h


def java_partition(key: str, partitions: int) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def test_murmur2_matches_kafka_reference_values() -> None:
    # values from Kafka's UtilsTest.testMurmur2
    assert murmur2(b"21") == (-973932308) & 0xFFFFFFFF
    assert murmur2(b"foobar") == (-790332482) & 0xFFFFFFFF
    assert murmur2(b"a-little-bit-long-string") == (-985981536) & 0xFFFFFFFF


# --------------------------------------------------------------------------- live broker / registry

live = pytest.mark.kafka


@pytest.fixture
async def kbus() -> AsyncIterator[KafkaEventBus]:
    require_kafka()
    bus = new_bus()
    assert isinstance(bus, KafkaEventBus)
    yield bus
    await bus.close()
    delete_test_topics()


def describe(bus: KafkaEventBus, topic: str) -> tuple[int, dict[str, str]]:
    """Partition count and configuration of ``topic``, as the broker reports them."""
    ck = bus._ck
    partitions = len(bus.admin.list_topics(topic=topic, timeout=10).topics[topic].partitions)
    resource = ck.admin.ConfigResource(ck.admin.ResourceType.TOPIC, topic)
    (future,) = bus.admin.describe_configs([resource]).values()
    return partitions, {k: v.value for k, v in future.result(timeout=10).items()}


@live
async def test_topic_spec_is_read_back_and_updated(kbus: KafkaEventBus) -> None:
    topic = unique_topic("k.spec")
    await kbus.create_topic(TopicSpec(topic, partitions=5, retention_ms=3_600_000))
    partitions, config = await asyncio.to_thread(describe, kbus, topic)
    assert (partitions, config["retention.ms"]) == (5, "3600000")
    await kbus.create_topic(TopicSpec(topic, partitions=5))  # idempotent; None = keep forever
    partitions, config = await asyncio.to_thread(describe, kbus, topic)
    assert (partitions, config["retention.ms"]) == (5, "-1")
    with pytest.raises(BusError, match="exists with 5 partitions"):
        await kbus.create_topic(TopicSpec(topic, partitions=6))
    auto = unique_topic("k.auto")
    await kbus.publish([Message(auto, "745001", b"x")])  # a missing topic gets the default partitions
    assert await kbus.partitions(auto) == kbus.default_partitions


@live
async def test_keys_partition_like_java_and_headers_and_timestamps_travel(kbus: KafkaEventBus) -> None:
    topic = unique_topic("k.keys")
    await kbus.create_topic(TopicSpec(topic, partitions=6))
    keys = [str(745000 + k) for k in range(40)]
    await kbus.publish(
        [Message(topic, k, k.encode(), {"event_id": f"e-{k}", "é": "ü"}, 1_711_990_800_000) for k in keys]
    )
    records = [r async for r in kbus.read(topic)]
    assert sorted(r.key for r in records) == keys
    for r in records:
        assert r.partition == java_partition(r.key, 6), r.key  # a Java producer would agree
        assert r.headers == {"event_id": f"e-{r.key}", "é": "ü"}
        assert r.timestamp_ms == 1_711_990_800_000


@live
async def test_the_producer_is_idempotent() -> None:
    """The broker assigned the producer an id (librdkafka enforces acks=all with idempotence)."""
    require_kafka()
    stats: list[dict[str, Any]] = []
    bus = from_url(kafka_url())
    bus.config.update({"statistics.interval.ms": 100, "stats_cb": lambda s: stats.append(json.loads(s))})
    try:
        topic = unique_topic("k.idem")
        await bus.create_topic(TopicSpec(topic, partitions=1))
        await bus.publish([Message(topic, "1", b"x")])
        # statistics are queued every 100 ms and served by poll: wait for one taken after the publish
        published = len(stats)
        deadline = time.monotonic() + 10
        while len(stats) < published + 2 and time.monotonic() < deadline:
            await asyncio.to_thread(bus.producer.poll, 0.2)
    finally:
        await bus.close()
    producer_stats = [s for s in stats if s.get("type") == "producer"]
    assert producer_stats, "no producer statistics"
    eos = producer_stats[-1]["eos"]
    assert eos["idemp_state"] == "Assigned" and eos["producer_id"] >= 0, eos
    assert producer_stats[-1]["txmsgs"] == 1


async def test_publish_raises_when_nothing_is_delivered() -> None:
    bus = KafkaEventBus("127.0.0.1:1", delivery_timeout=1.5)  # nothing listens there
    bus._partitions["t"] = 1  # skip the metadata look-up, so that the producer is what fails
    started = time.monotonic()
    with pytest.raises(BusError, match="not delivered"):
        await bus.publish([Message("t", "1", b"x")])
    assert time.monotonic() - started < 15
    with pytest.raises(BusError, match="not ready"):
        await bus.ready()
    await bus.close()


@live
async def test_a_crashed_member_loses_its_partitions_after_the_session_timeout(kbus: KafkaEventBus) -> None:
    topic = unique_topic("k.crash")
    group = unique_topic("g.crash")
    await kbus.create_topic(TopicSpec(topic, partitions=2))
    # the other member is a separate process that joins, reports its assignment and is then SIGKILLed
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from sts.adapters.kafka_bus import from_url
        async def main():
            bus = from_url({kafka_url()!r}, session_timeout={kbus.session_timeout})
            sub = await bus.subscribe({group!r}, [{topic!r}])
            while True:
                await sub.poll(timeout=0.2)
        asyncio.run(main())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.DEVNULL, env=env
    )
    try:
        a = await kbus.subscribe(group, [topic])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # poll until the group settled with one partition each
            await a.poll(timeout=0.2)
            if len(a.assignment) == 1:
                break
        assert len(a.assignment) == 1, a.assignment
        other.kill()  # no LeaveGroup: the broker notices only when the session times out
        await other.wait()
        await kbus.publish([Message(topic, str(k), b"after") for k in range(10)])
        killed = time.monotonic()
        got: list[Any] = []
        while len(got) < 10 and time.monotonic() - killed < kbus.session_timeout + 10:
            batch = await a.poll(timeout=0.5)
            got += batch
            await a.commit(batch)
        took = time.monotonic() - killed
        assert sorted(r.key for r in got) == sorted(str(k) for k in range(10))
        assert len(a.assignment) == 2
        assert took < kbus.session_timeout + 5, f"took {took:.1f}s"
        await a.close()
    finally:
        if other.returncode is None:
            other.kill()
            await other.wait()


# --------------------------------------------------------------------------- registry + codec


@pytest.fixture
async def confluent_registry() -> AsyncIterator[Any]:
    from sts.adapters.confluent_registry import ConfluentSchemaRegistry

    require_registry()
    registry = ConfluentSchemaRegistry(registry_url())
    yield registry
    await registry.close()


TEST_SCHEMA = {
    "type": "record",
    "name": "KafkaProbe",
    "namespace": "sts.test",
    "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "game_pk", "type": "long"},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}


@live
async def test_registry_refusal_carries_the_registry_message(confluent_registry: Any) -> None:
    subject = f"{unique_topic('k.subject')}-value"
    await confluent_registry.set_compatibility("BACKWARD", subject)
    await confluent_registry.register(subject, json.dumps(TEST_SCHEMA))
    incompatible = {**TEST_SCHEMA, "fields": [*TEST_SCHEMA["fields"], {"name": "x", "type": "int"}]}
    with pytest.raises(SchemaError, match=f"{subject}.*[Ii]ncompatible"):
        await confluent_registry.register(subject, json.dumps(incompatible))
    with pytest.raises(SchemaError, match="unknown compatibility level"):
        await confluent_registry.set_compatibility("SIDEWAYS")


@live
async def test_codec_round_trip_through_apicurio_and_kafka(
    kbus: KafkaEventBus, confluent_registry: Any, tmp_path: Path
) -> None:
    from confluent_kafka.schema_registry import SchemaRegistryClient, topic_record_subject_name_strategy
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    from sts.events.codec import AvroCodec
    from sts.events.model import GameEvent

    (tmp_path / "KafkaProbe.avsc").write_text(json.dumps(TEST_SCHEMA))
    codec = AvroCodec(confluent_registry, schemas_dir=tmp_path)
    topic = unique_topic("k.codec")
    await kbus.create_topic(TopicSpec(topic, partitions=2))
    events = [
        GameEvent("KafkaProbe", f"ev-{i}", 745001, {"event_id": f"ev-{i}", "game_pk": 745001, "note": n})
        for i, n in enumerate(["walk-off", None, "no-hitter watch"])
    ]
    await kbus.publish([await codec.message(topic, e) for e in events])
    records = [r async for r in kbus.read(topic)]
    assert [r.headers["event_id"] for r in records] == ["ev-0", "ev-1", "ev-2"]

    # a fresh codec (empty caches) reads the writer schema back from the registry by id
    reader = AvroCodec(confluent_registry, schemas_dir=tmp_path)
    assert [await reader.decode(r.value) for r in records] == events
    schema_id = int.from_bytes(records[0].value[1:5], "big")
    assert schema_id == await codec.schema_id(topic, "KafkaProbe")

    # Confluent's own deserializer, on the same registry, reads what the codec wrote
    # Our codec's subjects are {topic}-{record name}. Named explicitly: the client's default strategy asks
    # Confluent's /associations endpoint first, which Apicurio answers 404, and the client's follow-up
    # request then sometimes never got an answer (a hang seen in full runs). The timeout turns any such
    # hang into a failure.
    client = SchemaRegistryClient({"url": registry_url(), "timeout": 30})
    deserialize = AvroDeserializer(client, conf={"subject.name.strategy": topic_record_subject_name_strategy})
    ctx = SerializationContext(topic, MessageField.VALUE)
    decoded = await asyncio.to_thread(lambda: [deserialize(r.value, ctx) for r in records])
    assert decoded == [e.payload for e in events]


@live
async def test_group_churn_loses_nothing(kbus: KafkaEventBus) -> None:
    """Members join and leave while records flow: every record is handled at least once and all
    offsets end committed (Kafka's rebalances instead of the embedded bus's own protocol)."""
    topic = unique_topic("k.churn")
    group = unique_topic("g.churn")
    await kbus.create_topic(TopicSpec(topic, partitions=6))
    handled: list[bytes] = []
    produced = asyncio.Event()

    async def member(lifetime: float) -> None:
        sub = await kbus.subscribe(group, [topic])
        until = time.monotonic() + lifetime
        while time.monotonic() < until:
            batch = await sub.poll(max_records=7, timeout=0.1)
            handled.extend(r.value for r in batch)
            await sub.commit(batch)
        await sub.close()

    async def produce() -> None:
        for i in range(30):
            await kbus.publish([Message(topic, str(k), f"{k}:{i}".encode()) for k in range(10)])
            await asyncio.sleep(0.03)
        produced.set()

    async def later(delay: float, lifetime: float) -> None:
        await asyncio.sleep(delay)
        await member(lifetime)

    async def last_member() -> None:
        # stays until everything was produced, handled and committed (bounded), then leaves: a record
        # handled by a member whose commit a rebalance dropped is read again, and committed, by the member
        # that gets its partition next, which may be this one after "everything handled" already holds
        sub = await kbus.subscribe(group, [topic])
        deadline = time.monotonic() + 60
        want = {f"{k}:{i}".encode() for k in range(10) for i in range(30)}
        while time.monotonic() < deadline:
            batch = await sub.poll(max_records=7, timeout=0.1)
            handled.extend(r.value for r in batch)
            await sub.commit(batch)
            if (
                produced.is_set()
                and want <= set(handled)
                and not any((await kbus.lag(group, topic)).values())
            ):
                break
        await sub.close()

    await asyncio.gather(produce(), member(1.0), later(0.3, 1.5), later(0.6, 3.0), member(0.5), last_member())
    assert set(handled) == {f"{k}:{i}".encode() for k in range(10) for i in range(30)}
    assert await kbus.lag(group, topic) == dict.fromkeys(range(6), 0)


# --------------------------------------------------------------------------- registry adapter, no server
# (answers of a live registry, refusals included, are covered by the registry contract suite on Apicurio)


async def test_unreachable_registry_is_a_clear_backend_error() -> None:
    from sts.adapters.confluent_registry import ConfluentSchemaRegistry
    from sts.errors import BackendError

    unreachable = ConfluentSchemaRegistry("http://127.0.0.1:1/apis/ccompat/v7", timeout=2)
    with pytest.raises(BackendError, match="unreachable"):
        await unreachable.register("x-value", '"string"')
    await unreachable.close()
