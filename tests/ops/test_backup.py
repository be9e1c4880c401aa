"""``sts backup`` / ``sts restore`` on the embedded profile (the event log and the registry live in the
database, the object store is a folder): what a backup holds, a restore into a new empty database,
and the errors (a target that is not empty, a damaged dump, objects missing or changed).

One live replay of 717055 per module, backed up mid-game to a folder with the real command; the
production-profile drill (Kafka, S3, the PostgreSQL server) is ``test_dr_drill.py``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sts.adapters.backup_target import FolderTarget, open_target, split_backup
from sts.adapters.embedded_pg import EmbeddedPostgres
from sts.bootstrap import Backends, open_backends
from sts.config import Settings
from sts.errors import ConfigError
from sts.metrics import BACKUP_LAST_SUCCESS
from sts.ports import BUCKET_CURRENT, BUCKET_LIVE, BUCKETS, TOPIC_GAME_EVENTS
from sts.services import backup as service
from sts.services.processor import Processor
from tests.conftest import _fresh_database
from tests.ops.backup_live import checksums, plays_and_status, run_live

pytestmark = pytest.mark.slow

GAME = 717055


@dataclass
class Backed:
    settings: Settings
    backends: Backends
    env: dict[str, str]
    location: Path
    backup_id: str
    cli_output: dict[str, Any]
    plays_at_backup: int
    pg_server: EmbeddedPostgres
    groups_running: set[str]

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.location / self.backup_id / "manifest.json").read_text())

    def new_url(self) -> str:
        """A database name on the session's server that does not exist yet."""
        return self.pg_server.url(f"t_{uuid.uuid4().hex[:12]}")


