"""Indexing the dead-letter topics into ``dead_letters`` (embedded bus): incremental, one entry per
failure even when it is written twice, reopened when the record fails again after a retry, and never
brought back by indexing once purged unless it fails again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from sts.events.derive import derive_events
from sts.events.model import GameEvent
from sts.ports import TOPIC_GAME_EVENTS, TOPIC_GAME_EVENTS_DLQ, Message
from sts.services import dlq
from sts.services.processor import Processor, apply_events
from tests.dlq.conftest import DlqBackend
from tests.events.feeds import load

GAME = 718594


@pytest.mark.parametrize("dlq_backend", ["postgres"], indirect=True)
async def test_index_dedupes_reopens_and_keeps_purged(dlq_backend: DlqBackend, migrated_pg_url: str) -> None:
    backend = dlq_backend
    event = next(e for e in derive_events(None, load(f"feed_live_{GAME}.json")) if e.event_type == "Pitch")
    await backend.bus.publish([await backend.codec.message(TOPIC_GAME_EVENTS, event)])

    async def broken(conn: psycopg.AsyncConnection[Any], events: Any) -> int:
        raise RuntimeError("broken")

    proc = Processor(backend.bus, backend.codec, migrated_pg_url, retry_pause=0.0, apply=broken)
    try:
        await proc.process_available()
    finally:
        await proc.close()
    [written] = [await backend.codec.decode(r.value) async for r in backend.bus.read(TOPIC_GAME_EVENTS_DLQ)]

    async def write_again(failed_at: datetime) -> None:
        again = GameEvent("DeadLetter", written.event_id, written.game_pk,
                          {**written.payload, "failed_at": failed_at.isoformat()})  # fmt: skip
        value = await backend.codec.encode(TOPIC_GAME_EVENTS_DLQ, again)
        # without the event_id header: the embedded bus drops a message whose event_id its topic holds
        await backend.bus.publish([Message(TOPIC_GAME_EVENTS_DLQ, str(GAME), value)])

    async with await psycopg.AsyncConnection.connect(migrated_pg_url, autocommit=True) as conn:
        assert await dlq.index(backend.bus, backend.codec, conn) == 1
        assert await dlq.index(backend.bus, backend.codec, conn) == 0  # incremental
        await write_again(datetime.now(UTC))  # the same failure written twice (redelivered record)
        assert await dlq.index(backend.bus, backend.codec, conn) == 0
        [entry] = await dlq.list_entries(conn, status=None)
        assert entry["id"] == written.event_id and entry["status"] == "pending"

        appliers = {"processor": apply_events}
        [ok] = await dlq.retry(conn, [entry["id"]], codec=backend.codec, apply_url=migrated_pg_url,
                               appliers=appliers)  # fmt: skip
        assert ok.ok and "applied Pitch" in ok.detail
        await write_again(datetime.now(UTC) - timedelta(hours=1))  # an old copy, indexed late
        assert await dlq.index(backend.bus, backend.codec, conn) == 0
        assert (await dlq.get_entry(conn, entry["id"]))["status"] == "retried"
        await write_again(datetime.now(UTC) + timedelta(seconds=1))  # failed again after the retry
        assert await dlq.index(backend.bus, backend.codec, conn) == 1
        reopened = await dlq.get_entry(conn, entry["id"])
        assert (reopened["status"], reopened["retries"], reopened["resolved_at"]) == ("pending", 1, None)

        assert await dlq.purge(conn, [entry["id"][:8]]) == [entry["id"]]
        await backend.bus.publish([Message(TOPIC_GAME_EVENTS_DLQ, "x", b"")])  # empty bytes: unreadable
        assert await dlq.index(backend.bus, backend.codec, conn) == 1
        purged = await dlq.get_entry(conn, entry["id"])
        assert (purged["status"], purged["payload"], purged["stack"]) == ("purged", None, None)
        [unreadable] = await dlq.list_entries(conn, status="pending")
        assert unreadable["kind"] == "unreadable" and "not a readable dead letter" in unreadable["error"]
        with pytest.raises(dlq.DeadLetterError, match="say what to purge"):
            await dlq.purge(conn)
        with pytest.raises(dlq.DeadLetterError, match="too short"):
            await dlq.get_entry(conn, "ab")
