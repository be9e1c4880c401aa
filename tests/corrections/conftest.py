"""A connection to a freshly migrated database of the session's embedded PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest


@pytest.fixture
async def conn(migrated_pg_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(migrated_pg_url) as c:
        yield c
