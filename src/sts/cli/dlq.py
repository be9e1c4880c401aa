"""``sts dlq list|show|retry|purge``: the dead letters of every consumer, and what to do with them.

Every command first indexes what was written to the dead-letter topics since the last time (see
:mod:`sts.services.dlq`), on the backends of the configuration (``STS_*``), then works on the state
table. Exit codes: 0 done; 1 an entry was not found, a retry failed again, or a backend failed;
2 a bad option (typer's usage errors).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

import psycopg
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sts import logging as sts_logging
from sts.bootstrap import Backends, open_backends
from sts.cli import app
from sts.config import Settings
from sts.errors import STSError
from sts.moments.baselines import LahmanFeedBaselines
from sts.moments.consumer import GROUP as MOMENTS_GROUP
from sts.moments.consumer import moments_apply
from sts.moments.rules import RuleSettings
from sts.services import dlq
from sts.services.ingest import Ingestor
from sts.services.pipeline import PROCESSOR_GROUP
from sts.services.processor import Apply, apply_events
from sts.services.stats_updater import GROUP as STATS_GROUP
from sts.services.stats_updater import season_apply

T = TypeVar("T")
out = Console(soft_wrap=True)
err = Console(stderr=True)

dlq_app = typer.Typer(no_args_is_help=True, help="Dead letters: list, show, retry and purge them.")
app.add_typer(dlq_app, name="dlq")

TopicOpt = Annotated[str | None, typer.Option("--topic", help="only this dead-letter topic")]
GroupOpt = Annotated[
    str | None, typer.Option("--group", help=f"only this consumer group ({dlq.SNAPSHOT_GROUP!r}: snapshots)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


def _run(fn: Callable[[Backends, psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
    """Open the configured backends, index the dead-letter topics, run ``fn`` on a state connection."""

    settings = Settings()
    sts_logging.configure(settings.log_format, settings.log_level, service="sts-dlq")  # lines on stderr

    async def run() -> T:
        backends = await open_backends(settings)
        try:
            async with await psycopg.AsyncConnection.connect(backends.database_url, autocommit=True) as conn:
                await dlq.index(backends.bus, backends.codec, conn)
                return await fn(backends, conn)
        finally:
            await backends.aclose()

    try:
        return asyncio.run(run())
    except (STSError, psycopg.Error, OSError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc


def _age(value: timedelta | None) -> str:
    if value is None:
        return "-"
    s = max(int(value.total_seconds()), 0)
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60}m"
    if s >= 60:
        return f"{s // 60}m{s % 60}s"
    return f"{s}s"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", "backslashreplace")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _dump(data: Any) -> None:
    typer.echo(json.dumps(data, default=_plain, ensure_ascii=False, indent=2))


def _older(text: str | None) -> timedelta | None:
    if text is None:
        return None
    try:
        return dlq.parse_age(text)
    except dlq.DeadLetterError as exc:
        raise typer.BadParameter(str(exc)) from exc


def consumer_appliers(b: Backends) -> dict[str, Apply]:
    """The apply function of every consumer group the pipeline runs, by group name."""
    rules = RuleSettings.from_settings(b.settings)
    return {
        PROCESSOR_GROUP: apply_events,
        STATS_GROUP: season_apply(b.store),
        MOMENTS_GROUP: moments_apply(b.bus, b.codec, rules, LahmanFeedBaselines(b.store)),
    }


@dlq_app.command("list")
def list_command(
    topic: TopicOpt = None,
    group: GroupOpt = None,
    status: Annotated[str, typer.Option("--status", help="pending, retried, purged or all")] = "pending",
    game_pk: Annotated[int | None, typer.Option("--game", help="only entries of this gamePk")] = None,
    older_than: Annotated[str | None, typer.Option("--older-than", help="failed before, e.g. 2h, 7d")] = None,
    limit: Annotated[int, typer.Option("--limit", help="at most this many entries")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Counts per topic, group and status (with the age of the oldest failure), then the entries."""
    if status not in (*dlq.STATUSES, "all"):
        raise typer.BadParameter(f"unknown status {status!r}", param_hint="--status")
    filters: dict[str, Any] = {
        "topic": topic, "group": group, "game_pk": game_pk, "older_than": _older(older_than),
        "status": None if status == "all" else status,
    }  # fmt: skip

    async def query(_: Backends, conn: psycopg.AsyncConnection[Any]) -> tuple[list[Any], list[Any]]:
        counts = await dlq.summary(conn, **{k: v for k, v in filters.items() if k != "status"})
        return counts, await dlq.list_entries(conn, limit=limit, **filters)

    counts, entries = _run(query)
    if as_json:
        _dump({"summary": counts, "entries": entries})
        return
    table = Table(title="dead letters")
    for col in ("topic", "group", "status", "entries", "oldest"):
        table.add_column(col, justify="right" if col in ("entries", "oldest") else "left")
    for c in counts:
        table.add_row(c["topic"], c["consumer_group"], c["status"], str(c["entries"]), _age(c["oldest"]))
    out.print(table)
    if not entries:
        out.print(f"no {'' if status == 'all' else status + ' '}entries")
        return
    noun = "entry" if len(entries) == 1 else "entries"
    table = Table(title=f"{len(entries)} {'' if status == 'all' else status + ' '}{noun}")
    for col in ("id", "group", "game", "age", "status"):
        table.add_column(col, no_wrap=True)
    table.add_column("error (latest)", overflow="fold", ratio=1)
    for e in entries:
        error = e["last_error"] or e["error"]
        table.add_row(
            e["id"][:8], e["consumer_group"], str(e["game_pk"] or "-"), _age(e["age"]), e["status"],
            escape(error if len(error) <= 120 else error[:117] + "..."),
        )  # fmt: skip
    out.print(table)


