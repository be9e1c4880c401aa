"""Each notable-moment rule on small hand-made games (compact plays, see sts.moments.rules)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from sts.config import Settings
from sts.moments.rules import RULES, GameContext, Moment, RuleSettings, detect

CTX = GameContext(
    game_pk=1,
    away_id=10,
    home_id=20,
    away_name="AWY",
    home_name="HOM",
    names={7: "Batter Seven", 100: "Away Ace", 200: "Home Ace", 201: "Home Reliever"},
)


def p(
    abi: int,
    inning: int,
    top: bool,
    event_type: str = "field_out",
    score: tuple[int, int] = (0, 0),
    *,
    batter: int = 7,
    pitcher: int | None = None,
    outs: int = 1,
    reached: bool | None = None,
    seq: list[list[Any]] | None = None,
) -> dict[str, Any]:
    hit = event_type in ("single", "double", "triple", "home_run")
    return {
        "abi": abi,
        "inning": inning,
        "top": top,
        "event": event_type.replace("_", " ").title(),
        "event_type": event_type,
        "description": f"play {abi}",
        "away": score[0],
        "home": score[1],
        "outs": outs,
        "batter": batter,
        "pitcher": pitcher if pitcher is not None else (200 if top else 100),
        "reached": hit or event_type in ("walk", "hit_by_pitch", "field_error")
        if reached is None
        else reached,
        "seq": seq or [],
    }


def three_outs(abi: int, inning: int, top: bool, score: tuple[int, int] = (0, 0)) -> list[dict[str, Any]]:
    return [p(abi + i, inning, top, "field_out", score, outs=i + 1) for i in range(3)]


def innings(n: int, score: tuple[int, int] = (0, 0), start: int = 0) -> list[dict[str, Any]]:
    """``n`` full innings of three up, three down."""
    plays: list[dict[str, Any]] = []
    for inning in range(1, n + 1):
        plays += three_outs(start + len(plays), inning, True, score)
        plays += three_outs(start + len(plays), inning, False, score)
    return plays


def rules_of(moments: list[Moment], rule: str) -> list[Moment]:
    return [m for m in moments if m.rule == rule]


# ---------------------------------------------------------------- walk-off, late runs, lead changes


def test_walk_off_in_the_bottom_of_the_ninth() -> None:
    plays = innings(8, (2, 2))
    plays += three_outs(len(plays), 9, True, (2, 2))
    plays.append(p(len(plays), 9, False, "sac_fly", (2, 3), batter=7, outs=1))
    moments = detect(CTX, plays)
    [walk_off] = rules_of(moments, "walk_off")
    assert (walk_off.at_bat_index, walk_off.player_ids, walk_off.team_id) == (len(plays) - 1, (7,), 20)
    assert walk_off.headline == "Walk-off sac fly by Batter Seven: AWY 2, HOM 3"
    assert rules_of(moments, "late_go_ahead_run") == []  # a walk-off is reported as a walk-off only
    assert [m.at_bat_index for m in rules_of(moments, "lead_change")] == []  # nobody had led before


def test_walk_off_needs_the_last_scheduled_inning_and_the_home_team_batting() -> None:
    early = [*innings(7, (2, 2)), p(42, 8, False, "home_run", (2, 3))]
    assert rules_of(detect(CTX, early), "walk_off") == []
    top = [*innings(8, (2, 2)), p(48, 9, True, "home_run", (3, 2))]
    assert rules_of(detect(CTX, top), "walk_off") == []
    # already ahead: the run is not a walk-off (the game would have ended before)
    ahead = innings(8, (2, 3)) + three_outs(48, 9, True, (2, 3)) + [p(51, 9, False, "home_run", (2, 4))]
    assert rules_of(detect(CTX, ahead), "walk_off") == []
    # extra innings, and a seven-inning game (2020-2021 doubleheaders)
    extra = innings(9, (1, 1)) + three_outs(54, 10, True, (1, 1)) + [p(57, 10, False, "single", (1, 2))]
    assert [m.inning for m in rules_of(detect(CTX, extra), "walk_off")] == [10]
    seven = GameContext(game_pk=2, scheduled_innings=7)
    short = innings(6, (0, 0)) + three_outs(36, 7, True) + [p(39, 7, False, "home_run", (0, 1))]
    assert [m.inning for m in rules_of(detect(seven, short), "walk_off")] == [7]


def test_lead_change_is_a_team_taking_the_lead_the_other_team_held_last() -> None:
    plays = [
        p(0, 1, True, "home_run", (1, 0)),  # first lead: not a change
        p(1, 1, True, "home_run", (2, 0)),  # extending it: not a change
        p(2, 1, False, "double", (2, 2)),  # tie: not a change
        p(3, 1, False, "single", (2, 3)),  # the home team takes the lead the away team held: change
        p(4, 2, True, "single", (3, 3)),  # tie
        p(5, 2, False, "single", (3, 4)),  # the home team leads again: it held the lead last, no change
        p(6, 3, True, "home_run", (5, 4)),  # straight from behind to ahead: change
    ]
    changes = rules_of(detect(CTX, plays), "lead_change")
    assert [(m.at_bat_index, m.team_id) for m in changes] == [(3, 20), (6, 10)]
    assert changes[1].headline == "AWY take the lead: AWY 5, HOM 4"


def test_tying_and_go_ahead_runs_from_the_late_inning_on() -> None:
    plays = innings(8, (3, 4))
    plays.append(p(48, 9, True, "single", (4, 4), batter=7))  # ties it in the 9th
    plays.append(p(49, 9, True, "double", (5, 4), batter=8))  # puts them ahead
    plays.append(p(50, 9, True, "home_run", (7, 4), batter=9))  # extends: nothing
    moments = detect(CTX, plays)
    assert [(m.rule, m.at_bat_index) for m in moments if m.rule.startswith("late_")] == [
        ("late_tying_run", 48),
        ("late_go_ahead_run", 49),
    ]
    # the same plays in the 8th are late only with late_inning = 8
    eighth = [*innings(7, (3, 4)), p(42, 8, True, "single", (4, 4)), p(43, 8, True, "double", (5, 4))]
    assert not [m for m in detect(CTX, eighth) if m.rule.startswith("late_")]
    late8 = detect(CTX, eighth, RuleSettings(late_inning=8))
    assert [m.rule for m in late8 if m.rule.startswith("late_")] == ["late_tying_run", "late_go_ahead_run"]


# ---------------------------------------------------------------- no-hitters and perfect games


def test_perfect_game_watch_from_the_configured_inning_then_broken_up_by_a_walk_then_a_hit() -> None:
    settings = RuleSettings(no_hitter_after_inning=3)
    plays = innings(4)
    n = len(plays)
    plays += [p(n, 5, True, "walk", batter=7), *three_outs(n + 1, 5, True)]
    plays += three_outs(len(plays), 5, False)
    plays += [p(len(plays), 6, True, "single", batter=8, pitcher=201)]
    moments = detect(CTX, plays, settings)
    home = [(m.rule, m.key) for m in moments if m.team_id == 20]
    assert home == [
        ("perfect_game", "home/3"),
        ("perfect_game", "home/4"),
        ("perfect_game_broken_up", "home"),
        ("no_hitter", "home/5"),
        ("no_hitter_broken_up", "home"),
    ]
    broken = rules_of(moments, "no_hitter_broken_up")[0]
    assert broken.player_ids == (8, 201) and broken.inning == 6
    assert "HOM no-hitter broken up in the 6th" in broken.headline
    # the away team's pitchers: perfect through 3, 4 and 5 as well
    assert [m.key for m in moments if m.team_id == 10] == ["away/3", "away/4", "away/5"]


def test_a_hit_before_the_watch_inning_reports_nothing_and_a_first_hit_breaks_a_perfect_game() -> None:
    settings = RuleSettings(no_hitter_after_inning=2)
    plays = [p(0, 1, True, "single"), *three_outs(1, 1, True), *three_outs(4, 1, False)]
    plays += three_outs(7, 2, True) + three_outs(10, 2, False) + three_outs(13, 3, True)
    plays.append(p(16, 3, False, "double"))  # the first baserunner against the away pitchers is a hit
    moments = detect(CTX, plays, settings)
    assert [(m.rule, m.key) for m in moments] == [
        ("perfect_game", "away/2"),
        ("perfect_game_broken_up", "away"),  # not "no_hitter_broken_up": the perfect game is what is lost
    ]


def test_completed_perfect_game_and_no_hitter_once_the_game_is_final() -> None:
    plays = innings(9)[:-3]  # the home team does not bat in the 9th (it won; score ignored here)
    plays[10]["reached"] = True  # bottom 2nd: a batter reaches on an error against the away team
    settings = RuleSettings(no_hitter_after_inning=9)
    live = detect(CTX, plays, settings)
    assert [(m.rule, m.key) for m in live] == [("perfect_game", "home/9")]
    final = GameContext(**{**CTX.__dict__, "final": True})
    done = [(m.rule, m.key) for m in detect(final, plays, settings)]
    # the away staff pitched 8 innings without a hit: not an official no-hitter (nine innings needed)
    assert done == [("perfect_game", "home/9"), ("perfect_game_completed", "home")]
    # nine hitless innings with a baserunner: a completed no-hitter, not a perfect game
    full = innings(9)
    full[10]["reached"] = True
    done = [(m.rule, m.key) for m in detect(final, full, settings)]
    assert ("no_hitter_completed", "away") in done and ("perfect_game_completed", "home") in done


# ---------------------------------------------------------------- cycle


def test_cycle_watch_at_three_hit_types_and_the_cycle_at_four() -> None:
    plays = [
        p(0, 1, True, "single", batter=7),
        p(1, 3, True, "single", batter=7),  # same type again: nothing
        p(2, 5, True, "home_run", batter=7, score=(1, 0)),
        p(3, 5, True, "double", batter=8),  # someone else
        p(4, 7, True, "triple", batter=7),
        p(5, 9, True, "double", batter=7),
    ]
    moments = detect(CTX, plays)
    watch = rules_of(moments, "cycle_watch")
    assert [(m.at_bat_index, m.details["missing"]) for m in watch] == [(4, "double")]
    assert watch[0].headline == "Batter Seven needs a double for the cycle"
    [cycle] = rules_of(moments, "cycle")
    assert cycle.at_bat_index == 5 and cycle.details["hits"] == "single, double, triple, home run"


# ---------------------------------------------------------------- pitching


def test_pitch_count_credits_each_pitch_to_the_pitcher_who_threw_it() -> None:
    settings = RuleSettings(pitch_count_thresholds=(5, 8))
    pitches = [["P", "FF", 95.0]] * 4
    plays = [
        p(0, 1, True, seq=pitches, pitcher=200),  # 4
        # 2 more by the starter, then a change in the middle of the plate appearance: 3 by the reliever
        p(1, 1, True, seq=[*pitches[:2], ["S", 201], *pitches[:3]], pitcher=201),
        p(2, 1, True, seq=pitches * 2, pitcher=201),  # reliever: 3 + 8 = 11
    ]
    moments = rules_of(detect(CTX, plays, settings), "pitch_count")
    assert [(m.player_ids, m.details["pitches"], m.at_bat_index) for m in moments] == [
        ((200,), "5", 1),
        ((201,), "5", 2),
        ((201,), "8", 2),
    ]
    assert moments[0].headline == "Home Ace has thrown 5 pitches"


def test_velocity_drop_against_the_pitchers_own_early_average() -> None:
    settings = RuleSettings(velocity_baseline_pitches=4, velocity_window=3, velocity_drop_mph=2.0)
    early = [["P", "FF", 96.0], ["P", "SL", 85.0]] * 4
    tired = [["P", "FF", 94.5], ["P", "SL", 80.0], ["P", "FF", 93.5], ["P", "FF", 94.0], ["P", "FF", 93.0]]
    plays = [p(0, 1, True, seq=early), p(1, 6, True, seq=tired), p(2, 7, True, seq=[["P", "FF", 90.0]] * 5)]
    [drop] = rules_of(detect(CTX, plays, settings), "velocity_drop")
    # FF: the first 4 average 96.0; at the third FF of play 1 the last 3 (94.5, 93.5, 94.0) average 94.0
    assert drop.at_bat_index == 1 and drop.player_ids == (200,)
    assert (drop.details["baseline_mph"], drop.details["recent_mph"], drop.details["drop_mph"]) == (
        "96.0",
        "94.0",
        "2.0",
    )
    # SL is not a watched type by default; once flagged, a pitcher/type is not reported again
    assert drop.details["pitch_type"] == "FF"
    small = RuleSettings(velocity_baseline_pitches=4, velocity_window=3, velocity_drop_mph=3.5)
    assert rules_of(detect(CTX, plays[:2], small), "velocity_drop") == []


# ---------------------------------------------------------------- career milestones


def test_career_milestone_only_with_a_known_baseline() -> None:
    plays = [p(0, 1, True, "single", batter=7), p(1, 3, True, "home_run", (1, 0), batter=7)]
    plays.append(p(2, 5, True, "home_run", (2, 0), batter=8))
    baselines = {7: {"hits": 498, "hr": 99}}  # player 8 has no known career total
    moments = rules_of(detect(CTX, plays, baselines=baselines), "career_milestone")
    assert [(m.key, m.at_bat_index) for m in moments] == [("7/hits/500", 1), ("7/hr/100", 1)]
    assert moments[1].headline == "Career home runs No. 100 for Batter Seven"
    assert moments[1].details == {"stat": "hr", "career_total": "100", "before_game": "99"}
    assert rules_of(detect(CTX, plays), "career_milestone") == []
    assert (
        rules_of(detect(CTX, plays, RuleSettings(milestone_hits_every=250), baselines), "career_milestone")[
            0
        ].key
        == "7/hits/500"
    )


# ---------------------------------------------------------------- engine properties


def test_disabled_rules_settings_validation_and_known_rule_names() -> None:
    plays = innings(8, (2, 2)) + three_outs(48, 9, True, (2, 2)) + [p(51, 9, False, "home_run", (2, 3))]
    assert rules_of(detect(CTX, plays, RuleSettings(disabled=frozenset({"walk_off"}))), "walk_off") == []
    with pytest.raises(ValueError, match="unknown notable-moment rules"):
        RuleSettings(disabled=frozenset({"walkoff"}))
    with pytest.raises(ValueError, match="late_inning"):
        RuleSettings(late_inning=0)
    with pytest.raises(ValueError, match="velocity_drop_mph"):
        RuleSettings(velocity_drop_mph=0)
    assert len(set(RULES)) == len(RULES)


def test_only_the_contiguous_prefix_is_evaluated_and_ids_are_stable() -> None:
    plays = innings(8, (2, 2)) + three_outs(48, 9, True, (2, 2)) + [p(51, 9, False, "home_run", (2, 3))]
    gap = [pl for pl in plays if pl["abi"] != 50]
    assert rules_of(detect(CTX, gap), "walk_off") == []  # play 50 has not arrived: 51 is not evaluated
    first = detect(CTX, plays)
    again = detect(CTX, list(reversed(plays)))  # any arrival order gives the same moments
    assert first == again
    [walk_off] = rules_of(first, "walk_off")
    assert walk_off.event_id == rules_of(detect(CTX, plays), "walk_off")[0].event_id
    assert len({m.event_id for m in first}) == len(first)
    other_game = GameContext(**{**CTX.__dict__, "game_pk": 2})
    assert rules_of(detect(other_game, plays), "walk_off")[0].event_id != walk_off.event_id


def test_settings_from_the_environment_and_the_toml_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key in [k for k in os.environ if k.startswith("STS_MOMENTS_") or k == "STS_CONFIG_FILE"]:
        monkeypatch.delenv(key)
    assert RuleSettings.from_settings(Settings()) == RuleSettings()  # the documented defaults
    monkeypatch.setenv("STS_MOMENTS_PITCH_COUNT_THRESHOLDS", "[110, 90]")
    monkeypatch.setenv("STS_MOMENTS_DISABLED_RULES", '["velocity_drop"]')
    monkeypatch.setenv("STS_MOMENTS_VELOCITY_DROP_MPH", "3")
    config = tmp_path / "sts.toml"
    config.write_text("[sts]\nmoments_late_inning = 8\nmoments_no_hitter_after_inning = 5\n")
    monkeypatch.setenv("STS_CONFIG_FILE", str(config))
    rules = RuleSettings.from_settings(Settings())
    assert rules.pitch_count_thresholds == (90, 110)
    assert rules.disabled == frozenset({"velocity_drop"}) and not rules.on("velocity_drop")
    assert (rules.velocity_drop_mph, rules.late_inning, rules.no_hitter_after_inning) == (3.0, 8, 5)
    monkeypatch.setenv("STS_MOMENTS_DISABLED_RULES", '["no-hitter"]')
    with pytest.raises(ValueError, match="unknown notable-moment rules"):
        RuleSettings.from_settings(Settings())
