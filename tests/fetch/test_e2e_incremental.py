"""End to end: the whole pipeline in incremental mode gives exactly the rows of full-feed polling.

Two pipelines run at the same time in this process on the embedded profile (embedded PostgreSQL, file
object store, PostgreSQL event log), each with a database and a store of its own, against one stand-in
replaying three recorded games on a fast clock: one fetches incrementally (``feed/live/diffPatch``
on its last state), the other fetches the whole feed at every poll. Then:

- both databases have the same per-table checksums (exclusions of ``tests/e2e/test_demo.py``: what
  records *when* a poll observed something), and their games match MLB's final feeds;
- every object the incremental run stored in ``mlb-live`` is named by its own timecode and is exactly
  the stand-in's feed at that timecode (the patched documents are the real states, not approximations);
- the incremental run built most of its states from patches and downloaded far fewer bytes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sts.adapters.embedded_pg import EmbeddedPostgres
from sts.adapters.mlb_client import MLBClient
from sts.bootstrap import Backends, open_backends
from sts.config import Settings
from sts.ports import BUCKET_LIVE
from sts.recordings import Recordings
from sts.services.fetcher import FetchMode
from sts.services.pipeline import Pipeline, game_summaries
from sts.standin.server import StandIn
from tests.conftest import _fresh_database
from tests.e2e.test_demo import _expected
from tests.e2e.test_profiles import CONFIG, checksums
from tests.fetch.conftest import only

pytestmark = pytest.mark.slow

GAMES = (718322, 744914, 747175)
SPEED = 300.0


@pytest.fixture
def second_pg_url(pg_server: EmbeddedPostgres) -> Iterator[str]:
    yield from _fresh_database(pg_server)


async def _replay(backends: Backends, standin: StandIn, mode: FetchMode) -> Pipeline:
    assert standin.base_url is not None
    async with MLBClient(standin.base_url, timeout=10, retries=3) as client:
        pipeline = Pipeline(backends, client, standin.clock, CONFIG, fetch_mode=mode)
        await asyncio.wait_for(pipeline.run(asyncio.Event(), until_done=True), timeout=300)
    return pipeline


async def test_incremental_and_full_fetching_give_the_same_rows(
    recordings: Recordings, pg_url: str, second_pg_url: str, tmp_path: Path
) -> None:
    standin = StandIn(only(recordings, *GAMES), speed=SPEED, start_in=300)
    await standin.start()
    opened: list[Backends] = []
    try:
        for name, url in (("incremental", pg_url), ("full", second_pg_url)):
            settings = Settings(
                data_dir=tmp_path / name,
                database_url=url,
                object_store_url=f"file://{tmp_path / name}-objects",
            )
            opened.append(await open_backends(settings))
        incremental, full = await asyncio.gather(
            _replay(opened[0], standin, "incremental"), _replay(opened[1], standin, "full")
        )

        summaries = [await game_summaries(b.database_url) for b in opened]
        assert summaries[0] == [_expected(recordings.games[pk].feed) for pk in GAMES]
        assert summaries[1] == summaries[0]
        inc_sums, full_sums = await checksums(pg_url), await checksums(second_pg_url)
        assert len(inc_sums) >= 8
        assert inc_sums == full_sums

        for p in (incremental, full):
            assert p.stats.snapshots_rejected == 0, p.stats.rejected_reasons
        inc, whole = incremental.fetcher.stats, full.fetcher.stats
        assert set(whole.requests) == {"full"}
        assert inc.patched >= incremental.stats.snapshots_stored // 2, (inc, incremental.stats)
        assert inc.requests["full"] <= 3 * len(GAMES), inc  # the first state, a pre-game gap, the final
        assert inc.total_bytes < 0.25 * whole.total_bytes, (inc, whole)

        stored = 0
        async for info in opened[0].store.list(BUCKET_LIVE):
            pk_text, name = info.key.split("/")
            pk, timecode = int(pk_text), name.removesuffix(".json")
            doc = json.loads(await opened[0].store.get(BUCKET_LIVE, info.key))
            assert doc["metaData"]["timeStamp"] == timecode
            want = standin.replay.feed(pk, standin.replay.state_index(pk, timecode))
            assert doc == json.loads(json.dumps(want)), info.key
            stored += 1
        assert stored == incremental.stats.snapshots_stored
    finally:
        for b in opened:
            await b.aclose()
        await standin.stop()
