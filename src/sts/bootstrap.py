"""The composition root: the only module that names concrete adapters.

Each backend is chosen by the scheme of its URL (``file://``, ``s3://``, ``postgresql://``, ``kafka://``);
an empty URL selects the embedded default. Adapters are imported lazily, so a missing optional
library (confluent-kafka, boto3) only matters when its backend is chosen, with a clear message.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import structlog

from sts.adapters.embedded_pg import EmbeddedPostgres
from sts.config import Settings
from sts.db import migrate
from sts.errors import ConfigError
from sts.events.codec import AvroCodec
from sts.ports import (
    TOPIC_GAME_EVENTS,
    TOPIC_GAME_EVENTS_DLQ,
    TOPIC_NOTABLE_MOMENTS,
    TOPIC_SNAPSHOTS_DLQ,
    EventBus,
    ObjectStore,
    SchemaRegistry,
    TopicSpec,
)

log = structlog.get_logger(__name__)


@dataclass
class Backends:
    """Every backend of one STS process, opened and ready."""

    settings: Settings
    database_url: str
    store: ObjectStore
    bus: EventBus
    registry: SchemaRegistry
    codec: AvroCodec
    embedded: EmbeddedPostgres | None = None
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def readiness_checks(self) -> dict[str, Callable[[], Awaitable[None]]]:
        async def database() -> None:
            import psycopg

            async with await psycopg.AsyncConnection.connect(self.database_url, connect_timeout=3) as c:
                await c.execute("SELECT 1")

        return {
            "database": database,
            "object_store": self.store.ready,
            "event_bus": self.bus.ready,
            "schema_registry": self.registry.ready,
        }

    async def aclose(self) -> None:
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):
                await close()
        if self.embedded is not None:
            self.embedded.stop()


def open_database(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """Return the database URL (starting the embedded server if no URL is set) after migrating it."""
    embedded = None
    url = settings.database_url
    if not url:
        embedded = EmbeddedPostgres(settings.pgdata)
        url = embedded.start()
    migrate(url)
    return url, embedded


def make_store(settings: Settings) -> ObjectStore:
    url = settings.resolved_object_store_url
    scheme = urlsplit(url).scheme
    if scheme == "file":
        from sts.adapters.file_store import FileObjectStore

        return FileObjectStore(Path(urlsplit(url).path))
    if scheme == "s3":
        from sts.adapters import s3_store

        return s3_store.from_url(url, settings)
    raise ConfigError(f"STS_OBJECT_STORE_URL: unknown scheme {scheme!r} (use file:// or s3://)")


def make_bus(settings: Settings, database_url: str) -> tuple[EventBus, SchemaRegistry]:
    url = settings.event_bus_url or database_url
    scheme = urlsplit(url).scheme
    if scheme in ("postgresql", "postgres"):
        from sts.adapters.pg_bus import PostgresEventBus
        from sts.adapters.pg_registry import PostgresSchemaRegistry

        if settings.event_bus_url and settings.event_bus_url != database_url:
            migrate(url)
        return PostgresEventBus(url), PostgresSchemaRegistry(url)
    if scheme == "kafka":
        from sts.adapters import kafka_bus
        from sts.adapters.confluent_registry import ConfluentSchemaRegistry

        if not settings.schema_registry_url:
            raise ConfigError("the Kafka bus needs STS_SCHEMA_REGISTRY_URL (a Confluent-compatible registry)")
        return kafka_bus.from_url(url, settings), ConfluentSchemaRegistry(settings.schema_registry_url)
    raise ConfigError(f"STS_EVENT_BUS_URL: unknown scheme {scheme!r} (use postgresql:// or kafka://)")


async def ensure_topics(bus: EventBus, partitions: int) -> None:
    await bus.create_topic(TopicSpec(TOPIC_GAME_EVENTS, partitions=partitions))
    await bus.create_topic(TopicSpec(TOPIC_GAME_EVENTS_DLQ, partitions=1))
    await bus.create_topic(TopicSpec(TOPIC_SNAPSHOTS_DLQ, partitions=1))
    await bus.create_topic(TopicSpec(TOPIC_NOTABLE_MOMENTS, partitions=partitions))


async def open_backends(settings: Settings) -> Backends:
    """Open (and set up) every backend chosen by ``settings``. Close with :meth:`Backends.aclose`."""
    database_url, embedded = open_database(settings)
    store = make_store(settings)
    await store.ensure_buckets()
    bus, registry = make_bus(settings, database_url)
    if settings.topic_prefix:  # a namespace of its own on a shared bus (STS_TOPIC_PREFIX)
        from sts.adapters.prefixed_bus import PrefixedEventBus

        bus = PrefixedEventBus(bus, settings.topic_prefix)
    await ensure_topics(bus, settings.partitions)
    codec = AvroCodec(registry)
    backends = Backends(settings, database_url, store, bus, registry, codec, embedded)
    backends._closers += [store.close, bus.close, registry.close]
    log.info(
        "backends ready",
        database="embedded" if embedded else "server",
        object_store=urlsplit(settings.resolved_object_store_url).scheme,
        event_bus=urlsplit(settings.event_bus_url or database_url).scheme,
    )
    return backends


@contextlib.asynccontextmanager
async def backends_for(settings: Settings) -> AsyncIterator[Backends]:
    b = await open_backends(settings)
    try:
        yield b
    finally:
        await b.aclose()
