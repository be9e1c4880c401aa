"""Fixtures for the processor tests: async connections to freshly migrated databases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest

from sts.adapters.embedded_pg import EmbeddedPostgres
from tests.conftest import _fresh_database


@pytest.fixture
async def conn(migrated_pg_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(migrated_pg_url) as c:
        yield c


@pytest.fixture
def other_pg_url(pg_server: EmbeddedPostgres) -> Iterator[str]:
    """A second migrated database, to compare two ways of building the same rows."""
    from sts.db import migrate

    for url in _fresh_database(pg_server):
        migrate(url)
        yield url


@pytest.fixture
async def other_conn(other_pg_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(other_pg_url) as c:
        yield c
