"""The consuming side of the Kafka bus (:mod:`sts.adapters.kafka_bus`): group members and replays.

A librdkafka consumer must not be used from two threads at once, so each :class:`KafkaSubscription`
and each :class:`Replay` owns a one-thread executor and runs every blocking call of its consumer there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from sts.errors import BusError
from sts.ports import Record

if TYPE_CHECKING:
    from sts.adapters.kafka_bus import KafkaEventBus

log = structlog.get_logger(__name__)

T = TypeVar("T")

# A commit refused for one of these reasons belongs to a generation that a rebalance ended: the
# partitions went (or may have gone) to another member, which reads the records again.
_REBALANCE_ERRORS = ("REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "_ASSIGNMENT_LOST")


_NO_LEADER_YET = ("NOT_LEADER_FOR_PARTITION", "LEADER_NOT_AVAILABLE", "UNKNOWN_TOPIC_OR_PART")


def _record(msg: Any) -> Record:
    key = msg.key()
    headers = {k: (v.decode("utf-8") if v is not None else "") for k, v in (msg.headers() or [])}
    return Record(
        topic=msg.topic(),
        partition=msg.partition(),
        offset=msg.offset(),
        key=key.decode("utf-8") if key is not None else "",
        value=msg.value() or b"",
        headers=headers,
        timestamp_ms=msg.timestamp()[1],
    )


def _fetch(consumer: Any, max_records: int, timeout: float) -> list[Any]:
    # consume(n, timeout) waits until it has n messages or the timeout passed; wait only for the first.
    first = consumer.poll(timeout)
    if first is None:
        return []
    msgs = [first]
    if max_records > 1:
        msgs += consumer.consume(max_records - 1, 0)
    return msgs


class _Worker:
    """One librdkafka consumer and the single thread allowed to call it."""

    def __init__(self, name: str) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False)


class KafkaSubscription:
    """One member of a Kafka consumer group (an :class:`sts.ports.Subscription`); made by ``subscribe``."""

    def __init__(self, bus: KafkaEventBus, group: str, topics: list[str]) -> None:
        self.bus = bus
        self.group = group
        self.topics = topics
        self._ck = bus._ck
        self._worker = _Worker(f"sts-kafka-{group}")
        self._consumer: Any = None
        self._assignment: set[tuple[str, int]] = set()
        self._closed = False

    @property
    def assignment(self) -> set[tuple[str, int]]:
        """The partitions this member owned at its last poll."""
        return set(self._assignment)

    async def join(self) -> None:
        """Create the consumer and subscribe; the group join itself completes during the next polls."""

        def start() -> Any:
            consumer = self._ck.Consumer(self.bus.consumer_config(self.group))
            consumer.subscribe(self.topics)
            return consumer

        try:
            self._consumer = await self._worker.run(start)
        except self._ck.KafkaException as exc:
            raise BusError(f"subscribe {self.group!r} to {self.topics}: {exc}") from exc

    async def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:  # noqa: ASYNC109
        """Up to ``max_records`` records, waiting at most ``timeout`` seconds for the first one."""
        if self._closed:
            raise BusError("poll on a closed subscription")

        def fetch() -> list[Any]:
            msgs = _fetch(self._consumer, max_records, timeout)
            self._assignment = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
            return msgs

        try:
            msgs = await self._worker.run(fetch)
        except self._ck.KafkaException as exc:
            raise BusError(f"poll of {self.group!r}: {exc}") from exc
        records = []
        for msg in msgs:
            err = msg.error()
            if err is None:
                records.append(_record(msg))
            elif err.code() == self._ck.KafkaError._PARTITION_EOF:
                continue
            elif err.fatal() or not err.retriable():
                raise BusError(f"poll of {self.group!r}: {err}")
            else:
                log.warning("kafka consumer error", group=self.group, error=str(err))
        return records

    async def commit(self, records: Sequence[Record]) -> None:
        """Store, per partition still owned, the offset after the last of ``records`` (synchronously)."""
        if not records or self._closed:
            return
        ends: dict[tuple[str, int], int] = {}
        for r in records:
            ends[(r.topic, r.partition)] = max(ends.get((r.topic, r.partition), 0), r.offset + 1)
        ck = self._ck

        def do_commit() -> list[str]:
            owned = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
            offsets = [ck.TopicPartition(t, p, o) for (t, p), o in sorted(ends.items()) if (t, p) in owned]
            lost = [f"{t}[{p}]" for (t, p) in ends if (t, p) not in owned]
            if offsets:
                try:
                    result = self._consumer.commit(offsets=offsets, asynchronous=False)
                except ck.KafkaException as exc:
                    if exc.args[0].name() in _REBALANCE_ERRORS:
                        return [f"{tp.topic}[{tp.partition}]" for tp in offsets]
                    raise
                for tp in result or []:
                    if tp.error is not None:
                        if tp.error.name() not in _REBALANCE_ERRORS:
                            raise ck.KafkaException(tp.error)
                        lost.append(f"{tp.topic}[{tp.partition}]")
            return lost

        try:
            lost = await self._worker.run(do_commit)
        except ck.KafkaException as exc:
            raise BusError(f"commit of {self.group!r}: {exc}") from exc
        if lost:
            log.info("commit dropped for partitions lost in a rebalance", group=self.group, partitions=lost)

    async def close(self) -> None:
        """Leave the group (its partitions move to the other members at once); idempotent."""
        if self._closed:
            return
        self._closed = True
        self.bus._forget(self)
        if self._consumer is not None:
            try:
                await self._worker.run(self._consumer.close)
            except self._ck.KafkaException as exc:
                log.warning("kafka consumer close failed", group=self.group, error=str(exc))
        self._worker.shutdown()


class Replay:
    """Reads one topic outside any group (``assign``), one partition after the other."""

    def __init__(self, bus: KafkaEventBus, topic: str, *, idle_timeout: float = 30.0) -> None:
        self.bus = bus
        self.topic = topic
        self.idle_timeout = idle_timeout
        self._ck = bus._ck
        self._worker = _Worker(f"sts-kafka-read-{topic}")
        self._consumer: Any = None

    def _open(self, partition: int, start: int | None, from_ms: int | None) -> tuple[int, int]:
        ck = self._ck
        if self._consumer is None:
            # group.id is required by librdkafka, but an assign()-only consumer never joins the group
            # and never commits.
            # A short fetch wait: a fetch parked at the end of the previous partition would otherwise
            # hold the next partition's first fetch for up to fetch.wait.max.ms (500 ms).
            self._consumer = ck.Consumer(
                self.bus.consumer_config(f"sts-replay-{uuid.uuid4().hex}", **{"fetch.wait.max.ms": 10})
            )
        tp = ck.TopicPartition(self.topic, partition)
        low, high = self._consumer.get_watermark_offsets(tp, timeout=10)
        pos = low if start is None else max(low, start)
        if from_ms is not None:
            found = self._consumer.offsets_for_times(
                [ck.TopicPartition(self.topic, partition, from_ms)], timeout=10
            )[0]
            pos = max(pos, found.offset if found.offset >= 0 else high)
        if pos < high:
            self._consumer.assign([ck.TopicPartition(self.topic, partition, pos)])
        return pos, high

    def _position(self, partition: int) -> int:
        tp = self._consumer.position([self._ck.TopicPartition(self.topic, partition)])[0]
        return int(tp.offset)

    async def partition(
        self, partition: int, *, start: int | None, from_ms: int | None, to_ms: int | None
    ) -> AsyncIterator[Record]:
        """Records of ``partition`` from ``start``/``from_ms`` to the high watermark, before ``to_ms``."""
        try:
            pos, high = await self._worker.run(self._open, partition, start, from_ms)
        except self._ck.KafkaException as exc:
            raise BusError(f"read {self.topic!r}[{partition}]: {exc}") from exc
        last_progress = time.monotonic()
        while pos < high:
            try:
                msgs = await self._worker.run(_fetch, self._consumer, min(1000, high - pos), 1.0)
            except self._ck.KafkaException as exc:
                raise BusError(f"read {self.topic!r}[{partition}]: {exc}") from exc
            if not msgs:
                # offsets can have gaps (transaction markers): the consumer's position tells the end
                if await self._worker.run(self._position, partition) >= high:
                    break
                if time.monotonic() - last_progress > self.idle_timeout:
                    raise BusError(f"read {self.topic!r}[{partition}]: no progress at offset {pos} of {high}")
                continue
            last_progress = time.monotonic()
            for msg in msgs:
                err = msg.error()
                if err is not None:
                    if err.code() == self._ck.KafkaError._PARTITION_EOF:
                        continue
                    raise BusError(f"read {self.topic!r}[{partition}]: {err}")
                if msg.offset() >= high:
                    pos = high
                    break
                pos = msg.offset() + 1
                if to_ms is not None and msg.timestamp()[1] >= to_ms:
                    continue
                yield _record(msg)

    async def close(self) -> None:
        if self._consumer is not None:
            await self._worker.run(self._consumer.close)
            self._consumer = None
        self._worker.shutdown()


class Tail:
    """Follows one topic outside any group (``assign`` of every partition), forever."""

    def __init__(self, bus: KafkaEventBus, topic: str) -> None:
        self.bus = bus
        self.topic = topic
        self._ck = bus._ck
        self._worker = _Worker(f"sts-kafka-tail-{topic}")
        self._consumer: Any = None

    def _ends(self, partitions: int) -> dict[int, int]:
        ck = self._ck
        if self._consumer is None:
            # an assign()-only consumer never joins its (unique, required) group and never commits;
            # a short fetch wait keeps an idle tail responsive to close
            self._consumer = ck.Consumer(
                self.bus.consumer_config(f"sts-tail-{uuid.uuid4().hex}", **{"fetch.wait.max.ms": 100})
            )
        ends = {}
        for p in range(partitions):
            tp = ck.TopicPartition(self.topic, p)
            deadline = time.monotonic() + 15
            while True:
                try:
                    _, high = self._consumer.get_watermark_offsets(tp, timeout=10)
                    break
                except ck.KafkaException as exc:
                    # a topic created a moment ago: its partitions' leaders are still being set up
                    if exc.args[0].name() not in _NO_LEADER_YET or time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            ends[p] = int(high)
        return ends

    async def end_offsets(self, partitions: int) -> dict[int, int]:
        """Per partition, the high watermark now."""
        try:
            return await self._worker.run(self._ends, partitions)
        except self._ck.KafkaException as exc:
            raise BusError(f"end offsets of {self.topic!r}: {exc}") from exc

    async def follow(self, positions: dict[int, int]) -> AsyncIterator[Record]:
        """Every record from ``positions`` on, as it arrives."""
        ck = self._ck
        assignment = [ck.TopicPartition(self.topic, p, o) for p, o in sorted(positions.items())]
        try:
            await self._worker.run(self._consumer.assign, assignment)
        except ck.KafkaException as exc:
            raise BusError(f"tail {self.topic!r}: {exc}") from exc
        while True:
            try:
                msgs = await self._worker.run(_fetch, self._consumer, 500, 0.5)
            except ck.KafkaException as exc:
                raise BusError(f"tail {self.topic!r}: {exc}") from exc
            for msg in msgs:
                err = msg.error()
                if err is None:
                    yield _record(msg)
                elif err.code() == ck.KafkaError._PARTITION_EOF:
                    continue
                elif err.fatal() or not err.retriable():
                    raise BusError(f"tail {self.topic!r}: {err}")
                else:
                    log.warning("kafka tail error", topic=self.topic, error=str(err))

    async def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await self._worker.run(consumer.close)
        self._worker.shutdown()
