"""Must show: a replay of every recorded game with upstream faults injected ends with exactly the same
rows as a clean replay.

Pipelines run at the same time, each with a database of its own, against stand-ins sharing one
virtual clock: one clean, the others injecting every kind of fault (5xx with and without Retry-After,
timeouts longer than the client's, slow answers, truncated JSON, dropped connections, stale and
out-of-order states) on more than 20% of their answers, as counted by the stand-ins themselves. On the
embedded profile the faulted runs fetch incrementally (diffPatch) and by full feeds; on the production
profile (Kafka) incrementally. The per-table checksums of each faulted database must equal the clean
one's, with the exclusions of ``tests/e2e/test_demo.py`` (what records *when* a poll observed
something, not game facts) and the status history compared apart (see ``LASTING``). Every truncated,
stale or out-of-order snapshot that reached ingestion is in ``mlb.snapshots.dlq`` with its reason, or
was recognised as already seen; none replaced a newer state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client import REGISTRY

from sts.adapters.embedded_pg import EmbeddedPostgres
from sts.adapters.mlb_client import MLBClient
from sts.bootstrap import Backends, open_backends
from sts.config import Settings
from sts.db.queries import table_checksums
from sts.ports import TOPIC_SNAPSHOTS_DLQ
from sts.services.fetcher import FetchMode
from sts.services.pipeline import Pipeline, game_summaries
from sts.standin.faults import FAILING_KINDS, FaultPlan
from sts.standin.server import StandIn
from sts.standin.synth import status_of
from tests.conftest import _fresh_database
from tests.contract.test_database import _server_database
from tests.contract.test_object_store import require_s3_server
from tests.e2e.test_demo import AUDIT_ONLY, OBSERVED_ONLY
from tests.e2e.test_profiles import CONFIG, SPEED, delete_topics, production_settings
from tests.kafka_backends import require_kafka, require_registry

pytestmark = pytest.mark.slow

FAULT_SHARE = 0.55  # drawn per request; the test asserts that at least 20% of answers failed
CLIENT_TIMEOUT = 1.0  # real seconds; the stand-in's "timeout" fault hangs longer
PLAN = FaultPlan.mixed(FAULT_SHARE, seed=2026, hang_s=CLIENT_TIMEOUT + 0.5, slow_s=0.2, retry_after_s=5)
# live games polled every 30 clock seconds (the stand-in's metaData.wait is 10), no correction window
FAST = replace(CONFIG, poll_interval=30, max_live_interval=30, break_factor=1.0, correction_window=0)
# game_status_history holds the statuses STS *saw*: a short one (Pre-Game, Warmup) is missed when every
# poll in its window failed, and a stale answer can show an earlier one before anything was stored. So
# it is compared apart: every status seen is one the game was in, and the lasting ones are the same.
LASTING = ("In Progress", "Final")
# what ingestion may answer to a faulted 2xx body: malformed JSON (truncated), an older state (stale,
# out-of-order); a state already stored is "unchanged", not a dead letter
EXPECTED_DLQ_REASONS = {"malformed_json", "stale_timecode"}


@pytest.fixture
def server_db() -> Iterator[str]:
    """A fresh database on the PostgreSQL server (and the Kafka, Apicurio and S3 servers up)."""
    require_kafka()
    require_registry()
    require_s3_server()
    yield from _server_database()


@pytest.fixture
def more_pg_urls(pg_server: EmbeddedPostgres) -> Iterator[list[str]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(contextlib.contextmanager(_fresh_database)(pg_server)) for _ in range(2)]


def _settings(data_dir: Path, database_url: str) -> Settings:
    """The embedded profile on ``database_url``, objects in a directory of their own."""
    objects = f"file://{data_dir / 'objects'}"
    return Settings(data_dir=data_dir, database_url=database_url, object_store_url=objects)


async def _replay(backends: Backends, client: MLBClient, standin: StandIn, mode: FetchMode) -> Pipeline:
    pipeline = Pipeline(backends, client, standin.clock, FAST, fetch_mode=mode)
    await asyncio.wait_for(pipeline.run(asyncio.Event(), until_done=True), timeout=300)
    return pipeline


async def _checksums(database_url: str) -> dict[str, str]:
    """Per-table checksums of the game model (the exclusions of test_demo, and the status history)."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute("SET TimeZone = 'UTC'")
        return await table_checksums(
            conn, exclude_tables=(*AUDIT_ONLY, "game_status_history"), exclude_columns=dict(OBSERVED_ONLY)
        )


