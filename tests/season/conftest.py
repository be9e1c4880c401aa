"""Fixtures for the season-statistics tests.

- ``season_db``: one migrated database per test module (the Lahman import is too slow to repeat per test).
- ``lahman_2024``: ``season_db`` with the FanGraphs reference data, Lahman 2024 and the crosswalk loaded.
- ``final_feeds``: the recorded final GUMBO feeds (``tests/stats/conftest.py:FINAL_FEEDS``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sts.adapters.embedded_pg import EmbeddedPostgres
from sts.stats.feed import unwrap
from tests.conftest import _fresh_database
from tests.stats.conftest import FINAL_FEEDS


@pytest.fixture(scope="module")
def season_db(pg_server: EmbeddedPostgres) -> Iterator[str]:
    from sts.db import migrate

    for url in _fresh_database(pg_server):
        migrate(url)
        yield url


@pytest.fixture(scope="module")
def lahman_2024(season_db: str, shared_data: Path) -> dict[str, Any]:
    """Loads reference data and Lahman 2024; returns the import report and reference counts."""
    import asyncio

    from sts.stats.constants import load_reference, read_reference
    from sts.stats.lahman import import_lahman

    reference = read_reference(shared_data / "reference")
    register = shared_data / "register" / "chadwick_register_mlb_2015plus_subset.csv"

    async def run() -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(season_db) as conn:
            added = await load_reference(conn, reference)
            report = await import_lahman(conn, [2024], register)
            await conn.commit()
            return {"url": season_db, "reference_added": added, "report": report}

    return asyncio.run(run())


@pytest.fixture(scope="session")
def final_feeds(shared_data: Path) -> list[dict[str, Any]]:
    feeds = []
    for name in FINAL_FEEDS:
        feed = unwrap(json.loads((shared_data / name).read_text()))
        assert feed is not None, name
        feeds.append(dict(feed))
    return feeds
