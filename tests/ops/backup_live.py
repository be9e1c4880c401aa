"""A live replay with something done in the middle of it (a backup), for the backup and DR tests and
``bench/bench_dr.py``.

The real pipeline (scheduler → ingestion → bus → processor, season-stats and moments consumers) runs
against the stand-in replaying recorded games on a fast clock; :func:`run_live` calls ``during`` once
the database holds ``after_plays`` plays of the first game while it is still in progress, then lets
every game finish. While ``during`` runs, the stand-in holds every game at its current state (its
stall knob: the feeds keep answering, with the same timecode), so that on a loaded machine a slow
backup still sees the game in progress; the pipeline keeps running (polling, applying what it has not
applied yet), and afterwards the game jumps to where the clock has got to and goes on to the end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from sts.adapters.mlb_client import MLBClient
from sts.bootstrap import Backends
from sts.config import Settings
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


async def checksums(database_url: str, *, exclude_tables: Sequence[str] = ()) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute("SET TimeZone = 'UTC'")
        return await table_checksums(conn, exclude_tables=exclude_tables, exclude_columns=WALL_CLOCK)


async def backup_rows(database_url: str) -> dict[str, tuple[Any, ...]]:
    """Every row of ``backups`` by id (all columns)."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        rows = await (await conn.execute("SELECT id, to_jsonb(b)::text FROM backups b")).fetchall()
    return {r[0]: r[1] for r in rows}


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
                for pk in games:
                    standin.replay.stall(pk)
                try:
                    result = await during()
                finally:
                    for pk in games:
                        standin.replay.stall(pk, False)
                await asyncio.wait_for(task, timeout=limit)
            finally:
                if not task.done():
                    task.cancel()
        return LiveResult(pipeline, result, plays)
    finally:
        await standin.stop()


# --------------------------------------------------------------------------- the production drill


def cli(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``sts ARGS`` in a process of its own with exactly the ``STS_*`` variables of ``env``;
    return it and its wall-clock seconds."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STS_")}
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "sts", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    return proc, time.perf_counter() - started


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``STS_*`` variables that give a CLI process ``settings``."""
    env: dict[str, str] = {}
    for name in (
        "data_dir",
        "database_url",
        "object_store_url",
        "event_bus_url",
        "schema_registry_url",
        "s3_access_key",
        "s3_secret_key",
        "topic_prefix",
        "partitions",
    ):
        value = getattr(settings, name)
        if value not in ("", None):
            env[f"STS_{name.upper()}"] = str(value)
    return env


def s3_backup_location(bucket: str, prefix: str = "dr") -> str:
    """``s3://bucket/prefix?endpoint=…`` on the test S3 server."""
    from tests.contract.test_object_store import DEFAULT_S3_URL

    url = os.environ.get("STS_TEST_S3_URL", DEFAULT_S3_URL)
    return f"s3://{bucket}/{prefix}?{urlsplit(url).query}"


def delete_groups(prefix: str) -> list[str]:
    """Delete the Kafka consumer groups under ``prefix`` (their members must be gone)."""
    from confluent_kafka.admin import AdminClient

    from tests.kafka_backends import kafka_url

    admin = AdminClient({"bootstrap.servers": urlsplit(kafka_url()).netloc})
    listed = admin.list_consumer_groups(request_timeout=10).result()
    groups = [g.group_id for g in listed.valid if g.group_id.startswith(prefix)]
    if groups:
        for future in admin.delete_consumer_groups(groups, request_timeout=10).values():
            future.result()
    return groups


def drop_database(url: str) -> None:
    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(parts.path.lstrip("/")))
        )


def new_database_url(like: str) -> str:
    """A database name on the server of ``like`` that does not exist yet (restore creates it)."""
    return urlunsplit(urlsplit(like)._replace(path=f"/t_{uuid.uuid4().hex[:12]}"))


async def count(database_url: str, query: str) -> int:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        row = await (await conn.execute(query)).fetchone()
    assert row is not None
    return int(row[0])
