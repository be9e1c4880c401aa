"""Shared fixtures.

- ``shared_data``: the recorded MLB data in ``../shared/data/mlb`` (never copied into the repo).
- ``pg_server``: one real embedded PostgreSQL for the whole test session.
- ``pg_url``: a fresh, empty database on it for one test (dropped afterwards).
- ``migrated_pg_url``: the same with every migration applied.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from sts.adapters.embedded_pg import EmbeddedPostgres

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("STS_SHARED_DIR", REPO.parent / "shared"))
MLB_DATA = SHARED / "data" / "mlb"
STATSAPI = MLB_DATA / "statsapi"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not MLB_DATA.is_dir():
        pytest.fail(f"recorded MLB data not found at {MLB_DATA} (set STS_SHARED_DIR)")
    return MLB_DATA


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    root = tmp_path_factory.mktemp("pg")
    root.chmod(0o755)
    server = EmbeddedPostgres(root / "pgdata")
    server.start()
    yield server
    server.stop()


def _fresh_database(server: EmbeddedPostgres) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.url(name)
    finally:
        with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_server: EmbeddedPostgres) -> Iterator[str]:
    yield from _fresh_database(pg_server)


@pytest.fixture
def migrated_pg_url(pg_url: str) -> str:
    from sts.db import migrate

    migrate(pg_url)
    return pg_url
