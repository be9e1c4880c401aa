"""A correction after Final, end to end, on both bus backends.

The stand-in replays game 744914 (HOU @ TOR, 2024-07-01) on a fast clock and, 300 clock seconds after
its Final state, serves a revised final feed in which George Springer's 2nd-inning single (#9) is
scored a fielding error by center fielder Jake Meyers (:mod:`sts.standin.revisions`). The real
pipeline runs (adaptive scheduler with its correction window → /game/changes lists the game → the
feed is fetched again → ingestion derives ``PlayRevised`` → processor and season-stats consumers).

Checked: the play row is updated in place (revision 2), its history row exists, the ``PlayRevised``
event is on the bus, applying it again adds nothing, our derived box line, the quality record and
the season line equal the revised feed's official numbers (MLB's box as the stand-in serves it), and
a replay of the bus and a rebuild from the raw snapshots give the same rows (table checksums).

Backends: ``embedded`` (the PostgreSQL event log and registry in the embedded database, file object
store) and ``kafka`` (Kafka with topics and groups under a prefix of their own, Avro schemas in
Apicurio; embedded database and file store).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sts.adapters.embedded_pg import EmbeddedPostgres
from sts.adapters.mlb_client import MLBClient
from sts.bootstrap import open_backends
from sts.config import Settings
from sts.db import migrate
from sts.ports import TOPIC_GAME_EVENTS
from sts.recordings import scan_recordings
from sts.services.ingest import IngestResult
from sts.services.pipeline import Pipeline
from sts.services.processor import apply_events
from sts.services.replay import live_consumers, parse_position, rebuild, replay
from sts.services.scheduler import SchedulerConfig
from sts.standin.revisions import Revision
from sts.standin.server import StandIn
from sts.stats.formulas import avg
from tests.conftest import _fresh_database
from tests.kafka_backends import kafka_url, registry_url, require_kafka, require_registry
from tests.replay.conftest import checksums

PK, ABI = 744914, 9
BATTER, FIELDER, PITCHER = 543807, 676694, 686613  # Springer (TOR), Meyers (HOU CF), Arrighetti (HOU)
SPEED = 30.0
# Revision 600 clock seconds (20 s) after Final. Not less: the scheduler takes the moment a Final
# snapshot has been *ingested* as the start of /game/changes' updatedSince, so a correction served
# while the first (whole-game) ingestion is still running would never be listed.
DELAY = 600
CONFIG = SchedulerConfig(poll_interval=10, correction_window=3600, changes_interval=60)


def official(feed: dict[str, Any], side: str, pid: int, group: str) -> dict[str, Any]:
    return dict(feed["liveData"]["boxscore"]["teams"][side]["players"][f"ID{pid}"]["stats"][group])


async def query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        return await (await conn.execute(sql, args)).fetchall()


async def derived_hits(url: str) -> int | None:
    rows = await query(
        url,
        "SELECT batting FROM derived_box_lines WHERE game_pk = %s AND person_id = %s",
        PK,
        BATTER,
    )
    return int(rows[0][0].get("hits", 0)) if rows else None  # a line leaves out its zero counts


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def test_a_scoring_change_after_final_is_applied_and_recomputed(
    backend: str, shared_data: Path, pg_url: str, pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    cleanups: list[Iterator[str]] = []
    fresh: list[str] = []

    def new_database() -> str:
        gen = _fresh_database(pg_server)
        cleanups.append(gen)
        fresh.append(next(gen))
        return fresh[-1]

    prefix = f"corr-{uuid.uuid4().hex[:8]}"
    bus: dict[str, Any] = {}
    if backend == "kafka":
        require_kafka()
        require_registry()
        bus = {
            "event_bus_url": kafka_url(),
            "schema_registry_url": registry_url(),
            "topic_prefix": f"{prefix}.",
            "partitions": 3,
        }
    settings = Settings(
        data_dir=tmp_path, database_url=pg_url, object_store_url=f"file://{tmp_path / 'obj'}", **bus
    )
    rec = scan_recordings(shared_data / "statsapi")
    rec = dataclasses.replace(rec, games={PK: rec.games[PK]})
    recorded = rec.games[PK].feed
    length = StandIn(rec, speed=SPEED).replay.games[PK].timeline
    span = length.times[-1] - length.first_pitch
    # the game is in its last minute when the pipeline starts; the correction DELAY s after Final
    standin = StandIn(rec, speed=SPEED, start_in=60 - span, revisions=[Revision(PK, "hit-to-error", DELAY)])
    tl = standin.replay.games[PK].timeline
    final_tc, revised_tc = tl.timecodes[-2], tl.timecodes[-1]
    revised = standin.replay.feed(PK, len(tl.states) - 1)  # what MLB says after the correction
    assert revised["liveData"]["plays"]["allPlays"][ABI]["result"]["eventType"] == "field_error"
    backends = await open_backends(settings)
    results: list[IngestResult] = []
    try:
        base = await standin.start()
        async with MLBClient(base, timeout=10, retries=2) as client:
            pipeline = Pipeline(backends, client, standin.clock, CONFIG, on_result=results.append)
            stop = asyncio.Event()
            run = asyncio.create_task(pipeline.run(stop))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 90
            before_hits = None
            while loop.time() < deadline and not run.done():
                hits = await derived_hits(pg_url)
                stored = {r.timecode for r in results if r.outcome == "stored"}
                if final_tc in stored and revised_tc not in stored and hits is not None:
                    before_hits = hits  # the game as first final, before the correction
                if revised_tc in stored and await pipeline.lag() == 0 and hits is not None:
                    break
                await asyncio.sleep(0.2)
            stop.set()
            await asyncio.wait_for(run, 60)
        assert revised_tc in {r.timecode for r in results if r.outcome == "stored"}, "revision never fetched"
        assert pipeline.scheduler.games[PK].refetches >= 1  # through /game/changes, the real path
        groups = (pipeline.processor, pipeline.stats_updater, pipeline.moments)
        assert [c.dead_letters for c in groups] == [0, 0, 0]  # every consumer took PlayRevised
        assert pipeline.stats.snapshots_rejected == 0
        orig_bat = official(recorded, "home", BATTER, "batting")
        new_bat = official(revised, "home", BATTER, "batting")
        assert new_bat["hits"] == orig_bat["hits"] - 1
        assert before_hits == orig_bat["hits"]  # our derived line before the correction: still a hit

        # the play, updated in place, and its history
        url = backends.database_url
        [(event_type, description, revision, revised_at)] = await query(
            url,
            "SELECT event_type, description, revision, revised_timecode FROM plays"
            " WHERE game_pk = %s AND at_bat_index = %s",
            PK,
            ABI,
        )
        assert (event_type, revision, revised_at) == ("field_error", 2, revised_tc)
        assert description == revised["liveData"]["plays"]["allPlays"][ABI]["result"]["description"]
        credits = await query(
            url,
            "SELECT credit, player_id FROM fielding_credits WHERE game_pk = %s AND at_bat_index = %s",
            PK,
            ABI,
        )
        assert credits == [("f_fielding_error", FIELDER)]
        history = await query(
            url,
            "SELECT at_bat_index, revision, timecode, kind, changes, event_id::text FROM play_revisions"
            " WHERE game_pk = %s",
            PK,
        )
        assert len(history) == 1
        abi, number, timecode, kind, changes, revision_id = history[0]
        assert (abi, number, timecode, kind) == (ABI, 1, revised_tc, "scoring_change")
        by_field = {c["field"]: (c["old"], c["new"]) for c in changes}
        assert by_field["result.eventType"] == ("single", "field_error")
        assert by_field["result.event"] == ("Single", "Field Error")

        # the event on the bus (read outside any group, from the beginning)
        revised_events = []
        async for record in backends.bus.read(TOPIC_GAME_EVENTS):
            event = await backends.codec.decode(record.value)
            if event.event_type == "PlayRevised":
                revised_events.append(event)
        assert [e.event_id for e in revised_events] == [revision_id]
        assert revised_events[0].payload["at_bat_index"] == ABI
        assert revised_events[0].payload["timecode"] == revised_tc

        # idempotent: applying it again changes nothing
        async with await psycopg.AsyncConnection.connect(url) as conn:
            assert await apply_events(conn, revised_events) == 0
        assert len(await query(url, "SELECT 1 FROM play_revisions WHERE game_pk = %s", PK)) == 1

        # every statistic of the play recomputed, equal to the revised official numbers
        [(bat, fld)] = await query(
            url,
            "SELECT b.batting, f.fielding FROM derived_box_lines b, derived_box_lines f"
            " WHERE b.game_pk = %s AND b.person_id = %s AND f.game_pk = b.game_pk AND f.person_id = %s",
            PK,
            BATTER,
            FIELDER,
        )
        for stat in ("hits", "atBats", "totalBases", "lineOuts", "airOuts"):
            assert bat.get(stat, 0) == new_bat[stat], stat
        new_fld = official(revised, "away", FIELDER, "fielding")
        assert (
            fld["errors"]
            == new_fld["errors"]
            == official(recorded, "away", FIELDER, "fielding")["errors"] + 1
        )
        [(pitching,)] = await query(
            url, "SELECT pitching FROM derived_box_lines WHERE game_pk = %s AND person_id = %s", PK, PITCHER
        )
        assert pitching.get("hits", 0) == official(revised, "away", PITCHER, "pitching")["hits"]
        [(matched, total, mismatches)] = await query(
            url, "SELECT matched, total, mismatches FROM box_quality WHERE game_pk = %s", PK
        )
        assert matched == total and mismatches == []  # the revised box agrees with the revised plays
        [(h, ab)] = await query(
            url,
            "SELECT h, ab FROM season_batting"
            " WHERE source = 'statsapi' AND player_key = %s AND season = 2024",
            str(BATTER),
        )
        assert (h, ab) == (new_bat["hits"], new_bat["atBats"])  # the season holds this one game
        assert avg(h, ab) == pytest.approx(new_bat["hits"] / new_bat["atBats"])
        assert avg(h, ab) != pytest.approx(orig_bat["hits"] / orig_bat["atBats"])
        # MLB's box as stored (box_lines, from the new GameFinal) moved too
        stored_official = await query(
            url,
            "SELECT person_id, hits, errors FROM box_lines WHERE game_pk = %s AND person_id = ANY(%s)"
            " ORDER BY person_id",
            PK,
            [BATTER, FIELDER],
        )
        assert [(pid, h) for pid, h, _ in stored_official if pid == BATTER] == [(BATTER, new_bat["hits"])]
        assert [(pid, e) for pid, _, e in stored_official if pid == FIELDER] == [(FIELDER, new_fld["errors"])]

        # the same rows again from the bus (replay) and from the raw snapshots (rebuild)
        consumers = live_consumers(settings, backends.store)
        live_sums = await checksums(url)
        assert live_sums["play_revisions"] != "empty"
        for target in (new_database(), new_database()):
            migrate(target)
            if target == fresh[0]:
                await replay(backends.bus, backends.codec, target, consumers, start=parse_position("0"))
            else:
                await rebuild(backends.store, target, consumers)
            assert await checksums(target) == live_sums
    finally:
        await standin.stop()
        await backends.aclose()
        for gen in cleanups:
            next(gen, None)
        if backend == "kafka":
            from tests.e2e.test_profiles import delete_topics

            delete_topics(f"{prefix}.")


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