def sts(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STS_")}
    return subprocess.run(
        [sys.executable, "-m", "sts", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
async def backed(
    shared_data: Path, pg_server: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Backed]:
    tmp = tmp_path_factory.mktemp("backup")
    databases = _fresh_database(pg_server)
    url = next(databases)
    settings = Settings(data_dir=tmp / "data", database_url=url, object_store_url=f"file://{tmp / 'objects'}")
    env = {
        "STS_DATA_DIR": str(settings.data_dir),
        "STS_DATABASE_URL": url,
        "STS_OBJECT_STORE_URL": settings.object_store_url,
    }
    location = tmp / "backups"
    backends = await open_backends(settings)

    async def take() -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(sts, env, "backup", "--to", str(location), "--json")

    try:
        live = await run_live(backends, shared_data, [GAME], speed=600, after_plays=25, during=take)
        proc = live.during
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout)
        running = {c.group for c in vars(live.pipeline).values() if isinstance(c, Processor)}
        yield Backed(
            settings, backends, env, location, out["backup_id"], out, live.plays_at_during, pg_server, running
        )
    finally:
        await backends.aclose()
        next(databases, None)


def test_the_backup_was_taken_mid_game_and_lists_what_it_holds(backed: Backed) -> None:
    manifest = backed.manifest()
    folder = backed.location / backed.backup_id
    assert sorted(p.name for p in folder.iterdir()) == ["database.dump", "manifest.json", "objects.jsonl.gz"]
    assert manifest["backup_id"] == backed.backup_id == backed.cli_output["backup_id"]
    assert manifest["alembic_revision"] == "0011_backups" or manifest["alembic_revision"] > "0011"
    dump = folder / "database.dump"
    assert manifest["database"]["size"] == dump.stat().st_size == backed.cli_output["dump_bytes"]
    assert manifest["database"]["sha256"] == service.sha256_file(dump)
    assert dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    lines = _inventory(folder)
    for bucket in BUCKETS:
        mine = [o for o in lines if o["bucket"] == bucket]
        assert manifest["objects"]["buckets"][bucket]["objects"] == len(mine)
    live = [o for o in lines if o["bucket"] == BUCKET_LIVE]
    assert len(live) >= 5 and all(o["digest"].startswith("sha256:") for o in live)  # a folder: no ETags
    assert [o["key"] for o in lines if o["bucket"] == BUCKET_CURRENT] == [f"{GAME}.json"]
    assert manifest["bus"]["in_database"] is True
    ends = manifest["bus"]["topics"][TOPIC_GAME_EVENTS]
    assert sum(ends.values()) > 0
    for group, topics in manifest["bus"]["groups"].items():
        for p, committed in topics[TOPIC_GAME_EVENTS].items():
            assert 0 <= committed <= ends[p], group
    assert manifest["registry"]["subjects"]  # the embedded registry's subjects, each with its schema
    for versions in manifest["registry"]["subjects"].values():
        assert all(json.loads(v["schema"])["type"] == "record" for v in versions)


def test_the_backup_records_every_consumer_group_the_pipeline_runs(backed: Backed) -> None:
    """A consumer group added to the pipeline must be added to ``GROUPS`` too, or a restore would not
    place it (and on new topics it could skip or repeat events)."""
    assert backed.groups_running == set(service.GROUPS)
    assert set(backed.manifest()["bus"]["groups"]) == set(service.consumer_groups("webhooks"))


async def test_the_backup_is_recorded_and_exported_as_a_metric(backed: Backed) -> None:
    async with await psycopg.AsyncConnection.connect(backed.backends.database_url) as conn:
        row = await (
            await conn.execute(
                "SELECT status, size_bytes, location, manifest->>'backup_id', finished_at "
                "FROM backups WHERE id = %s",
                (backed.backup_id,),
            )
        ).fetchone()
    assert row is not None
    status, size, location, manifest_id, finished = row
    assert (status, size, location, manifest_id) == (
        "succeeded",
        backed.manifest()["database"]["size"],
        str(backed.location),
        backed.backup_id,
    )
    BACKUP_LAST_SUCCESS.set(0)
    assert await service.refresh_gauge(backed.backends.database_url) == finished.timestamp()
    assert BACKUP_LAST_SUCCESS._value.get() == finished.timestamp()  # what /metrics exports
    # the loop a long-running process (the pipeline) keeps running
    BACKUP_LAST_SUCCESS.set(0)
    stop = asyncio.Event()
    task = asyncio.create_task(service.keep_gauge_fresh(backed.backends.database_url, stop, interval=0.05))
    for _ in range(100):
        if BACKUP_LAST_SUCCESS._value.get() == finished.timestamp():
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert BACKUP_LAST_SUCCESS._value.get() == finished.timestamp()
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    exported = {
        s.name: s.value for f in text_string_to_metric_families(generate_latest().decode()) for s in f.samples
    }
    assert exported["sts_backup_last_success_timestamp_seconds"] == finished.timestamp()


async def test_restore_into_a_new_database_then_rebuild_gives_the_live_rows(backed: Backed) -> None:
    target = backed.new_url()  # does not exist yet: restore creates it
    env = {**backed.env, "STS_DATABASE_URL": target}
    try:
        proc = await _in_thread(
            sts, env, "restore", "--from", f"{backed.location}/{backed.backup_id}", "--json"
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        report = json.loads(proc.stdout)["restore"]
        assert report["bus"]["mode"].startswith("in the database")
        assert report["objects"]["missing"] == report["objects"]["changed"] == 0
        assert report["games_after_backup"] == [GAME]
        plays, final = await plays_and_status(target, GAME)
        all_plays, _ = await plays_and_status(backed.backends.database_url, GAME)
        assert backed.plays_at_backup <= plays < all_plays  # the dump's state: mid-game
        assert not final, "the backup was taken mid-game"
        original = await checksums(backed.backends.database_url)
        assert await checksums(target) != original
        proc = await _in_thread(sts, env, "rebuild")
        assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout
        assert await checksums(target) == original
    finally:
        _drop(backed, target)


async def test_restore_refuses_a_database_that_is_not_empty(backed: Backed) -> None:
    env = {**backed.env}  # the live database itself
    proc = await _in_thread(sts, env, "restore", "--from", f"{backed.location}/latest")
    assert proc.returncode == 2, proc.stderr
    assert "new, empty database" in proc.stderr


async def test_a_damaged_dump_is_refused_before_anything_is_restored(backed: Backed, tmp_path: Path) -> None:
    copy = tmp_path / "backups"
    shutil.copytree(backed.location, copy)
    dump = copy / backed.backup_id / "database.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    target = backed.new_url()
    try:
        proc = await _in_thread(
            sts, {**backed.env, "STS_DATABASE_URL": target}, "restore", "--from", f"{copy}/{backed.backup_id}"
        )
        assert proc.returncode == 1
        assert "database.dump: sha256" in proc.stderr and "is not the manifest's" in proc.stderr
    finally:
        _drop(backed, target)


async def test_restore_reports_objects_missing_or_changed(backed: Backed, tmp_path: Path) -> None:
    objects = tmp_path / "objects"
    shutil.copytree(Path(backed.settings.object_store_url.removeprefix("file://")), objects)
    lines = _inventory(backed.location / backed.backup_id)
    saved = [o["key"] for o in lines if o["bucket"] == BUCKET_LIVE]
    (objects / BUCKET_LIVE / saved[0]).unlink()
    changed = objects / BUCKET_LIVE / saved[1]
    changed.write_bytes(changed.read_bytes().replace(b'"', b"'", 1))  # same size, other bytes
    target = backed.new_url()
    env = {**backed.env, "STS_DATABASE_URL": target, "STS_OBJECT_STORE_URL": f"file://{objects}"}
    try:
        proc = await _in_thread(
            sts, env, "restore", "--from", f"{backed.location}/{backed.backup_id}", "--json"
        )
        assert proc.returncode == 1, proc.stderr[-2000:]
        objects_report = json.loads(proc.stdout)["restore"]["objects"]
        assert objects_report["missing"] == 1 and objects_report["changed"] == 1
        assert objects_report["examples"]["missing"] == [f"{BUCKET_LIVE}/{saved[0]}"]
        assert objects_report["examples"]["changed"] == [f"{BUCKET_LIVE}/{saved[1]}"]
    finally:
        _drop(backed, target)


def test_locations_and_ids() -> None:
    settings = Settings()
    assert split_backup("/b/x/20261126T000000Z-abc") == ("/b/x", "20261126T000000Z-abc")
    assert split_backup("s3://bk/pre/ID?endpoint=http://h:1") == ("s3://bk/pre?endpoint=http://h:1", "ID")
    assert split_backup("s3://bk/ID") == ("s3://bk", "ID")
    assert isinstance(open_target("relative/dir", settings), FolderTarget)
    with pytest.raises(ConfigError):
        open_target("ftp://host/x", settings)
    with pytest.raises(ConfigError):
        split_backup("s3://bucket/")


def test_the_pg_tools_match_the_server_version() -> None:
    dump = service.pg_tool("pg_dump", 18)
    out = subprocess.run([str(dump), "--version"], capture_output=True, text=True, check=True).stdout
    assert service.pg_major(out) == 18
    assert service.pg_tool("pg_dump", 18, str(dump.parent)) == dump  # STS_PG_BINDIR is looked at first
    with pytest.raises(service.BackupError, match="no pg_dump for PostgreSQL 99"):
        service.pg_tool("pg_dump", 99)
    assert service.pg_major("pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)") == 15


def _inventory(folder: Path) -> list[dict[str, Any]]:
    with gzip.open(folder / "objects.jsonl.gz", "rt") as f:
        return [json.loads(line) for line in f]


async def _in_thread(fn: Any, *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


def _drop(backed: Backed, url: str) -> None:
    name = url.split("/")[3].split("?")[0]
    with psycopg.connect(backed.pg_server.url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def _quiet_logs() -> Iterator[None]:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    yield


async def test_restore_into_a_new_embedded_deployment(backed: Backed, tmp_path: Path) -> None:
    """No database URL: the restore starts an embedded PostgreSQL in a new data folder, restores into
    it, and stops it again (it started it)."""
    env = {k: v for k, v in backed.env.items() if k != "STS_DATABASE_URL"}
    env["STS_DATA_DIR"] = str(tmp_path / "new")
    proc = await _in_thread(sts, env, "restore", "--from", f"{backed.location}/latest", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["restore"]["backup_id"] == backed.backup_id
    pgdata = tmp_path / "new" / "pgdata"
    assert not (pgdata / "postmaster.pid").exists()  # stopped: the command had started it
    server = EmbeddedPostgres(pgdata)
    url = server.start()
    try:
        plays, final = await plays_and_status(url, GAME)
        assert plays >= backed.plays_at_backup and not final
    finally:
        server.stop()
