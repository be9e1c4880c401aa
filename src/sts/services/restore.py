"""Restore a backup (:mod:`sts.services.backup`) into a new, empty deployment (``sts restore``).

The dump is restored into an empty database (created if missing) and migrated to head; the registry's
schemas are registered again; the topics are created and the consumer groups placed
(:func:`place_groups`); the object store is checked against the inventory (:func:`verify_objects`).
Afterwards ``sts rebuild`` re-derives what happened after the backup from the raw snapshots in
``mlb-live`` (idempotent: what the dump already holds is skipped). ``docs/backup.md`` explains the
choices.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import structlog
from psycopg import sql

from sts.adapters.backup_target import BackupTarget
from sts.metrics import BACKUP_LAST_SUCCESS
from sts.ports import BUCKET_LIVE, BUCKETS, EventBus, ObjectStore, SchemaRegistry
from sts.services.backup import (
    DUMP,
    FORMAT,
    INVENTORY,
    MANIFEST,
    BackupError,
    Progress,
    libpq_env,
    object_digest,
    parse_iso,
    pg_tool,
    record_succeeded,
    run_tool,
    server_major,
    sha256_file,
)

log = structlog.get_logger(__name__)


@dataclass
class RestoreReport:
    backup_id: str
    database: dict[str, Any] = field(default_factory=dict)
    bus: dict[str, Any] = field(default_factory=dict)
    registry: dict[str, Any] = field(default_factory=dict)
    objects: dict[str, Any] = field(default_factory=dict)
    games_after_backup: list[int] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def problems(self) -> list[str]:
        """What makes the restore incomplete (the command exits 1)."""
        counts = {kind: self.objects.get(kind, 0) for kind in ("missing", "changed")}
        return [f"{n} object(s) {kind}" for kind, n in counts.items() if n]

    @property
    def warnings(self) -> list[str]:
        """What the operator should know: schema ids that changed in a new registry (dead-letter
        payloads stored before the disaster name the old ids)."""
        return [f"registry: {c}" for c in self.registry.get("changed_ids", [])]

    def to_dict(self) -> dict[str, Any]:
        return {
            "backup_id": self.backup_id,
            "database": self.database,
            "bus": self.bus,
            "registry": self.registry,
            "objects": self.objects,
            "games_after_backup": self.games_after_backup,
            "problems": self.problems,
            "warnings": self.warnings,
            "phases": {k: round(v, 3) for k, v in self.phases.items()},
            "seconds": round(self.seconds, 3),
        }


async def fetch_manifest(target: BackupTarget, backup_id: str, work: Path) -> dict[str, Any]:
    path = work / MANIFEST
    try:
        await target.download(f"{backup_id}/{MANIFEST}", path)
    except FileNotFoundError as exc:
        raise BackupError(f"{target.url}/{backup_id}: no manifest (not a complete backup)") from exc
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format") != FORMAT or manifest.get("backup_id") != backup_id:
        raise BackupError(
            f"{target.url}/{backup_id}/{MANIFEST}: not an STS backup manifest of format {FORMAT}"
        )
    return manifest


async def _download_checked(target: BackupTarget, backup_id: str, spec: dict[str, Any], dest: Path) -> None:
    await target.download(f"{backup_id}/{spec['file']}", dest)
    digest = await asyncio.to_thread(sha256_file, dest)
    if digest != spec["sha256"]:
        raise BackupError(
            f"{backup_id}/{spec['file']}: sha256 {digest} is not the manifest's {spec['sha256']}"
        )


async def prepare_database(database_url: str) -> None:
    """Create the database if it does not exist; refuse one that already holds tables."""
    try:
        conn = await psycopg.AsyncConnection.connect(database_url, connect_timeout=10)
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
        parts = urlsplit(database_url)
        name = parts.path.lstrip("/")
        admin = parts._replace(path="/postgres").geturl()
        async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as a:
            await a.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        conn = await psycopg.AsyncConnection.connect(database_url, connect_timeout=10)
    async with conn:
        row = await (
            await conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        ).fetchone()
    if row and row[0]:
        raise BackupError(
            f"the target database already has {row[0]} table(s): restore goes into a new, empty database"
        )


async def restore_database(
    database_url: str, target: BackupTarget, manifest: dict[str, Any], work: Path, pg_bindir: str = ""
) -> float:
    """``pg_restore`` the dump into the (empty) database; return the seconds it took."""
    dump = work / DUMP
    await _download_checked(target, manifest["backup_id"], manifest["database"], dump)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        major = await server_major(conn)
    tool = pg_tool("pg_restore", max(major, int(manifest["database"]["server_major"])), pg_bindir)
    url, env = libpq_env(database_url)
    t0 = time.perf_counter()
    await run_tool(
        [
            str(tool),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            "-d",
            url,
            str(dump),
        ],
        env,
        "pg_restore",
    )
    return time.perf_counter() - t0


async def place_groups(bus: EventBus, manifest: dict[str, Any], database_url: str) -> dict[str, Any]:
    """Put every consumer group where it neither skips nor repeats work (see docs/backup.md):

    - topics empty (a new bus, or the old topics deleted): the records the backup's offsets counted
      are gone, so the offsets mean nothing here. Groups start at offset 0 of the new topics, and the
      dead-letter indexer's positions are reset to 0 (its topics are new too). What happened after
      the backup comes back with ``sts rebuild`` (the raw snapshots), not from the bus;
    - topics holding at least what the backup saw (the same topics survived): groups go back to the
      backup's committed offsets, so the consumers re-apply every event after the backup (and skip,
      by event id, the few the dump already holds);
    - anything else (fewer records than the backup saw): refused, the bus is not the backed-up one.
    """
    saved = manifest["bus"]
    ends_now = {t: await bus.end_offsets(t) for t in saved["topics"]}
    total_now = sum(sum(e.values()) for e in ends_now.values())
    if total_now == 0:
        mode = "fresh"
        for group, topics in saved["groups"].items():
            for topic in topics:
                await bus.set_committed(group, topic, dict.fromkeys(ends_now[topic], 0))
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            await conn.execute("UPDATE dead_letter_offsets SET next_offset = 0")
    else:
        short = [
            f"{t}[{p}] ends at {ends_now[t].get(int(p), 0)} < {end}"
            for t, ends in saved["topics"].items()
            for p, end in ends.items()
            if ends_now[t].get(int(p), 0) < end
        ]
        if short:
            raise BackupError(
                "the bus holds records but fewer than the backup saw (" + "; ".join(short[:3]) + "): it is "
                "not the backed-up bus; delete its STS topics or restore into an empty bus"
            )
        mode = "rewind"
        for group, topics in saved["groups"].items():
            for topic, offsets in topics.items():
                await bus.set_committed(group, topic, {int(p): o for p, o in offsets.items()})
    return {"mode": mode, "groups": sorted(saved["groups"]), "records_now": total_now}


async def reregister(registry: SchemaRegistry, manifest: dict[str, Any]) -> dict[str, Any]:
    """Register every saved schema version again (in version order; already present: same id)."""
    changed: list[str] = []
    count = 0
    for subject, versions in sorted(manifest["registry"]["subjects"].items()):
        for v in sorted(versions, key=lambda x: x["version"]):
            new_id = await registry.register(subject, v["schema"])
            count += 1
            if new_id != v["id"]:
                changed.append(f"{subject} v{v['version']}: id {v['id']} is now {new_id}")
    return {"versions": count, "changed_ids": changed}


async def verify_objects(
    store: ObjectStore, target: BackupTarget, manifest: dict[str, Any], work: Path
) -> dict[str, Any]:
    """Compare the store with the backup's inventory.

    - ``missing``: in the inventory, not in the store (a problem: rebuild cannot bring it back);
    - ``changed``: an ``mlb-live`` snapshot whose size or digest differs (a problem: snapshots are
      written once);
    - ``updated``: an ``mlb-current`` / ``mlb-historical`` object rewritten since (expected: the latest
      snapshot of a game that went on after the backup);
    - ``new``: objects written after the backup.

    ``_timecodes`` (popped by :func:`restore`): the newest ``mlb-live`` timecode of every game.
    """
    path = work / INVENTORY
    await _download_checked(target, manifest["backup_id"], manifest["objects"], path)
    saved: dict[tuple[str, str], dict[str, Any]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            o = json.loads(line)
            saved[(o["bucket"], o["key"])] = o
    found: dict[str, list[str]] = {"changed": [], "updated": [], "new": []}
    newest: dict[int, str] = {}
    checked = 0
    for bucket in BUCKETS:
        async for info in store.list(bucket):
            if bucket == BUCKET_LIVE:
                pk, _, name = info.key.partition("/")
                if pk.isdigit() and name.endswith(".json"):
                    newest[int(pk)] = max(newest.get(int(pk), ""), name.removesuffix(".json"))
            was = saved.pop((bucket, info.key), None)
            name = f"{bucket}/{info.key}"
            if was is None:
                found["new"].append(name)
                continue
            checked += 1
            same = info.size == was["size"]
            if same and (info.etag or not was["digest"].startswith("etag:")):
                same = await object_digest(store, bucket, info.key, info.etag) == was["digest"]
            if not same:
                found["changed" if bucket == BUCKET_LIVE else "updated"].append(name)
    missing = [f"{b}/{k}" for b, k in saved]
    return {
        "checked": checked,
        "missing": len(missing),
        **{kind: len(names) for kind, names in found.items()},
        "examples": {"missing": missing[:5], **{kind: names[:5] for kind, names in found.items()}},
        "_timecodes": newest,
    }


async def games_behind(database_url: str, newest: dict[int, str]) -> list[int]:
    """Games with a snapshot in ``mlb-live`` newer than anything the database applied for them: what
    happened to them after the backup (or was still waiting in a consumer's lag when it was taken)
    is not in the restored database; ``sts rebuild`` brings it back."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        rows = await (
            await conn.execute("SELECT game_pk, max(timecode) FROM processed_events GROUP BY game_pk")
        ).fetchall()
    applied = {int(pk): tc or "" for pk, tc in rows}
    return sorted(pk for pk, tc in newest.items() if tc > applied.get(pk, ""))


