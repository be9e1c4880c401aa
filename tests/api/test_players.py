"""/v1/players on the replayed database (717055 SD @ SEA 2023, 747175 TOR @ AZ 2024), checked against
MLB's official numbers in the recorded final feeds (``tests/api/readside.py``): never typed in."""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.api.conftest import Api, Replayed, serve_api
from tests.api.readside import (
    BATTING,
    PITCHING,
    UNLIMITED,
    assert_error,
    feed,
    official_lines,
    ours,
    theirs,
    walk,
)


@pytest.fixture
async def api(replayed: Replayed, admin_key: str | None) -> AsyncIterator[Api]:
    async with serve_api(replayed, admin_key, api_rate_tiers=UNLIMITED) as served:
        yield served


def _people() -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for pk in (717055, 747175):
        for p in feed(pk)["gameData"]["players"].values():
            out[int(p["id"])] = p
    return out


def _plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()


async def test_search_is_accent_and_case_insensitive(api: Api) -> None:
    people = _people()
    accented = [p for p in people.values() if _plain(p["fullName"]) != p["fullName"].lower()]
    assert accented, "the recorded games have players with accented names"
    for person in accented:
        last = person["lastName"]
        for q in (_plain(last), last.upper(), last):
            r = await api.http.get("/v1/players", params={"q": q, "limit": 100})
            assert r.status_code == 200, r.text
            ids = [p["id"] for p in r.json()["items"]]
            assert person["id"] in ids, (q, ids)
            # every hit contains the query, accents aside
            assert all(_plain(q) in _plain(p["full_name"]) for p in r.json()["items"])


async def test_exact_full_name_comes_first(api: Api) -> None:
    # "Suarez" matches Robert Suarez (SD, 717055) and Eugenio Suárez (AZ, 747175)
    r = await api.http.get("/v1/players", params={"q": "eugenio suarez"})
    assert [p["full_name"] for p in r.json()["items"]][:1] == ["Eugenio Suárez"]
    r = await api.http.get("/v1/players", params={"q": "suarez"})
    names = {p["full_name"] for p in r.json()["items"]}
    assert {"Eugenio Suárez", "Robert Suarez"} <= names


async def test_paging_through_every_player_gives_each_once_by_name(api: Api) -> None:
    items = await walk(api.http, "/v1/players", limit=7)
    ids = [p["id"] for p in items]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(_people())
    names = [_plain(p["full_name"]) for p in items]
    assert names == sorted(names)  # by name, accents aside, whatever the database's collation


async def test_profile_is_the_feeds_person(api: Api) -> None:
    people = _people()
    for pid in (663728, 553993, 684320):  # Cal Raleigh, Eugenio Suárez, Yariel Rodríguez
        r = await api.http.get(f"/v1/players/{pid}")
        assert r.status_code == 200, r.text
        got, want = r.json(), people[pid]
        assert got["full_name"] == want["fullName"]
        assert got["primary_number"] == want["primaryNumber"]
        assert got["birth_date"] == want["birthDate"]
        assert got["height"] == want["height"]
        assert got["weight"] == want["weight"]
        assert got["bats"] == want["batSide"]["code"] and got["throws"] == want["pitchHand"]["code"]
        assert got["primary_position"] == want["primaryPosition"]["abbreviation"]
        assert got["ids"]["mlbam"] == str(pid)


async def test_game_logs_equal_the_official_box_lines(api: Api) -> None:
    checked = 0
    for pk in (717055, 747175):
        f = feed(pk)
        teams = f["gameData"]["teams"]
        date = f["gameData"]["datetime"]["officialDate"]
        for side, pid, stats in official_lines(pk):
            r = await api.http.get(f"/v1/players/{pid}/games", params={"season": int(date[:4])})
            assert r.status_code == 200, r.text
            (line,) = [g for g in r.json()["items"] if g["game_pk"] == pk]
            assert line["official_date"] == date and line["side"] == side
            assert line["team_id"] == teams[side]["id"]
            assert line["opponent_team_id"] == teams["home" if side == "away" else "away"]["id"]
            if stats.get("batting"):
                assert ours(line["batting"], BATTING) == theirs(stats["batting"], BATTING), (pk, pid)
            else:
                assert line["batting"] is None
            if stats.get("pitching"):
                assert ours(line["pitching"], PITCHING) == theirs(stats["pitching"], PITCHING), (pk, pid)
            else:
                assert line["pitching"] is None
            checked += 1
    assert checked >= 50


