"""Profile equivalence: every recorded game replayed on the embedded profile and on the production
profile gives exactly the same game model.

- embedded: the embedded PostgreSQL (a fresh database from ``pg_url``), the file object store, the
  PostgreSQL event log in that database;
- production: a fresh database on the local PostgreSQL 15 server, S3 on SeaweedFS (bucket names with a
  prefix of their own), Kafka with topics and consumer groups under a prefix of their own
  (``STS_TOPIC_PREFIX``, so other runs on the shared broker are never read), Avro schemas in Apicurio.

Both pipelines run in this process at the same time, against one stand-in replaying every recorded
game on an accelerated clock, and the per-table checksums of the two databases are compared.

Left out of the comparison, as in ``tests/e2e/test_demo.py``, is only what records *observation*
rather than game facts, and so depends on the moments at which each pipeline's polls happened to land:
the audit table ``processed_events`` (one row per event applied, including status observations whose
ids carry the snapshot timecode at which they were seen) and ``game_status_history.first_timecode``
(the first snapshot in which a status was seen); and the wall-clock columns saying when a row was
written (``derived_box_lines.derived_at``, ``box_quality.checked_at``, ``loaded_at``). The exclusions are
those of ``tests/e2e/test_demo.py`` (imported from it). Every other table and column must be identical.

``game_status_history`` is compared row by row instead: which *pre-game* statuses a pipeline saw is an
observation too (at this speed Warmup lasts one real second before the first pitch; a pipeline whose first
poll of a game lands later, on a loaded machine, never sees it), so pre-game rows (Scheduled, Pre-Game, and
Warmup, whose abstract state is Live) need only be statuses of the stand-in's pre-game timeline, while every
other status (In Progress, Final) must be the same in both databases.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sts.adapters.mlb_client import MLBClient
from sts.bootstrap import Backends, open_backends
from sts.config import Settings
from sts.db.queries import table_checksums
from sts.services.pipeline import Pipeline, game_summaries
from sts.services.scheduler import SchedulerConfig
from sts.standin.server import StandIn
from tests.contract.test_database import _server_database
from tests.contract.test_object_store import require_s3_server, s3_settings, s3_url_with_prefix
from tests.e2e.test_demo import AUDIT_ONLY, OBSERVED_ONLY, PRE_GAME_STATUSES, StatusRows
from tests.e2e.test_demo import status_history as demo_status_history
from tests.kafka_backends import kafka_url, registry_url, require_kafka, require_registry

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.s3, pytest.mark.pgserver]

SPEED = 300.0
CONFIG = SchedulerConfig(poll_interval=60, schedule_interval=300, pregame_lead=1800)


async def checksums(database_url: str) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute("SET TimeZone = 'UTC'")  # timestamps render in the session's zone
        return await table_checksums(
            conn, exclude_tables=(*AUDIT_ONLY, "game_status_history"), exclude_columns=OBSERVED_ONLY
        )


async def status_history(database_url: str) -> tuple[StatusRows, StatusRows]:
    """``(pre-game rows, live and final rows)`` of ``game_status_history`` (see ``test_demo``)."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        return await demo_status_history(conn)


async def replay(backends: Backends, standin: StandIn, base: str) -> Pipeline:
    """Run the whole pipeline against ``standin`` until every game is Final and processed."""
    async with MLBClient(base, timeout=10, retries=3) as client:
        pipeline = Pipeline(backends, client, standin.clock, CONFIG)
        await asyncio.wait_for(pipeline.run(asyncio.Event(), until_done=True), timeout=600)
    return pipeline


def production_settings(data_dir: Path, database_url: str, prefix: str) -> Settings:
    """The production profile, with names of its own on the shared servers."""
    s3 = s3_settings()
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        object_store_url=s3_url_with_prefix(f"{prefix}-"),
        s3_access_key=s3.s3_access_key,
        s3_secret_key=s3.s3_secret_key,
        event_bus_url=kafka_url(),
        schema_registry_url=registry_url(),
        topic_prefix=f"{prefix}.",
        partitions=3,
    )


def delete_topics(prefix: str) -> None:
    """Delete the Kafka topics under ``prefix`` (best effort: a broker with many leftover partitions
    restarts slowly)."""
    from urllib.parse import urlsplit

    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": urlsplit(kafka_url()).netloc})
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=10).values():
            with contextlib.suppress(Exception):
                future.result()


@pytest.fixture
def server_db() -> Iterator[str]:
    require_kafka()
    require_registry()
    require_s3_server()
    yield from _server_database()


async def test_both_profiles_give_the_same_game_model(
    shared_data: Path, pg_url: str, server_db: str, tmp_path: Path
) -> None:
    prefix = f"prof-{uuid.uuid4().hex[:8]}"
    embedded_settings = Settings(
        data_dir=tmp_path / "embedded", database_url=pg_url, object_store_url=f"file://{tmp_path / 'objects'}"
    )
    standin = StandIn(shared_data / "statsapi", speed=SPEED, start_in=300)
    base = await standin.start()
    opened: list[Backends] = []
    try:
        embedded = await open_backends(embedded_settings)
        opened.append(embedded)
        production = await open_backends(production_settings(tmp_path / "production", server_db, prefix))
        opened.append(production)
        pipelines = await asyncio.gather(replay(embedded, standin, base), replay(production, standin, base))

        games: list[list[dict[str, Any]]] = [await game_summaries(b.database_url) for b in opened]
        assert len(games[0]) == 8 and all(g["status"] == "Final" for g in games[0])
        assert games[0] == games[1]
        for p in pipelines:
            assert p.stats.snapshots_rejected == 0, p.stats.rejected_reasons
            assert p.stats.snapshots_stored >= 8 * 5

        embedded_sums, production_sums = await checksums(pg_url), await checksums(server_db)
        assert len(embedded_sums) >= 8  # the game model's tables, not an empty comparison
        assert production_sums == embedded_sums

        (pre_e, played_e), (pre_p, played_p) = await status_history(pg_url), await status_history(server_db)
        assert played_p == played_e
        assert {r[0] for r in played_e if r[3] == "In Progress"} == {g["gamePk"] for g in games[0]}
        assert {r[1:] for r in pre_e | pre_p} <= PRE_GAME_STATUSES, pre_e | pre_p
    finally:
        for b in opened:
            purge = getattr(b.store, "purge_buckets", None)
            if purge is not None:
                with contextlib.suppress(Exception):
                    await purge()
            await b.aclose()
        await standin.stop()
        delete_topics(f"{prefix}.")


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
