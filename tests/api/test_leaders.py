"""/v1/leaders on the replayed database: leaderboards of 2024 (one game, 747175) checked against the
official box score of that game in the recorded feed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from sts.stats.season import LEADER_STATS, batting_qualifier
from tests.api.conftest import Api, Replayed, serve_api
from tests.api.readside import UNLIMITED, assert_error, official_lines


@pytest.fixture
async def api(replayed: Replayed, admin_key: str | None) -> AsyncIterator[Api]:
    async with serve_api(replayed, admin_key, api_rate_tiers=UNLIMITED) as served:
        yield served


def _official(group: str) -> dict[int, dict[str, Any]]:
    return {pid: s[group] for _, pid, s in official_lines(747175) if s.get(group)}


async def _board(api: Api, **params: Any) -> dict[str, Any]:
    r = await api.http.get("/v1/leaders", params={"season": 2024, "limit": 500, **params})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _ranks(values: list[float]) -> list[int]:
    return [values.index(v) + 1 for v in values]


async def test_counting_leaders_are_the_official_box_counts(api: Api) -> None:
    batting = _official("batting")
    board = await _board(api, stat="h")
    assert board["stat"] == "H" and board["group"] == "batting" and board["qualified_only"] is False
    got = {e["player_id"]: e["value"] for e in board["leaders"]}
    # everyone with a batting line (a defensive substitute with no PA too: 0 hits)
    assert got == {pid: s["hits"] for pid, s in batting.items()}
    values = [e["value"] for e in board["leaders"]]
    assert values == sorted(values, reverse=True)
    assert [e["rank"] for e in board["leaders"]] == _ranks(values)
    assert all(e["tied"] == (values.count(e["value"]) > 1) for e in board["leaders"])
    pitching = _official("pitching")
    board = await _board(api, stat="K", group="pitching")
    assert {e["player_id"]: e["value"] for e in board["leaders"]} == {
        pid: s["strikeOuts"] for pid, s in pitching.items()
    }
    top = await _board(api, stat="K", limit=3)
    assert len(top["leaders"]) == 3 and top["leaders"] == board["leaders"][:3]


async def test_rate_leaders_rank_qualified_players_as_mlb_defines_them(api: Api) -> None:
    batting = {pid: s for pid, s in _official("batting").items() if s.get("plateAppearances")}
    need = batting_qualifier(1)  # one team game each: 3.1 PA per game, rounded
    board = await _board(api, stat="avg")
    assert board["qualified_only"] is True and board["qualifier"] == f"{need} PA"
    want = {pid: round(s["hits"] / s["atBats"], 4) for pid, s in batting.items()
            if s["plateAppearances"] >= need and s["atBats"]}  # fmt: skip
    assert {e["player_id"]: e["value"] for e in board["leaders"]} == want
    assert all(e["pa"] >= need and e["qualified"] for e in board["leaders"])
    # everyone, and a floor of our own
    everyone = await _board(api, stat="avg", qualified="false")
    assert {e["player_id"] for e in everyone["leaders"]} == {p for p, s in batting.items() if s["atBats"]}
    floor = await _board(api, stat="avg", qualified="false", min=5)
    assert {e["player_id"] for e in floor["leaders"]} == {
        p for p, s in batting.items() if s["atBats"] and s["plateAppearances"] >= 5
    }
    # ERA leads low; sort=desc turns it over
    era = await _board(api, stat="era")
    assert era["sort"] == "asc"
    values = [e["value"] for e in era["leaders"]]
    assert values == sorted(values)
    pitching = _official("pitching")
    for e in era["leaders"]:
        s = pitching[e["player_id"]]
        assert e["value"] == round(9 * s["earnedRuns"] / (s["outs"] / 3), 4)
        assert s["outs"] >= 3  # qualified: 1 IP per team game
    desc = await _board(api, stat="era", sort="desc")
    assert [e["value"] for e in desc["leaders"]] == sorted(values, reverse=True)


async def test_unknown_stat_lists_the_valid_ones(api: Api) -> None:
    error = assert_error(await api.http.get("/v1/leaders", params={"stat": "xbh"}), 422, "invalid_parameters")
    assert error["details"]["valid"] == list(LEADER_STATS)
    r = await api.http.get("/v1/leaders", params={"stat": "HR", "group": "pitching"})
    assert_error(r, 422, "invalid_parameters")
    assert_error(await api.http.get("/v1/leaders"), 422, "invalid_parameters")
    r = await api.http.get("/v1/leaders", params={"stat": "HR", "sort": "up"})
    assert_error(r, 422, "invalid_parameters")
    r = await api.http.get("/v1/leaders", params={"stat": "HR", "limit": 0})
    assert_error(r, 422, "invalid_parameters")
