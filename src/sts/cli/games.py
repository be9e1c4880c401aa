"""``sts games`` and ``sts game GAMEPK``: what the database holds, as tables or JSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from sts.cli import app
from sts.cli._database import database
from sts.config import Settings
from sts.db.queries import game_detail, list_games
from sts.errors import STSError

T = TypeVar("T")
out = Console()
err = Console(stderr=True)


def _query(fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
    async def run(url: str) -> T:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await fn(conn)

    try:
        with database(Settings()) as url:
            return asyncio.run(run(url))
    except (STSError, psycopg.Error) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


def _json_default(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _dump(data: Any) -> None:
    typer.echo(json.dumps(data, default=_json_default, ensure_ascii=False, indent=2))


def _score(g: dict[str, Any]) -> str:
    if g["away_score"] is None or g["home_score"] is None:
        return "-"
    return f"{g['away_score']}-{g['home_score']}"


def _v(value: Any) -> str:
    return "" if value is None else str(value)


@app.command("games")
def games_command(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """List the games stored in the database: date, gamePk, away @ home, score, status, plays, pitches."""
    games = _query(list_games)
    if as_json:
        _dump(games)
        return
    table = Table(title=f"{len(games)} game(s)")
    for col, justify in (("date", "left"), ("gamePk", "right"), ("game", "left"), ("score", "center"),
                         ("status", "left"), ("plays", "right"), ("pitches", "right")):  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for g in games:
        table.add_row(
            _v(g["official_date"]), str(g["game_pk"]), f"{g['away']} @ {g['home']}", _score(g),
            _v(g["status"]), str(g["plays"]), str(g["pitches"]),
        )  # fmt: skip
    out.print(table)


@app.command("game")
def game_command(
    game_pk: Annotated[int, typer.Argument(help="the game's gamePk")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
) -> None:
    """One game: teams, score, line score by inning, and each team's batting and pitching lines."""
    detail = _query(lambda conn: game_detail(conn, game_pk))
    if detail is None:
        err.print(f"[red]no game {game_pk} in the database[/red]")
        raise typer.Exit(1)
    if as_json:
        _dump(detail)
        return
    g = detail["game"]
    out.print(
        f"[bold]{g.get('away_name') or g['away']} {_v(g['away_score'])} @ "
        f"{g.get('home_name') or g['home']} {_v(g['home_score'])}[/bold]  {_v(g['status'])}  "
        f"{_v(g['official_date'])}  {_v(g.get('venue_name'))}  (gamePk {g['game_pk']})"
    )
    if g.get("winner"):
        out.print(
            f"W: {g['winner']}  L: {_v(g.get('loser'))}" + (f"  SV: {g['save']}" if g.get("save") else "")
        )
    out.print(_linescore(detail))
    for side, name in (("away", g["away"]), ("home", g["home"])):
        out.print(_batting(name, [b for b in detail["batters"] if b["side"] == side]))
        out.print(_pitching(name, [p for p in detail["pitchers"] if p["side"] == side]))
    for r in detail.get("revisions") or []:
        fields = ", ".join(
            f"{c['field']} {_v(c['old'])} -> {_v(c['new'])}"
            if not c["field"].startswith("runners")
            else c["field"]
            for c in r["changes"]
        )
        out.print(
            f"correction: play #{r['at_bat_index']} ({_v(r['half_inning'])} {_v(r['inning'])}) revision"
            f" {r['revision']} at {r['timecode']}, {r['kind']}: {fields}"
        )
    q = detail.get("quality")
    if q is None:
        out.print("data quality: not checked yet (the game is not final, or not processed yet)")
    else:
        verdict = "matches" if not q["mismatches"] else f"{len(q['mismatches'])} MISMATCHES"
        out.print(
            f"data quality: box derived from the plays {verdict}: {q['matched']}/{q['total']} official values"
        )
        for m in q["mismatches"]:
            out.print(
                f"  {m['team']} {m['name']} {m['group']}.{m['stat']}: "
                f"ours={m['ours']} official={m['official']}"
            )


def _linescore(detail: dict[str, Any]) -> Table:
    g, innings = detail["game"], detail["innings"]
    table = Table(title="line score")
    table.add_column("team")
    for inn in innings:
        table.add_column(str(inn["inning"]), justify="right")
    for col in ("R", "H", "E"):
        table.add_column(col, justify="right", style="bold")
    for side in ("away", "home"):
        runs = [_v(inn.get(f"{side}_runs")) for inn in innings]
        hits = (
            sum(inn.get(f"{side}_hits") or 0 for inn in innings)
            if innings and f"{side}_hits" in innings[0]
            else ""
        )
        errors = sum(inn.get(f"{side}_errors") or 0 for inn in innings) if hits != "" else ""
        table.add_row(g[side], *runs, _v(g[f"{side}_score"]), str(hits), str(errors))
    return table


def _batting(team: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{team} batting")
    for col in ("batter", "pos", "AB", "R", "H", "HR", "RBI", "BB", "K"):
        table.add_column(col, justify="left" if col in ("batter", "pos") else "right")
    for b in rows:
        sub = b["batting_order"] and not str(b["batting_order"]).endswith("00")
        name = ("  " if sub else "") + _v(b["name"])
        table.add_row(
            name, _v(b["position"]), _v(b["at_bats"]), _v(b["runs"]), _v(b["hits"]), _v(b["home_runs"]),
            _v(b["rbi"]), _v(b["base_on_balls"]), _v(b["strike_outs"]),
        )  # fmt: skip
    return table


def _pitching(team: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{team} pitching")
    for col in ("pitcher", "IP", "H", "R", "ER", "BB", "K", "NP", "note"):
        table.add_column(col, justify="left" if col in ("pitcher", "note") else "right")
    for p in rows:
        table.add_row(
            _v(p["name"]), _v(p["innings_pitched"]), _v(p["hits_allowed"]), _v(p["runs_allowed"]),
            _v(p["earned_runs"]), _v(p["walks_allowed"]), _v(p["strikeouts_pitched"]),
            _v(p["pitches_thrown"]), _v((p["pitching"] or {}).get("note")),
        )  # fmt: skip
    return table
