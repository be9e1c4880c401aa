"""``sts logs``: read the log lines every STS process shipped to VictoriaLogs (``STS_VLOGS_URL``).

Filters combine with AND: ``--game``, ``--service``, ``--request-id``, ``--level``, ``--since`` and an
optional free LogsQL query (for example ``'"circuit open"'`` or ``'endpoint:feed'``). Lines print oldest
first, readable, or as the JSON objects VictoriaLogs stored (``--json``). Exit codes: 0 done (even with no
line found); 1 VictoriaLogs is unreachable or refused the query; 2 a bad option.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from sts.cli import app
from sts.config import Settings

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True)

_DURATION = re.compile(r"^\d+(\.\d+)?(ms|s|m|h|d|w|y)$")
_LEVELS = ("debug", "info", "warning", "error", "critical")
# fields printed in the head of a line (the rest follow as key=value)
_HEAD = ("_time", "_msg", "_stream", "_stream_id", "level", "service", "ts")


def _quote(value: str) -> str:
    return json.dumps(value)


def build_query(
    *,
    game: int | None = None,
    service: str | None = None,
    request_id: str | None = None,
    level: str | None = None,
    since: str | None = "1h",
    query: str | None = None,
) -> str:
    """The LogsQL filter for these options (exact matches on the fields, AND-ed together)."""
    parts: list[str] = []
    if since:
        parts.append(f"_time:{since}")
    if game is not None:
        parts.append(f"game_pk:={_quote(str(game))}")
    if service:
        parts.append(f"service:={_quote(service)}")
    if request_id:
        parts.append(f"request_id:={_quote(request_id)}")
    if level:
        parts.append(f"level:={_quote(level.lower())}")
    if query:
        parts.append(f"({query})")
    return " ".join(parts) if parts else "*"


def search(base_url: str, logsql: str, limit: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The newest ``limit`` lines matching ``logsql``, returned oldest first.

    Raises :class:`httpx.HTTPError` when VictoriaLogs cannot be reached, :class:`ValueError` (with its
    message) when it refuses the query.
    """
    q = f"{logsql} | sort by (_time desc) | limit {int(limit)}"
    resp = httpx.post(base_url.rstrip("/") + "/select/logsql/query", data={"query": q}, timeout=timeout)
    if resp.status_code != 200:
        raise ValueError(resp.text.strip() or f"HTTP {resp.status_code}")
    rows = [json.loads(line) for line in resp.text.splitlines() if line.strip()]
    # VictoriaLogs sorted them newest first (its _time strings drop trailing zeros: not sortable as text)
    rows.reverse()
    return rows


def format_line(row: dict[str, Any]) -> str:
    """One readable line: time, level, service, message, then the other fields as key=value."""
    rest = " ".join(f"{k}={v}" for k, v in sorted(row.items()) if k not in _HEAD)
    head = f"{row.get('_time', '')}  {str(row.get('level', '')).upper():<7} {row.get('service', '-'):<14}"
    return f"{head} {row.get('_msg', '')}" + (f"  {rest}" if rest else "")


@app.command("logs")
def logs(
    query: Annotated[str | None, typer.Argument(help="extra LogsQL filter, e.g. '\"circuit open\"'")] = None,
    game: Annotated[int | None, typer.Option("--game", help="only lines about this gamePk")] = None,
    service: Annotated[
        str | None, typer.Option("--service", help="only this process kind (sts, sts-demo, sts-api…)")
    ] = None,
    request_id: Annotated[
        str | None, typer.Option("--request-id", help="only lines of this API request (X-Request-ID)")
    ] = None,
    level: Annotated[
        str | None, typer.Option("--level", help="only this level (debug, info, warning, error, critical)")
    ] = None,
    since: Annotated[
        str, typer.Option("--since", help="how far back: 30s, 15m, 1h, 2d… ('all' for no limit)")
    ] = "1h",
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000, help="newest N lines at most")] = 200,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the stored JSON objects, one a line")
    ] = False,
    url: Annotated[
        str | None, typer.Option("--url", help="VictoriaLogs URL (default: STS_VLOGS_URL)")
    ] = None,
) -> None:
    """Search the logs shipped to VictoriaLogs (filters AND-ed; oldest line first)."""
    base = url or Settings().vlogs_url
    if not base:
        err.print("no VictoriaLogs configured: set STS_VLOGS_URL (e.g. http://127.0.0.1:9428) or pass --url")
        raise typer.Exit(2)
    if since != "all" and not _DURATION.match(since):
        err.print(f"--since {since!r}: expected a duration such as 30s, 15m, 1h, 2d, or 'all'")
        raise typer.Exit(2)
    if level is not None and level.lower() not in _LEVELS:
        err.print(f"--level {level!r}: expected one of {', '.join(_LEVELS)}")
        raise typer.Exit(2)
    logsql = build_query(
        game=game,
        service=service,
        request_id=request_id,
        level=level,
        since=None if since == "all" else since,
        query=query,
    )
    try:
        rows = search(base, logsql, limit)
    except httpx.HTTPError as exc:
        err.print(f"error: VictoriaLogs at {base} is not reachable: {exc}")
        raise typer.Exit(1) from exc
    except ValueError as exc:
        err.print(f"error: VictoriaLogs refused the query {logsql!r}: {escape(str(exc))}")
        raise typer.Exit(1) from exc
    for row in rows:
        if as_json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            out.print(escape(format_line(row)))
    if not as_json:
        err.print(f"{len(rows)} line(s)")
