"""Bad snapshots go to the dead-letter topic with a reason, and the game still finishes correctly.

The whole pipeline runs in-process on real backends (a fresh embedded PostgreSQL database with the
event log, a file object store) against the stand-in replaying one recorded game. Three bad snapshots
are slipped into the polls at the HTTP boundary: a truncated body, the feed of another game, and an
older state of the same game fetched from the stand-in with ``?timecode=``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from sts.adapters.mlb_client import MLBClient
from sts.bootstrap import open_backends
from sts.config import Settings
from sts.http.health import health_app, serve
from sts.ports import BUCKET_CURRENT, BUCKET_LIVE, TOPIC_SNAPSHOTS_DLQ
from sts.recordings import scan_recordings
from sts.services.ingest import Snapshot
from sts.services.pipeline import Pipeline, game_summaries
from sts.services.scheduler import SchedulerConfig
from sts.standin.server import StandIn
from tests.e2e.test_demo import _expected

GAME = 747175  # TOR @ AZ, 2024-07-12, ends on a walk-off sacrifice fly


async def test_bad_snapshots_are_dead_lettered_and_the_game_still_finishes(
    shared_data: Path, pg_url: str, tmp_path: Path
) -> None:
    recordings = scan_recordings(shared_data / "statsapi")
    one_game = replace(recordings, games={GAME: recordings.games[GAME]})
    other_feed = (shared_data / "statsapi" / "feed_live_717055.json").read_bytes()

    standin = StandIn(one_game, speed=900, start_in=300)
    base = await standin.start()
    settings = Settings(
        data_dir=tmp_path,
        database_url=pg_url,
        object_store_url=f"file://{tmp_path / 'objects'}",
        partitions=3,
    )
    backends = await open_backends(settings)
    injected: dict[str, bytes] = {}
    try:
        async with MLBClient(base, timeout=10, retries=2) as client:
            config = SchedulerConfig(poll_interval=60, schedule_interval=300, pregame_lead=1800)
            pipeline = Pipeline(backends, client, standin.clock, config)
            real_fetch = pipeline._fetch_feed
            calls = {"n": 0}

            async def fetch_with_faults(game_pk: int) -> Snapshot:
                calls["n"] += 1
                snap = await real_fetch(game_pk)
                n = calls["n"]
                if n == 8:  # truncated JSON
                    injected["malformed_json"] = snap.raw[: len(snap.raw) // 2]
                    return replace(snap, raw=injected["malformed_json"])
                if n == 10:  # a snapshot of another game
                    injected["wrong_game"] = other_feed
                    return replace(snap, raw=other_feed)
                if n == 12:  # an older state of this game than the one stored
                    first = (await client.feed_timestamps(game_pk))[0]
                    old = await client.feed_live(game_pk, timecode=first)
                    injected["stale_timecode"] = old.raw
                    return replace(snap, raw=old.raw)
                return snap

            pipeline.scheduler._fetch_feed = fetch_with_faults
            stop = asyncio.Event()
            await asyncio.wait_for(pipeline.run(stop, until_done=True), timeout=300)
            assert calls["n"] > 12
            assert pipeline.stats.rejected_reasons == {
                "malformed_json": 1,
                "wrong_game": 1,
                "stale_timecode": 1,
            }

        # the dead letters: reason, detail and the payload exactly as received
        letters = [await backends.codec.decode(r.value) async for r in backends.bus.read(TOPIC_SNAPSHOTS_DLQ)]
        by_reason = {ev.payload["reason"]: ev.payload for ev in letters}
        assert set(by_reason) == {"malformed_json", "wrong_game", "stale_timecode"}
        for reason, payload in by_reason.items():
            assert payload["payload"] == injected[reason]
            assert payload["game_pk"] == GAME
            assert payload["detail"]
        assert "717055" in by_reason["wrong_game"]["detail"]

        # nothing stored was touched by the bad snapshots, and the game finished correctly
        final = recordings.games[GAME].feed
        current = json.loads(await backends.store.get(BUCKET_CURRENT, f"{GAME}.json"))
        assert current["metaData"]["timeStamp"] == final["metaData"]["timeStamp"]
        live = [o async for o in backends.store.list(BUCKET_LIVE, f"{GAME}/")]
        assert len(live) == pipeline.stats.snapshots_stored
        rows = await game_summaries(backends.database_url)
        assert rows == [_expected(final)]

        # health, readiness of every backend, and the metrics of what just happened
        server, port = await serve(health_app(backends.readiness_checks()))
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                assert (await http.get("/health")).status_code == 200
                ready = await http.get("/ready")
                assert ready.status_code == 200, ready.text
                backends_seen = set(ready.json()["backends"])
                assert backends_seen == {"database", "object_store", "event_bus", "schema_registry"}
                text = (await http.get("/metrics")).text
        finally:
            await server.stop()
        for reason in ("malformed_json", "wrong_game", "stale_timecode"):
            assert f'sts_snapshots_rejected_total{{reason="{reason}"}}' in text
        # the pipeline's dead-letter monitor indexed them (sts dlq list) and exports their depth
        assert 'sts_dead_letters_pending{group="ingest",topic="mlb.snapshots.dlq"} 3.0' in text
        assert 'sts_dead_letter_oldest_pending_age_seconds{group="ingest",topic="mlb.snapshots.dlq"}' in text
        for name in (
            "sts_polls_total",
            "sts_upstream_request_seconds",
            "sts_upstream_bytes_total",
            "sts_snapshots_stored_total",
            "sts_events_published_total",
            "sts_events_consumed_total",
            "sts_consumer_lag",
        ):
            assert name in text, name
    finally:
        await backends.aclose()
        await standin.stop()


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
