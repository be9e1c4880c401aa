"""Fixtures for the API tests: one replayed database for the whole package, and the API served on it.

- ``replayed`` (package scope): a live run of the real pipeline (scheduler → ingestion → bus →
  processor, season stats, moments) against the stand-in replaying two recorded games (717055, and
  747175 which ends on a walk-off) on a fast clock, on the embedded profile: a database on the session's
  embedded PostgreSQL (the event log in its tables) and the file object store. Its ``backends`` stay
  open for the package, so a test can publish on the same bus the API's hub tails.
- ``admin_key`` (package scope): an API key with every scope on that database.
- ``api`` (function scope): ``create_app`` on the replayed database, served in-process by
  :func:`sts.http.health.serve`; an :class:`Api` with ``.url``, ``.admin_key``, ``.http`` (an
  ``httpx.AsyncClient`` on the API sending the admin key) and ``.client(key)`` for other keys.
  ``serve_api(replayed, **overrides)`` serves one with other settings (``api_cache_entries=0``, …).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from sts.adapters.embedded_pg import EmbeddedPostgres
from sts.adapters.mlb_client import MLBClient
from sts.api.app import create_app
from sts.api.context import ApiContext
from sts.bootstrap import Backends, open_backends
from sts.config import Settings
from sts.http.health import serve
from sts.recordings import scan_recordings
from sts.services.pipeline import Pipeline
from sts.services.scheduler import SchedulerConfig
from sts.standin.server import StandIn
from tests.conftest import _fresh_database

GAMES = (717055, 747175)
SPEED = 600.0
CONFIG = SchedulerConfig(poll_interval=60, schedule_interval=300, pregame_lead=1800)


@dataclass
class Replayed:
    """The replayed deployment: its settings, open backends and database."""

    settings: Settings
    backends: Backends
    games: tuple[int, ...] = GAMES

    @property
    def database_url(self) -> str:
        return self.backends.database_url


@pytest.fixture(scope="package")
async def replayed(
    shared_data: Path, pg_server: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Replayed]:
    tmp = tmp_path_factory.mktemp("api")
    databases = _fresh_database(pg_server)
    settings = Settings(
        data_dir=tmp / "data",
        database_url=next(databases),
        object_store_url=f"file://{tmp / 'objects'}",
    )
    recordings = scan_recordings(shared_data / "statsapi")
    recordings = dataclasses.replace(recordings, games={pk: recordings.games[pk] for pk in GAMES})
    standin = StandIn(recordings, speed=SPEED, start_in=300)
    backends = await open_backends(settings)
    try:
        base = await standin.start()
        async with MLBClient(base, timeout=10, retries=3) as client:
            pipeline = Pipeline(backends, client, standin.clock, CONFIG)
            await asyncio.wait_for(pipeline.run(asyncio.Event(), until_done=True), timeout=300)
        await standin.stop()
        yield Replayed(settings, backends)
    finally:
        await standin.stop()
        await backends.aclose()
        with contextlib.suppress(Exception):
            next(databases, None)


async def make_admin_key(database_url: str) -> str:
    """A new key with every scope on the database at ``database_url``."""
    from sts.api.keys import SCOPES, create_key

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        new = await create_key(conn, "tests-admin", list(SCOPES))
    return str(new.secret)


@pytest.fixture(scope="package")
async def admin_key(replayed: Replayed) -> str:
    return await make_admin_key(replayed.database_url)


@dataclass
class Api:
    """The API served in-process: its address, the admin key and clients."""

    url: str
    admin_key: str | None
    ctx: ApiContext
    app: FastAPI
    http: httpx.AsyncClient

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        """A new client on the API sending ``key`` (none when ``None``); close it (``async with``)."""
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30, **kwargs)


@contextlib.asynccontextmanager
async def serve_api(replayed: Replayed, admin_key: str | None, **overrides: Any) -> AsyncIterator[Api]:
    """Serve ``create_app`` on the replayed database with ``overrides`` applied to its settings."""
    settings = replayed.settings.model_copy(update=overrides)
    backends = replayed.backends
    ctx = ApiContext(settings, backends.database_url, backends.bus, backends.codec)
    app = create_app(ctx)
    server, _ = await serve(app, "127.0.0.1", 0)
    async with server:
        headers = {} if admin_key is None else {"Authorization": f"Bearer {admin_key}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
            yield Api(server.url, admin_key, ctx, app, http)


@pytest.fixture
async def api(replayed: Replayed, admin_key: str | None) -> AsyncIterator[Api]:
    async with serve_api(replayed, admin_key) as served:
        yield served


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
