"""Replay (from the bus) and rebuild (from the raw snapshots) give the rows of the live run, on both
bus backends (the ``live`` fixture of ``conftest.py``: embedded event log + file store, and Kafka +
SeaweedFS S3 + the PostgreSQL server).

Checksums cover every table of the game model and the season tables, including the audit table
``processed_events`` and ``game_status_history.first_timecode``; only wall-clock columns are left out
(see ``conftest.WALL_CLOCK``).
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from sts.db import migrate
from sts.ports import BUCKET_LIVE, TOPIC_GAME_EVENTS, Record
from sts.services.processor import Processor
from sts.services.replay import Position, Summary, live_consumers, parse_position, rebuild, replay
from tests.replay.conftest import GAMES, LiveRun, checksums

pytestmark = pytest.mark.slow


async def _records(live: LiveRun) -> list[Record]:
    return [r async for r in live.backends.bus.read(TOPIC_GAME_EVENTS)]


async def _processed_ids(database_url: str) -> set[str]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute("SELECT event_id::text FROM processed_events")
        return {r[0] for r in await cur.fetchall()}


async def _event_ids(live: LiveRun, records: list[Record]) -> list[str]:
    return [(await live.backends.codec.decode(r.value)).event_id for r in records]


async def _games(database_url: str) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT game_pk, away_score, home_score, is_final FROM games ORDER BY game_pk"
        )
        return list(await cur.fetchall())


async def _replay(live: LiveRun, target: str, start: Position, end: Position | None = None) -> Summary:
    consumers = live_consumers(live.settings, live.backends.store)
    return await replay(live.backends.bus, live.backends.codec, target, consumers, start=start, end=end)


async def _rebuild(live: LiveRun, target: str, games: list[int] | None = None) -> Summary:
    # no bus is handed to rebuild: it reads the object store only
    consumers = live_consumers(live.settings, live.backends.store)
    return await rebuild(live.backends.store, target, consumers, games=games)


def _fresh(live: LiveRun) -> str:
    url = live.new_database()
    migrate(url)
    return url


async def test_the_live_run_stored_both_games(live: LiveRun) -> None:
    games = await _games(live.database_url)
    assert [g[0] for g in games] == list(GAMES) and all(g[3] for g in games)
    assert live.pipeline is not None and live.pipeline.stats.snapshots_rejected == 0
    sums = await checksums(live.database_url)
    tables = ("plays", "play_events", "runners", "processed_events", "derived_box_lines", "box_quality")
    for table in (*tables, "notable_moments"):
        assert sums[table] != "empty", table  # a comparison of empty tables would prove nothing


def test_replay_and_rebuild_apply_through_every_consumer_of_the_pipeline(live: LiveRun) -> None:
    """A consumer added to the pipeline must be added to ``live_consumers`` too, or replayed databases
    would miss its rows: its group and its apply function must be there."""
    assert live.pipeline is not None
    running = {c.group: c.apply for c in vars(live.pipeline).values() if isinstance(c, Processor)}
    replayed = live_consumers(live.settings, live.backends.store)
    assert set(replayed) == set(running)
    for group, apply in running.items():
        assert (apply.__module__, apply.__qualname__) == (
            replayed[group].__module__,
            replayed[group].__qualname__,
        )


async def test_replay_from_the_beginning_into_a_fresh_database_gives_the_live_rows(live: LiveRun) -> None:
    records = await _records(live)
    target = _fresh(live)
    summary = await _replay(
        live,
        target,
        parse_position("0"),
    )
    assert summary.failures == []
    assert summary.read == len(records) > 100
    assert summary.applied == len(set(await _event_ids(live, records)))
    assert summary.by_consumer["season-stats"] == len(GAMES)  # one GameFinal per game
    assert set(summary.games) == set(GAMES)
    assert await checksums(target) == await checksums(live.database_url)


async def test_replaying_into_the_live_database_changes_nothing(live: LiveRun) -> None:
    before = await checksums(live.database_url)
    summary = await _replay(
        live,
        live.database_url,
        Position(every=0),
    )
    assert summary.failures == [] and summary.read > 100
    assert summary.applied == 0 and summary.skipped == summary.read
    assert await checksums(live.database_url) == before


async def test_rebuild_from_the_snapshots_into_a_fresh_database_gives_the_live_rows(live: LiveRun) -> None:
    stored = [o async for o in live.backends.store.list(BUCKET_LIVE)]
    assert live.pipeline is not None and len(stored) == live.pipeline.stats.snapshots_stored
    records_before = len(await _records(live))
    target = _fresh(live)
    summary = await _rebuild(live, target)
    assert summary.failures == [] and summary.rejected == {}
    assert summary.read == len(stored)
    assert summary.by_consumer["season-stats"] == len(GAMES)
    assert await checksums(target) == await checksums(live.database_url)
    assert len(await _records(live)) == records_before  # nothing was published


async def test_rebuild_of_one_game_rebuilds_that_game_only(live: LiveRun) -> None:
    target = _fresh(live)
    summary = await _rebuild(live, target, [GAMES[1]])
    assert summary.failures == [] and summary.games == {GAMES[1]}
    assert [g[0] for g in await _games(target)] == [GAMES[1]]
    assert await _games(target) == [g for g in await _games(live.database_url) if g[0] == GAMES[1]]


async def test_rebuild_of_a_game_without_snapshots_says_so(live: LiveRun) -> None:
    target = _fresh(live)
    summary = await _rebuild(live, target, [1])
    assert summary.failures == [f"game 1: no snapshot in {BUCKET_LIVE}"]
    assert await _games(target) == []


async def test_a_time_window_applies_exactly_the_records_stamped_in_it(live: LiveRun) -> None:
    records = sorted(await _records(live), key=lambda r: r.timestamp_ms)
    stamps = [r.timestamp_ms for r in records]

    def boundary(fraction: float) -> int:
        """A record's time near ``fraction`` of the run with a gap of >= 2 ms before it, so that the
        window's edge does not depend on how a backend rounds sub-millisecond times."""
        i = int(len(stamps) * fraction)
        while i < len(stamps) and stamps[i] - stamps[i - 1] < 2:
            i += 1
        return stamps[i]

    low, high = boundary(1 / 3), boundary(2 / 3)
    inside = [r for r in records if low <= r.timestamp_ms < high]
    assert 0 < len(inside) < len(records)
    start = parse_position(_iso(low))
    end = parse_position(_iso(high))
    target = _fresh(live)
    summary = await _replay(live, target, start, end)
    assert summary.failures == [] and summary.read == len(inside)
    assert await _processed_ids(target) == set(await _event_ids(live, inside))