async def _statuses(database_url: str) -> set[tuple[int, str, str, str, str]]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT game_pk, coded_state, status_code, abstract_state, detailed_state"
            " FROM game_status_history"
        )
        return {(int(r[0]), r[1], r[2], r[3], r[4]) for r in await cur.fetchall()}


def _served_statuses(standin: StandIn) -> set[tuple[int, Any, Any, Any, Any]]:
    """Every ``gameData.status`` the stand-in can serve, per game."""
    out = set()
    for pk, game in standin.replay.games.items():
        for state in game.timeline.states:
            st = status_of(game.timeline, state)
            out.add((pk, st.get("codedGameState"), st.get("statusCode"), st.get("abstractGameState"),
                     st.get("detailedState")))  # fmt: skip
    return out


async def _differences(url_a: str, url_b: str, sums_a: dict[str, str], sums_b: dict[str, str]) -> str:
    """A few rows on each side of every table whose checksums differ (to say what differs)."""
    out = []
    for table in sorted(t for t in sums_a if sums_a[t] != sums_b.get(t)):
        rows = []
        for url in (url_a, url_b):
            async with await psycopg.AsyncConnection.connect(url) as conn:
                cur = await conn.execute(f"SELECT to_jsonb(t)::text FROM {table} t")
                rows.append({r[0] for r in await cur.fetchall()})
        only_a = [r[:20000] for r in sorted(rows[0] - rows[1])[:2]]
        only_b = [r[:20000] for r in sorted(rows[1] - rows[0])[:2]]
        out.append(f"{table}: only in clean {[r[:20000] for r in only_a]}, only in faulted {only_b}")
    return "\n".join(out)


async def _dead_letters(backends: Backends) -> list[dict[str, object]]:
    out = []
    async for record in backends.bus.read(TOPIC_SNAPSHOTS_DLQ):
        out.append((await backends.codec.decode(record.value)).payload)
    return out


Run = tuple[str, Settings, FetchMode, FaultPlan | None]  # name, backends, fetch mode, faults (None: clean)


