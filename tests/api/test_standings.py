"""/v1/standings: the ranking rules against MLB's official 2024 final standings (recorded), and the
standings computed from the replayed games against their official final scores.

The replayed database holds one game per season (717055 in 2023, 747175 in 2024), so its standings
cannot be compared with a whole season's; the rules that turn records into standings (percentage,
games back, order, run differential) are checked on the 30 official 2024 records instead.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sts.api.routes.standings import Tally, rank, tally
from tests.api.conftest import Api, Replayed, serve_api
from tests.api.readside import SIDES, UNLIMITED, assert_error, feed


@pytest.fixture
async def api(replayed: Replayed, admin_key: str | None) -> AsyncIterator[Api]:
    async with serve_api(replayed, admin_key, api_rate_tiers=UNLIMITED) as served:
        yield served


def test_ranking_rules_reproduce_mlbs_2024_final_standings(shared_data: Path) -> None:
    official = json.loads((shared_data / "statsapi" / "standings.json").read_text())["records"]
    assert len(official) == 6
    checked = 0
    for division in official:
        records = {t["team"]["id"]: t for t in division["teamRecords"]}
        teams = [Tally(i, w=t["wins"], l=t["losses"], rs=t["runsScored"], ra=t["runsAllowed"])
                 for i, t in records.items()]  # fmt: skip
        ranked = rank(teams)
        pcts = [t.pct for t, _, _ in ranked]
        for t, gb, r in ranked:
            o = records[t.team_id]
            assert f"{t.pct:.3f}".lstrip("0") == o["winningPercentage"]
            assert gb == (0.0 if o["gamesBack"] == "-" else float(o["gamesBack"]))
            assert t.rs - t.ra == o["runDifferential"]
            if pcts.count(t.pct) == 1:  # MLB breaks exact ties by head-to-head games: not modelled
                assert r == int(o["divisionRank"]), t.team_id
            else:
                tied = sorted(int(records[x.team_id]["divisionRank"]) for x, _, _ in ranked if x.pct == t.pct)
                assert r in tied
            checked += 1
    assert checked == 30


def test_streak_and_last_ten_follow_the_games_in_order() -> None:
    games = [{"home_team_id": 1, "away_team_id": 2, "home_score": s, "away_score": 3} for s in
             (4, 5, 1, 2, 3, 6, 7, 8, 0, 9, 10, 11)]  # fmt: skip
    t = tally(games)
    home, away = t[1], t[2]
    # home: W W L L T W W W L W W W
    assert (home.w, home.l, home.ties) == (8, 3, 1) and home.streak() == "W3"
    assert home.last_ten() == {"w": 7, "l": 3}  # the last ten decided games
    assert (away.w, away.l) == (3, 8) and away.streak() == "L3"
    assert (home.home, away.away) == ([8, 3], [3, 8])


async def test_standings_from_the_replayed_games(api: Api) -> None:
    for pk in (717055, 747175):
        f = feed(pk)
        season = int(f["gameData"]["game"]["season"])
        r = await api.http.get("/v1/standings", params={"season": season})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["games"] == 1 and body["game_type"] == "R"
        rows = {t["team_id"]: (d, t) for d in body["divisions"] for t in d["teams"]}
        line = f["liveData"]["linescore"]["teams"]
        for side in SIDES:
            team = f["gameData"]["teams"][side]
            other = "home" if side == "away" else "away"
            division, row = rows[team["id"]]
            assert division["division_id"] == team["division"]["id"]
            assert division["league_id"] == team["league"]["id"]
            won = line[side]["runs"] > line[other]["runs"]
            assert (row["w"], row["l"], row["pct"]) == (int(won), int(not won), 1.0 if won else 0.0)
            assert (row["runs_scored"], row["runs_allowed"]) == (line[side]["runs"], line[other]["runs"])
            assert row["run_differential"] == line[side]["runs"] - line[other]["runs"]
            assert row["streak"] == ("W1" if won else "L1")
            assert row["last_ten"] == {"w": int(won), "l": int(not won)}
            assert row[side] == {"w": int(won), "l": int(not won)}
            assert row["games_back"] == 0.0 and row["division_rank"] == 1
        date = f["gameData"]["datetime"]["officialDate"]
        r = await api.http.get("/v1/standings", params={"season": season, "date": date})
        assert r.json()["games"] == 1
        day_before = f"{date[:8]}{int(date[8:]) - 1:02d}"
        r = await api.http.get("/v1/standings", params={"season": season, "date": day_before})
        assert r.json()["games"] == 0 and r.json()["divisions"] == []
    r = await api.http.get("/v1/standings", params={"season": 2024, "game_type": "P"})
    assert r.json()["divisions"] == []
    r = await api.http.get("/v1/standings")
    assert r.json()["season"] == 2024


async def test_standings_errors(api: Api) -> None:
    assert_error(await api.http.get("/v1/standings", params={"date": "yesterday"}), 422, "invalid_parameters")
    assert_error(await api.http.get("/v1/standings", params={"season": 1700}), 422, "invalid_parameters")