async def test_an_offset_window_of_one_partition_applies_exactly_those_records(live: LiveRun) -> None:
    records = await _records(live)
    partition = max({r.partition for r in records}, key=lambda p: sum(1 for r in records if r.partition == p))
    offsets = sorted(r.offset for r in records if r.partition == partition)
    low, high = offsets[len(offsets) // 4], offsets[len(offsets) // 2]
    inside = [r for r in records if r.partition == partition and low <= r.offset < high]
    target = _fresh(live)
    summary = await _replay(
        live,
        target,
        parse_position(f"{partition}:{low}"),
        parse_position(f"{partition}:{high}"),
    )
    assert summary.failures == [] and summary.read == len(inside) > 0
    assert set(summary.partitions) == {partition}
    assert summary.partitions[partition] == (low, inside[-1].offset, len(inside))
    assert await _processed_ids(target) == set(await _event_ids(live, inside))


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


async def test_the_same_offsets_in_every_partition(live: LiveRun) -> None:
    records = await _records(live)
    low, high = 40, 120
    inside = [r for r in records if low <= r.offset < high]
    assert inside and len(inside) < len(records)
    target = _fresh(live)
    summary = await _replay(live, target, parse_position(str(low)), parse_position(str(high)))
    assert summary.failures == [] and summary.read == len(inside)
    assert {p: first for p, (first, _, _) in summary.partitions.items()} == dict.fromkeys(
        {r.partition for r in inside}, low
    )
    assert await _processed_ids(target) == set(await _event_ids(live, inside))
