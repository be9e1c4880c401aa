"""End to end: game 747175 replayed by the stand-in through the whole pipeline on the embedded profile
(embedded PostgreSQL with the event log, a file object store); the moments consumer runs next to the
processor and finds the walk-off sacrifice fly of Geraldo Perdomo and the game's two lead changes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from sts.adapters.mlb_client import MLBClient
from sts.bootstrap import open_backends
from sts.config import Settings
from sts.moments.consumer import GROUP
from sts.ports import TOPIC_GAME_EVENTS, TOPIC_NOTABLE_MOMENTS
from sts.recordings import scan_recordings
from sts.services.pipeline import Pipeline
from sts.services.scheduler import SchedulerConfig
from sts.standin.server import StandIn
from tests.moments.test_recorded import moments_of

pytestmark = pytest.mark.slow

GAME = 747175  # TOR @ AZ, 2024-07-12, ends on a walk-off sacrifice fly


async def test_the_pipeline_finds_the_walk_off_of_747175(
    shared_data: Path, pg_url: str, tmp_path: Path
) -> None:
    recordings = scan_recordings(shared_data / "statsapi")
    one_game = replace(recordings, games={GAME: recordings.games[GAME]})
    final = recordings.games[GAME].feed
    standin = StandIn(one_game, speed=900, start_in=300)
    base = await standin.start()
    settings = Settings(
        data_dir=tmp_path,
        database_url=pg_url,
        object_store_url=f"file://{tmp_path / 'objects'}",
        partitions=3,
    )
    backends = await open_backends(settings)
    started = time.monotonic()
    try:
        async with MLBClient(base, timeout=10, retries=2) as client:
            config = SchedulerConfig(poll_interval=60, schedule_interval=300, pregame_lead=1800)
            pipeline = Pipeline(backends, client, standin.clock, config)
            await asyncio.wait_for(pipeline.run(asyncio.Event(), until_done=True), timeout=300)
            assert (
                pipeline.stats.snapshots_stored > 5
            )  # the game was followed while live, not just at the end
            assert await pipeline.lag() == 0
            assert sum((await backends.bus.lag(GROUP, TOPIC_GAME_EVENTS)).values()) == 0
        elapsed = time.monotonic() - started

        async with await psycopg.AsyncConnection.connect(backends.database_url) as conn:
            cur = await conn.execute(
                "SELECT event_id, rule, at_bat_index, inning, half_inning, team_id, player_ids, headline,"
                " details FROM notable_moments WHERE game_pk = %s ORDER BY at_bat_index, rule",
                (GAME,),
            )
            rows = await cur.fetchall()
        walk_offs = [r for r in rows if r[1] == "walk_off"]
        assert len(walk_offs) == 1
        [w] = walk_offs
        last = final["liveData"]["plays"]["allPlays"][-1]
        assert (w[2], w[3], w[4]) == (last["about"]["atBatIndex"], 9, "bottom") == (74, 9, "bottom")
        assert w[5] == final["gameData"]["teams"]["home"]["id"]
        assert w[6] == [last["matchup"]["batter"]["id"]] == [672695]
        assert w[8]["event"] == last["result"]["event"] == "Sac Fly"
        assert w[8]["description"] == last["result"]["description"]
        assert w[7] == "Walk-off sac fly by Geraldo Perdomo: TOR 4, AZ 5"
        # and the other moments the game really holds: the lead changes of the play-by-play (see
        # tests/moments/test_recorded.py), the same as the rules find on the final feed alone
        assert [(r[1], r[2]) for r in rows] == [("lead_change", 51), ("lead_change", 74), ("walk_off", 74)]
        assert [r[0] for r in rows] == [m.event_id for m in moments_of(final)]

        published = [
            await backends.codec.decode(r.value) async for r in backends.bus.read(TOPIC_NOTABLE_MOMENTS)
        ]
        assert sorted(e.event_id for e in published) == sorted(r[0] for r in rows)
        assert all(e.event_type == "NotableMoment" and e.game_pk == GAME for e in published)
        assert elapsed < 120, elapsed
    finally:
        await backends.aclose()
        await standin.stop()


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