async def _compare(shared_data: Path, runs: list[Run]) -> None:
    """Replay every recorded game once per run, all at the same time; the first run is the clean
    reference every faulted run is compared with."""
    opened: list[Backends] = []
    standins: list[StandIn] = []
    try:
        for _, settings, _, _ in runs:  # before the replay starts: opening takes seconds, minutes of game
            opened.append(await open_backends(settings))
        origin = time.time()  # every stand-in has the same virtual time (same origin and speed)
        for _, _, _, plan in runs:
            standins.append(
                StandIn(shared_data / "statsapi", speed=SPEED, start_in=300, origin=origin, faults=plan)
            )
        clock = standins[0].clock
        async with contextlib.AsyncExitStack() as stack:
            replays = []
            for (_, _, mode, plan), standin, backends in zip(runs, standins, opened, strict=True):
                base = await standin.start()
                if plan is None:
                    client = MLBClient(base, timeout=10, retries=3)
                else:  # waits (backoff, Retry-After, circuit cool-down) on the replay's clock
                    client = MLBClient(
                        base, CLIENT_TIMEOUT, 3, backoff_base=5.0, sleep=clock.sleep, clock=clock.now
                    )
                await stack.enter_async_context(client)
                replays.append(_replay(backends, client, standin, mode))
            pipelines = await asyncio.gather(*replays)

        clean_db = opened[0].database_url
        games = await game_summaries(clean_db)
        assert len(games) == 8 and all(g["status"] == "Final" for g in games)
        clean_sums = await _checksums(clean_db)
        assert len(clean_sums) >= 8
        assert pipelines[0].stats.snapshots_rejected == 0, pipelines[0].stats.rejected_reasons
        for (name, _, mode, _), standin, pipeline, backends in zip(
            runs[1:], standins[1:], pipelines[1:], opened[1:], strict=True
        ):
            assert standin.faults is not None
            counters = standin.faults.snapshot()
            dead = await _dead_letters(backends)
            reasons = Counter(str(d["reason"]) for d in dead)
            host = f"127.0.0.1:{httpx.URL(str(standin.base_url)).port}"
            opened_circuit = REGISTRY.get_sample_value(
                "sts_upstream_circuit_transitions_total", {"host": host, "state": "open"}
            )
            print(f"{name}: requests {counters['requests']}, failing {counters['failing']} "
                  f"({counters['failingShare']:.1%}), injected {json.dumps(counters['injected'])}; "
                  f"stored {pipeline.stats.snapshots_stored}, dead letters {dict(reasons)}, "
                  f"circuit opened {opened_circuit or 0:.0f} times")  # fmt: skip

            # the stand-in's own count: at least 20% of the answers failed, in at least 6 different ways
            injected = counters["injected"]
            assert counters["requests"] >= 60, (name, counters)
            assert counters["failingShare"] >= 0.20, (name, counters)
            assert sum(1 for kind in FAILING_KINDS if injected[kind] > 0) >= 6, (name, injected)
            assert injected["truncated"] > 0 and injected["stale"] + injected["out_of_order"] > 0, injected

            # the same games, the same rows
            db = backends.database_url
            assert await game_summaries(db) == games, name
            sums = await _checksums(db)
            if sums != clean_sums:
                print(name, "differs from the clean run:", await _differences(clean_db, db, clean_sums, sums))
            assert sums == clean_sums, name
            # the statuses seen: only states the game was really in; its lasting ones as in the clean run
            seen, clean_seen = await _statuses(db), await _statuses(clean_db)
            assert seen <= _served_statuses(standin), (name, seen - _served_statuses(standin))
            assert {s for s in seen if s[4] in LASTING} == {s for s in clean_seen if s[4] in LASTING}, name

            # bad bodies that reached ingestion are dead letters with their reason; none replaced a
            # newer state (a stale one is refused as older than the stored one)
            assert sum(reasons.values()) == pipeline.stats.snapshots_rejected, name
            assert set(reasons) <= EXPECTED_DLQ_REASONS, (name, reasons)
            for d in dead:
                if d["reason"] == "stale_timecode":
                    older = json.loads(d["payload"])["metaData"]["timeStamp"]  # type: ignore[arg-type]
                    assert f"timecode {older} is older than the stored " in str(d["detail"])
            if mode == "full":  # every faulted body goes to ingestion: both kinds are dead letters
                assert reasons["malformed_json"] > 0 and reasons["stale_timecode"] > 0, reasons
    finally:
        for b in opened:
            purge = getattr(b.store, "purge_buckets", None)
            if purge is not None:
                with contextlib.suppress(Exception):
                    await purge()
            await b.aclose()
        for s in standins:
            with contextlib.suppress(Exception):
                await s.stop()


async def test_faulted_replay_gives_the_same_rows_as_a_clean_replay(
    shared_data: Path, pg_url: str, more_pg_urls: list[str], tmp_path: Path
) -> None:
    """Embedded profile: clean (incremental fetching) vs faulted with incremental fetching vs faulted
    with full-feed polling."""
    await _compare(
        shared_data,
        [
            ("clean", _settings(tmp_path / "clean", pg_url), "incremental", None),
            ("faulted-incremental", _settings(tmp_path / "inc", more_pg_urls[0]), "incremental", PLAN),
            ("faulted-full", _settings(tmp_path / "full", more_pg_urls[1]), "full", PLAN),
        ],
    )


@pytest.mark.kafka
@pytest.mark.s3
@pytest.mark.pgserver
async def test_faulted_replay_on_kafka_gives_the_same_rows_as_a_clean_replay(
    shared_data: Path, pg_url: str, server_db: str, tmp_path: Path
) -> None:
    """Production profile (Kafka + Apicurio, SeaweedFS S3, PostgreSQL server), faulted, vs a clean
    replay on the embedded profile."""
    prefix = f"fault-{uuid.uuid4().hex[:8]}"
    try:
        await _compare(
            shared_data,
            [
                ("clean", _settings(tmp_path / "clean", pg_url), "incremental", None),
                (
                    "faulted-kafka",
                    production_settings(tmp_path / "kafka", server_db, prefix),
                    "incremental",
                    PLAN,
                ),
            ],
        )
    finally:
        delete_topics(f"{prefix}.")


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
