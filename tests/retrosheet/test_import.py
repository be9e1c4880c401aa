"""``sts retrosheet import``: Retrosheet games through ``on_game_final`` into the season tables (source
``retrosheet``), checked against the season code path, Lahman's Teams table, a second import and the
read side; and a statsapi feed of the same game never mixing with them."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

import sts.cli.retrosheet
import sts.cli.stats  # noqa: F401  (both register their commands)
from sts.cli import app
from sts.retrosheet import files
from sts.retrosheet.crosswalk import Crosswalk
from sts.retrosheet.events import Game
from sts.retrosheet.season_import import import_season
from sts.services.retrosheet_import import game_id, game_key, import_games, parse_teams
from sts.services.season_queries import player_season, resolve_player
from sts.services.season_stats import on_game_final
from sts.stats.feed import unwrap

runner = CliRunner()
FILES = (
    "2020NYA.EVA",
    "2020BOS.EVA",
    "2020TBA.EVA",
)  # home games: 90 games of 10 teams
TABLES = ("derived_box_lines", "season_batting", "season_pitching", "season_fielding", "season_teams",
          "player_ids", "box_quality", "derived_pa")  # fmt: skip
#: season_teams jsonb name -> (season-code-path column)
BATTING = {
    "r": "R",
    "h": "H",
    "doubles": "2B",
    "triples": "3B",
    "hr": "HR",
    "bb": "BB",
    "so": "SO",
    "sb": "SB",
}


def test_game_key_is_negative_stable_and_reversible() -> None:
    key = game_key("NYA202008051")
    assert key < 0 and key == game_key("NYA202008051") and game_id(key) == "NYA202008051"
    assert game_key("NYA202008052") != key and game_id(game_key("SFN202009270")) == "SFN202009270"
    with pytest.raises(ValueError):
        game_key("631220")


def _import(directory: Path, register: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("STS_DATABASE_URL", url)
    result = runner.invoke(
        app, ["retrosheet", "import", str(directory), "--register", str(register), "--json"]
    )
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


async def _checksums(url: str) -> dict[str, str]:
    out = {}
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for table in TABLES:
            cur = await conn.execute(f"SELECT * FROM {table} LIMIT 0")
            cols = [d.name for d in cur.description or [] if d.name not in ("derived_at", "checked_at")]
            cur = await conn.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {', '.join(cols)}")
            out[table] = hashlib.sha256(repr(await cur.fetchall()).encode()).hexdigest()
    return out


async def _team_rows(url: str) -> dict[str, dict[str, Any]]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT team, games, batting, pitching FROM season_teams"
            " WHERE source = 'retrosheet' AND season = 2020"
        )
        teams = {t: {"G": g, **{c: b[k] for k, c in BATTING.items()}, "RA": p["r"]}
                 for t, g, b, p in await cur.fetchall()}  # fmt: skip
        cur = await conn.execute(
            "SELECT team, sum(r), sum(h), sum(hr), sum(bb), sum(so) FROM season_batting"
            " WHERE source = 'retrosheet' AND season = 2020 GROUP BY team"
        )
        for t, *sums in await cur.fetchall():
            teams[t]["player_rows"] = [int(s) for s in sums]
    return teams


def test_import_files_idempotent_and_queryable(
    tmp_path: Path, shared_data: Path, retro_2020: Path, games_2020: list[Game], crosswalk: Crosswalk,
    migrated_pg_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    for name in (*FILES, "TEAM2020"):
        shutil.copy(retro_2020 / name, tmp_path / name)
    register = shared_data / files.REGISTER
    report = _import(tmp_path, register, migrated_pg_url, monkeypatch)
    assert report["games"] == 90 and report["seasons"] == [2020] and report["anomalies"] == []

    # the team totals equal the existing season code path over the same games (every team of them,
    # home and visitors: both are complete for the games imported)
    imported = [g for g in games_2020 if g.home in ("NYA", "BOS", "TBA")]
    expected = import_season(imported, crosswalk).teams
    teams = asyncio.run(_team_rows(migrated_pg_url))
    assert set(teams) == set(expected) and len(teams) == 10
    for code, row in teams.items():
        want = expected[code].totals
        assert row["G"] == expected[code].games
        assert {c: row[c] for c in (*BATTING.values(), "RA")} == {
            c: want[c] for c in (*BATTING.values(), "RA")
        }
        assert row["player_rows"] == [want[c] for c in ("R", "H", "HR", "BB", "SO")]

    # importing again changes no row (derivation timestamps aside)
    before = asyncio.run(_checksums(migrated_pg_url))
    _import(tmp_path, register, migrated_pg_url, monkeypatch)
    assert asyncio.run(_checksums(migrated_pg_url)) == before

    # the read side: a player by Retrosheet id (crosswalk row written by the import)
    result = runner.invoke(app, ["stats", "player", "judga001", "--season", "2020", "--source", "retrosheet",
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    judge = json.loads(result.stdout)
    assert judge["player"]["mlbam"] == 592450 and judge["teams"] == ["NYA"]
    assert judge["batting"]["counting"]["pa"] > 0 and judge["batting"]["rates"]["OPS"] is not None


def test_team_with_every_game_equals_lahman_and_sources_never_mix(
    shared_data: Path, games_2020: list[Game], crosswalk: Crosswalk, migrated_pg_url: str
) -> None:
    """All 60 games of NYA (home and away): its season equals Lahman's Teams row (NYA is not among the
    teams whose Retrosheet and Lahman totals differ, test_season.EXPECTED). Then MLB's feed of one of
    those games (631220 = NYA202008051) goes through the statsapi path: its season rows hold that one
    game, and the retrosheet rows are unchanged."""
    games = [g for g in games_2020 if "NYA" in (g.home, g.visitor)]
    teams = parse_teams(files.read_text(shared_data / "retrosheet" / "2020" / "TEAM2020"))

    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(migrated_pg_url, autocommit=True) as conn:
            result = await import_games(conn, games, crosswalk, teams)
            assert result.games == 60

    asyncio.run(go())
    nya = asyncio.run(_team_rows(migrated_pg_url))["NYA"]
    lahman = next(
        r for r in files.load_lahman_teams(shared_data / files.LAHMAN_TEAMS, 2020) if r.retro_id == "NYA"
    )
    cols = (*BATTING.values(), "RA")
    assert nya["G"] == 60 and {c: nya[c] for c in cols} == {c: lahman.values[c] for c in cols}

    feed = unwrap(json.loads((shared_data / "statsapi/more/feed_live_631220.json").read_text()))
    assert feed is not None
    retro_rows = "SELECT * FROM {} WHERE source = 'retrosheet' ORDER BY 1, 2, 3, 4"

    async def statsapi() -> tuple[list[Any], list[Any], Any, Any, Any]:
        async with await psycopg.AsyncConnection.connect(migrated_pg_url, autocommit=True) as conn:
            tables = (
                "season_batting",
                "season_pitching",
                "season_fielding",
                "season_teams",
                "derived_box_lines",
            )
            before = [await (await conn.execute(retro_rows.format(t))).fetchall() for t in tables]
            await on_game_final(conn, feed)
            after = [await (await conn.execute(retro_rows.format(t))).fetchall() for t in tables]
            person = (await resolve_player(conn, "592450"))[0]
            retro = await player_season(conn, person, 2020, "retrosheet")
            ours = await player_season(conn, person, 2020, "statsapi")
            cur = await conn.execute("SELECT count(*) FROM season_teams WHERE source = 'statsapi'")
            return before, after, retro, ours, await cur.fetchone()

    before, after, retro, ours, n_teams = asyncio.run(statsapi())
    assert before == after  # the statsapi game changed no retrosheet row
    assert n_teams == (2,)  # and its season lines hold that one game only
    assert ours["batting"]["counting"]["g"] == 1 and retro["batting"]["counting"]["g"] > 20


@pytest.mark.slow
def test_whole_season_equals_lahman_teams(
    shared_data: Path, games_2020: list[Game], crosswalk: Crosswalk, migrated_pg_url: str
) -> None:
    """All 898 games (about 100 s): every team's stored season equals Lahman's Teams row in R, H, 2B, 3B,
    HR, BB, SO, SB and runs allowed (the only Teams differences, in E, are test_season.EXPECTED)."""
    teams = parse_teams(files.read_text(shared_data / "retrosheet" / "2020" / "TEAM2020"))

    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(migrated_pg_url) as conn:
            await import_games(conn, games_2020, crosswalk, teams)
            await conn.commit()

    asyncio.run(go())
    stored = asyncio.run(_team_rows(migrated_pg_url))
    lahman = {r.retro_id: r.values for r in files.load_lahman_teams(shared_data / files.LAHMAN_TEAMS, 2020)}
    cols = (*BATTING.values(), "RA")
    assert len(stored) == 30 and sum(row["G"] for row in stored.values()) == 2 * 898  # DET, SLN: 58
    assert {t: {c: row[c] for c in cols} for t, row in stored.items()} == {
        t: {c: v[c] for c in cols} for t, v in lahman.items()
    }
