"""``sts dlq list|show|retry|purge`` on real backends (embedded PostgreSQL with its event log, a file
object store): output, exit codes, and hostile entries that are shown instead of crashing the CLI.

The dead letters are made the way they happen: the processor with a "bug" (it cannot apply
substitutions) dead-letters the substitutions of the real feed of game 718594; a record that is not
Avro at all is dead-lettered by the processor too; bytes that are not a dead letter land on the
dead-letter topic itself; and ingestion rejects a truncated snapshot to ``mlb.snapshots.dlq``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
import structlog
from typer.testing import CliRunner

from sts.bootstrap import open_backends
from sts.cli import app
from sts.cli import dlq as _dlq  # noqa: F401  (registers the commands)
from sts.config import Settings
from sts.db.queries import table_checksums
from sts.events.derive import derive_events
from sts.events.model import GameEvent
from sts.ports import TOPIC_GAME_EVENTS, TOPIC_GAME_EVENTS_DLQ, TOPIC_SNAPSHOTS_DLQ, Message
from sts.services.ingest import Ingestor, Snapshot
from sts.services.processor import Processor, apply_events
from tests.events.feeds import load, path

GAME = 718594
GARBAGE = b"\xff\xfe not avro at all"


async def no_substitutions(conn: psycopg.AsyncConnection[Any], events: Sequence[GameEvent]) -> int:
    if any(e.event_type == "Substitution" for e in events):
        raise RuntimeError("bug: substitutions are not handled")
    return await apply_events(conn, events)


@pytest.fixture
async def seeded(
    migrated_pg_url: str, clean_pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    env = {
        "STS_DATABASE_URL": migrated_pg_url,
        "STS_DATA_DIR": str(tmp_path),
        "STS_OBJECT_STORE_URL": f"file://{tmp_path / 'objects'}",
        "STS_PARTITIONS": "3",
    }
    for name in ("STS_EVENT_BUS_URL", "STS_TOPIC_PREFIX", "STS_SCHEMA_REGISTRY_URL", "STS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    backends = await open_backends(Settings())
    try:
        events = derive_events(None, load(f"feed_live_{GAME}.json"))
        subs = sum(e.event_type == "Substitution" for e in events)
        assert subs > 0
        messages = [await backends.codec.message(TOPIC_GAME_EVENTS, e) for e in events]
        await backends.bus.publish([*messages, Message(TOPIC_GAME_EVENTS, str(GAME), GARBAGE)])
        proc = Processor(backends.bus, backends.codec, migrated_pg_url, apply=no_substitutions, retry_pause=0)
        try:
            await proc.process_available()
        finally:
            await proc.close()
        assert proc.dead_letters == subs + 1
        await backends.bus.publish([Message(TOPIC_GAME_EVENTS_DLQ, "junk", b"\x00\x00\x00\x00\x01\xff junk")])
        truncated = path(f"feed_live_{GAME}.json").read_bytes()[:5000]
        ingestor = Ingestor(backends.store, backends.bus, backends.codec)
        assert (await ingestor.ingest(Snapshot(GAME, truncated, "http://standin/feed"))).outcome == "rejected"
        async with await psycopg.AsyncConnection.connect(clean_pg_url) as conn:
            await apply_events(conn, events)
    finally:
        await backends.aclose()
    return {"subs": subs, "clean": clean_pg_url, "url": migrated_pg_url}


@pytest.fixture(autouse=True)
def _logs_back_to_default() -> Iterator[None]:
    """The CLI sends its log lines to the stderr of the run; do not leave later tests writing there."""
    yield
    structlog.reset_defaults()


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["dlq", *args])


def listed(*args: str) -> dict[str, Any]:
    result = invoke("list", "--json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


async def model(url: str) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        return await table_checksums(conn)


def find(entries: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [e for e in entries if all(e[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, entries)
    return found[0]


def test_list_show_retry_purge(seeded: dict[str, Any]) -> None:
    subs = seeded["subs"]
    data = listed()
    counts = {(c["topic"], c["consumer_group"], c["status"]): c["entries"] for c in data["summary"]}
    assert counts == {
        (TOPIC_GAME_EVENTS_DLQ, "processor", "pending"): subs + 1,
        (TOPIC_GAME_EVENTS_DLQ, "?", "pending"): 1,
        (TOPIC_SNAPSHOTS_DLQ, "ingest", "pending"): 1,
    }
    entries = data["entries"]
    garbage = next(e for e in entries if e["kind"] == "event" and "magic byte" in e["error"])
    junk = find(entries, kind="unreadable")
    snapshot = find(entries, kind="snapshot")
    assert snapshot["reason"] == "malformed_json" and snapshot["game_pk"] == GAME
    sub_ids = [e["id"] for e in entries if "bug: substitutions" in e["error"]]
    assert len(sub_ids) == subs

    # the real entry point in its own process: stdout is the JSON alone (log lines go to stderr)
    run = subprocess.run(
        [sys.executable, "-m", "sts", "dlq", "list", "--json", "--group", "ingest"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert [e["id"] for e in json.loads(run.stdout)["entries"]] == [snapshot["id"]]
    assert "backends ready" in run.stderr

    table = invoke("list")
    assert table.exit_code == 0 and "processor" in table.output and "mlb.snapshots.dlq" in table.output
    assert [e["id"] for e in listed("--group", "ingest")["entries"]] == [snapshot["id"]]
    assert listed("--older-than", "1h")["entries"] == []
    assert invoke("list", "--older-than", "soon").exit_code == 2
    assert invoke("list", "--status", "lost").exit_code == 2

    # show: a decoded event with its stack; hostile payloads are described, not crashing
    shown = invoke("show", sub_ids[0][:8])
    assert shown.exit_code == 0, shown.output
    assert "Substitution" in shown.output and "Traceback" in shown.output and "RuntimeError" in shown.output
    as_json = json.loads(invoke("show", sub_ids[0], "--json").stdout)
    assert as_json["payload"]["event_type"] == "Substitution" and as_json["payload"]["game_pk"] == GAME
    assert as_json["attempts"] == 3 and as_json["headers"]["event_type"] == "Substitution"
    for hostile in (garbage["id"], junk["id"]):
        shown = invoke("show", hostile)
        assert shown.exit_code == 0, shown.output
        assert "not decoded" in shown.output
    assert "not avro at all" in invoke("show", garbage["id"]).output
    assert json.loads(invoke("show", snapshot["id"], "--json").stdout)["payload_error"].startswith(
        "JSONDecodeError"
    )
    assert invoke("show", "ffffffff-nope").exit_code == 1
    assert "no dead letter" in invoke("show", "ffffffff-nope").output

    # retry the processor's entries with the fixed code: the substitutions apply, the garbage cannot
    retried = invoke("retry", "--all", "--group", "processor")
    assert retried.exit_code == 1, retried.output
    assert f"{subs} retried, 1 failed" in retried.output and "FAILED" in retried.output
    import asyncio

    assert asyncio.run(model(seeded["url"])) == asyncio.run(model(seeded["clean"]))
    again = invoke("retry", sub_ids[0])
    assert again.exit_code == 0 and "already retried" in again.output
    assert asyncio.run(model(seeded["url"])) == asyncio.run(model(seeded["clean"]))
    left = listed()["entries"]
    assert {e["id"] for e in left} == {garbage["id"], junk["id"], snapshot["id"]}
    assert "SchemaError" in find(left, id=garbage["id"])["last_error"]

    # a truncated snapshot is still truncated: re-ingesting it is refused again, the entry stays
    snap = invoke("retry", snapshot["id"])
    assert snap.exit_code == 1 and "rejected again by ingestion: malformed_json" in snap.output
    after = listed("--group", "ingest")["entries"]
    assert [(e["id"], e["status"], e["retries"]) for e in after] == [(snapshot["id"], "pending", 1)]
    assert invoke("retry").exit_code == 2

    # purge: nothing without a criterion; resolved entries; one entry by id; never indexed again
    assert invoke("purge").exit_code == 2
    purged = invoke("purge", "--resolved")
    assert purged.exit_code == 0 and f"{subs} entries purged" in purged.output
    assert invoke("purge", junk["id"]).exit_code == 0
    everything = listed("--status", "all")
    statuses = {(c["consumer_group"], c["status"]): c["entries"] for c in everything["summary"]}
    assert statuses == {("processor", "purged"): subs, ("processor", "pending"): 1, ("?", "purged"): 1,
                        ("ingest", "pending"): 1}  # fmt: skip
    gone = json.loads(invoke("show", junk["id"], "--json").stdout)
    assert gone["status"] == "purged" and gone["payload_error"] == "no payload (purged)"
