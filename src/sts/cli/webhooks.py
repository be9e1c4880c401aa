"""``sts webhooks list|deliveries|disable|enable``: the operator's view of webhook subscriptions (the same
tables the API's ``/v1/webhooks`` routes manage; docs/webhooks.md). Secrets are never printed."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Annotated, Any

import psycopg
import typer
from psycopg.rows import dict_row
from rich.console import Console
from rich.table import Table

from sts import logging as sts_logging
from sts.cli import app
from sts.cli._database import database
from sts.config import Settings
from sts.errors import STSError

webhooks_app = typer.Typer(no_args_is_help=True, help="Webhook subscriptions and their deliveries.")
app.add_typer(webhooks_app, name="webhooks")
out = Console()
err = Console(stderr=True)

_LIST = """
SELECT s.id, s.owner_key_id, s.url, s.status, s.disabled_reason, s.consecutive_failures, s.created_at,
       s.event_types, s.game_pks, s.team_ids,
       count(d.id) FILTER (WHERE d.delivered_at IS NOT NULL) AS delivered,
       count(d.id) FILTER (WHERE d.gave_up_at IS NOT NULL) AS gave_up,
       count(d.id) FILTER (WHERE d.next_attempt_at IS NOT NULL) AS pending
FROM webhook_subscriptions s LEFT JOIN webhook_deliveries d ON d.subscription_id = s.id
GROUP BY s.id ORDER BY s.created_at, s.id
"""

_DELIVERIES = """
SELECT id, event_id, event_type, game_pk, attempts, created_at, next_attempt_at, last_status, last_error,
       delivered_at, gave_up_at
FROM webhook_deliveries WHERE subscription_id = %(id)s
  AND (%(status)s::text IS NULL
       OR (%(status)s = 'delivered' AND delivered_at IS NOT NULL)
       OR (%(status)s = 'gave_up' AND gave_up_at IS NOT NULL)
       OR (%(status)s = 'pending' AND next_attempt_at IS NOT NULL))
ORDER BY created_at DESC, id DESC LIMIT %(limit)s
"""


def _run(query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    async def go(url: str) -> list[dict[str, Any]]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            cur = await conn.cursor(row_factory=dict_row).execute(query, params)
            return await cur.fetchall() if cur.description else []

    settings = Settings()
    sts_logging.configure(settings.log_format, settings.log_level, service="sts-webhooks")
    try:
        with database(settings) as url:
            return asyncio.run(go(url))
    except (STSError, psycopg.Error) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


def _id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        err.print(f"[red]error:[/red] {value!r} is not a webhook id")
        raise typer.Exit(2) from None


def _jsonable(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, default=str, ensure_ascii=False, indent=2)


@webhooks_app.command("list")
def list_command(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Every subscription with its state and delivery counts (the URL's host only in the table)."""
    rows = _run(_LIST)
    if as_json:
        typer.echo(_jsonable(rows))
        return
    from urllib.parse import urlsplit

    table = Table(title=f"{len(rows)} webhook subscription(s)")
    for col in ("id", "owner", "host", "status", "delivered", "pending", "gave up", "filter"):
        table.add_column(col)
    for r in rows:
        parts = [", ".join(map(str, r[k])) for k in ("event_types", "game_pks", "team_ids") if r[k]]
        status = r["status"] + (f" ({r['disabled_reason']})" if r["disabled_reason"] else "")
        host = urlsplit(r["url"]).hostname or "?"
        counts = (str(r["delivered"]), str(r["pending"]), str(r["gave_up"]))
        table.add_row(
            str(r["id"]), r["owner_key_id"] or "-", host, status, *counts, "; ".join(parts) or "all"
        )
    out.print(table)


@webhooks_app.command("deliveries")
def deliveries_command(
    webhook_id: Annotated[str, typer.Argument(help="subscription id")],
    status: Annotated[str | None, typer.Option(help="pending, delivered or gave_up")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """A subscription's latest deliveries, newest first."""
    if status not in (None, "pending", "delivered", "gave_up"):
        err.print("[red]error:[/red] --status is pending, delivered or gave_up")
        raise typer.Exit(2)
    rows = _run(_DELIVERIES, {"id": _id(webhook_id), "status": status, "limit": limit})
    if as_json:
        typer.echo(_jsonable(rows))
        return
    table = Table(title=f"{len(rows)} deliver(ies) of {webhook_id}")
    for col in ("created", "event type", "game", "attempts", "state", "last status", "last error"):
        table.add_column(col)
    for r in rows:
        state = (
            "delivered"
            if r["delivered_at"]
            else "gave up"
            if r["gave_up_at"]
            else f"next {r['next_attempt_at']}"
        )
        what = (str(r["created_at"]), r["event_type"], str(r["game_pk"] or "-"), str(r["attempts"]), state)
        table.add_row(*what, str(r["last_status"] or "-"), r["last_error"] or "")
    out.print(table)


@webhooks_app.command("disable")
def disable_command(
    webhook_id: Annotated[str, typer.Argument(help="subscription id")],
    reason: Annotated[str, typer.Option(help="shown to the owner")] = "disabled by an operator",
) -> None:
    """Stop delivering to a subscription (its pending deliveries wait)."""
    rows = _run(
        "UPDATE webhook_subscriptions SET status = 'disabled', disabled_reason = %(reason)s,"
        " disabled_at = now() WHERE id = %(id)s RETURNING id",
        {"id": _id(webhook_id), "reason": reason},
    )
    if not rows:
        err.print(f"[red]error:[/red] no webhook {webhook_id}")
        raise typer.Exit(1)
    typer.echo(f"disabled {webhook_id}")


@webhooks_app.command("enable")
def enable_command(webhook_id: Annotated[str, typer.Argument(help="subscription id")]) -> None:
    """Deliver again; the pending deliveries are due at once (same as ``POST /v1/webhooks/{id}/enable``)."""
    rows = _run(
        "WITH s AS (UPDATE webhook_subscriptions SET status = 'active', disabled_reason = NULL,"
        " disabled_at = NULL, consecutive_failures = 0 WHERE id = %(id)s RETURNING id),"
        " d AS (UPDATE webhook_deliveries SET next_attempt_at = now()"
        " WHERE subscription_id IN (SELECT id FROM s) AND next_attempt_at IS NOT NULL) SELECT id FROM s",
        {"id": _id(webhook_id)},
    )
    if not rows:
        err.print(f"[red]error:[/red] no webhook {webhook_id}")
        raise typer.Exit(1)
    typer.echo(f"enabled {webhook_id}")
