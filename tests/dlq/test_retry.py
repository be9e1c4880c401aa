"""A code bug dead-letters a game's events; after the fix, ``retry`` applies them: the rows equal a
clean run, nothing is duplicated, a second retry does nothing, and the gauges on ``/metrics`` follow.

Runs on both bus backends (the embedded PostgreSQL event log, and Kafka + Apicurio under a prefix of
its own). The events are derived from real recorded feeds: game 744914 in 5 in-progress states then
final (the game the "bug" hits), and the final feed of 718594 (applied normally all along).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

import httpx
import psycopg
import pytest

from sts.db.queries import table_checksums
from sts.events.derive import derive_events
from sts.events.model import GameEvent
from sts.http.health import health_app, serve
from sts.ports import TOPIC_GAME_EVENTS, TOPIC_GAME_EVENTS_DLQ
from sts.services import dlq
from sts.services.processor import Processor, apply_events
from tests.dlq.conftest import DlqBackend
from tests.events.feeds import load, states

BUGGY_GAME = 744914
OTHER_GAME = 718594


async def buggy_apply(conn: psycopg.AsyncConnection[Any], events: Sequence[GameEvent]) -> int:
    """The processor's apply with a "bug": it cannot handle anything of one game."""
    if any(e.game_pk == BUGGY_GAME for e in events):
        raise ValueError(f"bug: cannot handle game {BUGGY_GAME}")
    return await apply_events(conn, events)


async def publish_games(backend: DlqBackend) -> int:
    """Publish the events of both games (in snapshot order); return how many events of the buggy game."""
    final = load(f"feed_live_{BUGGY_GAME}.json")
    events: list[GameEvent] = []
    previous = None
    for state in states(final, 15):
        events += derive_events(previous, state)
        previous = state
    buggy = len(events)
    events += derive_events(None, load(f"feed_live_{OTHER_GAME}.json"))
    await backend.bus.publish([await backend.codec.message(TOPIC_GAME_EVENTS, e) for e in events])
    return buggy


async def run_group(backend: DlqBackend, url: str, group: str, apply: Any) -> Processor:
    proc = Processor(backend.bus, backend.codec, url, group=group, retry_pause=0.0, apply=apply)
    try:
        await proc.process_available()
    finally:
        await proc.close()
    return proc


