"""Lahman 2024 with the 2024 Guts constants and park factors: internal consistency of wOBA, wRAA,
wRC+ and FIP (FanGraphs' published player values are not available to these tests), the official
qualifiers, team totals against MLB's recorded team stats, and the crosswalk."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from sts.services.season_queries import (
    batting_season,
    context,
    leaders,
    pitching_season,
    player_season,
    resolve_player,
    team_season,
)  # fmt: skip
from sts.stats import formulas as f
from sts.stats.season import batting_pa, is_pitcher, pitching_rates

TEAM_STATS = {"runs": "r", "hits": "h", "homeRuns": "hr", "baseOnBalls": "bb", "strikeOuts": "so",
              "atBats": "ab", "stolenBases": "sb"}  # fmt: skip


async def _players(conn: psycopg.AsyncConnection[Any], table: str) -> dict[str, list[dict[str, Any]]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT * FROM {table} WHERE source = 'lahman' AND season = 2024")
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in await cur.fetchall():
        out[r["player_key"]].append(r)
    return out


@pytest.fixture(scope="module")
async def seasons(lahman_2024: dict[str, Any]) -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(lahman_2024["url"]) as conn:
        ctx = await context(conn, "lahman", 2024)
        bat, pit = await _players(conn, "season_batting"), await _players(conn, "season_pitching")
    games = {k: (sum(r["g"] for r in bat.get(k, [])), sum(r["g"] for r in pit.get(k, [])))
             for k in set(bat) | set(pit)}  # fmt: skip
    return {"ctx": ctx, "bat": bat, "pit": pit, "games": games}


def test_import_report(lahman_2024: dict[str, Any]) -> None:
    report = lahman_2024["report"]
    assert lahman_2024["reference_added"][0] > 150  # one version per Guts season, 1871-2025
    assert report.batting > 1500 and report.pitching > 800 and report.teams == 30
    # the register extract is partial: some 2024 players have no MLBAM id, they are kept and counted
    assert 0 < len(report.unmatched) < report.players / 3


async def test_nobody_dropped(lahman_2024: dict[str, Any]) -> None:
    async with await psycopg.AsyncConnection.connect(lahman_2024["url"]) as conn:
        cur = await conn.execute(
            "SELECT count(DISTINCT player_key) FILTER (WHERE p.lahman IS NULL),"
            " count(DISTINCT player_key) FILTER (WHERE p.unmatched) FROM season_batting b"
            " LEFT JOIN player_ids p ON p.lahman = b.player_key WHERE b.source = 'lahman'"
        )
        missing, unmatched = await cur.fetchone() or (None, None)
    assert missing == 0  # every Lahman batter has a crosswalk row
    assert unmatched == len(set(lahman_2024["report"].unmatched) & await _batters(lahman_2024["url"]))


async def _batters(url: str) -> set[str]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT DISTINCT player_key FROM season_batting WHERE source = 'lahman'")
        return {r[0] for r in await cur.fetchall()}


def test_league_woba_equals_guts(seasons: dict[str, Any]) -> None:
    """wOBA of the whole league (non-pitchers) = Guts lgwOBA .310 to 3 decimals."""
    c = seasons["ctx"].constants
    lines = [r for k, rows in seasons["bat"].items() if not is_pitcher(*seasons["games"][k]) for r in rows]
    t = {s: sum(r[s] or 0 for r in lines) for s in ("ab", "h", "doubles", "triples", "hr", "bb", "ibb",
                                                    "hbp", "sf", "r")}  # fmt: skip
    lg = f.woba(c, **{k: t[k] for k in t if k != "r"})
    assert lg is not None and round(lg, 3) == c.woba
    pa = sum(batting_pa(r) for r in lines)
    assert round(t["r"] / pa, 3) == c.r_pa


def test_wraa_sums_to_zero_and_wrc_plus_averages_100(seasons: dict[str, Any]) -> None:
    ctx = seasons["ctx"]
    total_wraa = total_pa = weighted_plus = 0.0
    for key, rows in seasons["bat"].items():
        if is_pitcher(*seasons["games"][key]):
            continue
        s = batting_season(rows, ctx)
        pa = s["counting"]["pa"]
        if pa:
            total_wraa += s["rates"]["wRAA"]
            total_pa += pa
            weighted_plus += s["rates"]["wRC+"] * pa
    # wRAA is scaled by PA, not by the wOBA denominator, so the league sum is near 0, not exactly 0
    assert abs(total_wraa) < 0.002 * total_pa / 10  # under 0.02 runs per 100 PA
    assert abs(weighted_plus / total_pa - 100) < 1.0


def test_league_fip_equals_league_era(seasons: dict[str, Any]) -> None:
    c = seasons["ctx"].constants
    total = {s: sum(r[s] or 0 for rows in seasons["pit"].values() for r in rows)
             for s in ("er", "outs", "hr", "bb", "hbp", "so", "h", "r", "bf", "sh", "sf")}  # fmt: skip
    rates = pitching_rates(total, c)
    assert abs(rates["FIP"] - rates["ERA"]) < 0.01


async def test_qualifiers_and_leaders(lahman_2024: dict[str, Any], seasons: dict[str, Any]) -> None:
    ctx = seasons["ctx"]
    quals = [batting_season(rows, ctx) for rows in seasons["bat"].values()]
    assert all((s["counting"]["pa"] >= 502) == s["qualified"] for s in quals)
    pq = [pitching_season(rows, ctx) for rows in seasons["pit"].values()]
    assert all((s["counting"]["outs"] >= 486) == s["qualified"] for s in pq)
    async with await psycopg.AsyncConnection.connect(lahman_2024["url"]) as conn:
        avg = await leaders(conn, "AVG", 2024, limit=1)
        era = await leaders(conn, "era", 2024, limit=1)
        plus = await leaders(conn, "wRC+", 2024, limit=1)
    # MLB's official 2024 leaders: Bobby Witt Jr. .332, Chris Sale 2.38 ERA
    assert (avg["leaders"][0]["player_key"], round(avg["leaders"][0]["value"], 3)) == ("wittbo02", 0.332)
    assert (era["leaders"][0]["player_key"], round(era["leaders"][0]["value"], 2)) == ("salech01", 2.38)
    assert avg["qualifier"] == "502 PA" and era["qualifier"] == "162 IP"
    assert plus["leaders"][0]["player_key"] == "judgeaa01"


async def test_team_totals_equal_statsapi(lahman_2024: dict[str, Any], shared_data: Path) -> None:
    doc = json.loads((shared_data / "statsapi/recorded/teams_stats_hitting_2024.stub.json").read_text())
    splits = doc["response"]["stats"][0]["splits"]
    async with await psycopg.AsyncConnection.connect(lahman_2024["url"]) as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT team, team_name, batting FROM season_teams WHERE source = 'lahman' AND season = 2024"
        )
        teams = await cur.fetchall()
        lahman = {r["team_name"]: r["batting"] for r in teams}
        codes = {r["team_name"]: r["team"] for r in teams}
        await cur.execute(
            "SELECT team, sum(r) AS r, sum(h) AS h, sum(hr) AS hr, sum(bb) AS bb, sum(so) AS so,"
            " sum(ab) AS ab, sum(sb) AS sb FROM season_batting WHERE source = 'lahman' AND season = 2024"
            " GROUP BY team"
        )
        players = {r["team"]: r for r in await cur.fetchall()}
    assert len(splits) == 30
    for split in splits:
        name = split["team"]["name"]
        lname = next(n for n in lahman if n == name or n.startswith(name))
        for mlb, short in TEAM_STATS.items():
            assert lahman[lname][short] == split["stat"][mlb], (name, mlb)
            assert players[codes[lname]][short] == split["stat"][mlb], (name, mlb, "sum of players")


async def test_player_lookup(lahman_2024: dict[str, Any]) -> None:
    async with await psycopg.AsyncConnection.connect(lahman_2024["url"]) as conn:
        by_name = await resolve_player(conn, "Aaron Judge")
        by_lahman = await resolve_player(conn, "judgeaa01")
        by_mlbam = await resolve_player(conn, "592450")
        assert by_name[0]["lahman"] == by_lahman[0]["lahman"] == by_mlbam[0]["lahman"] == "judgeaa01"
        season = await player_season(conn, by_mlbam[0], 2024)
        team = await team_season(conn, "NYA", 2024)
    assert season["source"] == "lahman" and season["teams"] == ["NYA"]
    assert season["batting"]["counting"]["hr"] == 58 and season["batting"]["qualified"]
    assert season["batting"]["park_factor"] == pytest.approx(1.0, abs=0.1)
    assert team is not None and team["w"] == 94 and team["batting"]["rates"]["wRC+"] is not None
