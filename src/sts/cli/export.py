"""``sts export DATASET --format csv|jsonl|parquet --out FILE|- [filters]``: a dataset as a file, streamed
from the database batch by batch (:mod:`sts.exports`), so memory stays flat for a full season."""

from __future__ import annotations

import asyncio
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import psycopg
import typer
from rich.console import Console

from sts import exports
from sts import logging as sts_logging
from sts.cli import app
from sts.cli._database import database
from sts.config import Settings
from sts.errors import STSError

err = Console(stderr=True)


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        err.print(f"[red]error:[/red] {name} must be a date YYYY-MM-DD, not {value!r}")
        raise typer.Exit(2) from None


async def write_export(
    url: str, dataset: str, fmt: str, filters: exports.Filters, out: BinaryIO, batch_size: int
) -> int:
    """Write the export to ``out``; return the bytes written."""
    written = 0
    async with await psycopg.AsyncConnection.connect(url) as conn:
        async for chunk in exports.stream_export(conn, dataset, fmt, filters, batch_size=batch_size):
            out.write(chunk)
            written += len(chunk)
    out.flush()
    return written


@app.command("export")
def export_command(
    dataset: Annotated[str, typer.Argument(help=f"one of {', '.join(exports.DATASETS)}")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv, jsonl or parquet")] = "csv",
    out: Annotated[str, typer.Option("--out", "-o", help="file to write, or - for standard output")] = "-",
    season: Annotated[int | None, typer.Option(help="season (year)")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="first official date YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="last official date YYYY-MM-DD")] = None,
    game: Annotated[int | None, typer.Option("--game", help="one gamePk")] = None,
    team: Annotated[str | None, typer.Option(help="team id (game datasets) or the source's team key")] = None,
    player: Annotated[str | None, typer.Option(help="player id (game datasets) or the source's key")] = None,
    source: Annotated[
        str | None, typer.Option(help="season datasets: statsapi, lahman or retrosheet")
    ] = None,
) -> None:
    """Export plays, pitches, box lines or season lines as CSV, JSON Lines or Parquet."""
    filters = exports.Filters(
        season, _date(date_from, "--from"), _date(date_to, "--to"), game, team, player, source
    )
    try:
        exports.query(exports.dataset(dataset), filters)
        exports.check_format(fmt)
    except exports.ExportError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if fmt == "parquet" and out == "-" and sys.stdout.isatty():
        err.print("[red]error:[/red] Parquet is binary: give --out FILE (or redirect the output)")
        raise typer.Exit(2)
    settings = Settings()
    sts_logging.configure(settings.log_format, settings.log_level, service="sts-export")
    target: Any = sys.stdout.buffer if out == "-" else None
    path = None if out == "-" else Path(out)
    partial = path.with_name(path.name + ".partial") if path else None
    try:
        with database(settings) as url:
            if partial is not None:
                with partial.open("wb") as fh:
                    n = asyncio.run(write_export(url, dataset, fmt, filters, fh, settings.export_batch_rows))
                partial.replace(path)  # type: ignore[arg-type]
                err.print(f"wrote {n} bytes to {path}")
            else:
                asyncio.run(write_export(url, dataset, fmt, filters, target, settings.export_batch_rows))
    except (STSError, psycopg.Error, OSError) as exc:
        if partial is not None:
            partial.unlink(missing_ok=True)
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
