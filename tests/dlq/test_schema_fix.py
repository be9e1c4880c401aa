"""A schema problem: a consumer deployed with a reader schema that old events cannot satisfy
dead-letters them; once its schema is fixed, ``retry`` decodes and applies them, and the rows equal a
clean run's. On both bus backends.

The consumer's reader ``Pitch`` schema requires a field without a default that the producer's
events do not have (a BACKWARD-incompatible reader, the classic deployment mistake), so Avro schema
resolution fails for every pitch: the processor dead-letters them and applies everything else. The
fix is the reader schema without that requirement (the repo's own schemas).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg

from sts.db.queries import table_checksums
from sts.events.codec import SCHEMAS_DIR, AvroCodec
from sts.events.derive import derive_events
from sts.ports import TOPIC_GAME_EVENTS
from sts.services import dlq
from sts.services.processor import Processor, apply_events
from tests.dlq.conftest import DlqBackend
from tests.events.feeds import load

GAMES = (744914, 718594)  # final feeds: every event of a game carries the same timecode


def broken_reader_schemas(folder: Path) -> Path:
    """The repo's schemas, with a required field (no default) added to the reader's ``Pitch``."""
    shutil.copytree(SCHEMAS_DIR, folder)
    pitch = json.loads((folder / "Pitch.avsc").read_text())
    pitch["fields"].append({"name": "review_outcome", "type": "string", "doc": "added without a default"})
    (folder / "Pitch.avsc").write_text(json.dumps(pitch))
    return folder


async def test_events_a_broken_reader_schema_refused_are_applied_after_the_schema_fix(
    dlq_backend: DlqBackend, migrated_pg_url: str, clean_pg_url: str, tmp_path: Path
) -> None:
    backend = dlq_backend
    events = [e for pk in GAMES for e in derive_events(None, load(f"feed_live_{pk}.json"))]
    pitches = sum(e.event_type == "Pitch" for e in events)
    await backend.bus.publish([await backend.codec.message(TOPIC_GAME_EVENTS, e) for e in events])

    async with await psycopg.AsyncConnection.connect(clean_pg_url) as conn:
        await apply_events(conn, events)
        clean = await table_checksums(conn)

    broken = AvroCodec(backend.codec.registry, broken_reader_schemas(tmp_path / "schemas"))
    group = f"processor-schema-{backend.id}"
    proc = Processor(backend.bus, broken, migrated_pg_url, group=group, retry_pause=0.0)
    try:
        await proc.process_available()
    finally:
        await proc.close()
    assert proc.dead_letters == pitches > 0

    async with await psycopg.AsyncConnection.connect(migrated_pg_url, autocommit=True) as conn:
        await dlq.index(backend.bus, backend.codec, conn)
        entries = await dlq.list_entries(conn, group=group)
        assert len(entries) == pitches
        assert all("SchemaError" in e["error"] and "Pitch" in e["error"] for e in entries)
        assert await table_checksums(conn) != clean

        ids = [e["id"] for e in entries]
        appliers = {group: apply_events}
        still = await dlq.retry(conn, ids[:2], codec=broken, apply_url=migrated_pg_url, appliers=appliers)
        assert [o.ok for o in still] == [False, False]

        fixed = AvroCodec(backend.codec.registry)  # the reader schema fixed
        outcomes = await dlq.retry(conn, ids, codec=fixed, apply_url=migrated_pg_url, appliers=appliers)
        assert all(o.ok for o in outcomes), [o for o in outcomes if not o.ok][:3]
        assert await table_checksums(conn) == clean
        twice = await dlq.retry(conn, ids, codec=fixed, apply_url=migrated_pg_url, appliers=appliers)
        assert all(o.detail.startswith("already retried") for o in twice)
        assert await table_checksums(conn) == clean
        row = await (await conn.execute("SELECT count(*) FROM processed_events")).fetchone()
        assert row is not None and row[0] == len(events)
