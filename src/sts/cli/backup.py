"""``sts backup`` and ``sts restore``: a consistent copy of a deployment, and a new deployment from it.

``sts backup --to LOCATION`` (a folder, or ``s3://BUCKET/PREFIX?endpoint=…`` with STS's S3 credentials)
writes a backup named by its id and prints the id; ``sts backup --list LOCATION`` lists the backups
there. ``sts restore --from LOCATION/BACKUP_ID`` (or ``LOCATION/latest``) restores it into the
configured deployment, which must be new: an empty (or not yet created) database; ``--rebuild`` then
rebuilds from the raw snapshots what happened after the backup. What, why and the recovery objectives:
``docs/backup.md`` and :mod:`sts.services.backup`.

Exit codes: 0 done; 1 the backup or restore failed, or the restore found objects missing or changed
(listed); 2 bad arguments (a location that is not one, a target database that is not empty).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import psycopg
import typer

from sts import logging as sts_logging
from sts.adapters.backup_target import open_target, split_backup
from sts.bootstrap import ensure_topics, make_bus, make_store, open_database
from sts.cli import app
from sts.config import Settings
from sts.db import describe
from sts.errors import ConfigError, STSError
from sts.events.codec import AvroCodec
from sts.ports import EventBus, SchemaRegistry
from sts.services import backup as service
from sts.services import restore as restoring


def _say(line: str) -> None:
    typer.echo(line, err=True)


def _bus_in_database(settings: Settings, database_url: str) -> bool:
    return not settings.event_bus_url or settings.event_bus_url == database_url


def _fail(what: str, exc: BaseException, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {what}: {exc}", err=True)
    return typer.Exit(code)


@app.command("backup")
def backup_cmd(
    to: Annotated[
        str | None,
        typer.Option("--to", help="Backup location: a folder, or s3://BUCKET/PREFIX?endpoint=URL&region=R."),
    ] = None,
    list_: Annotated[
        str | None, typer.Option("--list", help="List the complete backups at this location instead.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Back up the database (pg_dump), the object-store inventory, bus offsets and registry schemas."""
    settings = Settings()
    sts_logging.configure(settings.log_format, settings.log_level, service="sts-backup")
    if (to is None) == (list_ is None):
        typer.echo("error: give either --to LOCATION or --list LOCATION", err=True)
        raise typer.Exit(2)
    try:
        target = open_target(list_ or to or "", settings)
    except ConfigError as exc:
        raise _fail("location", exc, 2) from exc
    if list_ is not None:
        ids = asyncio.run(target.ids())
        typer.echo(json.dumps(ids) if as_json else "\n".join(ids) or "no backups")
        return
    was_running = settings.uses_embedded_database and (settings.pgdata / "postmaster.pid").exists()

    async def run() -> service.BackupResult:
        # the deployment as it is: no bucket, topic or schema is created or changed by a backup
        database_url, embedded = open_database(settings)
        if was_running:
            embedded = None  # a live `sts run` / `sts demo` owns it: leave it running
        store = make_store(settings)
        bus, registry = make_bus(settings, database_url)
        if settings.topic_prefix:
            from sts.adapters.prefixed_bus import PrefixedEventBus

            bus = PrefixedEventBus(bus, settings.topic_prefix)
        try:
            return await service.backup(
                database_url,
                store,
                bus,
                registry,
                AvroCodec(registry),
                target,
                bus_in_database=_bus_in_database(settings, database_url),
                groups=service.consumer_groups(getattr(settings, "webhook_group", None)),
                pg_bindir=settings.pg_bindir,
                progress=_say,
            )
        finally:
            for close in (store.close, bus.close, registry.close):
                with contextlib.suppress(Exception):
                    await close()
            if embedded is not None:
                embedded.stop()

    try:
        result = asyncio.run(run())
    except (STSError, psycopg.Error, OSError) as exc:
        raise _fail("backup failed", exc) from exc
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        d = result.to_dict()
        objects = ", ".join(f"{b} {n}" for b, n in d["objects"].items())
        typer.echo(
            f"backup {result.backup_id} written to {result.location}: dump {d['dump_bytes']} bytes, "
            f"objects inventoried: {objects}; {d['seconds']:.1f} s"
        )


