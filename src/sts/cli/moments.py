"""``sts moments [--game PK] [--rule RULE] [--json]``: the notable moments found so far (table
``notable_moments``, written by the ``moments`` consumer of the pipeline)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from sts import logging as sts_logging
from sts.cli import app
from sts.cli._database import database
from sts.config import Settings
from sts.errors import STSError
from sts.moments.rules import RULES

out = Console()
err = Console(stderr=True)


async def list_moments(
    conn: psycopg.AsyncConnection[Any],
    game_pk: int | None = None,
    rule: str | None = None,
    *,
    retracted: bool = False,
) -> list[dict[str, Any]]:
    """Moments in game order (game, at-bat, rule), optionally of one game and/or one rule; retracted
    ones only with ``retracted``."""
    cur = await conn.execute(
        """
        SELECT event_id, game_pk, rule, natural_key, at_bat_index, inning, half_inning, team_id,
               player_ids, headline, details, retracted
        FROM notable_moments
        WHERE (%(game)s::bigint IS NULL OR game_pk = %(game)s) AND (%(rule)s::text IS NULL OR rule = %(rule)s)
          AND (%(all)s OR NOT retracted)
        ORDER BY game_pk, at_bat_index, rule, natural_key
        """,
        {"game": game_pk, "rule": rule, "all": retracted},
    )
    names = [d.name for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


@app.command("moments")
def moments_command(
    game: Annotated[int | None, typer.Option("--game", help="only this gamePk")] = None,
    rule: Annotated[str | None, typer.Option("--rule", help=f"only this rule ({', '.join(RULES)})")] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="include moments retracted after a revision of the plays")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """List the notable moments (walk-offs, lead changes, no-hitter watches…) found in the games."""
    if rule is not None and rule not in RULES:
        err.print(f"[red]error:[/red] unknown rule {rule!r}; known: {', '.join(RULES)}")
        raise typer.Exit(2)

    async def run(url: str) -> list[dict[str, Any]]:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await list_moments(conn, game, rule, retracted=show_all)

    settings = Settings()
    sts_logging.configure(settings.log_format, settings.log_level, service="sts-moments")  # lines on stderr
    try:
        with database(settings) as url:
            rows = asyncio.run(run(url))
    except (STSError, psycopg.Error) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{len(rows)} notable moment(s)" + (f" in game {game}" if game else ""))
    for col, justify in (("gamePk", "right"), ("inning", "left"), ("at bat", "right"), ("rule", "left"),
                         ("moment", "left")):  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for m in rows:
        half = "top" if m["half_inning"] == "top" else "bot"
        text = f"{m['headline']} (retracted)" if m["retracted"] else m["headline"]
        table.add_row(str(m["game_pk"]), f"{half} {m['inning']}", str(m["at_bat_index"]), m["rule"], text)
    out.print(table)
