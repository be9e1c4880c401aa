"""/v1/teams on the replayed database, checked against the recorded final feeds (teams, official box
score: who appeared, team totals)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.api.conftest import Api, Replayed, serve_api
from tests.api.readside import SIDES, UNLIMITED, assert_error, feed, walk

GAMES = (717055, 747175)


@pytest.fixture
async def api(replayed: Replayed, admin_key: str | None) -> AsyncIterator[Api]:
    async with serve_api(replayed, admin_key, api_rate_tiers=UNLIMITED) as served:
        yield served


def _feed_teams() -> dict[int, dict]:
    return {t["id"]: t for pk in GAMES for t in feed(pk)["gameData"]["teams"].values()}


async def test_teams_are_the_feeds_teams(api: Api) -> None:
    want = _feed_teams()
    items = await walk(api.http, "/v1/teams", limit=1)
    assert [t["id"] for t in items] == sorted(want)
    for t in items:
        w = want[t["id"]]
        assert (t["name"], t["abbreviation"]) == (w["name"], w["abbreviation"])
        assert (t["league_id"], t["division_id"]) == (w["league"]["id"], w["division"]["id"])
    r = await api.http.get("/v1/teams/141")
    assert r.json()["name"] == "Toronto Blue Jays" and r.json()["division_name"] == "American League East"
    # filters
    r = await api.http.get("/v1/teams", params={"league_id": 103})
    assert {t["id"] for t in r.json()["items"]} == {k for k, v in want.items() if v["league"]["id"] == 103}
    r = await api.http.get("/v1/teams", params={"division_id": 203})
    assert {t["id"] for t in r.json()["items"]} == {109, 135}


async def test_roster_is_who_appeared_in_the_official_box(api: Api) -> None:
    for pk in GAMES:
        f = feed(pk)
        season = int(f["gameData"]["game"]["season"])
        for side in SIDES:
            box = f["liveData"]["boxscore"]["teams"][side]
            team_id = box["team"]["id"]
            r = await api.http.get(f"/v1/teams/{team_id}/roster", params={"season": season})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["games"] == 1 and body["season"] == season
            players = {p["id"]: p for p in body["players"]}
            assert set(players) == set(box["batters"]) | set(box["pitchers"]), (pk, side)
            assert {p for p, v in players.items() if v["games_pitching"]} == set(box["pitchers"])
            starters = [p for p, v in players.items() if v["games_started_pitching"]]
            assert starters == [box["pitchers"][0]]
    # the team's latest season by default
    r = await api.http.get("/v1/teams/141/roster")
    assert r.json()["season"] == 2024


async def test_team_season_totals_are_the_official_team_stats(api: Api) -> None:
    for pk in GAMES:
        f = feed(pk)
        season = int(f["gameData"]["game"]["season"])
        line = f["liveData"]["linescore"]["teams"]
        for side in SIDES:
            box = f["liveData"]["boxscore"]["teams"][side]
            r = await api.http.get(f"/v1/teams/{box['team']['id']}/season", params={"season": season})
            assert r.status_code == 200, r.text
            body = r.json()
            other = "home" if side == "away" else "away"
            won = line[side]["runs"] > line[other]["runs"]
            assert (body["w"], body["l"], body["games"]) == (int(won), int(not won), 1)
            bat, pit = body["batting"]["counting"], body["pitching"]["counting"]
            official_bat, official_pit = box["teamStats"]["batting"], box["teamStats"]["pitching"]
            assert (bat["r"], bat["h"], bat["hr"], bat["bb"], bat["so"], bat["ab"]) == (
                official_bat["runs"], official_bat["hits"], official_bat["homeRuns"],
                official_bat["baseOnBalls"], official_bat["strikeOuts"], official_bat["atBats"],
            )  # fmt: skip
            assert (pit["so"], pit["bb"], pit["h"], pit["er"], pit["outs"]) == (
                official_pit["strikeOuts"], official_pit["baseOnBalls"], official_pit["hits"],
                official_pit["earnedRuns"], official_pit["outs"],
            )  # fmt: skip
            assert body["batting"]["rates"]["AVG"] == round(official_bat["hits"] / official_bat["atBats"], 4)


async def test_team_errors(api: Api) -> None:
    assert_error(await api.http.get("/v1/teams/1"), 404, "not_found")
    assert_error(await api.http.get("/v1/teams/1/roster"), 404, "not_found")
    assert_error(await api.http.get("/v1/teams/141/season", params={"season": 1990}), 404, "not_found")
    assert_error(
        await api.http.get("/v1/teams/141/season", params={"source": "x"}), 422, "invalid_parameters"
    )
    assert_error(await api.http.get("/v1/teams", params={"cursor": "%%%"}), 400, "invalid_cursor")
