"""The converter's GUMBO-shaped plays: ids, runners, the tie-breaker runner, pitches, purity."""

from __future__ import annotations

import copy
from dataclasses import replace

from sts.retrosheet.convert import convert_game
from sts.retrosheet.crosswalk import Crosswalk, decode_surrogate, surrogate
from sts.retrosheet.events import Game
from sts.stats import derive_box
from tests.retrosheet.conftest import game


def test_ids_mlbam_where_known_else_retrosheet(games_2020: list[Game], crosswalk: Crosswalk) -> None:
    converted = convert_game(game(games_2020, "NYA202008051"), crosswalk)
    ids = {retro: pid for pid, retro in converted.players.items()}
    assert ids["judga001"] == 592450  # Aaron Judge's MLBAM id
    assert ids["gardb001"] == surrogate("gardb001") < 0
    assert decode_surrogate(ids["gardb001"]) == "gardb001"
    assert len(converted.players) == 31  # 20 starters + 11 who came in: nobody dropped


def test_play_shape(games_2020: list[Game], crosswalk: Crosswalk) -> None:
    plays = convert_game(game(games_2020, "NYA202008051"), crosswalk).feed["liveData"]["plays"]["allPlays"]
    gdp = next(p for p in plays if p["result"]["description"].startswith("64(1)3/GDP"))
    assert gdp["about"] == {
        "atBatIndex": gdp["about"]["atBatIndex"],
        "inning": 1,
        "isComplete": True,
        "halfInning": "bottom",
        "isTopInning": False,
    }
    assert gdp["result"]["eventType"] == "grounded_into_double_play"
    by_start = {r["movement"]["start"]: r for r in gdp["runners"]}
    assert by_start["3B"]["movement"]["end"] == "score"
    assert by_start["3B"]["details"]["earned"] is False and by_start["3B"]["details"]["rbi"] is False
    assert by_start["1B"]["movement"]["isOut"] is True
    assert [c["credit"] for c in by_start["1B"]["credits"]] == ["f_putout", "f_assist"]
    pitches = [e for e in gdp["playEvents"] if e["isPitch"]]
    assert [e["details"]["code"] for e in pitches] == ["B", "X"]
    assert pitches[-1]["hitData"] == {"trajectory": "ground_ball"}


def test_substitutions_become_actions(games_2020: list[Game], crosswalk: Crosswalk) -> None:
    plays = convert_game(game(games_2020, "NYA202008051"), crosswalk).feed["liveData"]["plays"]["allPlays"]
    kinds = [e["details"]["eventType"] for p in plays for e in p["playEvents"] if not e["isPitch"]]
    assert kinds.count("pitching_substitution") == 6
    assert "offensive_substitution" in kinds and "defensive_switch" in kinds


def test_tiebreaker_runner_is_placed_and_unearned(games_2020: list[Game], crosswalk: Crosswalk) -> None:
    g = game(games_2020, "HOU202007290")  # 13 innings, a runner placed in each extra half
    converted = convert_game(g, crosswalk)
    placed = [
        r
        for p in converted.feed["liveData"]["plays"]["allPlays"]
        for r in p["runners"]
        if r["details"]["eventType"] == "runner_placed"
    ]
    radj = [r.fields for r in g.body if r.kind == "radj"]
    assert len(placed) == len(radj)
    assert all(r["movement"]["start"] == r["movement"]["end"] == "2B" for r in placed)
    scored = [
        r
        for p in converted.feed["liveData"]["plays"]["allPlays"]
        for r in p["runners"]
        if p["about"]["inning"] > 9
        and r["movement"]["start"] is not None
        and r["movement"]["end"] == "score"
        and r["details"]["runner"]["id"] in {crosswalk.person(f[0]) for f in radj}
    ]
    assert scored and all(r["details"]["earned"] is False for r in scored)  # (UR): reached by rule
    box = derive_box(converted.feed)
    assert box.teams["away"].runs == converted.score["away"]
    assert box.teams["home"].runs == converted.score["home"]


def test_conversion_is_pure(games_2020: list[Game], crosswalk: Crosswalk) -> None:
    g = game(games_2020, "NYA202008051")
    before = copy.deepcopy(g)
    first = convert_game(g, crosswalk).feed
    assert g == before
    assert convert_game(g, crosswalk).feed == first


def test_empty_crosswalk_keeps_every_player(games_2020: list[Game]) -> None:
    xw = Crosswalk({})
    converted = convert_game(game(games_2020, "NYA202008051"), xw)
    assert all(pid < 0 for pid in converted.players)
    assert len(xw.unmapped()) == len(converted.players) == 31


def test_home_team_batting_first(games_2020: list[Game], crosswalk: Crosswalk) -> None:
    """``info,htbf,true`` (no 2020 game has it): the same game told with the teams' roles swapped and
    the home team batting first gives the same box, the team batting first being the feed's ``away``."""
    g = game(games_2020, "NYA202008051")
    swapped = Game(g.game_id, {**g.info, "visteam": g.home, "hometeam": g.visitor, "htbf": "true"})
    swapped.starts = [replace(s, team=1 - s.team) for s in g.starts]
    swapped.body = [
        replace(
            r,
            play=replace(r.play, team=1 - r.play.team) if r.play else None,
            sub=replace(r.sub, team=1 - r.sub.team) if r.sub else None,
        )
        for r in g.body
    ]
    swapped.earned_runs = g.earned_runs
    a, b = convert_game(g, crosswalk), convert_game(swapped, crosswalk)
    assert b.feed["gameData"]["teams"]["away"]["id"] == "PHI" and b.score == a.score == {
        "away": 11,
        "home": 7,
    }
    box_a, box_b = derive_box(a.feed), derive_box(b.feed)
    for side in ("away", "home"):
        for pid, player in box_a.teams[side].players.items():
            assert box_b.teams[side].players[pid].batting == player.batting
            assert box_b.teams[side].players[pid].pitching == player.pitching
