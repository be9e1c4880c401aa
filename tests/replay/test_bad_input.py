"""Bad input during a replay or a rebuild is reported and skipped; everything else is applied.

- rebuild: snapshots in ``mlb-live`` that ingestion would have refused (truncated JSON, another game's
  feed, an older state under a later key) are counted by reason and skipped, and the game's rows are
  those of a rebuild from the clean snapshots;
- replay: a record on the bus that cannot be decoded is listed with its partition and offset, and every
  other record is applied.

The clean and the damaged material are copies of the live run's (a file store of their own, a topic
namespace of its own on the same bus), so the live run's data is never touched.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from sts.adapters.file_store import FileObjectStore
from sts.adapters.prefixed_bus import PrefixedEventBus
from sts.bootstrap import ensure_topics
from sts.db import migrate
from sts.ports import BUCKET_LIVE, TOPIC_GAME_EVENTS, Message
from sts.services.replay import live_consumers, parse_position, rebuild, replay
from tests.replay.conftest import GAMES, LiveRun, checksums

pytestmark = pytest.mark.slow


def _fresh(live: LiveRun) -> str:
    url = live.new_database()
    migrate(url)
    return url


async def _copy_game(live: LiveRun, pk: int, root: Path) -> tuple[FileObjectStore, list[str]]:
    store = FileObjectStore(root)
    await store.ensure_buckets()
    keys = [o.key async for o in live.backends.store.list(BUCKET_LIVE, f"{pk}/")]
    for key in keys:
        await store.put(BUCKET_LIVE, key, await live.backends.store.get(BUCKET_LIVE, key))
    return store, sorted(keys)


async def test_rebuild_skips_snapshots_ingestion_would_refuse_and_keeps_the_rows(
    live: LiveRun, tmp_path: Path
) -> None:
    pk, other = GAMES[1], GAMES[0]
    clean, keys = await _copy_game(live, pk, tmp_path / "clean")
    damaged, _ = await _copy_game(live, pk, tmp_path / "damaged")
    middle = keys[len(keys) // 2]
    raw = await live.backends.store.get(BUCKET_LIVE, middle)
    stem = middle.removesuffix(".json")
    await damaged.put(BUCKET_LIVE, f"{stem}_1.json", raw[: len(raw) // 2])  # truncated
    other_key = [o.key async for o in live.backends.store.list(BUCKET_LIVE, f"{other}/")][-1]
    await damaged.put(BUCKET_LIVE, f"{stem}_2.json", await live.backends.store.get(BUCKET_LIVE, other_key))
    await damaged.put(BUCKET_LIVE, f"{stem}_3.json", await live.backends.store.get(BUCKET_LIVE, keys[1]))

    clean_db, damaged_db = _fresh(live), _fresh(live)
    expected = await rebuild(clean, clean_db, live_consumers(live.settings, clean))
    summary = await rebuild(damaged, damaged_db, live_consumers(live.settings, damaged))
    assert expected.failures == [] and expected.rejected == {}
    assert summary.failures == []
    assert summary.rejected == {"malformed_json": 1, "wrong_game": 1, "stale_timecode": 1}
    assert summary.read == len(keys) + 3 and summary.events == expected.events
    assert await checksums(damaged_db) == await checksums(clean_db)


async def test_replay_reports_an_undecodable_record_and_applies_the_others(live: LiveRun) -> None:
    pk = GAMES[0]
    records = [r async for r in live.backends.bus.read(TOPIC_GAME_EVENTS) if r.key == str(pk)]
    assert len(records) > 10
    bus = PrefixedEventBus(live.backends.bus, "bad.")
    await ensure_topics(bus, 2)
    messages = [Message(TOPIC_GAME_EVENTS, r.key, r.value, dict(r.headers)) for r in records]
    messages.insert(5, Message(TOPIC_GAME_EVENTS, str(pk), b"\x00\x00\x00\x00\x01garbage", {}))
    await bus.publish(messages)

    target = _fresh(live)
    summary = await replay(
        bus,
        live.backends.codec,
        target,
        live_consumers(live.settings, live.backends.store),
        start=parse_position("0"),
    )
    assert summary.read == len(records) + 1
    assert len(summary.failures) == 1
    assert "offset 5: cannot decode" in summary.failures[0], summary.failures
    assert summary.applied == len({(await live.backends.codec.decode(r.value)).event_id for r in records})
    async with await psycopg.AsyncConnection.connect(target) as conn:
        cur = await conn.execute("SELECT count(*) FROM plays WHERE game_pk = %s", (pk,))
        row = await cur.fetchone()
    async with await psycopg.AsyncConnection.connect(live.database_url) as conn:
        cur = await conn.execute("SELECT count(*) FROM plays WHERE game_pk = %s", (pk,))
        assert row == await cur.fetchone()