@dlq_app.command("show")
def show_command(
    entry_id: Annotated[str, typer.Argument(help="the entry's id (or its first characters)")],
    as_json: JsonOpt = False,
) -> None:
    """One entry: where it came from, its headers, error, stack, attempts, state and its payload
    (decoded when possible; otherwise why not, and its first bytes)."""

    async def query(
        b: Backends, conn: psycopg.AsyncConnection[Any]
    ) -> tuple[dict[str, Any], Any, str | None]:
        entry = await dlq.get_entry(conn, entry_id)
        decoded, why = await dlq.decoded_payload(b.codec, entry)
        return entry, decoded, why

    entry, decoded, why = _run(query)
    raw = bytes(entry.pop("payload") or b"")
    if as_json:
        _dump(entry | {"payload": decoded, "payload_error": why, "payload_bytes": len(raw)})
        return
    for name in ("id", "topic", "kind", "consumer_group", "game_pk", "original_topic", "original_partition",
                 "original_offset", "original_key", "source_url", "failed_at", "attempts", "status",
                 "retries", "last_retry_at", "resolved_at", "reason", "error", "last_error"):  # fmt: skip
        if entry.get(name) is not None:
            out.print(f"[bold]{name}:[/bold] {escape(str(entry[name]))}")
    out.print(f"[bold]age:[/bold] {_age(entry['age'])}")
    out.print(f"[bold]headers:[/bold] {escape(json.dumps(entry['headers'], ensure_ascii=False))}")
    if entry.get("stack"):
        out.print("[bold]stack:[/bold]")
        out.print(escape(entry["stack"].rstrip()))
    if decoded is not None:
        out.print(f"[bold]payload ({len(raw)} bytes, decoded):[/bold]")
        text = json.dumps(decoded, default=_plain, ensure_ascii=False, indent=2)
        out.print(escape(text if len(text) <= 4000 else text[:4000] + "\n… (use --json for all of it)"))
    else:
        out.print(f"[bold]payload ({len(raw)} bytes), not decoded:[/bold] {escape(why or '')}")
        out.print(escape(repr(raw[:200])) + (" …" if len(raw) > 200 else ""))


@dlq_app.command("retry")
def retry_command(
    entry_ids: Annotated[list[str] | None, typer.Argument(help="ids of the entries to retry")] = None,
    all_pending: Annotated[
        bool, typer.Option("--all", help="every pending entry (within the filters)")
    ] = False,
    topic: TopicOpt = None,
    group: GroupOpt = None,
) -> None:
    """Apply pending entries again through their group's own processing (idempotent: nothing is
    duplicated), or re-ingest rejected snapshots. A retried entry is resolved; retrying it again does
    nothing. Exit code 1 when any retry failed again (the entry stays pending with the new error)."""
    if not entry_ids and not all_pending:
        raise typer.BadParameter("give entry ids, or --all")

    async def work(b: Backends, conn: psycopg.AsyncConnection[Any]) -> list[dlq.RetryOutcome]:
        ids = list(entry_ids or []) or await dlq.pending_ids(conn, topic=topic, group=group)
        appliers = consumer_appliers(b)
        reingest = dlq.reingester(Ingestor(b.store, b.bus, b.codec))
        outcomes = await dlq.retry(
            conn, ids, codec=b.codec, apply_url=b.database_url, appliers=appliers, reingest=reingest
        )
        await dlq.index(b.bus, b.codec, conn)  # what a failed re-ingestion wrote back
        return outcomes

    outcomes = _run(work)
    if not outcomes:
        out.print("nothing to retry")
    for o in outcomes:
        mark = "[green]ok[/green]    " if o.ok else "[red]FAILED[/red]"
        out.print(f"{mark} {o.id}  {escape(o.detail)}")
    failed = sum(not o.ok for o in outcomes)
    if outcomes:
        out.print(f"{len(outcomes) - failed} retried, {failed} failed")
    if failed:
        raise typer.Exit(1)


@dlq_app.command("purge")
def purge_command(
    entry_ids: Annotated[list[str] | None, typer.Argument(help="ids of the entries to purge")] = None,
    resolved: Annotated[bool, typer.Option("--resolved", help="every retried (resolved) entry")] = False,
    older_than: Annotated[str | None, typer.Option("--older-than", help="failed before, e.g. 30d")] = None,
    topic: TopicOpt = None,
    group: GroupOpt = None,
) -> None:
    """Drop entries for good: their payload and stack are cleared, the entry stays as "purged" (the
    topics are append-only). Without ids, --resolved and/or --older-than say which."""
    age = _older(older_than)
    if not entry_ids and not resolved and age is None:
        raise typer.BadParameter("give entry ids, --resolved or --older-than")

    async def work(_: Backends, conn: psycopg.AsyncConnection[Any]) -> list[str]:
        return await dlq.purge(
            conn, entry_ids or [], resolved=resolved, older_than=age, topic=topic, group=group
        )

    purged = _run(work)
    for entry_id in purged:
        out.print(f"purged {entry_id}")
    out.print(f"{len(purged)} entr{'y' if len(purged) == 1 else 'ies'} purged")
