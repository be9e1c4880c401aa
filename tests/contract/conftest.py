"""Backends for the event-bus and schema-registry contract suites.

Each suite runs once per backend id. A backend is registered here as an async context manager
factory keyed by its id; adding a backend (e.g. ``"kafka"``) means adding one entry to
:data:`BUS_BACKENDS` / :data:`REGISTRY_BACKENDS` (with marks in :data:`BACKEND_MARKS` when it needs
a live service) — the tests themselves do not change.

- ``bus_backend``: a :class:`BusBackend` — a fresh, empty bus storage for one test, from which
  ``connect()`` opens as many bus clients as the test needs (a second client is a "restart").
- ``bus``: one ready client of ``bus_backend``.
- ``registry``: a ready, empty :class:`sts.ports.SchemaRegistry`.
- ``subject``: a subject name unique to the test (registries may be shared across tests).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import pytest

from sts.adapters.pg_bus import PostgresEventBus
from sts.adapters.pg_registry import PostgresSchemaRegistry
from sts.ports import EventBus, SchemaRegistry


@dataclass(frozen=True)
class BusBackend:
    """One test's bus storage.

    ``connect``: opens a new bus client on the same storage (closed when the context ends).
    ``topic``: the name to use for a topic (backends whose storage is shared across tests, such as a
    Kafka broker, make it unique; the embedded bus has a fresh database per test).
    ``takeover_seconds``: how long a group may take to give a closed member's partitions to another.
    """

    id: str
    connect: Callable[[], AbstractAsyncContextManager[EventBus]]
    topic: Callable[[str], str]
    takeover_seconds: float


BusFactory = Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[BusBackend]]
RegistryFactory = Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[SchemaRegistry]]

# the embedded bus with short group timings so that the suite stays fast
PG_SESSION_TIMEOUT = 2.0
PG_HEARTBEAT = 0.5


@asynccontextmanager
async def postgres_bus_backend(request: pytest.FixtureRequest) -> AsyncIterator[BusBackend]:
    url: str = request.getfixturevalue("migrated_pg_url")

    @asynccontextmanager
    async def connect() -> AsyncIterator[EventBus]:
        bus = PostgresEventBus(url, session_timeout=PG_SESSION_TIMEOUT, heartbeat_interval=PG_HEARTBEAT)
        try:
            await bus.ready()
            yield bus
        finally:
            await bus.close()

    yield BusBackend("postgres", connect, lambda name: name, takeover_seconds=PG_SESSION_TIMEOUT + 3)


@asynccontextmanager
async def postgres_registry(request: pytest.FixtureRequest) -> AsyncIterator[SchemaRegistry]:
    registry = PostgresSchemaRegistry(request.getfixturevalue("migrated_pg_url"))
    try:
        yield registry
    finally:
        await registry.close()


BUS_BACKENDS: dict[str, BusFactory] = {"postgres": postgres_bus_backend}
REGISTRY_BACKENDS: dict[str, RegistryFactory] = {"postgres": postgres_registry}
BACKEND_MARKS: dict[str, list[pytest.MarkDecorator]] = {}

# Kafka bus + Apicurio registry: live services (deploy/local/kafka.sh, apicurio.sh); tests/kafka_backends.py
from tests.kafka_backends import apicurio_registry, kafka_bus_backend  # noqa: E402

BUS_BACKENDS["kafka"] = kafka_bus_backend
REGISTRY_BACKENDS["kafka"] = apicurio_registry
BACKEND_MARKS["kafka"] = [pytest.mark.kafka]


def _params(ids: Iterable[str]) -> list[object]:
    return [pytest.param(i, id=i, marks=BACKEND_MARKS.get(i, [])) for i in ids]


@pytest.fixture(params=_params(BUS_BACKENDS))  # type: ignore[arg-type]
async def bus_backend(request: pytest.FixtureRequest) -> AsyncIterator[BusBackend]:
    async with BUS_BACKENDS[request.param](request) as backend:
        yield backend


@pytest.fixture
async def bus(bus_backend: BusBackend) -> AsyncIterator[EventBus]:
    async with bus_backend.connect() as client:
        yield client


@pytest.fixture(params=_params(REGISTRY_BACKENDS))  # type: ignore[arg-type]
async def registry(request: pytest.FixtureRequest) -> AsyncIterator[SchemaRegistry]:
    async with REGISTRY_BACKENDS[request.param](request) as reg:
        yield reg


@pytest.fixture
def subject() -> str:
    return f"sts-test-{uuid.uuid4().hex[:10]}-value"
