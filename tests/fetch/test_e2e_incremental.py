"""End to end: the whole pipeline in incremental mode gives exactly the rows of full-feed polling.

Two pipelines run at the same time in this process on the embedded profile (embedded PostgreSQL, file
object store, PostgreSQL event log), each with a database and a store of its own, against one stand-in
replaying three recorded games on a fast clock: one fetches incrementally (``feed/live/diffPatch``
on its last state), the other fetches the whole feed at every poll. Then:

- both databases have the same per-table checksums (exclusions of ``tests/e2e/test_demo.py``: what
  records *when* a poll observed something; ``game_status_history`` compared apart, as in
  ``tests/e2e/test_profiles.py``), and their games match MLB's final feeds;
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
from sts.services.fetcher import FetchMode, FetchStats
from sts.services.pipeline import Pipeline, game_summaries
from sts.standin.server import StandIn
from tests.conftest import _fresh_database
from tests.e2e.test_demo import PRE_GAME_STATUSES, _expected
from tests.e2e.test_profiles import CONFIG, checksums, status_history
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
        _count_full_feed_answers(pipeline.fetcher.stats)
        await asyncio.wait_for(pipeline.run(asyncio.Event(), until_done=True), timeout=300)
    return pipeline


def _count_full_feed_answers(stats: FetchStats) -> None:
    """Add ``full_feed_answer_bytes`` to ``stats``: the bytes of the diffPatch answers that were a whole
    feed (the fetcher counts such an answer as ``patch`` bytes, then at once, with no await between,
    as fallback ``full_feed``)."""
    count, fallback = stats.count, stats.fallback
    last = {"patch": 0}
    stats.full_feed_answer_bytes = 0  # type: ignore[attr-defined]

    def counted(kind: str, nbytes: int) -> None:
        last[kind] = nbytes
        count(kind, nbytes)

    def fell_back(reason: str) -> None:
        if reason == "full_feed":
            stats.full_feed_answer_bytes += last["patch"]  # type: ignore[attr-defined]
        fallback(reason)

    stats.count, stats.fallback = counted, fell_back  # type: ignore[method-assign]


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
        # game_status_history apart, as in test_profiles: the Live and Final statuses are the same, the
        # pre-game ones seen depend on when each pipeline's first poll landed (Warmup lasts one real
        # second at this speed)
        pre_i, played_i = await status_history(pg_url)
        pre_f, played_f = await status_history(second_pg_url)
        assert played_i == played_f, (played_i - played_f, played_f - played_i)
        assert {r[0] for r in played_i if r[3] == "In Progress"} == set(GAMES)
        assert {r[1:] for r in pre_i | pre_f} <= PRE_GAME_STATUSES, pre_i | pre_f

        for p in (incremental, full):
            assert p.stats.snapshots_rejected == 0, p.stats.rejected_reasons
        inc, whole = incremental.fetcher.stats, full.fetcher.stats
        assert set(whole.requests) == {"full"}
        assert inc.patched >= incremental.stats.snapshots_stored // 2, (inc, incremental.stats)
        assert inc.requests["full"] <= 3 * len(GAMES), inc  # the first state, a pre-game gap, the final
        # Far fewer bytes: but MLB (and the stand-in) answers diffPatch with the whole feed when the
        # start is more than MAX_PATCH_SPAN (600 s, 2 real seconds at this speed) of game time old, and
        # how often a poll of a loaded machine comes that late is timing; so those answers are left out
        # of the comparison (a run that fell that far behind spent 11.4 of its 12.2 MB on them), and
        # the patches proper must be small. A patch spans at most MAX_PATCH_SPAN: over these games one of
        # nearly 600 s is at most 53 kB, 11% of a mid-game feed (~480 kB); one poll apart, ~2%.
        full_feed_answers = inc.full_feed_answer_bytes  # type: ignore[attr-defined]
        print(f"incremental {inc}, of which full-feed answers {full_feed_answers} bytes; full {whole}")
        assert inc.total_bytes - full_feed_answers < 0.25 * whole.total_bytes, (inc, whole)
        patches = inc.requests["patch"] - inc.fallbacks.get("full_feed", 0)
        per_feed = whole.total_bytes / whole.requests["full"]
        assert inc.bytes["patch"] - full_feed_answers < 0.2 * per_feed * patches, (inc, whole)

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
