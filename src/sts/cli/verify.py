"""``sts verify boxscore``: derive each game's box from its plays and compare it with MLB's official box.

Exit code 0 only when every compared value matches in every game; 1 when any value differs or a
file holds no final feed; 2 on unreadable input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from sts.cli import app
from sts.stats import compare_box
from sts.stats.compare import GameReport, Mismatch
from sts.stats.feed import is_final, unwrap

verify_app = typer.Typer(no_args_is_help=True, help="Check derived statistics against MLB's official ones.")
app.add_typer(verify_app, name="verify")


def _feed_files(paths: list[Path]) -> Iterator[tuple[Path, bool]]:
    """Files to check, with ``True`` when named explicitly (an explicit non-final feed is an error;
    in a directory, non-final feeds and other documents are skipped)."""
    for path in paths:
        if path.is_dir():
            for file in sorted(path.rglob("*.json")):
                yield file, False
        else:
            yield path, True


def _load(path: Path) -> Any:
    with path.open("rb") as fh:
        return json.load(fh)


def _line(m: Mismatch) -> str:
    who = f"{m.name} ({m.person_id})" if m.person_id is not None else m.name
    where = f"{m.team} ({m.side})"
    return f"  {where:<11} {m.scope:<9} {who:<36} {m.group}.{m.stat}: ours={m.ours!r} official={m.official!r}"


@verify_app.command("boxscore")
def boxscore(
    feeds: Annotated[list[Path], typer.Argument(help="Live-feed JSON files or directories (recursive).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable report.")] = False,
) -> None:
    """Derive every final game's box score from its play-by-play and compare it value by value."""
    reports: list[tuple[Path, GameReport]] = []
    problems: list[dict[str, str]] = []
    for path, explicit in _feed_files(feeds):
        try:
            feed = unwrap(_load(path))
        except (OSError, ValueError) as exc:
            if explicit:
                typer.echo(f"{path}: cannot read: {exc}", err=True)
                raise typer.Exit(2) from exc
            continue
        if feed is None or not is_final(feed):
            if explicit:
                problems.append({"file": str(path), "problem": "not a final live feed"})
            continue
        reports.append((path, compare_box(feed)))
    ok = bool(reports) and not problems and all(r.ok for _, r in reports)
    if as_json:
        body = {
            "ok": ok,
            "games": [{"file": str(p), **r.to_dict()} for p, r in reports],
            "problems": problems,
        }
        typer.echo(json.dumps(body, indent=2, default=str))
    else:
        _print_text(reports, problems)
    raise typer.Exit(0 if ok else 1)


def _print_text(reports: list[tuple[Path, GameReport]], problems: list[dict[str, str]]) -> None:
    matched = total = 0
    for path, report in reports:
        matched += report.matched
        total += report.total
        status = "OK " if report.ok else "BAD"
        typer.echo(f"{status} {report.game_pk}  {report.matched}/{report.total} values match  ({path})")
        for m in report.mismatches:
            typer.echo(_line(m))
        if report.inconsistent:
            typer.echo(
                f"  not compared: {len(report.inconsistent)} official team totals that contradict the"
                " official player lines they should sum (ours equals the player sum):"
            )
            for m in report.inconsistent:
                typer.echo(_line(m))
        if report.undetermined:
            typer.echo(
                f"  not derivable from the plays: {len(report.undetermined)} official values (a starting"
                " fielder with no fielding play is indistinguishable from the DH; see sts.stats.compare):"
            )
            for m in report.undetermined:
                typer.echo(_line(m))
    for problem in problems:
        typer.echo(f"ERR {problem['file']}: {problem['problem']}")
    games_ok = sum(1 for _, r in reports if r.ok)
    typer.echo(f"{games_ok}/{len(reports)} games match; {matched}/{total} values match")
    typer.echo(
        "(compared: every per-game integer of each player's batting/pitching/fielding line, teamStats and"
        " the linescore, plus inningsPitched from outs; not compared: seasonStats and the string rate"
        " fields such as avg/obp/era/whip, which are season-to-date — see sts.stats.compare)"
    )