@app.command("restore")
def restore_cmd(
    from_: Annotated[
        str,
        typer.Option("--from", help="LOCATION/BACKUP_ID (or LOCATION/latest) of the backup to restore."),
    ],
    rebuild: Annotated[
        bool,
        typer.Option("--rebuild", help="Then rebuild from mlb-live what happened after the backup."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Restore a backup into this (new, empty) deployment: database, topics, groups, registry."""
    settings = Settings()
    sts_logging.configure(settings.log_format, settings.log_level, service="sts-restore")
    try:
        location, backup_id = split_backup(from_)
        target = open_target(location, settings)
    except ConfigError as exc:
        raise _fail("--from", exc, 2) from exc

    async def run() -> dict[str, Any]:
        nonlocal backup_id
        if backup_id == "latest":
            ids = await target.ids()
            if not ids:
                raise service.BackupError(f"no complete backup at {target.url}")
            backup_id = ids[-1]
        embedded = None
        url = settings.database_url
        if not url:
            from sts.adapters.embedded_pg import EmbeddedPostgres

            was_running = (settings.pgdata / "postmaster.pid").exists()
            server = EmbeddedPostgres(settings.pgdata)
            url = server.start()
            embedded = None if was_running else server  # one someone else started keeps running
        store = make_store(settings)
        try:
            await store.ensure_buckets()
            in_db = _bus_in_database(settings, url)

            @contextlib.asynccontextmanager
            async def open_bus() -> AsyncIterator[tuple[EventBus, SchemaRegistry]]:
                bus, registry = make_bus(settings, url)
                if settings.topic_prefix:
                    from sts.adapters.prefixed_bus import PrefixedEventBus

                    bus = PrefixedEventBus(bus, settings.topic_prefix)
                try:
                    await ensure_topics(bus, settings.partitions)
                    yield bus, registry
                finally:
                    await bus.close()
                    await registry.close()

            report = await restoring.restore(
                url,
                store,
                target,
                backup_id,
                open_bus=open_bus,
                bus_in_database=in_db,
                pg_bindir=settings.pg_bindir,
                progress=_say,
            )
            out: dict[str, Any] = {"restore": report.to_dict(), "into": describe(url)}
            if rebuild:
                from sts.services.replay import live_consumers
                from sts.services.replay import rebuild as rebuild_db

                _say(
                    f"rebuilding from {settings.resolved_object_store_url.split('?')[0]} into {describe(url)}"
                )
                t0 = time.perf_counter()
                summary = await rebuild_db(store, url, live_consumers(settings, store), progress=_say)
                out["rebuild"] = {**summary.to_dict(), "seconds": round(time.perf_counter() - t0, 3)}
            return out
        finally:
            await store.close()
            if embedded is not None:
                embedded.stop()

    try:
        out = asyncio.run(run())
    except service.BackupError as exc:
        code = 2 if "empty database" in str(exc) else 1
        raise _fail("restore failed", exc, code) from exc
    except (STSError, psycopg.Error, OSError) as exc:
        raise _fail("restore failed", exc) from exc
    report = out["restore"]
    if as_json:
        typer.echo(json.dumps(out, indent=2))
    else:
        o = report["objects"]
        typer.echo(
            f"restored {report['backup_id']} into {out['into']} in {report['seconds']:.1f} s "
            f"(pg_restore {report['database']['restored_seconds']:.1f} s); bus: {report['bus'].get('mode')}; "
            f"objects: {o['checked']} checked, {o['missing']} missing, {o['changed']} changed, "
            f"{o['updated']} updated and {o['new']} new since the backup"
        )
        if report["games_after_backup"]:
            games = " ".join(str(g) for g in report["games_after_backup"])
            typer.echo(f"games with snapshots newer than the restored database: {games}")
        for problem in report["problems"]:
            typer.echo(f"  PROBLEM {problem}")
        for warning in report["warnings"]:
            typer.echo(f"  warning: {warning}")
        if "rebuild" in out:
            r = out["rebuild"]
            typer.echo(
                f"rebuild: {r['read']} snapshots read, {r['applied']} events applied, {r['failed']} failed; "
                f"{r['seconds']:.1f} s"
            )
        elif report["games_after_backup"]:
            typer.echo("next: sts rebuild (brings back what happened after the backup)")
    failed = out.get("rebuild", {}).get("failed", 0)
    if report["problems"] or failed:
        raise typer.Exit(1)
