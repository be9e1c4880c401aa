"""The games routes on the replayed database, checked against MLB's own numbers in the recorded feeds.

The replayed games are 717055 (SD @ SEA, 2023-08-09) and 747175 (TOR @ AZ, 2024-07-12, a walk-off);
the expected values are read from the recorded final feeds (and, for 747175, the separately recorded
``/boxscore`` and ``/linescore`` answers), never typed in.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Api

SIDES = ("away", "home")


def _load(path: Path) -> dict[str, Any]:
    doc = json.loads(path.read_text())
    return doc.get("response", doc) if "response" in doc and "url" in doc else doc


def final_feed(shared_data: Path, pk: int) -> dict[str, Any]:
    for path in (
        shared_data / "statsapi" / f"feed_live_{pk}.json",
        shared_data / "statsapi" / "recorded" / f"feed_live_{pk}.stub.json",
    ):
        if path.is_file():
            return _load(path)
    raise AssertionError(f"no recorded final feed of {pk}")


@pytest.fixture(scope="module")
def feeds(shared_data: Path) -> dict[int, dict[str, Any]]:
    return {pk: final_feed(shared_data, pk) for pk in (717055, 747175)}


async def walk(api: Api, path: str, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paged list, following next_cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(10_000):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        r = await api.http.get(path, params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= limit
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
        assert body["items"], "a page with a next cursor is never empty"
    raise AssertionError("the cursor never ended")


def pitches_of(feed: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (play, ev)
        for play in feed["liveData"]["plays"]["allPlays"]
        for ev in play.get("playEvents", [])
        if ev.get("isPitch")
    ]


async def test_game_summary(api: Api, feeds: dict[int, dict[str, Any]]) -> None:
    for pk, feed in feeds.items():
        r = await api.http.get(f"/v1/games/{pk}")
        assert r.status_code == 200, r.text
        g = r.json()
        gd, ls = feed["gameData"], feed["liveData"]["linescore"]
        assert g["game_pk"] == pk
        assert g["official_date"] == gd["datetime"]["officialDate"]
        assert g["status"]["abstract_state"] == "Final" and g["is_final"]
        assert g["venue"] == {"id": gd["venue"]["id"], "name": gd["venue"]["name"]}
        for side in SIDES:
            assert g[side]["id"] == gd["teams"][side]["id"]
            assert g[side]["abbreviation"] == gd["teams"][side]["abbreviation"]
            assert g[side]["score"] == ls["teams"][side]["runs"]
        assert g["innings_played"] == len(ls["innings"])
        decisions = feed["liveData"].get("decisions", {})
        for role in ("winner", "loser", "save"):
            want = decisions.get(role, {}).get("id")
            assert (g["decisions"][role] or {}).get("id") == want, role
        assert g["linescore"] == (await api.http.get(f"/v1/games/{pk}/linescore")).json()


async def test_linescore_is_the_official_one(
    api: Api, feeds: dict[int, dict[str, Any]], shared_data: Path
) -> None:
    recorded = _load(shared_data / "statsapi" / "recorded" / "linescore_747175.stub.json")
    for pk, feed in feeds.items():
        body = (await api.http.get(f"/v1/games/{pk}/linescore")).json()
        official = [feed["liveData"]["linescore"]]
        if pk == 747175:
            official.append(recorded)
        for ls in official:
            assert body["source"] == "official"
            assert [i["inning"] for i in body["innings"]] == [i["num"] for i in ls["innings"]]
            for mine, theirs in zip(body["innings"], ls["innings"], strict=True):
                for side in SIDES:
                    for ours, mlb in (("runs", "runs"), ("hits", "hits"), ("errors", "errors")):
                        # a bottom half not played has no runs in MLB's line score (None in ours)
                        assert mine[side][ours] == theirs[side].get(mlb), (pk, mine["inning"], side, ours)
            for side in SIDES:
                t = ls["teams"][side]
                total = body["totals"][side]
                assert (total["runs"], total["hits"], total["errors"]) == (t["runs"], t["hits"], t["errors"])
                assert total["left_on_base"] == t["leftOnBase"]


async def test_boxscore_is_derived_and_checked_against_the_official_box(
    api: Api, feeds: dict[int, dict[str, Any]], shared_data: Path
) -> None:
    recorded = _load(shared_data / "statsapi" / "recorded" / "boxscore_747175.stub.json")
    for pk, feed in feeds.items():
        r = await api.http.get(f"/v1/games/{pk}/boxscore")
        assert r.status_code == 200, r.text
        box = r.json()
        assert box["derived"] and box["state"] == "Final"
        q = box["quality"]
        assert q["total"] > 0 and q["matched"] <= q["total"]
        assert q["status"] == ("agree" if not q["mismatches"] else "mismatch")
        assert q["matched"] + len(q["mismatches"]) == q["total"]
        differs = {(m["person_id"], m["group"], m["stat"]) for m in q["mismatches"]}
        officials = [feed["liveData"]["boxscore"]]
        if pk == 747175:
            officials.append(recorded)
        compared = 0
        for official in officials:
            for side in SIDES:
                team = box[side]
                assert team["team"]["id"] == feed["gameData"]["teams"][side]["id"]
                ours = {p["person_id"]: p for p in team["players"]}
                for entry in official["teams"][side]["players"].values():
                    pid = entry["person"]["id"]
                    for group in ("batting", "pitching"):
                        stats = entry["stats"].get(group) or {}
                        for stat in (
                            "atBats",
                            "hits",
                            "runs",
                            "homeRuns",
                            "rbi",
                            "baseOnBalls",
                            "strikeOuts",
                        ):
                            if stat not in stats or (pid, group, stat) in differs:
                                continue
                            mine = ours[pid][group].get(stat, 0)  # a derived line leaves out its zeros
                            assert mine == stats[stat], (pk, pid, group, stat)
                            compared += 1
                # team totals are the sums of our lines, and agree with MLB's teamStats
                batting = Counter[str]()
                for p in team["players"]:
                    batting.update(p["batting"])
                assert team["totals"]["batting"] == dict(batting)
                official_team = official["teams"][side]["teamStats"]["batting"]
                for stat in ("hits", "runs", "homeRuns", "strikeOuts"):
                    if not any(m["scope"] == "team" and m["stat"] == stat for m in q["mismatches"]):
                        assert team["totals"]["batting"].get(stat, 0) == official_team[stat], (pk, side, stat)
        assert compared > 100


async def test_plays_walk_every_page_in_order(api: Api, feeds: dict[int, dict[str, Any]]) -> None:
    for pk, feed in feeds.items():
        all_plays = feed["liveData"]["plays"]["allPlays"]
        items = await walk(api, f"/v1/games/{pk}/plays", limit=7)
        assert [p["at_bat_index"] for p in items] == list(range(len(all_plays)))
        for mine, theirs in zip(items, all_plays, strict=True):
            assert mine["event_type"] == theirs["result"].get("eventType")
            assert mine["batter"]["id"] == theirs["matchup"]["batter"]["id"]
            assert mine["pitcher"]["id"] == theirs["matchup"]["pitcher"]["id"]
            assert (mine["away_score"], mine["home_score"]) == (
                theirs["result"]["awayScore"],
                theirs["result"]["homeScore"],
            )
        # filters
        strikeouts = await walk(api, f"/v1/games/{pk}/plays", limit=50, event_type="strikeout")
        want = [i for i, p in enumerate(all_plays) if p["result"].get("eventType") == "strikeout"]
        assert [p["at_bat_index"] for p in strikeouts] == want and want
        ninth = await walk(api, f"/v1/games/{pk}/plays", limit=50, inning=9, half="bottom")
        want = [
            i for i, p in enumerate(all_plays) if p["about"]["inning"] == 9 and not p["about"]["isTopInning"]
        ]
        assert [p["at_bat_index"] for p in ninth] == want
        batter = all_plays[0]["matchup"]["batter"]["id"]
        his = await walk(api, f"/v1/games/{pk}/plays", limit=50, batter=batter)
        want = [i for i, p in enumerate(all_plays) if p["matchup"]["batter"]["id"] == batter]
        assert [p["at_bat_index"] for p in his] == want


async def test_pitches_with_pitch_and_hit_data(api: Api, feeds: dict[int, dict[str, Any]]) -> None:
    pk, feed = 747175, feeds[747175]
    expected = pitches_of(feed)
    items = await walk(api, f"/v1/games/{pk}/pitches", limit=60)
    assert len(items) == len(expected)
    keys = [(p["at_bat_index"], p["event_index"]) for p in items]
    assert keys == sorted(set(keys))
    in_play = 0
    for mine, (play, ev) in zip(items, expected, strict=True):
        assert mine["at_bat_index"] == play["atBatIndex"] and mine["event_index"] == ev["index"]
        pd = ev.get("pitchData", {})
        assert mine["start_speed"] == pd.get("startSpeed")
        assert mine["spin_rate"] == pd.get("breaks", {}).get("spinRate")
        assert mine["zone"] == pd.get("zone")
        assert mine["pitch_type"]["code"] == ev["details"].get("type", {}).get("code")
        assert mine["call"]["code"] == ev["details"].get("call", {}).get("code")
        assert (mine["count"]["balls"], mine["count"]["strikes"]) == (
            ev["count"]["balls"],
            ev["count"]["strikes"],
        )
        hit = ev.get("hitData")
        if hit and "launchSpeed" in hit:
            in_play += 1
            assert mine["hit"]["launch_speed"] == hit["launchSpeed"]
            assert mine["hit"]["launch_angle"] == hit.get("launchAngle")
            assert mine["hit"]["total_distance"] == hit.get("totalDistance")
            assert mine["hit"]["trajectory"] == hit.get("trajectory")
    assert in_play > 20

    pitcher = expected[0][0]["matchup"]["pitcher"]["id"]
    sliders = await walk(api, f"/v1/games/{pk}/pitches", limit=100, pitcher=pitcher, pitch_type="SL")
    want = [
        (p["atBatIndex"], e["index"])
        for p, e in expected
        if p["matchup"]["pitcher"]["id"] == pitcher and e["details"].get("type", {}).get("code") == "SL"
    ]
    assert [(p["at_bat_index"], p["event_index"]) for p in sliders] == want and want
    called = await walk(api, f"/v1/games/{pk}/pitches", limit=100, call="C", inning=3)
    want = [
        (p["atBatIndex"], e["index"])
        for p, e in expected
        if e["details"].get("call", {}).get("code") == "C" and p["about"]["inning"] == 3
    ]
    assert [(p["at_bat_index"], p["event_index"]) for p in called] == want and want


async def test_schedule_and_games_lists(api: Api, feeds: dict[int, dict[str, Any]]) -> None:
    feed = feeds[747175]
    day = feed["gameData"]["datetime"]["officialDate"]
    sched = (await api.http.get("/v1/schedule", params={"date": day})).json()
    assert [g["game_pk"] for g in sched["games"]] == [747175]
    assert sched["start"] == sched["end"] == day
    for team in ("TOR", "tor", str(feed["gameData"]["teams"]["home"]["id"])):
        r = await api.http.get(
            "/v1/schedule", params={"start": "2024-01-01", "end": "2024-12-31", "team": team}
        )
        assert [g["game_pk"] for g in r.json()["games"]] == [747175], team
    r = await api.http.get(
        "/v1/schedule", params={"start": "2023-08-01", "end": "2024-07-31", "state": "Final"}
    )
    assert [g["game_pk"] for g in r.json()["games"]] == [717055, 747175]
    r = await api.http.get("/v1/schedule", params={"date": day, "state": "Live"})
    assert r.json()["games"] == []

    asc = await walk(api, "/v1/games", limit=1)
    assert [g["game_pk"] for g in asc] == [717055, 747175]
    desc = await walk(api, "/v1/games", limit=1, sort="-date")
    assert [g["game_pk"] for g in desc] == [747175, 717055]
    assert [g["game_pk"] for g in await walk(api, "/v1/games", limit=5, season=2023)] == [717055]
    assert [g["game_pk"] for g in await walk(api, "/v1/games", limit=5, team="SEA")] == [717055]
    live = (await api.http.get("/v1/games/live")).json()
    assert live == {"items": []}  # both replayed games are final


def assert_error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["code"] == code and err["status"] == status and err["message"]
    assert err["request_id"] == r.headers["x-request-id"]
    return dict(err)


async def test_errors_have_the_standard_body(api: Api) -> None:
    for path in ("/v1/games/1", "/v1/games/1/boxscore", "/v1/games/1/plays", "/v1/games/1/pitches"):
        assert_error(await api.http.get(path), 404, "game_not_found")
    err = assert_error(await api.http.get("/v1/games/abc"), 422, "invalid_parameters")
    assert err["details"][0]["loc"] == ["path", "game_pk"]
    for path, params in (
        ("/v1/games/747175/plays", {"inning": 0}),
        ("/v1/games/747175/plays", {"half": "middle"}),
        ("/v1/games/747175/pitches", {"pitch_type": "'; drop table plays; --"}),
        ("/v1/games/747175/pitches", {"limit": 100_000}),
        ("/v1/schedule", {"start": "2024-10-02", "end": "2024-10-01"}),
        ("/v1/schedule", {"date": "2024-10-02", "start": "2024-10-01"}),
        ("/v1/schedule", {"date": "yesterday"}),
        ("/v1/schedule", {"team": "XYZ"}),
        ("/v1/games", {"sort": "venue"}),
        ("/v1/games", {"season": 99999}),
    ):
        assert_error(
            await api.http.get(path, params=params),
            422,
            "invalid_parameters" if "team" not in params else "unknown_team",
        )
    for cursor in ("not-a-cursor", "WyJ4Il0", "WzFd"):  # junk, ["x"], [1] (wrong arity for /games)
        assert_error(await api.http.get("/v1/games", params={"cursor": cursor}), 400, "invalid_cursor")
    assert_error(
        await api.http.get("/v1/games/747175/plays", params={"cursor": "WyJ4Il0"}), 400, "invalid_cursor"
    )


async def test_requests_are_counted_by_route_template(api: Api) -> None:
    from prometheus_client import REGISTRY

    def count(route: str, status: str) -> float:
        labels = {"route": route, "method": "GET", "status": status}
        return REGISTRY.get_sample_value("sts_api_requests_total", labels) or 0.0

    before = count("/v1/games/{game_pk}/boxscore", "200"), count("/v1/games/{game_pk}", "404")
    assert (await api.http.get("/v1/games/747175/boxscore")).status_code == 200
    assert (await api.http.get("/v1/games/717055/boxscore")).status_code == 200
    assert (await api.http.get("/v1/games/2")).status_code == 404
    assert count("/v1/games/{game_pk}/boxscore", "200") == before[0] + 2
    assert count("/v1/games/{game_pk}", "404") == before[1] + 1
