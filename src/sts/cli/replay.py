"""``sts replay`` and ``sts rebuild``: the database again, from the event bus or from the raw snapshots.

Both apply events through the live consumers' own apply functions (:mod:`sts.services.replay`), so
the result has the same rows as the live run, and both are idempotent. ``--into`` names another
database (migrated first); by default the configured one is used.

Exit codes: 0 when everything read was applied, 1 when some record or snapshot could not be (listed
in the summary) or a backend failed, 2 for bad arguments (a ``--from``/``--to`` that is neither an
offset nor a time, an ``--into`` that is not a reachable PostgreSQL database).
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import psycopg
import typer

from sts import logging as sts_logging
from sts.bootstrap import make_store, open_backends
from sts.cli import app
from sts.cli._database import database
from sts.config import Settings
from sts.db import describe, migrate
from sts.errors import STSError
from sts.services.replay import Position, Summary, live_consumers, parse_position, rebuild, replay


def _progress(line: str) -> None:
    typer.echo(line, err=True)


def _position(option: str, text: str) -> Position:
    try:
        return parse_position(text)
    except ValueError as exc:
        typer.echo(f"error: {option}: {exc}", err=True)
        raise typer.Exit(2) from exc


def _prepare_into(url: str) -> str:
    """Check that ``--into`` is a reachable PostgreSQL database, then migrate it to head."""
    if not url.startswith(("postgresql://", "postgres://")):
        typer.echo(f"error: --into: {url!r} is not a postgresql:// URL", err=True)
        raise typer.Exit(2)
    try:
        with psycopg.connect(url, connect_timeout=5):
            pass
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        typer.echo(f"error: --into: cannot connect to {describe(url)}: {reason}", err=True)
        raise typer.Exit(2) from exc
    migrate(url)
    return url


def _report(kind: str, summary: Summary, as_json: bool, target: str) -> None:
    if as_json:
        typer.echo(json.dumps({kind: summary.to_dict(), "into": describe(target)}, indent=2))
    else:
        unit = "records" if kind == "replay" else "snapshots"
        consumers = ", ".join(f"{name} {n}" for name, n in summary.by_consumer.items())
        typer.echo(
            f"{kind} into {describe(target)}: {summary.read} {unit} read, {summary.events} events, "
            f"{summary.applied} applied, {summary.skipped} skipped (already applied), "
            f"{summary.failed} failed; {len(summary.games)} games; per consumer: {consumers or '-'}; "
            f"{summary.seconds:.1f} s"
        )
        for reason, n in sorted(summary.rejected.items()):
            typer.echo(f"  {n} snapshots not valid ({reason}), skipped as ingestion would have")
        for failure in summary.failures:
            typer.echo(f"  FAILED {failure}")
    if summary.failures:
        raise typer.Exit(1)


@app.command("replay")
def replay_cmd(
    from_: Annotated[
        str,
        typer.Option(
            "--from",
            help="Where to start: 0 (every partition from the beginning), N (offset N of every partition), "
            "P:N,P:N (only those partitions, from those offsets) or an ISO time (records stamped at or "
            "after it; no zone = UTC).",
        ),
    ],
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Where to stop, exclusive: N, P:N,... (other partitions to their end) or an ISO time. "
            "Default: the end of every partition.",
        ),
    ] = None,
    into: Annotated[
        str | None,
        typer.Option("--into", help="Apply to this database (postgresql://…, migrated first) instead."),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Records per transaction.")] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Re-read mlb.game-events from the bus and apply it as the live consumers do."""
    start = _position("--from", from_)
    end = _position("--to", to) if to is not None else None
    settings = Settings()
    sts_logging.configure(settings.log_format, settings.log_level, service="sts-replay")
    target = _prepare_into(into) if into else None

    # an embedded server that is already running (a live ``sts run`` / ``sts demo``) is left running
    was_running = settings.uses_embedded_database and (settings.pgdata / "postmaster.pid").exists()

    async def run() -> tuple[Summary, str]:
        backends = await open_backends(settings)
        if was_running:
            backends.embedded = None
        try:
            url = target or backends.database_url
            _progress(f"replaying mlb.game-events from {start} to {end or 'the end'} into {describe(url)}")
            summary = await replay(
                backends.bus,
                backends.codec,
                url,
                live_consumers(settings, backends.store),
                start=start,
                end=end,
                batch_size=batch_size,
                progress=_progress,
            )
            return summary, url
        finally:
            await backends.aclose()

    try:
        summary, url = asyncio.run(run())
    except (STSError, psycopg.Error, OSError) as exc:
        typer.echo(f"error: replay failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    _report("replay", summary, as_json, url)


@app.command("rebuild")
def rebuild_cmd(
    game: Annotated[
        list[int] | None, typer.Option("--game", help="Only this gamePk (repeatable). Default: every game.")
    ] = None,
    into: Annotated[
        str | None,
        typer.Option("--into", help="Rebuild into this database (postgresql://…, migrated first) instead."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Rebuild the database from the raw snapshots in mlb-live, without the bus (nothing is published)."""
    settings = Settings()
    sts_logging.configure(settings.log_format, settings.log_level, service="sts-rebuild")
    target = _prepare_into(into) if into else None

    async def run(url: str) -> Summary:
        store = make_store(settings)
        try:
            source = settings.resolved_object_store_url.split("?")[0]
            _progress(f"rebuilding from {source} into {describe(url)}")
            return await rebuild(
                store, url, live_consumers(settings, store), games=game or None, progress=_progress
            )
        finally:
            await store.close()

    try:
        if target is not None:
            summary, url = asyncio.run(run(target)), target
        else:
            with database(settings) as url:
                summary = asyncio.run(run(url))
    except (STSError, psycopg.Error, OSError) as exc:
        typer.echo(f"error: rebuild failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    _report("rebuild", summary, as_json, url)