async def test_game_log_result_and_filters(api: Api) -> None:
    # Cal Raleigh homered for SEA in a 6-1 win over SD; he did not pitch
    r = await api.http.get("/v1/players/663728/games")
    (game,) = r.json()["items"]
    linescore = feed(717055)["liveData"]["linescore"]["teams"]
    assert (game["team_score"], game["opponent_score"]) == (
        linescore["home"]["runs"],
        linescore["away"]["runs"],
    )
    assert game["result"] == "W" and game["team"] == "SEA" and game["opponent"] == "SD"
    for params in ({"group": "pitching"}, {"season": 2024}, {"game_type": "P"}):
        r = await api.http.get("/v1/players/663728/games", params=params)
        assert r.json()["items"] == [], params


async def test_season_line_of_a_pitcher(api: Api) -> None:
    # Yariel Rodríguez started 747175 for TOR: his 2024 season with us is that game
    official = next(s for _, pid, s in official_lines(747175) if pid == 684320)["pitching"]
    r = await api.http.get("/v1/players/684320/season", params={"season": 2024})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "statsapi" and body["teams"] == ["141"]
    c = body["pitching"]["counting"]
    assert (c["outs"], c["so"], c["bb"], c["h"], c["er"], c["bf"]) == (
        official["outs"], official["strikeOuts"], official["baseOnBalls"], official["hits"],
        official["earnedRuns"], official["battersFaced"],
    )  # fmt: skip
    assert body["pitching"]["rates"]["ERA"] == round(9 * official["earnedRuns"] / (official["outs"] / 3), 4)
    assert body["pitching"]["qualified"] is True  # 4 IP >= 1 IP per team game (1 game)
    assert set(body["splits"]) == {"pitching"}
    hand = body["splits"]["pitching"]["hand"]
    assert sum(s["counting"]["pa"] for s in hand.values()) == official["battersFaced"]
    r = await api.http.get("/v1/players/684320/season", params={"season": 2024, "group": "batting"})
    assert r.json()["pitching"] is None and r.json()["batting"] is None
    # without a season: his latest
    r = await api.http.get("/v1/players/684320/season")
    assert r.json()["season"] == 2024


async def test_season_line_of_a_batter_and_career(api: Api) -> None:
    official = next(s for _, pid, s in official_lines(717055) if pid == 663728)["batting"]
    r = await api.http.get("/v1/players/663728/season", params={"season": 2023, "group": "batting"})
    b = r.json()["batting"]
    assert (b["counting"]["ab"], b["counting"]["h"], b["counting"]["hr"], b["counting"]["rbi"]) == (
        official["atBats"], official["hits"], official["homeRuns"], official["rbi"],
    )  # fmt: skip
    assert b["rates"]["AVG"] == round(official["hits"] / official["atBats"], 4)
    r = await api.http.get("/v1/players/663728/career")
    career = r.json()
    assert career["seasons"] == [2023] and career["sources"] == ["statsapi"]
    assert career["batting"]["counting"]["hr"] == official["homeRuns"]


async def test_errors_have_the_standard_body(api: Api) -> None:
    assert_error(await api.http.get("/v1/players/1"), 404, "not_found")
    assert_error(await api.http.get("/v1/players/1/games"), 404, "not_found")
    assert_error(await api.http.get("/v1/players/663728/season", params={"season": 1200}), 422,
                 "invalid_parameters")  # fmt: skip
    assert_error(await api.http.get("/v1/players/663728/season", params={"group": "fielding"}), 422,
                 "invalid_parameters")  # fmt: skip
    assert_error(await api.http.get("/v1/players", params={"cursor": "not-a-cursor"}), 400, "invalid_cursor")
    assert_error(await api.http.get("/v1/players/abc"), 422, "invalid_parameters")
    # a season he did not play: an empty line, not an error
    r = await api.http.get("/v1/players/663728/season", params={"season": 2019})
    assert r.status_code == 200 and r.json()["batting"] is None
