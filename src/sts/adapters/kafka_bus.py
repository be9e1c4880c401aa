"""The Apache Kafka event bus: an :class:`sts.ports.EventBus` on confluent-kafka (librdkafka).

URL: ``kafka://host:port[,host:port...][?librdkafka.property=value&...]``, e.g.
``kafka://127.0.0.1:9092`` (the broker of ``deploy/local/kafka.sh``). Query parameters are passed to
every librdkafka client as configuration (``?security.protocol=SASL_SSL&sasl.mechanism=PLAIN&...``).

How it keeps the :class:`sts.ports.EventBus` contract:

- **Publish.** One idempotent producer (``enable.idempotence=true``, ``acks=all``) per bus; the message
  key (the gamePk) picks the partition with ``murmur2_random`` (Java's default partitioner, so Java and
  Python producers agree on a game's partition). ``publish`` returns once the broker acknowledged every
  message and raises :class:`sts.errors.BusError` if any delivery failed. Values are bytes already
  serialized by :class:`sts.events.codec.AvroCodec`; the bus adds no serializer. Unlike the embedded
  bus, Kafka does not drop a message whose ``event_id`` it already stores: consumers deduplicate.
- **Topics** are created explicitly (the broker has ``auto.create.topics.enable=false``) with their
  partition count and ``retention.ms`` (``-1`` when the spec keeps forever). ``create_topic`` is
  idempotent; a different partition count is an error; retention is updated. ``publish`` and
  ``subscribe`` create a missing topic with ``default_partitions``, as the embedded bus does.
- **Groups** use Kafka's consumer groups (classic protocol): ``enable.auto.commit=false``,
  ``auto.offset.reset=earliest``; ``commit`` synchronously stores ``offset + 1`` per partition the
  member still owns (a commit for a partition lost in a rebalance is dropped: its records are
  delivered again, to the new owner). A member that stops heart-beating loses its partitions after
  ``session_timeout`` seconds; one that closes hands them over at once.
- **Replay** (``read``) uses a consumer outside any group (``assign`` + ``offsets_for_times``),
  partition by partition, up to the high watermark at the start of each partition.
- **Tail** (``tail``) follows a topic with a consumer that ``assign``s every partition (no group, no
  commit), from given offsets or the high watermarks, forever; live streams use it.
- **Lag** is, per partition, high watermark minus ``max(committed, low watermark)``.

librdkafka's calls block, so they run in threads: the producer and admin client are thread-safe and
share the bus's small pool; each subscription owns a one-thread executor because a librdkafka
consumer must not be used from two threads at once. (confluent_kafka.aio's AIOProducer cannot carry
headers in 2.16, which the bus needs for ``event_id``/``event_type``.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import structlog

from sts.adapters.kafka_consume import KafkaSubscription, Replay, Tail
from sts.errors import BusError, ConfigError
from sts.metrics import CONSUMER_LAG, EVENTS_PUBLISHED
from sts.ports import Message, Record, TopicSpec

if TYPE_CHECKING:
    from sts.config import Settings

log = structlog.get_logger(__name__)

T = TypeVar("T")


def _kafka() -> Any:
    """The confluent_kafka module, imported on first use."""
    try:
        import confluent_kafka
        import confluent_kafka.admin
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "the Kafka event bus needs confluent-kafka: install the 'kafka' extra "
            "(uv sync --extra kafka, or pip install 'sts[kafka]')"
        ) from exc
    return confluent_kafka


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(dt: datetime) -> int:
    """An aware datetime (naive = UTC) → milliseconds since the epoch (exact)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """``kafka://h1:9092,h2:9092?k=v`` → (``"h1:9092,h2:9092"``, ``{"k": "v"}``)."""
    parts = urlsplit(url)
    if parts.scheme != "kafka":
        raise ConfigError(f"not a Kafka URL (kafka://host:port): {url!r}")
    bootstrap = unquote(parts.netloc)
    if not bootstrap:
        raise ConfigError(f"Kafka URL without a broker address: {url!r}")
    return bootstrap, dict(parse_qsl(parts.query))


