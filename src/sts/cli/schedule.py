"""``sts schedule``: each game's state, next poll time and why.

Two sources:

- ``--url http://HOST:PORT``: the health server of a running ``sts run`` / ``sts demo`` (its ``/schedule``
  route: the live scheduler's decisions, with the request budget);
- ``--api URL``: a Stats API (the stand-in or ``statsapi.mlb.com``): today's schedule there, planned by the
  same policy as if the scheduler had just started (before any feed poll), with the ``STS_*`` settings.

Exit code 0 when something was shown, 2 when the source cannot be read.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from sts.cli import app
from sts.config import Settings
from sts.services.poll_policy import GameView, config_from_settings, plan

err = Console(stderr=True)


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan_from_schedule(doc: dict[str, Any], now: datetime, settings: Settings) -> dict[str, Any]:
    """What the scheduler would decide for each game of a ``/schedule`` response, at ``now``."""
    cfg = config_from_settings(settings)
    games = []
    for day in doc.get("dates") or []:
        for entry in day.get("games") or []:
            status = entry.get("status") or {}
            start = _parse(entry.get("gameDate"))
            view = GameView(
                start, status.get("abstractGameState", "Preview"), status.get("detailedState", "")
            )
            if view.status == "Final" and view.detailed == "Final":  # already over: its window from now on
                view = GameView(start, view.status, view.detailed, final_at=now)
            p = plan(view, now, cfg)
            # a new scheduler polls a due game at once; a far one from pregame_lead before its first pitch
            nxt: datetime | None = now
            if p.state == "far" and start is not None:
                nxt = start - timedelta(seconds=cfg.pregame_lead)
            elif p.state in ("final", "closed", "postponed"):
                nxt = None
            games.append(
                {
                    "gamePk": entry.get("gamePk"),
                    "state": p.state,
                    "status": view.status,
                    "detailedState": view.detailed,
                    "start": _iso(start),
                    "nextPoll": _iso(nxt),
                    "interval": p.interval,
                    "reason": p.reason,
                }
            )
    return {"now": _iso(now), "source": "plan", "games": games}


def _render(shown: dict[str, Any]) -> None:
    now = _parse(shown.get("now"))
    table = Table(title=f"schedule at {shown.get('now')}")
    for col in ("gamePk", "state", "status", "next poll", "interval", "polls", "reason"):
        table.add_column(col, overflow="fold")
    for g in shown.get("games", []):
        nxt = _parse(g.get("nextPoll"))
        when = "-"
        if nxt is not None:
            when = nxt.strftime("%H:%M:%SZ")
            if now is not None:
                when += f" (in {max(0, round((nxt - now).total_seconds()))}s)"
        interval = "-" if g.get("interval") is None else f"{g['interval']:g}s"
        status = g.get("detailedState") or g.get("status") or ""
        if g.get("inningState"):
            status += f" ({g['inningState']})"
        table.add_row(
            str(g.get("gamePk")), g.get("state", ""), status, when, interval, str(g.get("polls", "-")),
            g.get("reason", ""),
        )  # fmt: skip
    out = Console(width=max(Console().width, 140))
    out.print(table)
    budget = shown.get("budget")
    if budget:
        out.print(
            f"request budget: {budget['rate_per_second']:g}/s, burst {budget['burst']:g}; "
            f"{budget['acquired']} requests, {budget['waited']} waited {budget['wait_seconds']:g}s in all"
        )
    if shown.get("nextChangesPoll"):
        out.print(f"/game/changes polls: {shown.get('changesPolls', 0)}, next at {shown['nextChangesPoll']}")


async def _from_api(api: str, settings: Settings) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=api.rstrip("/"), timeout=10) as http:
        now = datetime.now(UTC)
        status = await http.get("/standin/status")  # the stand-in's virtual clock, when it is one
        if status.status_code == 200 and _parse(status.json().get("now")):
            now = _parse(status.json()["now"]) or now
        resp = await http.get("/api/v1/schedule", params={"sportId": "1"})
        resp.raise_for_status()
        return plan_from_schedule(resp.json(), now, settings)


@app.command("schedule")
def schedule(
    url: Annotated[
        str | None, typer.Option(help="health server of a running sts run/demo (shows its live decisions)")
    ] = None,
    api: Annotated[
        str | None, typer.Option(help="a Stats API (the stand-in or MLB): plan today's games from it")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show each game's state, next poll time and why."""
    if (url is None) == (api is None):
        err.print("give one of --url (a running process) or --api (plan from a Stats API's schedule)")
        raise typer.Exit(2)
    try:
        if url is not None:
            resp = httpx.get(url.rstrip("/") + "/schedule", timeout=10)
            if resp.status_code == 404:
                err.print(f"{url}: {resp.json().get('error', 'no scheduler there')}")
                raise typer.Exit(2)
            resp.raise_for_status()
            shown = resp.json()
        else:
            assert api is not None
            shown = asyncio.run(_from_api(api, Settings()))
    except (httpx.HTTPError, ValueError) as exc:
        err.print(f"cannot read the schedule from {url or api}: {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        print(json.dumps(shown, indent=2))
    else:
        _render(shown)