async def restore(
    database_url: str,
    store: ObjectStore,
    target: BackupTarget,
    backup_id: str,
    *,
    open_bus: Callable[[], Any],
    bus_in_database: bool,
    pg_bindir: str = "",
    progress: Progress | None = None,
) -> RestoreReport:
    """Restore backup ``backup_id`` of ``target`` into the new deployment (see the module doc).

    ``open_bus``: an async context manager factory giving ``(bus, registry)`` of the new deployment,
    opened after the database is restored (with the embedded bus, they live in the restored database)."""
    from sts.db import migrate

    say = progress or (lambda _line: None)
    t0 = time.perf_counter()
    report = RestoreReport(backup_id)
    with tempfile.TemporaryDirectory(prefix="sts-restore-") as tmp:
        work = Path(tmp)
        manifest = await fetch_manifest(target, backup_id, work)
        say(f"restore {backup_id}: database")
        mark = time.perf_counter()
        await prepare_database(database_url)
        seconds = await restore_database(database_url, target, manifest, work, pg_bindir)
        await asyncio.to_thread(migrate, database_url)
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await record_succeeded(conn, manifest)
            await conn.execute(
                "UPDATE backups SET status = 'unknown', error = %s WHERE status = 'running'",
                (f"still running when backup {backup_id} was dumped: see its location for how it ended",),
            )
        report.database = {
            "restored_seconds": round(seconds, 3),
            "dump_bytes": manifest["database"]["size"],
            "alembic_revision": manifest["alembic_revision"],
        }
        report.phases["database"] = time.perf_counter() - mark
        if manifest["bus"]["in_database"] != bus_in_database:
            raise BackupError(
                "the backup's event bus was "
                + ("in its database" if manifest["bus"]["in_database"] else "Kafka")
                + ", this deployment's is "
                + ("in its database" if bus_in_database else "Kafka")
                + ": restore into the same kind of deployment"
            )
        mark = time.perf_counter()
        async with open_bus() as (bus, registry):
            if bus_in_database:
                report.bus = {"mode": "in the database (restored with the dump)"}
                report.registry = {"versions": 0, "changed_ids": [], "note": "in the database"}
            else:
                say(f"restore {backup_id}: registry and consumer groups")
                report.registry = await reregister(registry, manifest)
                report.bus = await place_groups(bus, manifest, database_url)
        report.phases["bus_and_registry"] = time.perf_counter() - mark
        say(f"restore {backup_id}: checking the object store against the inventory")
        mark = time.perf_counter()
        objects = await verify_objects(store, target, manifest, work)
        report.games_after_backup = await games_behind(database_url, objects.pop("_timecodes"))
        report.phases["objects"] = time.perf_counter() - mark
    report.objects = objects
    report.seconds = time.perf_counter() - t0
    BACKUP_LAST_SUCCESS.set(parse_iso(manifest["finished_at"]).timestamp())
    log.info("restore done", backup_id=backup_id, seconds=round(report.seconds, 3), problems=report.problems)
    return report
