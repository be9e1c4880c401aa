"""Versioned constants and park factors: reloading the same numbers is a no-op, new numbers add a
version, readers see the latest."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import psycopg

from sts.stats.constants import (
    constants_for,
    load_reference,
    park_factors_for,
    park_team,
    read_reference,
    store_constants,
)  # fmt: skip


async def test_versions(migrated_pg_url: str, shared_data: Path) -> None:
    ref = read_reference(shared_data / "reference")
    async with await psycopg.AsyncConnection.connect(migrated_pg_url) as conn:
        first = await load_reference(conn, ref)
        assert first[0] == len(ref[0]) and first[1] == len(ref[1])
        assert await load_reference(conn, ref) == (0, 0)
        c24 = await constants_for(conn, 2024)
        assert c24 is not None and (c24.woba, c24.woba_scale, c24.c_fip) == (0.310, 1.242, 3.166)
        assert await store_constants(conn, [replace(c24, c_fip=3.17)], source="test") == 1
        newer = await constants_for(conn, 2024)
        assert newer is not None and newer.c_fip == 3.17
        cur = await conn.execute("SELECT version, source FROM stat_constants WHERE season = 2024 ORDER BY 1")
        assert await cur.fetchall() == [(1, "fangraphs-guts"), (2, "test")]
        parks = await park_factors_for(conn, 2024)
    assert parks["Yankees"] == 0.99 and len(parks) == 30
    assert park_team("Los Angeles Angels of Anaheim", parks) == "Angels"
    assert park_team("Chicago White Sox", parks) == "White Sox"
    assert park_team("Toronto Blue Jays", parks) == "Blue Jays"
