"""``sts keys create|list|revoke``: API keys in the configured database (``STS_DATABASE_URL``).

``create`` prints the full key once (on stdout, alone on its line, or in ``--json``); the database keeps
only its hash, so a lost key cannot be shown again: revoke it and create another. A key revoked here
stops working on running API processes within ``api_key_cache_seconds``. Exit codes: 0 done; 1 no such
key, or the database failed; 2 a bad option (unknown scope, malformed tier).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from sts.api import keys
from sts.cli import app
from sts.cli._database import database
from sts.config import Settings
from sts.errors import STSError

T = TypeVar("T")
out = Console(soft_wrap=True)
err = Console(stderr=True)

keys_app = typer.Typer(no_args_is_help=True, help="API keys: create, list and revoke them.")
app.add_typer(keys_app, name="keys")

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


def _run(settings: Settings, fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
    async def run(url: str) -> T:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await fn(conn)

    try:
        with database(settings) as url:
            return asyncio.run(run(url))
    except (STSError, psycopg.Error, OSError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


def _as_json(info: keys.KeyInfo) -> dict[str, Any]:
    return {
        "key_id": info.key_id,
        "name": info.name,
        "prefix": info.prefix,
        "scopes": list(info.scopes),
        "tier": info.tier,
        "created_at": info.created_at.isoformat(),
        "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
        "last_used_at": info.last_used_at.isoformat() if info.last_used_at else None,
        "active": info.active,
    }


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="who or what the key is for")],
    scope: Annotated[
        list[str],
        typer.Option("--scope", "-s", help="read, stream, export or admin (repeat; admin implies all)"),
    ],
    tier: Annotated[str, typer.Option("--tier", help="rate-limit tier (setting api_rate_tiers)")] = "default",
    as_json: JsonOpt = False,
) -> None:
    """Create a key and print it: it is shown this once."""
    settings = Settings()
    try:
        keys.check_scopes(scope)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scope") from exc
    if not keys.TIER_RE.match(tier):
        raise typer.BadParameter(f"a tier is 1 to 64 of [A-Za-z0-9_.-], not {tier!r}", param_hint="--tier")
    if tier not in settings.api_rate_tiers:  # allowed: the API processes may define it
        known = ", ".join(sorted(settings.api_rate_tiers))
        err.print(
            f"[yellow]warning:[/yellow] tier {tier!r} is not in api_rate_tiers here ({known}); "
            "API processes that do not define it treat the key as 'default'"
        )
    new = _run(settings, lambda c: keys.create_key(c, name, scope, tier, pepper=settings.api_key_pepper))
    if as_json:
        typer.echo(json.dumps({**_as_json(new.info), "key": new.secret}))
        return
    err.print(
        f"created key [bold]{new.key_id}[/bold] ({name}; scopes {', '.join(new.info.scopes)}; tier {tier}). "
        "It is shown this once; keep it safe:"
    )
    typer.echo(new.secret)


@keys_app.command("list")
def list_(
    include_revoked: Annotated[bool, typer.Option("--all/--active", help="list revoked keys too")] = True,
    as_json: JsonOpt = False,
) -> None:
    """List the keys (never their secrets)."""
    found = _run(Settings(), lambda c: keys.list_keys(c, include_revoked=include_revoked))
    if as_json:
        typer.echo(json.dumps([_as_json(k) for k in found], indent=2))
        return
    table = Table("key_id", "name", "scopes", "tier", "created", "last used", "revoked")
    for k in found:
        table.add_row(
            k.key_id,
            k.name,
            ",".join(k.scopes),
            k.tier,
            f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "-",
            f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "-",
        )
    out.print(table)


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="the key's id (sts_<key_id>_…)")]) -> None:
    """Revoke a key for good (running API processes stop accepting it within api_key_cache_seconds)."""
    info = _run(Settings(), lambda c: keys.revoke_key(c, key_id))
    if info is None:
        err.print(f"[red]error:[/red] no API key {key_id!r}")
        raise typer.Exit(1)
    err.print(f"revoked key {info.key_id} ({info.name}) at {info.revoked_at:%Y-%m-%d %H:%M:%S %Z}")
