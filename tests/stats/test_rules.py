"""Tricky scoring rules, each pinned to the real play that showed it (gamePk, atBatIndex)."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from sts.stats import derive_box, format_outs
from sts.stats.box import GameBox
from sts.stats.feed import all_plays, unwrap
from sts.stats.lookahead import half_start_runners
from tests.stats.conftest import FINAL_FEEDS

Loader = Callable[[str], dict[str, Any]]


def _box_through(feed: dict[str, Any], at_bat_index: int | None) -> GameBox:
    plays = all_plays(feed)
    if at_bat_index is not None:
        plays = [p for p in plays if p["about"]["atBatIndex"] <= at_bat_index]
    live = {**feed["liveData"], "plays": {**feed["liveData"]["plays"], "allPlays": plays}}
    return derive_box({**feed, "liveData": live})


def play_delta(feed: dict[str, Any], at_bat_index: int, person: int, group: str, stat: str) -> int:
    """What one play adds to one player's stat."""

    def value(box: GameBox) -> int:
        player = box.find(person)
        return player.group(group)[stat] if player else 0

    return value(_box_through(feed, at_bat_index)) - value(_box_through(feed, at_bat_index - 1))


def test_batter_thrown_out_stretching_is_not_a_ground_out(load_feed: Loader) -> None:
    # 717055 #7: Cal Raleigh singles on a ground ball, then is out trying for 2nd (B9)
    feed = load_feed("717055")
    assert play_delta(feed, 7, 663728, "batting", "hits") == 1
    assert play_delta(feed, 7, 663728, "batting", "groundOuts") == 0


def test_reached_on_error_is_a_ground_out_and_strands_runners(load_feed: Loader) -> None:
    # 746215 #23: Mickey Moniak reaches on a throwing error on a grounder, a runner on 1st (B8, B9)
    feed = load_feed("746215")
    assert play_delta(feed, 23, 666160, "batting", "groundOuts") == 1
    assert play_delta(feed, 23, 666160, "batting", "atBats") == 1
    assert play_delta(feed, 23, 666160, "batting", "leftOnBase") == 1


def test_lob_counts_runners_doubled_off(load_feed: Loader) -> None:
    # 718263 #12: CJ Abrams flies into a double play with runners on 1st and 3rd (B8)
    assert play_delta(load_feed("718263"), 12, 682928, "batting", "leftOnBase") == 2


def test_lob_on_inning_ending_force_out_with_bases_loaded(load_feed: Loader) -> None:
    # 718263 #63: Alex Call grounds into a force out for the 3rd out, bases loaded (B8)
    assert play_delta(load_feed("718263"), 63, 669743, "batting", "leftOnBase") == 3


def test_lob_excludes_the_runner_who_scores_on_a_double_play(load_feed: Loader) -> None:
    # 718263 #73: Ildemaro Vargas grounds into a DP, runner from 3rd scores, the other is out (B8)
    assert play_delta(load_feed("718263"), 73, 545121, "batting", "leftOnBase") == 1


def test_sacrifice_bunt_strands_nobody(load_feed: Loader) -> None:
    # 718263 #35: Ildemaro Vargas sacrifice bunt with two on: no AB, no LOB (B2, B8)
    feed = load_feed("718263")
    assert play_delta(feed, 35, 545121, "batting", "sacBunts") == 1
    assert play_delta(feed, 35, 545121, "batting", "atBats") == 0
    assert play_delta(feed, 35, 545121, "batting", "leftOnBase") == 0


def test_reliever_before_the_sixth_has_no_save_situation(load_feed: Loader) -> None:
    # 718594 #41: Richard Bleier enters in the bottom 5th up 3-2 with two on and the lead is lost (P8)
    line = derive_box(load_feed("718594")).find(542947)
    assert line is not None
    assert line.pitching["blownSaves"] == 0
    assert line.pitching["saveOpportunities"] == 0
    assert line.pitching["inheritedRunners"] == 2
    assert line.pitching["inheritedRunnersScored"] == 2


def test_pickoff_by_pitcher_is_a_pitching_not_a_fielding_pickoff(load_feed: Loader) -> None:
    # 746215 #25: Carlos Rodriguez picks off Mickey Moniak at 1st for the 3rd out (B7, F3)
    feed = load_feed("746215")
    assert play_delta(feed, 25, 692230, "pitching", "pickoffs") == 1
    assert play_delta(feed, 25, 692230, "fielding", "pickoffs") == 0
    assert play_delta(feed, 25, 666160, "batting", "pickoffs") == 1
    assert play_delta(feed, 25, 666160, "batting", "plateAppearances") == 0


def test_passed_ball_goes_to_the_catcher_not_the_pitcher(load_feed: Loader) -> None:
    # 718263 #10: passed ball in the top 1st, before any credit names Jose Herrera as the catcher:
    # the catcher is found by looking ahead in the game (F2)
    box = derive_box(load_feed("718263"))
    herrera = box.find(645444)
    assert herrera is not None
    assert herrera.fielding["passedBall"] == 1
    assert box.teams["home"].pitching["passedBall"] == 0