def from_url(url: str, settings: Settings | None = None, **options: Any) -> KafkaEventBus:
    """The bus for ``STS_EVENT_BUS_URL`` (``kafka://…``); topics it creates get ``settings.partitions``.

    ``options`` go to :class:`KafkaEventBus` (``session_timeout``, ``delivery_timeout``, ...)."""
    bootstrap, extra = parse_url(url)
    if settings is not None:
        options.setdefault("default_partitions", settings.partitions)
    return KafkaEventBus(bootstrap, config=extra, **options)


ERROR_LOG_INTERVAL = 10.0  # seconds between two log lines of the same client error

# the group coordinator moves or is still loading (a new broker creates __consumer_offsets on first use)
_COORDINATOR_ERRORS = ("NOT_COORDINATOR", "COORDINATOR_LOAD_IN_PROGRESS", "COORDINATOR_NOT_AVAILABLE")


def _retrying(call: Callable[[], T], attempts: int = 20, pause: float = 0.25) -> T:
    """``call()``, again (up to ``attempts`` times) while it fails with a transient coordinator error."""
    import confluent_kafka

    for attempt in range(attempts):
        try:
            return call()
        except confluent_kafka.KafkaException as exc:
            err = exc.args[0]
            transient = err.retriable() or err.name() in _COORDINATOR_ERRORS
            if attempt == attempts - 1 or not transient:
                raise
            time.sleep(pause)
    raise AssertionError("unreachable")


