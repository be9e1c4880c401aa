"""A snapshot rejected because of a bug in validation is re-ingested by ``retry`` once the bug is fixed.

Real backends (embedded PostgreSQL with its event log and registry, a file object store); the states
of the real feed of game 744914 are ingested in order, and a "bug" in validation rejects the final
one to ``mlb.snapshots.dlq``. After the fix, retrying the entry stores and publishes that final
state, the processor finishes the game exactly as MLB's final feed says, and a second retry does
nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sts.bootstrap import open_backends
from sts.config import Settings
from sts.errors import SnapshotRejected
from sts.ports import BUCKET_CURRENT
from sts.services import dlq, ingest
from sts.services.ingest import Ingestor, Snapshot
from sts.services.pipeline import game_summaries
from sts.services.processor import Processor
from tests.e2e.test_demo import _expected
from tests.events.feeds import load, states

GAME = 744914


async def test_snapshot_rejected_by_a_bug_is_reingested_after_the_fix(
    migrated_pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_validate = ingest.validate

    def buggy_validate(game_pk: int, raw: bytes, last_timecode: str | None) -> dict[str, Any]:
        doc = real_validate(game_pk, raw, last_timecode)
        if doc["gameData"]["status"]["abstractGameState"] == "Final":
            raise SnapshotRejected("missing_keys", "bug: final feeds are refused")
        return doc

    settings = Settings(
        data_dir=tmp_path, database_url=migrated_pg_url, object_store_url=f"file://{tmp_path / 'objects'}"
    )
    backends = await open_backends(settings)
    try:
        final = load(f"feed_live_{GAME}.json")
        ingestor = Ingestor(backends.store, backends.bus, backends.codec)
        monkeypatch.setattr(ingest, "validate", buggy_validate)
        outcomes = [
            (await ingestor.ingest(Snapshot(GAME, json.dumps(s).encode(), "http://standin/feed"))).outcome
            for s in states(final, 20)
        ]
        assert outcomes[-1] == "rejected" and set(outcomes[:-1]) == {"stored"}
        monkeypatch.setattr(ingest, "validate", real_validate)  # the fix

        async with await psycopg.AsyncConnection.connect(migrated_pg_url, autocommit=True) as conn:
            assert await dlq.index(backends.bus, backends.codec, conn) == 1
            [entry] = await dlq.list_entries(conn, group=dlq.SNAPSHOT_GROUP)
            assert (entry["kind"], entry["reason"], entry["game_pk"]) == ("snapshot", "missing_keys", GAME)
            reingest = dlq.reingester(ingestor)
            kwargs: dict[str, Any] = {"codec": backends.codec, "apply_url": migrated_pg_url, "appliers": {}}
            [outcome] = await dlq.retry(conn, [entry["id"]], reingest=reingest, **kwargs)
            assert outcome.ok and outcome.detail.startswith("re-ingested: stored"), outcome
            [twice] = await dlq.retry(conn, [entry["id"]], reingest=reingest, **kwargs)
            assert twice.ok and twice.detail == "already retried: nothing to do"
            assert await dlq.pending_ids(conn) == []

        current = json.loads(await backends.store.get(BUCKET_CURRENT, f"{GAME}.json"))
        assert current["metaData"]["timeStamp"] == final["metaData"]["timeStamp"]
        proc = Processor(backends.bus, backends.codec, migrated_pg_url, retry_pause=0.0)
        try:
            await proc.process_available()
        finally:
            await proc.close()
        assert proc.dead_letters == 0
        assert await game_summaries(migrated_pg_url) == [_expected(final)]
    finally:
        await backends.aclose()
