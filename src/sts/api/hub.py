"""One tail of the event bus per API process, fanned out to live streams and the cache.

- ``hub = get_hub(ctx)`` (``None`` when the process has no bus); the app's lifespan starts and stops it.
- ``hub.add_listener(fn)``: ``fn(event: HubEvent)`` is called (synchronously, must not block) for every
  record of ``mlb.game-events`` and ``mlb.notable-moments`` as it arrives; the server cache uses it to
  invalidate the games an event touches. A listener that raises is logged and kept.
- ``hub.subscribe(game_pk, types)``: a :class:`Subscriber` whose bounded queue receives the matching
  events. The hub never waits for a subscriber: one whose queue is full is dropped with a reason
  (it ends its stream; the client resumes from its last position with ``Last-Event-ID``).

At start the hub reads the end offsets of both topics and follows them from there with
:meth:`sts.ports.EventBus.tail` (one task per topic; a failing tail is restarted from the hub's
position after a pause). :attr:`EventHub.vector` is the position after the last record fanned out.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import decimal
import json
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import structlog

from sts.api.context import ApiContext
from sts.api.positions import STREAM_TOPICS, Vector, encode
from sts.errors import STSError
from sts.ports import Record

log = structlog.get_logger(__name__)

RESTART_PAUSE = 1.0  # seconds before a failed tail is started again


@dataclass(frozen=True)
class HubEvent:
    topic: str
    partition: int
    offset: int
    game_pk: int | None
    event_type: str
    event_id: str
    payload: dict[str, Any]  # the decoded event
    timestamp_ms: int = 0  # when the bus stored it
    data: str = field(default="", repr=False)  # the JSON sent to stream clients (without position)
    # set by the fan-out: the hub's position after this event (and its encoded form)
    vector: Vector | None = field(default=None, repr=False)
    position: str = field(default="", repr=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def event_json(ev: HubEvent) -> str:
    """The JSON of ``ev`` as stream clients receive it."""
    return json.dumps(
        {
            "game_pk": ev.game_pk,
            "type": ev.event_type,
            "event_id": ev.event_id,
            "topic": ev.topic,
            "partition": ev.partition,
            "offset": ev.offset,
            "published_ms": ev.timestamp_ms,
            "payload": ev.payload,
        },
        default=_json_default,
        separators=(",", ":"),
    )


class Subscriber:
    """One stream client's view of the hub: a bounded queue of the events it asked for.

    ``queue`` holds :class:`HubEvent` items and a final ``None`` once the subscriber is dropped
    (``dropped`` says why). ``start`` is the hub's position when the subscriber joined: every record
    after it reaches the queue (if it matches) unless the subscriber is dropped.
    """

    def __init__(
        self, hub: EventHub, game_pk: int | None, types: Collection[str] | None, maxsize: int
    ) -> None:
        self.hub = hub
        self.game_pk = game_pk
        self.types = frozenset(types) if types else None
        self.maxsize = maxsize
        self.queue: asyncio.Queue[HubEvent | None] = asyncio.Queue()  # bounded by ``offer``
        self.dropped: str | None = None
        self.start: Vector = hub.snapshot()

    def matches(self, ev: HubEvent) -> bool:
        return (self.game_pk is None or ev.game_pk == self.game_pk) and (
            self.types is None or ev.event_type in self.types
        )

    def offer(self, ev: HubEvent) -> None:
        if self.dropped is not None or not self.matches(ev):
            return
        if self.queue.qsize() >= self.maxsize:
            self.drop(f"too slow: {self.maxsize} events waiting to be sent")
            return
        self.queue.put_nowait(ev)

    def drop(self, reason: str) -> None:
        if self.dropped is None:
            self.dropped = reason
            self.queue.put_nowait(None)
            self.hub.unsubscribe(self)

    def close(self) -> None:
        self.hub.unsubscribe(self)


class EventHub:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self._listeners: list[Callable[[HubEvent], None]] = []
        self._subscribers: set[Subscriber] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self.vector: Vector = {}  # topic -> partition -> next offset (after the last record fanned out)
        self.started = asyncio.Event()
        self.last_event_monotonic = 0.0

    # ------------------------------------------------------------------ consumers of the hub

    def add_listener(self, fn: Callable[[HubEvent], None]) -> None:
        self._listeners.append(fn)

    def subscribe(
        self, game_pk: int | None = None, types: Collection[str] | None = None, *, maxsize: int | None = None
    ) -> Subscriber:
        size = maxsize if maxsize is not None else self.ctx.settings.stream_queue_size
        sub = Subscriber(self, game_pk, types, size)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def snapshot(self) -> Vector:
        return {t: dict(offsets) for t, offsets in self.vector.items()}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Read the end of every stream topic and follow it from there.

        Returns once positioned, so every record published after ``start`` reaches the listeners. If the
        bus cannot be reached now, the REST API must still start: the hub logs it and keeps trying in
        the background (streams answer 503 until it is positioned)."""
        if self.ctx.bus is None or self._tasks:
            return
        try:
            await self._position()
        except STSError as exc:
            log.warning("event hub cannot reach the bus yet; retrying", error=str(exc))
            self._tasks.append(asyncio.create_task(self._position_later(), name="sts-hub start"))

    async def _position(self) -> None:
        bus = self.ctx.bus
        assert bus is not None
        vector = {topic: await bus.end_offsets(topic) for topic in STREAM_TOPICS.values()}
        self.vector = vector
        for topic in STREAM_TOPICS.values():
            self._tasks.append(asyncio.create_task(self._follow(topic), name=f"sts-hub {topic}"))
        self.started.set()
        log.info("event hub started", position=self.vector)

    async def _position_later(self) -> None:
        while True:
            await asyncio.sleep(RESTART_PAUSE)
            try:
                await self._position()
                return
            except STSError as exc:
                log.warning("event hub still cannot reach the bus", error=str(exc))

    async def stop(self) -> None:
        tasks = list(self._tasks)  # (a late start may add the followers while we wait)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        for sub in list(self._subscribers):
            sub.drop("the server is shutting down")

    async def _follow(self, topic: str) -> None:
        bus = self.ctx.bus
        assert bus is not None
        while True:
            records = bus.tail(topic, from_offsets=dict(self.vector[topic]))
            try:
                async for record in records:
                    await self.dispatch(record)
            except STSError as exc:
                log.warning("event hub lost its tail; restarting", topic=topic, error=str(exc))
            finally:
                await records.aclose()  # type: ignore[attr-defined]
            await asyncio.sleep(RESTART_PAUSE)

    # ------------------------------------------------------------------ fan-out

    async def decode(self, record: Record) -> HubEvent | None:
        """The event of ``record`` (``None`` if it cannot be read: logged, skipped)."""
        codec = self.ctx.codec
        try:
            if codec is not None:
                event = await codec.decode(record.value)
                game_pk: int | None = event.game_pk
                event_type, event_id, payload = event.event_type, event.event_id, event.payload
            else:  # no codec: what the headers and key say
                event_type = record.headers.get("event_type", "unknown")
                event_id = record.headers.get("event_id", f"{record.partition}-{record.offset}")
                game_pk = int(record.key) if record.key.isdigit() else None
                payload = {}
        except STSError as exc:
            log.warning(
                "stream skipped an unreadable record",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                error=str(exc),
            )
            return None
        ev = HubEvent(
            record.topic,
            record.partition,
            record.offset,
            game_pk,
            event_type,
            event_id,
            payload,
            record.timestamp_ms,
        )
        return dataclasses.replace(ev, data=event_json(ev))

    async def dispatch(self, record: Record) -> None:
        ev = await self.decode(record)
        self.vector.setdefault(record.topic, {})[record.partition] = record.offset + 1
        self.last_event_monotonic = time.monotonic()
        if ev is None:
            return
        # every record before this one has been offered to every subscriber: the hub's position is a
        # valid resume position after this event for any client that was live when it was fanned out
        snapshot = self.snapshot()
        ev = dataclasses.replace(ev, vector=snapshot, position=encode(snapshot))
        for fn in self._listeners:
            try:
                fn(ev)
            except Exception:  # a listener's bug must not stop the streams
                log.exception("event hub listener failed", listener=getattr(fn, "__qualname__", repr(fn)))
        for sub in list(self._subscribers):
            sub.offer(ev)


def get_hub(ctx: ApiContext) -> EventHub | None:
    hub = ctx.extras.get("hub")
    if hub is None and ctx.bus is not None:
        hub = ctx.extras["hub"] = EventHub(ctx)
    return hub
