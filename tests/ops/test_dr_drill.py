"""The disaster-recovery drill on the production profile: the PostgreSQL 15 server, Kafka with topics
and consumer groups under a prefix of their own, Avro schemas in Apicurio, S3 on SeaweedFS (bucket names
under the same prefix).

1. A live replay of 747175 (it ends on a walk-off) through the real pipeline; MID-GAME, ``sts backup``
   runs twice at once, to a folder and to an S3 bucket (the stand-in holds the game's state while they
   run, so that a slow machine still backs up a game in progress; the pipeline keeps running).
2. The game finishes; the original's table checksums are taken.
3. Disaster: the database is dropped, the Kafka topics and consumer groups are deleted. The object store
   stays: it is the durable source of truth (S3).
4. ``sts restore`` into a new database that does not exist yet (restore creates it), with new, empty
   topics; ``sts rebuild`` brings back from the raw snapshots in ``mlb-live`` what happened after the
   backup; the checksums must equal the original's. Once from the folder backup (restore, then the
   rebuild as its own command, each timed), once from the S3 backup (``sts restore --rebuild``).

Checksums cover every table except the bus/registry/Alembic tables (``table_checksums`` leaves those
out: here the bus is Kafka and those tables are empty anyway) and only the wall-clock columns of
``tests/replay`` (``WALL_CLOCK``: when a row was written, not what it says). Nothing else is excluded:
``processed_events`` (every event id applied) and ``game_status_history.first_timecode`` must be equal
too, because the rebuild derives the very events of the live run from the very snapshots. The
``backups`` table is compared apart: the two backups ran at the same time, so each dump knows the other
as ``running`` (restore marks it ``unknown``) or not at all, which is the truth as of that dump; the
row of the restored backup itself must equal the original's (restore writes it from the manifest, as
the backup did).

The restore and rebuild times are printed (``pytest -s``) and attached to the test report as
properties; ``bench/bench_dr.py`` runs the same drill and records them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sts.bootstrap import make_bus, make_store, open_backends
from sts.config import Settings
from sts.ports import BUCKET_LIVE, TOPIC_GAME_EVENTS
from sts.services.backup import GROUPS, consumer_groups
from tests.contract.test_database import _server_database
from tests.contract.test_object_store import require_s3_server
from tests.e2e.test_profiles import delete_topics, production_settings
from tests.kafka_backends import require_kafka, require_registry
from tests.ops.backup_live import (
    backup_rows,
    checksums,
    cli,
    count,
    delete_groups,
    drop_database,
    new_database_url,
    plays_and_status,
    run_live,
    s3_backup_location,
    settings_env,
)

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.s3, pytest.mark.pgserver]

GAME = 747175
SPEED = 300.0  # a 3-hour game in ~36 s


@dataclass
class Drill:
    prefix: str
    settings: Settings
    env: dict[str, str]
    original_url: str
    folder: Path
    s3_location: str
    backups: dict[str, dict[str, Any]]
    original: dict[str, str]
    original_backups: dict[str, Any]
    plays: int
    plays_at_backup: int
    snapshots: int
    deleted_groups: list[str]
    created: list[str] = field(default_factory=list)

    def restored_env(self) -> tuple[str, dict[str, str]]:
        url = new_database_url(self.original_url)
        self.created.append(url)
        return url, {**self.env, "STS_DATABASE_URL": url}


@pytest.fixture(scope="module")
async def drill(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Drill]:
    require_kafka()
    require_registry()
    require_s3_server()
    tmp = tmp_path_factory.mktemp("dr")
    prefix = f"dr-{uuid.uuid4().hex[:8]}"
    databases = _server_database()
    url = next(databases)
    settings = production_settings(tmp / "data", url, prefix)
    env = settings_env(settings)
    folder = tmp / "backups"
    s3_location = s3_backup_location(f"{prefix}-backups")
    drill: Drill | None = None
    backends = await open_backends(settings)
    try:

        async def back_up_twice() -> list[tuple[Any, float]]:
            return list(
                await asyncio.gather(
                    asyncio.to_thread(cli, env, "backup", "--to", str(folder), "--json"),
                    asyncio.to_thread(cli, env, "backup", "--to", s3_location, "--json"),
                )
            )

        live = await run_live(
            backends, shared_data, [GAME], speed=SPEED, after_plays=12, during=back_up_twice
        )
        backups: dict[str, dict[str, Any]] = {}
        for kind, (proc, seconds) in zip(("folder", "s3"), live.during, strict=True):
            assert proc.returncode == 0, proc.stderr[-3000:]
            backups[kind] = {**json.loads(proc.stdout), "command_seconds": seconds}
            print(f"\nbackup to {kind}: {seconds:.1f} s (command), {backups[kind]['seconds']:.1f} s (backup)")
        assert live.pipeline.stats.snapshots_rejected == 0
        plays, final = await plays_and_status(url, GAME)
        assert final
        original = await checksums(url, exclude_tables=("backups",))
        original_backups = await backup_rows(url)
        snapshots = len([o async for o in backends.store.list(BUCKET_LIVE)])
        await backends.aclose()
        # the disaster: the database and the bus data are gone; the object store is not
        drop_database(url)
        delete_topics(f"{prefix}.")
        deleted = delete_groups(f"{prefix}.")
        drill = Drill(
            prefix,
            settings,
            env,
            url,
            folder,
            s3_location,
            backups,
            original,
            original_backups,
            plays,
            live.plays_at_during,
            snapshots,
            deleted,
        )
        yield drill
    finally:
        with contextlib.suppress(Exception):
            await backends.aclose()
        store = make_store(settings)
        with contextlib.suppress(Exception):
            await store.purge_buckets()  # type: ignore[attr-defined]
        with contextlib.suppress(Exception):
            await asyncio.to_thread(store._purge_sync, f"{prefix}-backups")  # type: ignore[attr-defined]
        await store.close()
        delete_topics(f"{prefix}.")
        with contextlib.suppress(Exception):
            delete_groups(f"{prefix}.")
        for created in drill.created if drill else []:
            drop_database(created)
        next(databases, None)


async def test_the_disaster_left_nothing_but_the_object_store(drill: Drill) -> None:
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        await psycopg.AsyncConnection.connect(drill.original_url)
    assert {f"{drill.prefix}.{g}" for g in GROUPS} <= set(drill.deleted_groups)
    from confluent_kafka.admin import AdminClient

    from tests.kafka_backends import kafka_url

    admin = AdminClient({"bootstrap.servers": kafka_url().removeprefix("kafka://")})
    assert not [t for t in admin.list_topics(timeout=10).topics if t.startswith(drill.prefix)]
    assert drill.snapshots > 10


def test_both_backups_were_taken_mid_game(drill: Drill) -> None:
    for kind, out in drill.backups.items():
        # (the inventory is listed after the dump, so on a loaded machine it may already hold every
        # snapshot; that the dump is mid-game is checked by the restores)
        assert out["dump_bytes"] > 0 and 0 < out["objects"][BUCKET_LIVE] <= drill.snapshots, kind
    manifest = json.loads((drill.folder / drill.backups["folder"]["backup_id"] / "manifest.json").read_text())
    assert manifest["bus"]["in_database"] is False
    ends = manifest["bus"]["topics"][TOPIC_GAME_EVENTS]
    assert len(ends) == drill.settings.partitions and sum(ends.values()) > 0
    # the pipeline's groups and the webhook dispatcher's (which no process of this drill ran)
    assert set(manifest["bus"]["groups"]) == set(consumer_groups(drill.settings.webhook_group)) > set(GROUPS)
    subjects = manifest["registry"]["subjects"]
    assert any(s.startswith(f"{TOPIC_GAME_EVENTS}-") for s in subjects)  # Apicurio's, with ids


async def test_restore_from_the_folder_then_rebuild_gives_the_original_rows(
    drill: Drill, record_property: Any
) -> None:
    url, env = drill.restored_env()
    backup_id = drill.backups["folder"]["backup_id"]
    proc, restore_seconds = cli(env, "restore", "--from", f"{drill.folder}/{backup_id}", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    report = json.loads(proc.stdout)["restore"]
    assert report["bus"]["mode"] == "fresh" and report["bus"]["records_now"] == 0
    assert report["registry"]["changed_ids"] == [] and report["registry"]["versions"] > 0
    assert (report["objects"]["missing"], report["objects"]["changed"]) == (0, 0)
    assert report["objects"]["checked"] == sum(drill.backups["folder"]["objects"].values())  # all there
    assert report["games_after_backup"] == [GAME]  # its newest snapshot is newer than the dump
    plays, final = await plays_and_status(url, GAME)
    assert drill.plays_at_backup <= plays < drill.plays and not final  # the dump: mid-game
    await _groups_start_at_the_beginning_of_the_new_topics(drill, url)

    proc, rebuild_seconds = cli(env, "rebuild", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    rebuild = json.loads(proc.stdout)["rebuild"]
    assert rebuild["failed"] == 0 and rebuild["applied"] > 0  # the events after the backup
    await _same_rows(drill, url, backup_id)
    print(
        f"\nDR drill (folder): restore {restore_seconds:.1f} s (pg_restore "
        f"{report['database']['restored_seconds']:.2f} s), rebuild {rebuild_seconds:.1f} s "
        f"({rebuild['read']} snapshots, {rebuild['applied']} events applied after the backup)"
    )
    record_property("restore_seconds", round(restore_seconds, 2))
    record_property("rebuild_seconds", round(rebuild_seconds, 2))


async def test_restore_from_s3_with_rebuild_gives_the_original_rows(
    drill: Drill, record_property: Any
) -> None:
    url, env = drill.restored_env()
    backup_id = drill.backups["s3"]["backup_id"]
    location = drill.s3_location.replace("?", f"/{backup_id}?", 1)
    proc, seconds = cli(env, "restore", "--from", location, "--rebuild", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    out = json.loads(proc.stdout)
    assert out["restore"]["objects"]["missing"] == out["restore"]["objects"]["changed"] == 0
    assert out["rebuild"]["failed"] == 0 and out["rebuild"]["applied"] > 0
    await _same_rows(drill, url, backup_id)
    print(f"\nDR drill (S3): restore + rebuild {seconds:.1f} s")
    record_property("restore_and_rebuild_seconds", round(seconds, 2))


async def test_latest_names_the_newest_backup_and_a_used_database_is_refused(drill: Drill) -> None:
    _url, env = drill.restored_env()
    proc, _ = cli(env, "restore", "--from", f"{drill.folder}/latest", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["restore"]["backup_id"] == drill.backups["folder"]["backup_id"]
    proc, _ = cli(env, "restore", "--from", f"{drill.folder}/latest")  # the same database again
    assert proc.returncode == 2 and "new, empty database" in proc.stderr


async def _same_rows(drill: Drill, url: str, backup_id: str) -> None:
    assert await checksums(url, exclude_tables=("backups",)) == drill.original
    restored = await backup_rows(url)
    assert restored[backup_id] == drill.original_backups[backup_id]
    others = await count(url, "SELECT count(*) FROM backups WHERE status NOT IN ('succeeded', 'unknown')")
    assert others == 0  # no row is left 'running' by a restore


async def _groups_start_at_the_beginning_of_the_new_topics(drill: Drill, url: str) -> None:
    from sts.adapters.prefixed_bus import PrefixedEventBus

    bus, registry = make_bus(drill.settings, url)
    prefixed = PrefixedEventBus(bus, drill.settings.topic_prefix)
    try:
        assert await prefixed.end_offsets(TOPIC_GAME_EVENTS) == dict.fromkeys(
            range(drill.settings.partitions), 0
        )
        for group, topics in consumer_groups(drill.settings.webhook_group).items():
            for topic in topics:
                assert await prefixed.lag(group, topic) == dict.fromkeys(range(drill.settings.partitions), 0)
    finally:
        await prefixed.close()
        await registry.close()


@pytest.fixture(autouse=True)
def _quiet_logs() -> Iterator[None]:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    yield
