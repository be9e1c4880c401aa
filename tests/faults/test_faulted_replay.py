"""Must show: a replay of every recorded game with upstream faults injected ends with exactly the same
rows as a clean replay.

Two pipelines run at the same time on the embedded profile (embedded PostgreSQL, file object store,
PostgreSQL event log), each with a database of its own, against two stand-ins sharing one virtual
clock: one clean, one injecting every kind of fault (5xx with and without Retry-After, timeouts longer
than the client's, slow answers, truncated JSON, dropped connections, stale and out-of-order states) on
more than 20% of its answers, as counted by the stand-in itself. The per-table checksums of the two
databases must be equal (with the exclusions of ``tests/e2e/test_demo.py``: what records *when* a
poll observed something, not game facts). Every truncated, stale or out-of-order snapshot that reached
ingestion is in ``mlb.snapshots.dlq`` with its reason, or was recognised as already seen; none
replaced a newer state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from sts.adapters.embedded_pg import EmbeddedPostgres
from sts.adapters.mlb_client import MLBClient
from sts.bootstrap import Backends, open_backends
from sts.config import Settings
from sts.ports import TOPIC_SNAPSHOTS_DLQ
from sts.services.pipeline import Pipeline, game_summaries
from sts.standin.faults import FAILING_KINDS, FaultPlan
from sts.standin.server import StandIn
from tests.conftest import _fresh_database
from tests.e2e.test_profiles import CONFIG, SPEED, checksums

pytestmark = pytest.mark.slow

FAULT_SHARE = 0.35  # drawn per request; the test asserts that at least 20% of answers failed
CLIENT_TIMEOUT = 1.0  # real seconds; the stand-in's "timeout" fault hangs longer
PLAN = FaultPlan.mixed(FAULT_SHARE, seed=2026, hang_s=CLIENT_TIMEOUT + 0.5, slow_s=0.2, retry_after_s=5)
# what ingestion may answer to a faulted 2xx body: malformed JSON (truncated), an older state (stale,
# out-of-order) or a state already stored (unchanged, not a dead letter)
EXPECTED_DLQ_REASONS = {"malformed_json", "stale_timecode"}


@pytest.fixture
def second_pg_url(pg_server: EmbeddedPostgres) -> Iterator[str]:
    yield from _fresh_database(pg_server)


def _settings(data_dir: Path, database_url: str) -> Settings:
    """The embedded profile on ``database_url``, objects in a directory of their own."""
    objects = f"file://{data_dir / 'objects'}"
    return Settings(data_dir=data_dir, database_url=database_url, object_store_url=objects)


async def _replay(backends: Backends, client: MLBClient, standin: StandIn) -> Pipeline:
    pipeline = Pipeline(backends, client, standin.clock, CONFIG)
    await asyncio.wait_for(pipeline.run(asyncio.Event(), until_done=True), timeout=300)
    return pipeline


async def _dead_letters(backends: Backends) -> list[dict[str, object]]:
    out = []
    async for record in backends.bus.read(TOPIC_SNAPSHOTS_DLQ):
        out.append((await backends.codec.decode(record.value)).payload)
    return out


async def test_faulted_replay_gives_the_same_rows_as_a_clean_replay(
    shared_data: Path, pg_url: str, second_pg_url: str, tmp_path: Path
) -> None:
    origin = time.time()
    clean = StandIn(shared_data / "statsapi", speed=SPEED, start_in=300, origin=origin)
    faulty = StandIn(shared_data / "statsapi", speed=SPEED, start_in=300, origin=origin, faults=PLAN)
    clock = faulty.clock  # the same virtual time as clean.clock (same origin and speed)
    opened: list[Backends] = []
    try:
        clean_base, faulty_base = await clean.start(), await faulty.start()
        clean_backends = await open_backends(_settings(tmp_path / "clean", pg_url))
        opened.append(clean_backends)
        faulty_backends = await open_backends(_settings(tmp_path / "faulty", second_pg_url))
        opened.append(faulty_backends)
        # the faulted client waits (backoff, Retry-After, circuit cool-down) on the replay's clock
        async with (
            MLBClient(clean_base, timeout=10, retries=3) as clean_client,
            MLBClient(
                faulty_base, CLIENT_TIMEOUT, 3, backoff_base=5.0, sleep=clock.sleep, clock=clock.now
            ) as faulty_client,
        ):
            clean_run, faulty_run = await asyncio.gather(
                _replay(clean_backends, clean_client, clean),
                _replay(faulty_backends, faulty_client, faulty),
            )
        counters = faulty.faults.snapshot() if faulty.faults else {}
        print("stand-in fault counters:", json.dumps(counters["injected"]), "requests", counters["requests"],
              f"failing {counters['failing']} ({counters['failingShare']:.1%})")  # fmt: skip
        print("dead letters:", faulty_run.stats.rejected_reasons, "stored", faulty_run.stats.snapshots_stored,
              "clean stored", clean_run.stats.snapshots_stored)  # fmt: skip

        # the stand-in's own count: at least 20% of the answers failed, in at least 6 different ways
        injected = counters["injected"]
        assert counters["requests"] >= 200
        assert counters["failingShare"] >= 0.20, counters
        assert sum(1 for kind in FAILING_KINDS if injected[kind] > 0) >= 6, injected
        assert injected["truncated"] > 0 and injected["stale"] + injected["out_of_order"] > 0, injected

        # the same games, the same rows
        games = await game_summaries(pg_url)
        assert len(games) == 8 and all(g["status"] == "Final" for g in games)
        assert await game_summaries(second_pg_url) == games
        clean_sums, faulty_sums = await checksums(pg_url), await checksums(second_pg_url)
        assert len(clean_sums) >= 8
        assert faulty_sums == clean_sums

        # bad bodies ended in the dead-letter topic with their reason; nothing newer was replaced
        assert clean_run.stats.snapshots_rejected == 0, clean_run.stats.rejected_reasons
        dead = await _dead_letters(faulty_backends)
        reasons = Counter(str(d["reason"]) for d in dead)
        assert sum(reasons.values()) == faulty_run.stats.snapshots_rejected > 0
        assert set(reasons) <= EXPECTED_DLQ_REASONS and reasons["malformed_json"] > 0, reasons
        for d in dead:
            if d["reason"] == "stale_timecode":
                older = json.loads(d["payload"])["metaData"]["timeStamp"]  # type: ignore[arg-type]
                assert f"timecode {older} is older than the stored " in str(d["detail"])
    finally:
        for b in opened:
            await b.aclose()
        for s in (clean, faulty):
            with contextlib.suppress(Exception):
                await s.stop()


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