def test_defensive_switch_from_a_position_means_he_started_in_the_field(load_feed: Loader) -> None:
    # 718322 #51: "Defensive switch from third base to center field for Willi Castro" (F4)
    line = derive_box(load_feed("718322")).find(650489)
    assert line is not None
    assert line.fielding["gamesStarted"] == 1


def test_stolen_base_mid_at_bat_is_charged_to_the_pitcher_on_the_mound(load_feed: Loader) -> None:
    # 746215 #51: Sal Frelick steals 2nd during a strikeout (B7, P1)
    feed = load_feed("746215")
    assert play_delta(feed, 51, 686217, "batting", "stolenBases") == 1
    assert play_delta(feed, 51, 686217, "batting", "plateAppearances") == 0


def test_pinch_runner_is_the_inherited_runner(load_feed: Loader) -> None:
    # 718263 #65: pinch-runner Alek Thomas replaces Pavin Smith on 1st (P6): the base keeps its runner
    box = _box_through(load_feed("718263"), 65)
    assert box.find(677950) is not None
    assert "batting" in box.find(677950).present  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("outs", "text"), [(0, "0.0"), (1, "0.1"), (2, "0.2"), (3, "1.0"), (19, "6.1"), (27, "9.0")]
)
def test_format_outs(outs: int, text: str) -> None:
    assert format_outs(outs) == text


def test_recorded_envelope_is_unwrapped(load_feed: Loader) -> None:
    feed = load_feed("747175")
    assert unwrap({"endpoint": "game", "status_code": 200, "response": feed}) is feed
    assert unwrap({"endpoint": "x", "response": {"dates": []}}) is None
    assert unwrap([1, 2]) is None


def test_no_runner_starts_a_regular_half_inning_on_base(load_feed: Loader) -> None:
    for name in FINAL_FEEDS:
        assert half_start_runners(all_plays(load_feed(name))) == {}


def test_runner_with_no_arrival_play_starts_the_half_on_his_base(load_feed: Loader) -> None:
    # the shape of an extra-inning automatic runner (L2), made from 717055: without #0 (Ha-Seong Kim
    # walks), Kim is first seen stealing 2nd in #1, so he was on 1st when the half began
    feed = load_feed("717055")
    plays = [p for p in all_plays(feed) if p["about"]["atBatIndex"] != 0]
    assert half_start_runners(plays)[(1, "away")] == {673490: "1B"}
    live = {**feed["liveData"], "plays": {**feed["liveData"]["plays"], "allPlays": plays}}
    box = derive_box({**feed, "liveData": live})
    assert box.teams["away"].innings[0].runs == 1  # he still scores the run


@pytest.mark.parametrize("name", FINAL_FEEDS)
def test_pitching_change_logged_after_the_third_out_goes_to_the_next_fielding_side(
    load_feed: Loader, name: str
) -> None:
    """Metamorphic: move every between-innings pitching change from the first play of a half to the end
    of the previous half's last play; the derived box must not change."""
    feed = load_feed(name)
    plays = copy.deepcopy(all_plays(feed))
    moved = 0
    for prev, play in itertools.pairwise(plays):
        if (prev["about"]["inning"], prev["about"]["halfInning"]) == (
            play["about"]["inning"],
            play["about"]["halfInning"],
        ):
            continue
        events = play["playEvents"]
        subs = [e for e in events if e["details"].get("eventType") == "pitching_substitution"]
        if subs and events.index(subs[0]) == 0:
            event = events.pop(0)
            event["index"] = max((e["index"] for e in prev["playEvents"]), default=0) + 1
            prev["playEvents"].append(event)
            moved += 1
    live = {**feed["liveData"], "plays": {**feed["liveData"]["plays"], "allPlays": plays}}
    assert derive_box({**feed, "liveData": live}).teams == derive_box(feed).teams
    if name.endswith(("718263.json", "717055.json")):
        assert moved > 0


def test_blown_save_hold_and_save_opportunities(load_feed: Loader) -> None:
    # 718263 (WSH 9 @ AZ 8): Kyle Nelson holds the lead (hold); Miguel Castro enters in a save situation
    # and the lead is lost while he pitches (blown save, save opportunity) (P8)
    box = derive_box(load_feed("718263"))
    nelson, castro = box.find(669459), box.find(612434)
    assert nelson is not None and castro is not None
    assert (nelson.pitching["holds"], nelson.pitching["blownSaves"]) == (1, 0)
    assert (castro.pitching["blownSaves"], castro.pitching["saveOpportunities"]) == (1, 1)
    assert castro.pitching["holds"] == 0


def test_inherited_runner_scores_on_the_relievers_watch(load_feed: Loader) -> None:
    # 717055: Tom Cosgrove inherits one runner, who scores (P6): "Inherited runners-scored: Cosgrove 1-1"
    cosgrove = derive_box(load_feed("717055")).find(676680)
    assert cosgrove is not None
    assert (cosgrove.pitching["inheritedRunners"], cosgrove.pitching["inheritedRunnersScored"]) == (1, 1)
