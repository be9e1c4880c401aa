"""Fixtures of the dead-letter tests: one bus + registry per backend, and a second database.

- ``dlq_backend``: the bus (topics of :func:`sts.bootstrap.ensure_topics` created) and codec of one
  backend: ``postgres`` (the embedded event log and registry in a fresh migrated database) or
  ``kafka`` (the local broker under a topic/group prefix of its own, and Apicurio).
- ``clean_pg_url``: a second migrated database, where a clean run builds the reference rows.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from sts.adapters.embedded_pg import EmbeddedPostgres
from sts.bootstrap import ensure_topics
from sts.events.codec import AvroCodec
from sts.ports import EventBus, SchemaRegistry
from tests.conftest import _fresh_database
from tests.kafka_backends import kafka_url, new_bus, registry_url, require_kafka, require_registry


@dataclass(frozen=True)
class DlqBackend:
    id: str
    bus: EventBus
    codec: AvroCodec


def _delete_topics(prefix: str) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": urlsplit(kafka_url()).netloc})
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=10).values():
            with contextlib.suppress(Exception):
                future.result()


@pytest.fixture(params=["postgres", pytest.param("kafka", marks=pytest.mark.kafka)])
async def dlq_backend(request: pytest.FixtureRequest, migrated_pg_url: str) -> AsyncIterator[DlqBackend]:
    bus: EventBus
    registry: SchemaRegistry
    prefix = ""
    if request.param == "postgres":
        from sts.adapters.pg_bus import PostgresEventBus
        from sts.adapters.pg_registry import PostgresSchemaRegistry

        bus = PostgresEventBus(migrated_pg_url, session_timeout=2.0, heartbeat_interval=0.5)
        registry = PostgresSchemaRegistry(migrated_pg_url)
    else:
        from sts.adapters.confluent_registry import ConfluentSchemaRegistry
        from sts.adapters.prefixed_bus import PrefixedEventBus

        require_kafka()
        require_registry()
        prefix = f"dlq-{uuid.uuid4().hex[:8]}."
        bus = PrefixedEventBus(new_bus(), prefix)
        registry = ConfluentSchemaRegistry(registry_url())
    try:
        await ensure_topics(bus, 3)
        yield DlqBackend(request.param, bus, AvroCodec(registry))
    finally:
        await bus.close()
        await registry.close()
        if prefix:
            _delete_topics(prefix)


@pytest.fixture
def clean_pg_url(pg_server: EmbeddedPostgres) -> Iterator[str]:
    from sts.db import migrate

    for url in _fresh_database(pg_server):
        migrate(url)
        yield url
