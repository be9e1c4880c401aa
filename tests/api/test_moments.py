"""/v1/moments on the replayed database: the moments the pipeline found in 717055 and 747175 (747175
ends on a walk-off sac fly), filters, paging and retracted moments."""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest

from tests.api.conftest import Api, Replayed, serve_api
from tests.api.readside import UNLIMITED, assert_error, feed, walk


@pytest.fixture
async def api(replayed: Replayed, admin_key: str | None) -> AsyncIterator[Api]:
    async with serve_api(replayed, admin_key, api_rate_tiers=UNLIMITED) as served:
        yield served


async def test_the_walk_off_is_the_last_play_of_747175(api: Api) -> None:
    r = await api.http.get("/v1/moments", params={"game_pk": 747175, "rule": "walk_off"})
    assert r.status_code == 200, r.text
    (moment,) = r.json()["items"]
    last = feed(747175)["liveData"]["plays"]["allPlays"][-1]
    assert moment["at_bat_index"] == last["about"]["atBatIndex"]
    assert (moment["inning"], moment["half_inning"]) == (last["about"]["inning"], "bottom")
    assert moment["team_id"] == feed(747175)["gameData"]["teams"]["home"]["id"]
    assert moment["player_ids"] == [last["matchup"]["batter"]["id"]]
    assert moment["details"]["description"] == last["result"]["description"]
    assert moment["official_date"] == "2024-07-12" and moment["retracted"] is False
    r = await api.http.get(f"/v1/moments/{moment['event_id']}")
    assert r.json() == moment
    # no walk-off in 717055 (SEA led from the 8th and did not bat in the 9th)
    r = await api.http.get("/v1/moments", params={"game_pk": 717055, "rule": "walk_off"})
    assert r.json()["items"] == []


async def test_paging_and_filters(api: Api) -> None:
    every = await walk(api.http, "/v1/moments", limit=100)
    assert {m["game_pk"] for m in every} == {717055, 747175}
    paged = await walk(api.http, "/v1/moments", limit=2)
    assert paged == every
    keys = [(m["official_date"], m["game_pk"], m["at_bat_index"], m["event_id"]) for m in every]
    assert keys == sorted(keys, reverse=True)  # newest game first, latest play first
    since = await walk(api.http, "/v1/moments", limit=100, since="2024-01-01")
    assert since == [m for m in every if m["game_pk"] == 747175]
    for m in every[:3]:
        team = await walk(api.http, "/v1/moments", limit=100, team_id=m["team_id"])
        assert team == [x for x in every if x["team_id"] == m["team_id"]]
        who = m["player_ids"][0]
        player = await walk(api.http, "/v1/moments", limit=100, player_id=who)
        assert player == [x for x in every if who in x["player_ids"]]
        rule = await walk(api.http, "/v1/moments", limit=100, rule=m["rule"])
        assert rule == [x for x in every if x["rule"] == m["rule"]]


async def test_retracted_moments_are_kept_but_left_out_by_default(api: Api, replayed: Replayed) -> None:
    every = await walk(api.http, "/v1/moments", limit=100)
    target = every[-1]
    async with await psycopg.AsyncConnection.connect(replayed.database_url, autocommit=True) as conn:
        sql = "UPDATE notable_moments SET retracted = %s WHERE event_id = %s"
        await conn.execute(sql, (True, target["event_id"]))
        try:
            shown = await walk(api.http, "/v1/moments", limit=100)
            assert shown == every[:-1]
            full = await walk(api.http, "/v1/moments", limit=100, include_retracted="true")
            assert full[-1] == {**target, "retracted": True}
            r = await api.http.get(f"/v1/moments/{target['event_id']}")
            assert r.json()["retracted"] is True
        finally:
            await conn.execute(sql, (False, target["event_id"]))


async def test_moment_errors(api: Api) -> None:
    assert_error(await api.http.get("/v1/moments/00000000-0000-0000-0000-000000000000"), 404, "not_found")
    assert_error(await api.http.get("/v1/moments", params={"rule": "grand_slam"}), 422, "invalid_parameters")
    assert_error(await api.http.get("/v1/moments", params={"since": "soon"}), 422, "invalid_parameters")
    assert_error(await api.http.get("/v1/moments", params={"cursor": "WzFd"}), 400, "invalid_cursor")