async def model(url: str) -> tuple[dict[str, str], int]:
    """Checksums of the game model, and the number of processed events."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        sums = await table_checksums(conn)
        row = await (await conn.execute("SELECT count(*) FROM processed_events")).fetchone()
    assert row is not None
    return sums, int(row[0])


async def metrics_text() -> str:
    server, port = await serve(health_app({}))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            return (await http.get("/metrics")).text
    finally:
        await server.stop()


def gauge(text: str, name: str, group: str) -> float:
    pattern = rf'^{name}{{group="{group}",topic="{re.escape(TOPIC_GAME_EVENTS_DLQ)}"}} (\S+)$'
    match = re.search(pattern, text, re.M)
    assert match, f"{name} for {group} not on /metrics"
    return float(match.group(1))


async def test_fixed_code_bug_retried_equals_clean_run(
    dlq_backend: DlqBackend, migrated_pg_url: str, clean_pg_url: str
) -> None:
    backend = dlq_backend
    buggy_events = await publish_games(backend)
    group = f"processor-{backend.id}"  # the group name is the one the entries and gauges carry

    clean = await run_group(backend, clean_pg_url, "clean", apply_events)
    assert clean.dead_letters == 0
    failing = await run_group(backend, migrated_pg_url, group, buggy_apply)
    assert failing.dead_letters == buggy_events

    monitor = dlq.DeadLetterMonitor(backend.bus, backend.codec, migrated_pg_url)
    depth = await monitor.once()
    assert depth[(TOPIC_GAME_EVENTS_DLQ, group)][0] == buggy_events
    text = await metrics_text()
    assert gauge(text, "sts_dead_letters_pending", group) == buggy_events
    assert 0 <= gauge(text, "sts_dead_letter_oldest_pending_age_seconds", group) < 600

    async with await psycopg.AsyncConnection.connect(migrated_pg_url, autocommit=True) as conn:
        assert await dlq.index(backend.bus, backend.codec, conn) == 0  # already indexed by the monitor
        entries = await dlq.list_entries(conn, group=group)
        assert len(entries) == buggy_events
        assert {e["game_pk"] for e in entries} == {BUGGY_GAME}
        assert all(e["attempts"] == 3 and "bug: cannot handle game" in e["error"] for e in entries)
        one = await dlq.get_entry(conn, entries[0]["id"])
        assert "ValueError" in one["stack"] and one["headers"]["event_type"]
        sums, processed = await model(migrated_pg_url)
        clean_sums, clean_processed = await model(clean_pg_url)
        assert sums != clean_sums and processed < clean_processed

        # retry with the bug still there: every entry fails again and stays pending
        ids = await dlq.pending_ids(conn, group=group)
        still = await dlq.retry(
            conn, ids[:3], codec=backend.codec, apply_url=migrated_pg_url, appliers={group: buggy_apply}
        )
        assert [o.ok for o in still] == [False] * 3
        again = await dlq.get_entry(conn, ids[0])
        assert again["status"] == "pending" and again["retries"] == 1 and "bug" in again["last_error"]

        # the fix: the same group's apply without the bug
        fixed = {group: apply_events}
        outcomes = await dlq.retry(conn, ids, codec=backend.codec, apply_url=migrated_pg_url, appliers=fixed)
        assert all(o.ok for o in outcomes), [o for o in outcomes if not o.ok][:3]
        assert await model(migrated_pg_url) == (clean_sums, clean_processed)
        assert await dlq.pending_ids(conn, group=group) == []

        # retrying again does nothing: every entry is already resolved, no row changes
        twice = await dlq.retry(conn, ids, codec=backend.codec, apply_url=migrated_pg_url, appliers=fixed)
        assert all(o.ok and o.detail.startswith("already retried") for o in twice)
        assert await model(migrated_pg_url) == (clean_sums, clean_processed)

    await monitor.once()
    text = await metrics_text()
    assert gauge(text, "sts_dead_letters_pending", group) == 0
    assert gauge(text, "sts_dead_letter_oldest_pending_age_seconds", group) == 0


@pytest.mark.parametrize("dlq_backend", ["postgres"], indirect=True)
async def test_retry_of_an_event_older_than_the_game_state_fails_and_says_why(
    dlq_backend: DlqBackend, migrated_pg_url: str
) -> None:
    """The processor skips an event older than the newest state applied for its game; retrying one
    whose later snapshots went through meanwhile cannot bring it back, and says so."""
    backend = dlq_backend
    final = load(f"feed_live_{BUGGY_GAME}.json")
    events: list[GameEvent] = []
    previous = None
    for state in states(final, 30):
        events += derive_events(previous, state)
        previous = state
    await backend.bus.publish([await backend.codec.message(TOPIC_GAME_EVENTS, e) for e in events])
    early = "20000101_000001"  # the second in-progress state

    async def bug_in_one_state(conn: psycopg.AsyncConnection[Any], batch: Sequence[GameEvent]) -> int:
        if any(e.payload.get("timecode") == early for e in batch):
            raise ValueError("bug")
        return await apply_events(conn, batch)

    failing = await run_group(backend, migrated_pg_url, "processor", bug_in_one_state)
    assert failing.dead_letters == sum(e.payload.get("timecode") == early for e in events) > 0
    async with await psycopg.AsyncConnection.connect(migrated_pg_url, autocommit=True) as conn:
        await dlq.index(backend.bus, backend.codec, conn)
        ids = await dlq.pending_ids(conn)
        outcomes = await dlq.retry(
            conn, ids, codec=backend.codec, apply_url=migrated_pg_url, appliers={"processor": apply_events}
        )
        assert len(outcomes) == failing.dead_letters
        assert all(not o.ok and "older than the newest state applied" in o.detail for o in outcomes)
        assert sorted(await dlq.pending_ids(conn)) == sorted(ids)


async def test_the_monitor_makes_its_final_pass_after_the_stop_even_when_stopped_during_a_pass() -> None:
    """The pipeline stops its monitor once the last dead letters are written; a pass that was already
    reading the topics then may have missed them, so the final depth comes from one more pass."""
    monitor = dlq.DeadLetterMonitor(None, None, "", interval=3600)  # type: ignore[arg-type]
    stop = asyncio.Event()
    passes: list[bool] = []  # for each pass: was the stop set when it began?

    async def once() -> dict[tuple[str, str], tuple[int, float]]:
        passes.append(stop.is_set())
        stop.set()  # stopped while this pass runs
        return {}

    monitor.once = once  # type: ignore[method-assign]
    await asyncio.wait_for(monitor.run(stop), 10)
    assert passes == [False, True]