class KafkaEventBus:
    """An :class:`sts.ports.EventBus` on the Kafka cluster at ``bootstrap`` (``host:port[,...]``).

    ``config``: extra librdkafka properties for every client (security, client.id, ...).
    ``default_partitions``: partitions of a topic created implicitly by ``publish``/``subscribe``.
    ``replication_factor``: replicas of the topics it creates; -1 takes the broker's
    ``default.replication.factor`` (1 on the local broker, 3 on a typical cluster).
    ``session_timeout``: seconds after which a silent group member loses its partitions (the broker
    must allow it: ``group.min.session.timeout.ms``, 6 s by default, 3 s on the local broker).
    ``delivery_timeout``: seconds ``publish`` may take before undelivered messages count as failed.
    Clients are created on first use; call :meth:`close` when done.
    """

    def __init__(
        self,
        bootstrap: str = "127.0.0.1:9092",
        *,
        config: Mapping[str, Any] | None = None,
        default_partitions: int = 6,
        replication_factor: int = -1,
        session_timeout: float = 10.0,
        delivery_timeout: float = 30.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.config: dict[str, Any] = {"bootstrap.servers": bootstrap, **dict(config or {})}
        self.default_partitions = default_partitions
        self.replication_factor = replication_factor
        self.session_timeout = session_timeout
        self.delivery_timeout = delivery_timeout
        self._ck = _kafka()
        self._producer: Any = None
        self._admin: Any = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="sts-kafka")
        self._partitions: dict[str, int] = {}
        self._subscriptions: set[KafkaSubscription] = set()
        self._lock = threading.Lock()
        self._error_log: dict[str, tuple[float, int]] = {}  # error name -> (last logged, not logged since)

    # ------------------------------------------------------------------ clients

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _error_cb(self, err: Any) -> None:
        # librdkafka reports every failed reconnect of every client: while a broker is down that is
        # dozens a second, so each kind of error is logged at most once per ERROR_LOG_INTERVAL.
        now = time.monotonic()
        with self._lock:
            last, suppressed = self._error_log.get(err.name(), (0.0, 0))
            if now - last < ERROR_LOG_INTERVAL and not err.fatal():
                self._error_log[err.name()] = (last, suppressed + 1)
                return
            self._error_log[err.name()] = (now, 0)
        log.warning("kafka client error", error=str(err), fatal=err.fatal(), repeats_not_logged=suppressed)

    @property
    def admin(self) -> Any:
        with self._lock:
            if self._admin is None:
                self._admin = self._ck.admin.AdminClient({**self.config, "error_cb": self._error_cb})
            return self._admin

    @property
    def producer(self) -> Any:
        with self._lock:
            if self._producer is None:
                self._producer = self._ck.Producer(
                    {
                        **self.config,
                        "enable.idempotence": True,
                        "acks": "all",
                        "partitioner": "murmur2_random",
                        "linger.ms": 5,
                        "compression.type": "lz4",
                        "message.timeout.ms": int(self.delivery_timeout * 1000),
                        "error_cb": self._error_cb,
                    }
                )
            return self._producer

    def consumer_config(self, group: str, **overrides: Any) -> dict[str, Any]:
        """librdkafka configuration of a consumer in ``group`` (offsets committed only by hand)."""
        return {
            **self.config,
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": int(self.session_timeout * 1000),
            # frequent heartbeats: a member learns of a rebalance (a member left) at its next one
            "heartbeat.interval.ms": min(500, int(self.session_timeout * 1000) // 3),
            "error_cb": self._error_cb,
            **overrides,
        }

    # ------------------------------------------------------------------ topics

    def _topic_partitions(self, topic: str) -> int | None:
        md = self.admin.list_topics(topic=topic, timeout=10)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            return None
        return len(t.partitions)

    def _wait_for_leaders(self, topic: str, partitions: int, timeout: float = 15.0) -> None:
        # A new topic is usable once the metadata shows a leader for every partition.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            md = self.admin.list_topics(topic=topic, timeout=5)
            t = md.topics.get(topic)
            if (
                t is not None
                and t.error is None
                and len(t.partitions) == partitions
                and all(p.leader >= 0 for p in t.partitions.values())
            ):
                return
            time.sleep(0.05)
        raise BusError(f"topic {topic!r} has no leader for every partition after {timeout} s")

    def _create_topic(self, spec: TopicSpec) -> None:
        ck = self._ck
        retention = str(spec.retention_ms if spec.retention_ms is not None else -1)
        new = ck.admin.NewTopic(
            spec.name,
            num_partitions=spec.partitions,
            replication_factor=self.replication_factor,
            config={"retention.ms": retention},
        )
        future = self.admin.create_topics([new], operation_timeout=15, request_timeout=20)[spec.name]
        try:
            future.result()
        except ck.KafkaException as exc:
            if exc.args[0].code() != ck.KafkaError.TOPIC_ALREADY_EXISTS:
                raise BusError(f"create_topic {spec.name!r}: {exc}") from exc
            existing = self._topic_partitions(spec.name)
            if existing is not None and existing != spec.partitions:
                raise BusError(
                    f"topic {spec.name!r} exists with {existing} partitions, not {spec.partitions}"
                ) from None
            self._set_retention(spec.name, retention)
        self._wait_for_leaders(spec.name, spec.partitions)

    def _set_retention(self, topic: str, retention: str) -> None:
        ck = self._ck
        resource = ck.admin.ConfigResource(
            ck.admin.ResourceType.TOPIC,
            topic,
            incremental_configs=[
                ck.admin.ConfigEntry(
                    "retention.ms", retention, incremental_operation=ck.admin.AlterConfigOpType.SET
                )
            ],
        )
        try:
            for future in self.admin.incremental_alter_configs([resource]).values():
                future.result()
            # the controller committed the change; the broker applies it a moment later
            deadline = time.monotonic() + 10
            while self._topic_config(topic).get("retention.ms") != retention:
                if time.monotonic() > deadline:
                    raise BusError(f"retention.ms of {topic!r} still not {retention} after 10 s")
                time.sleep(0.05)
        except ck.KafkaException as exc:
            raise BusError(f"setting retention.ms of {topic!r}: {exc}") from exc

    def _topic_config(self, topic: str) -> dict[str, str]:
        ck = self._ck
        resource = ck.admin.ConfigResource(ck.admin.ResourceType.TOPIC, topic)
        (future,) = self.admin.describe_configs([resource]).values()
        return {name: entry.value for name, entry in future.result(timeout=10).items()}

    async def create_topic(self, spec: TopicSpec) -> None:
        """Create ``spec`` (idempotent; updates retention). A different partition count is an error."""
        await self._run(self._create_topic, spec)
        self._partitions[spec.name] = spec.partitions

    async def partitions(self, topic: str, *, create: bool = True) -> int:
        """The partition count of ``topic``, creating it with the defaults if it is missing."""
        if topic not in self._partitions:
            try:
                count = await self._run(self._topic_partitions, topic)
            except self._ck.KafkaException as exc:
                raise BusError(f"metadata of {topic!r}: {exc}") from exc
            if count is not None:
                self._partitions[topic] = count
            elif create:
                await self.create_topic(TopicSpec(topic, self.default_partitions))
            else:
                raise BusError(f"unknown topic {topic!r}")
        return self._partitions[topic]

    # ------------------------------------------------------------------ publish

    def _produce_all(self, messages: Sequence[Message]) -> list[str]:
        producer = self.producer
        errors: list[str] = []
        delivered = 0
        done = threading.Event()
        count_lock = threading.Lock()

        def on_delivery(err: Any, msg: Any) -> None:
            nonlocal delivered
            if err is not None:
                errors.append(f"{msg.topic()}[{msg.partition()}]: {err}")
            with count_lock:
                delivered += 1
                if delivered == len(messages):
                    done.set()

        for m in messages:
            kwargs: dict[str, Any] = {
                "key": m.key.encode("utf-8"),
                "value": m.value,
                "headers": [(k, v.encode("utf-8")) for k, v in m.headers.items()],
                "on_delivery": on_delivery,
            }
            if m.timestamp_ms is not None:
                kwargs["timestamp"] = m.timestamp_ms
            while True:
                try:
                    producer.produce(m.topic, **kwargs)
                    break
                except BufferError:
                    producer.poll(0.1)  # local queue full: serve delivery reports, then retry
                except self._ck.KafkaException as exc:
                    raise BusError(f"publish to {m.topic!r}: {exc}") from exc
        # flush serves delivery reports; another publish may be serving some of ours, hence the event
        deadline = time.monotonic() + self.delivery_timeout + 10
        producer.flush(self.delivery_timeout + 5)
        while not done.wait(0.05):
            if time.monotonic() > deadline:
                errors.append(f"{len(messages) - delivered} message(s) without a delivery report")
                break
            producer.poll(0.05)
        return errors

    async def publish(self, messages: Sequence[Message]) -> None:
        """Store ``messages`` and return once the broker acknowledged all of them (``acks=all``)."""
        if not messages:
            return
        for topic in {m.topic for m in messages}:
            await self.partitions(topic)
        errors = await self._run(self._produce_all, messages)
        if errors:
            more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
            raise BusError(
                f"{len(errors)} of {len(messages)} message(s) not delivered: {'; '.join(errors[:3])}{more}"
            )
        for m in messages:
            EVENTS_PUBLISHED.labels(topic=m.topic, type=m.headers.get("event_type", "unknown")).inc()

    # ------------------------------------------------------------------ consume

    async def subscribe(self, group: str, topics: Sequence[str]) -> KafkaSubscription:
        """Join ``group`` for ``topics`` (created with the defaults if missing)."""
        for topic in topics:
            await self.partitions(topic)
        sub = KafkaSubscription(self, group, list(topics))
        await sub.join()
        self._subscriptions.add(sub)
        return sub

    def _forget(self, sub: KafkaSubscription) -> None:
        self._subscriptions.discard(sub)

    async def set_committed(self, group: str, topic: str, offsets: Mapping[int, int]) -> None:
        """Set ``group``'s committed offsets on ``topic`` with the admin API (the group must be empty:
        Kafka refuses to move the offsets of a group with live members)."""
        if not offsets:
            return
        await self.partitions(topic, create=False)
        ck = self._ck
        request = ck.ConsumerGroupTopicPartitions(
            group, [ck.TopicPartition(topic, int(p), int(o)) for p, o in sorted(offsets.items())]
        )

        def alter() -> None:
            for future in self.admin.alter_consumer_group_offsets([request], request_timeout=20).values():
                result = future.result()
                failed = [tp for tp in result.topic_partitions if tp.error is not None]
                if failed:
                    raise BusError(f"set_committed {group!r} on {topic!r}: {failed[0].error}")

        try:
            await self._run(lambda: _retrying(alter))
        except ck.KafkaException as exc:
            raise BusError(f"set_committed {group!r} on {topic!r}: {exc}") from exc

    async def read(
        self,
        topic: str,
        *,
        from_offsets: Mapping[int, int] | None = None,
        from_time: datetime | None = None,
        to_time: datetime | None = None,
    ) -> AsyncIterator[Record]:
        """Replay ``topic``, partition by partition, up to its end as of the start of each partition.

        A partition starts at ``from_offsets[p]`` (partitions missing from it: at their beginning)
        and, with ``from_time``, not before its first record stamped at or after ``from_time``.
        With ``to_time`` only records stamped before ``to_time`` are returned: ``[from, to)``.
        """
        count = await self.partitions(topic, create=False)
        replay = Replay(self, topic)
        try:
            for partition in range(count):
                async for record in replay.partition(
                    partition,
                    start=(from_offsets or {}).get(partition),
                    from_ms=to_ms(from_time) if from_time is not None else None,
                    to_ms=to_ms(to_time) if to_time is not None else None,
                ):
                    yield record
        finally:
            await replay.close()

    async def end_offsets(self, topic: str) -> dict[int, int]:
        """Per partition of ``topic`` (created with the defaults if missing), its high watermark."""
        count = await self.partitions(topic)
        tail = Tail(self, topic)
        try:
            return await tail.end_offsets(count)
        finally:
            await tail.close()

    async def tail(
        self, topic: str, *, from_offsets: Mapping[int, int] | None = None
    ) -> AsyncIterator[Record]:
        """Follow ``topic`` forever from ``from_offsets`` (missing partitions: the high watermark now),
        with a consumer of its own that ``assign``s every partition (no group, no commit)."""
        count = await self.partitions(topic)
        tail = Tail(self, topic)
        try:
            positions = {**await tail.end_offsets(count), **dict(from_offsets or {})}
            async for record in tail.follow(positions):
                yield record
        finally:
            await tail.close()

    async def lag(self, group: str, topic: str) -> dict[int, int]:
        """Per partition, how many records follow the group's committed offset."""
        count = await self.partitions(topic, create=False)
        ck = self._ck

        def measure() -> dict[int, int]:
            consumer = ck.Consumer(self.consumer_config(group))
            try:
                tps = [ck.TopicPartition(topic, p) for p in range(count)]
                committed = {
                    tp.partition: tp.offset for tp in _retrying(lambda: consumer.committed(tps, timeout=10))
                }
                result = {}
                for p in range(count):
                    low, high = consumer.get_watermark_offsets(ck.TopicPartition(topic, p), timeout=10)
                    done = committed.get(p, -1)
                    result[p] = max(0, high - max(done if done >= 0 else 0, low))
                return result
            finally:
                consumer.close()

        try:
            result = await self._run(measure)
        except ck.KafkaException as exc:
            raise BusError(f"lag of {group!r} on {topic!r}: {exc}") from exc
        CONSUMER_LAG.labels(group=group, topic=topic).set(sum(result.values()))
        return result

    # ------------------------------------------------------------------ lifecycle

    async def ready(self) -> None:
        """Raise :class:`sts.errors.BusError` unless a broker answers a metadata request."""
        try:
            md = await self._run(lambda: self.admin.list_topics(timeout=3))
        except self._ck.KafkaException as exc:
            raise BusError(f"event bus not ready: {exc}") from exc
        if not md.brokers:
            raise BusError("event bus not ready: no broker in the metadata")

    async def close(self) -> None:
        """Close every subscription and flush the producer (idempotent)."""
        for sub in list(self._subscriptions):
            await sub.close()
        if self._producer is not None:
            remaining = await self._run(self._producer.flush, 10)
            if remaining:
                log.warning("kafka producer closed with undelivered messages", count=remaining)
            self._producer = None
        self._admin = None
        self._pool.shutdown(wait=False)
