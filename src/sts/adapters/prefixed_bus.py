"""A namespace on a shared event bus: every topic and consumer group gets a prefix.

``STS_TOPIC_PREFIX=ci-42.`` makes ``mlb.game-events`` the topic ``ci-42.mlb.game-events`` on the
backend and the group ``processor`` the group ``ci-42.processor``, so several STS deployments (or test
runs) can share one Kafka cluster without reading each other's events. Services keep the logical names
of :mod:`sts.ports`: the prefix is added on the way in and removed from every record on the way out,
so it is invisible above the composition root (which wraps the bus when the setting is not empty).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from sts.ports import EventBus, Message, Record, Subscription, TopicSpec


class PrefixedSubscription:
    """A :class:`sts.ports.Subscription` whose records carry the logical topic names."""

    def __init__(self, inner: Subscription, prefix: str) -> None:
        self.inner = inner
        self.prefix = prefix

    async def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:  # noqa: ASYNC109
        records = await self.inner.poll(max_records, timeout)
        return [replace(r, topic=r.topic.removeprefix(self.prefix)) for r in records]

    async def commit(self, records: Sequence[Record]) -> None:
        await self.inner.commit([replace(r, topic=self.prefix + r.topic) for r in records])

    async def close(self) -> None:
        await self.inner.close()


class PrefixedEventBus:
    """An :class:`sts.ports.EventBus` that puts ``prefix`` before every topic and group name."""

    def __init__(self, inner: EventBus, prefix: str) -> None:
        self.inner = inner
        self.prefix = prefix

    def topic(self, name: str) -> str:
        """The name of the logical topic ``name`` on the backend."""
        return self.prefix + name

    async def create_topic(self, spec: TopicSpec) -> None:
        await self.inner.create_topic(replace(spec, name=self.topic(spec.name)))

    async def publish(self, messages: Sequence[Message]) -> None:
        await self.inner.publish([replace(m, topic=self.topic(m.topic)) for m in messages])

    async def subscribe(self, group: str, topics: Sequence[str]) -> PrefixedSubscription:
        sub = await self.inner.subscribe(self.prefix + group, [self.topic(t) for t in topics])
        return PrefixedSubscription(sub, self.prefix)

    async def set_committed(self, group: str, topic: str, offsets: Mapping[int, int]) -> None:
        await self.inner.set_committed(self.prefix + group, self.topic(topic), offsets)

    async def read(
        self,
        topic: str,
        *,
        from_offsets: Mapping[int, int] | None = None,
        from_time: datetime | None = None,
        to_time: datetime | None = None,
    ) -> AsyncIterator[Record]:
        records = self.inner.read(
            self.topic(topic), from_offsets=from_offsets, from_time=from_time, to_time=to_time
        )
        async for r in records:
            yield replace(r, topic=topic)

    async def lag(self, group: str, topic: str) -> dict[int, int]:
        return await self.inner.lag(self.prefix + group, self.topic(topic))

    async def end_offsets(self, topic: str) -> dict[int, int]:
        return await self.inner.end_offsets(self.topic(topic))

    async def tail(
        self, topic: str, *, from_offsets: Mapping[int, int] | None = None
    ) -> AsyncIterator[Record]:
        records = self.inner.tail(self.topic(topic), from_offsets=from_offsets)
        try:
            async for r in records:
                yield replace(r, topic=topic)
        finally:
            await records.aclose()  # type: ignore[attr-defined]

    async def ready(self) -> None:
        await self.inner.ready()

    async def close(self) -> None:
        await self.inner.close()
