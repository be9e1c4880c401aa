"""A live replay with something done in the middle of it (a backup), for the backup and DR tests and
``bench/bench_dr.py``.

The real pipeline (scheduler → ingestion → bus → processor, season-stats and moments consumers) runs
against the stand-in replaying recorded games on a fast clock; :func:`run_live` calls ``during`` once
the database holds ``after_plays`` plays of the first game while it is still in progress, then lets
every game finish.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from sts.adapters.mlb_client import MLBClient
from sts.bootstrap import Backends
from sts.db.queries import table_checksums
from sts.recordings import scan_recordings
from sts.services.pipeline import Pipeline
from sts.services.scheduler import SchedulerConfig
from sts.standin.server import StandIn
from tests.e2e.test_demo import OBSERVED_ONLY

T = TypeVar("T")

CONFIG = SchedulerConfig(poll_interval=60, schedule_interval=300, pregame_lead=1800)
# As in tests/replay: a restore + rebuild applies the very events of the live run, so only the
# wall-clock columns saying when a row was written differ.
WALL_CLOCK = {table: cols for table, cols in OBSERVED_ONLY.items() if table != "game_status_history"}


async def checksums(database_url: str) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute("SET TimeZone = 'UTC'")
        return await table_checksums(conn, exclude_columns=WALL_CLOCK)


async def plays_and_status(database_url: str, game_pk: int) -> tuple[int, bool]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        row = await (
            await conn.execute(
                "SELECT (SELECT count(*) FROM plays WHERE game_pk = %s), "
                "coalesce((SELECT is_final FROM games WHERE game_pk = %s), false)",
                (game_pk, game_pk),
            )
        ).fetchone()
    assert row is not None
    return int(row[0]), bool(row[1])


@dataclasses.dataclass
class LiveResult:
    pipeline: Pipeline
    during: Any
    plays_at_during: int


async def run_live(
    backends: Backends,
    shared_data: Path,
    games: Sequence[int],
    *,
    speed: float,
    after_plays: int,
    during: Callable[[], Awaitable[T]],
    limit: float = 300,
) -> LiveResult:
    """Run ``games`` live through ``backends``; call ``during`` mid-game (see the module doc)."""
    recordings = scan_recordings(shared_data / "statsapi")
    recordings = dataclasses.replace(recordings, games={pk: recordings.games[pk] for pk in games})
    standin = StandIn(recordings, speed=speed, start_in=300)
    try:
        base = await standin.start()
        async with MLBClient(base, timeout=10, retries=3) as client:
            pipeline = Pipeline(backends, client, standin.clock, CONFIG)
            task = asyncio.create_task(pipeline.run(asyncio.Event(), until_done=True))
            try:
                while True:
                    if task.done():
                        task.result()
                        raise AssertionError("the games ended before the mid-game step could run")
                    plays, final = await plays_and_status(backends.database_url, games[0])
                    assert not final, "the first game was final before it had enough plays"
                    if plays >= after_plays:
                        break
                    await asyncio.sleep(0.05)
                result = await during()
                await asyncio.wait_for(task, timeout=limit)
            finally:
                if not task.done():
                    task.cancel()
        return LiveResult(pipeline, result, plays)
    finally:
        await standin.stop()
