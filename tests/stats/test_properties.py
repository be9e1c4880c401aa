"""Invariants of any derived box, explored by hypothesis over real game structures: real games cut at
a random play, and random subsets of a real game's plays."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sts.stats import GameBox, derive_box
from sts.stats.box import SIDES
from sts.stats.feed import all_plays, batting_side, get, other
from tests.stats.conftest import FINAL_FEEDS

Loader = Callable[[str], dict[str, Any]]
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _with_plays(feed: dict[str, Any], plays: list[Any]) -> dict[str, Any]:
    live = dict(feed["liveData"])
    live["plays"] = {**live["plays"], "allPlays": plays}
    return {**feed, "liveData": live}


def _lines(box: GameBox, group: str) -> Iterable[Any]:
    for team in box.teams.values():
        yield team.group(group)
        for player in team.players.values():
            yield player.group(group)


def _check_general(box: GameBox) -> None:
    for b in _lines(box, "batting"):
        assert b["plateAppearances"] == (
            b["atBats"]
            + b["baseOnBalls"]
            + b["hitByPitch"]
            + b["sacFlies"]
            + b["sacBunts"]
            + b["catchersInterference"]
        )
        assert b["hits"] == b["singles"] + b["doubles"] + b["triples"] + b["homeRuns"]
        assert b["totalBases"] == b["singles"] + 2 * b["doubles"] + 3 * b["triples"] + 4 * b["homeRuns"]
        assert b["intentionalWalks"] <= b["baseOnBalls"]
    for p in _lines(box, "pitching"):
        assert p["hits"] == p["singles"] + p["doubles"] + p["triples"] + p["homeRuns"]
        assert p["battersFaced"] == (
            p["atBats"]
            + p["baseOnBalls"]
            + p["hitByPitch"]
            + p["sacFlies"]
            + p["sacBunts"]
            + p["catchersInterference"]
        )
        assert 0 <= p["earnedRuns"] <= p["runs"]
        assert p["strikes"] + p["balls"] == p["numberOfPitches"]
        assert p["inheritedRunnersScored"] <= p["inheritedRunners"]
    for f in _lines(box, "fielding"):
        assert f["chances"] == f["putOuts"] + f["assists"] + f["errors"]
    for side in SIDES:
        team, opp = box.teams[side], box.teams[other(side)]
        runs = sum(p.batting["runs"] for p in team.players.values())
        assert runs == team.batting["runs"] == team.runs == opp.pitching["runs"]
        assert team.batting["hits"] == team.hits
        for stat in ("hits", "homeRuns", "baseOnBalls", "strikeOuts", "hitByPitch", "atBats", "rbi"):
            assert team.batting[stat] == opp.pitching[stat], stat
        assert team.batting["plateAppearances"] == opp.pitching["battersFaced"]
        assert team.fielding["errors"] == team.errors


def _outs_by_fielding_side(plays: list[Any]) -> dict[str, int]:
    """Outs per fielding side from ``count.outs`` of each half-inning's last play: independent of the
    runner movements the engine counts."""
    last: dict[tuple[int, str], int] = {}
    for play in plays:
        key = (int(get(play, "about", "inning")), batting_side(play))
        last[key] = int(get(play, "count", "outs", default=0))
    outs = dict.fromkeys(SIDES, 0)
    for (_, batting), n in last.items():
        outs[other(batting)] += n
    return outs


@SETTINGS
@given(name=st.sampled_from(FINAL_FEEDS), data=st.data())
def test_truncated_game_invariants(load_feed: Loader, name: str, data: st.DataObject) -> None:
    feed = load_feed(name)
    plays = all_plays(feed)
    cut = data.draw(st.integers(min_value=0, max_value=len(plays)), label="cut")
    box = derive_box(_with_plays(feed, plays[:cut]))
    _check_general(box)
    outs = _outs_by_fielding_side(plays[:cut])
    for side in SIDES:
        team = box.teams[side]
        assert team.pitching["outs"] == outs[side]
        assert team.fielding["putOuts"] == team.pitching["outs"]  # every out has one putout (OBR 9.09)
    if cut:
        last = plays[cut - 1]["result"]
        assert box.teams["away"].runs == last["awayScore"]
        assert box.teams["home"].runs == last["homeScore"]


@SETTINGS
@given(name=st.sampled_from(FINAL_FEEDS), data=st.data())
def test_sampled_plays_invariants(load_feed: Loader, name: str, data: st.DataObject) -> None:
    feed = load_feed(name)
    plays = all_plays(feed)
    keep = data.draw(st.lists(st.sampled_from(range(len(plays))), unique=True), label="plays")
    box = derive_box(_with_plays(feed, [plays[i] for i in sorted(keep)]))
    _check_general(box)


def test_full_game_outs_are_three_per_inning(load_feed: Loader) -> None:
    """Outs recorded by a team's pitchers = 3 x innings in the field, less a walk-off's missing outs."""
    for name in FINAL_FEEDS:
        feed = load_feed(name)
        box = derive_box(feed)
        innings = box.innings_played
        assert innings >= 7
        home_batted_last = box.teams["home"].innings[innings - 1].played
        final_outs = int(all_plays(feed)[-1]["count"]["outs"])
        assert box.walk_off == (home_batted_last and final_outs < 3)
        assert box.teams["home"].pitching["outs"] == 3 * innings
        away_outs = 3 * (innings - 1) + (final_outs if home_batted_last else 0)
        assert box.teams["away"].pitching["outs"] == away_outs


OPTIONAL_KEYS = [
    "halfInning",
    "isTopInning",
    "playIndex",
    "responsiblePitcher",
    "earned",
    "teamUnearned",
    "credits",
    "hitData",
    "trajectory",
    "position",
    "replacedPlayer",
    "fromCatcher",
    "postOnFirst",
    "postOnSecond",
    "postOnThird",
    "call",
    "isPitch",
    "index",
    "count",
    "rbi",
    "description",
    "isComplete",
]


def _strip(obj: Any, keys: frozenset[str]) -> Any:
    if isinstance(obj, dict):
        return {k: _strip(v, keys) for k, v in obj.items() if k not in keys}
    if isinstance(obj, list):
        return [_strip(v, keys) for v in obj]
    return obj


@SETTINGS
@given(name=st.sampled_from(FINAL_FEEDS), data=st.data())
def test_feeds_missing_fields_still_give_a_consistent_box(
    load_feed: Loader, name: str, data: st.DataObject
) -> None:
    """Old or minor-league feeds lack fields: whatever is missing, derivation does not fail and the
    box stays internally consistent."""
    feed = load_feed(name)
    keys = frozenset(data.draw(st.lists(st.sampled_from(OPTIONAL_KEYS), max_size=6), label="missing keys"))
    plays = [_strip(p, keys) for p in all_plays(feed)]
    box = derive_box(_with_plays(feed, plays))
    _check_general(box)


def test_derivation_does_not_mutate_the_feed(load_feed: Loader) -> None:
    feed = load_feed("718263")
    before = json.dumps(feed, sort_keys=True)
    derive_box(feed)
    assert json.dumps(feed, sort_keys=True) == before


@SETTINGS
@given(name=st.sampled_from(FINAL_FEEDS), data=st.data())
def test_order_of_runners_within_a_play_does_not_matter(
    load_feed: Loader, name: str, data: st.DataObject
) -> None:
    """The feed lists a play's runner movements in no documented order: any interleaving of different
    runners (each runner's own movements kept in order) gives the same box."""
    feed = load_feed(name)
    seed = data.draw(st.integers(min_value=0, max_value=2**32 - 1), label="seed")
    rng = random.Random(seed)
    plays = []
    for play in all_plays(feed):
        ids = sorted({r["details"]["runner"]["id"] for r in play["runners"]})
        rng.shuffle(ids)
        rank = {rid: i for i, rid in enumerate(ids)}
        runners = sorted(
            play["runners"],
            key=lambda r: (r["details"].get("playIndex") or 0, rank[r["details"]["runner"]["id"]]),
        )
        plays.append({**play, "runners": runners})
    assert derive_box(_with_plays(feed, plays)).teams == derive_box(feed).teams
