"""Kafka + Apicurio backends for the contract suites (registered in ``tests/contract/conftest.py``).

Settings (environment):

- ``STS_TEST_KAFKA_URL``             default ``kafka://127.0.0.1:9092`` (``deploy/local/kafka.sh start``)
- ``STS_TEST_SCHEMA_REGISTRY_URL``   default ``http://127.0.0.1:8081/apis/ccompat/v7``
                                     (``deploy/local/apicurio.sh start``)
- ``STS_REQUIRE_KAFKA=1``            fail instead of skip when the broker or the registry does not answer
                                     (set it in CI, where both are started)

The broker and the registry are shared by every test, so each test gets topic names of its own
(``<name>.<run>-<n>``); subjects are already unique per test (the ``subject`` fixture).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from sts.ports import EventBus, SchemaRegistry

if TYPE_CHECKING:
    from tests.contract.conftest import BusBackend

DEFAULT_KAFKA_URL = "kafka://127.0.0.1:9092"
DEFAULT_REGISTRY_URL = "http://127.0.0.1:8081/apis/ccompat/v7"
RUN_ID = uuid.uuid4().hex[:6]
_counter = itertools.count(1)

# a closed member hands its partitions over at the other members' next heartbeat (0.5 s); a crashed
# one only after the session timeout
KAFKA_SESSION_TIMEOUT = 6.0


def kafka_url() -> str:
    return os.environ.get("STS_TEST_KAFKA_URL", DEFAULT_KAFKA_URL)


def registry_url() -> str:
    return os.environ.get("STS_TEST_SCHEMA_REGISTRY_URL", DEFAULT_REGISTRY_URL)


def _unavailable(message: str) -> None:
    if os.environ.get("STS_REQUIRE_KAFKA") == "1":
        pytest.fail(message)
    pytest.skip(message)


def require_kafka() -> None:
    """Skip (or fail, with ``STS_REQUIRE_KAFKA=1``) unless the test broker accepts connections."""
    first = urlsplit(kafka_url()).netloc.split(",")[0]
    host, _, port = first.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port or 9092)), timeout=2).close()
    except OSError as exc:
        _unavailable(f"no Kafka broker at {first} ({exc}); start it with deploy/local/kafka.sh start")


def require_registry() -> None:
    """Skip (or fail, with ``STS_REQUIRE_KAFKA=1``) unless the test registry accepts connections."""
    url = urlsplit(registry_url())
    try:
        socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=2).close()
    except OSError as exc:
        _unavailable(
            f"no schema registry at {url.netloc} ({exc}); start it with deploy/local/apicurio.sh start"
        )


_created: list[str] = []


def unique_topic(name: str) -> str:
    """``name`` made unique to this test run and test (the broker outlives both); deleted by
    :func:`delete_test_topics`."""
    topic = f"{name}.{RUN_ID}-{next(_counter)}"
    _created.append(topic)
    return topic


def delete_test_topics() -> None:
    """Delete the topics made by :func:`unique_topic` so far (best effort): a broker that keeps
    hundreds of test partitions restarts slowly."""
    if not _created:
        return
    from confluent_kafka.admin import AdminClient

    bootstrap = urlsplit(kafka_url()).netloc
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics, _created[:] = list(_created), []
    for future in admin.delete_topics(topics, operation_timeout=10, request_timeout=15).values():
        with contextlib.suppress(Exception):  # never created, or already gone
            future.result()


def new_bus() -> EventBus:
    """A Kafka bus client on the test broker, with short group timings."""
    from sts.adapters.kafka_bus import from_url

    return from_url(kafka_url(), session_timeout=KAFKA_SESSION_TIMEOUT)


@asynccontextmanager
async def kafka_bus_backend(request: pytest.FixtureRequest) -> AsyncIterator[BusBackend]:
    from tests.contract.conftest import BusBackend

    require_kafka()

    @asynccontextmanager
    async def connect() -> AsyncIterator[EventBus]:
        bus = new_bus()
        try:
            await bus.ready()
            yield bus
        finally:
            await bus.close()

    try:
        yield BusBackend("kafka", connect, unique_topic, takeover_seconds=KAFKA_SESSION_TIMEOUT + 3)
    finally:
        delete_test_topics()


@asynccontextmanager
async def apicurio_registry(request: pytest.FixtureRequest) -> AsyncIterator[SchemaRegistry]:
    from sts.adapters.confluent_registry import ConfluentSchemaRegistry

    require_registry()
    registry = ConfluentSchemaRegistry(registry_url())
    try:
        yield registry
    finally:
        await registry.close()
