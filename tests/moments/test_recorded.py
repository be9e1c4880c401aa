"""The rules on the recorded final games (events derived from the real feeds, no engines), each moment
checked against MLB's own numbers in the feed: the official line score (hits per inning), the official
box score (pitches, doubles, triples, home runs) and the play-by-play scores."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sts.events.derive import derive_events
from sts.moments.rules import GameContext, Moment, RuleSettings, compact_play, detect, info_from_game_info
from tests.stats.conftest import FINAL_FEEDS

WALK_OFF_GAME = 747175


def _feed(shared_data: Path, name: str) -> dict[str, Any]:
    doc = json.loads((shared_data / name).read_text())
    return doc.get("response", doc)


def moments_of(feed: dict[str, Any], settings: RuleSettings | None = None) -> list[Moment]:
    info: dict[str, Any] = {}
    plays = []
    for event in derive_events(None, feed):
        if event.event_type == "GameInfo":
            info = info_from_game_info(event.payload)
        elif event.event_type == "PlayCompleted":
            plays.append(compact_play(event.payload))
        elif event.event_type == "GameFinal":
            info["final"] = True
    return detect(GameContext.from_info(feed["gamePk"], info), plays, settings)


@pytest.fixture(scope="module")
def feeds(shared_data: Path) -> dict[int, dict[str, Any]]:
    loaded = [_feed(shared_data, name) for name in FINAL_FEEDS]
    return {int(f["gamePk"]): f for f in loaded}


@pytest.fixture(scope="module")
def found(feeds: dict[int, dict[str, Any]]) -> Callable[[RuleSettings | None], dict[int, list[Moment]]]:
    def run(settings: RuleSettings | None = None) -> dict[int, list[Moment]]:
        return {pk: moments_of(feed, settings) for pk, feed in feeds.items()}

    return run


def _play(feed: dict[str, Any], abi: int) -> dict[str, Any]:
    return next(p for p in feed["liveData"]["plays"]["allPlays"] if p["about"]["atBatIndex"] == abi)


def test_747175_ends_on_exactly_one_walk_off_the_sacrifice_fly_of_geraldo_perdomo(
    feeds: dict[int, dict[str, Any]], found: Callable[..., dict[int, list[Moment]]]
) -> None:
    moments = found()
    walk_offs = [m for ms in moments.values() for m in ms if m.rule == "walk_off"]
    assert len(walk_offs) == 1
    [m] = walk_offs
    feed = feeds[WALK_OFF_GAME]
    last = feed["liveData"]["plays"]["allPlays"][-1]
    assert m.game_pk == WALK_OFF_GAME
    assert m.at_bat_index == last["about"]["atBatIndex"] == 74
    assert (m.inning, m.half) == (9, "bottom")
    assert last["result"]["eventType"] == "sac_fly"
    assert m.player_ids == (last["matchup"]["batter"]["id"],) == (672695,)  # Geraldo Perdomo
    assert m.team_id == feed["gameData"]["teams"]["home"]["id"]
    assert m.details["description"] == last["result"]["description"]
    assert m.headline == "Walk-off sac fly by Geraldo Perdomo: TOR 4, AZ 5"
    ls = feed["liveData"]["linescore"]["teams"]
    assert (ls["away"]["runs"], ls["home"]["runs"]) == (4, 5)


# Every lead change of the recorded games, read off the play-by-play scores (result.awayScore/homeScore
# after each play): the at-bat index at which a team went ahead of the team that had led last.
LEAD_CHANGES = {
    717055: [61],  # SD 1-0, 1-1, SEA 1-3 (b8)
    718263: [27, 81],  # WSH 1-0, 1-1, AZ 1-2 (b4), 3-3, AZ 3-4 … 6-8, WSH 9-8 (t9)
    718322: [28, 64],  # CWS 0-3, 3-3, MIN 4-3 (t4), 4-4, CWS 4-5 (b7)
    718594: [42],  # BOS 1-0, 1-1, BOS 2-1, 3-3, TB 3-4 (b5)
    744914: [],  # HOU led from the first run to the end
    747175: [51, 74],  # AZ 0-1, 2-2, TOR 3-2 (t7), 4-4, AZ 4-5 (b9, walk-off)
    631220: [27],  # NYY 0-3, 3-3, PHI 4-3 (t3)
    746215: [24],  # MIL 2-0, 2-2, LAA 2-3 (b3)
}


def test_lead_changes_are_the_real_ones(
    feeds: dict[int, dict[str, Any]], found: Callable[..., dict[int, list[Moment]]]
) -> None:
    moments = found()
    assert {pk: [m.at_bat_index for m in ms if m.rule == "lead_change"] for pk, ms in moments.items()} == (
        LEAD_CHANGES
    )
    for pk, abis in LEAD_CHANGES.items():
        plays = feeds[pk]["liveData"]["plays"]["allPlays"]
        for abi in abis:
            play = _play(feeds[pk], abi)
            before = plays[plays.index(play) - 1]["result"]
            after = play["result"]
            lead_before = before["awayScore"] - before["homeScore"]
            lead_after = after["awayScore"] - after["homeScore"]
            assert lead_after != 0 and (lead_before == 0 or (lead_before > 0) != (lead_after > 0)), (pk, abi)


def test_late_go_ahead_run_is_the_nationals_ninth(
    feeds: dict[int, dict[str, Any]], found: Callable[..., dict[int, list[Moment]]]
) -> None:
    late = [
        (pk, m.rule, m.at_bat_index) for pk, ms in found().items() for m in ms if m.rule.startswith("late_")
    ]
    assert late == [(718263, "late_go_ahead_run", 81)]
    play = _play(feeds[718263], 81)
    assert (play["about"]["inning"], play["about"]["halfInning"]) == (9, "top")
    assert (play["result"]["awayScore"], play["result"]["homeScore"]) == (9, 8)


def test_pitch_count_moments_match_the_official_box_score(
    feeds: dict[int, dict[str, Any]], found: Callable[..., dict[int, list[Moment]]]
) -> None:
    thresholds = (50, 90, 95)
    moments = found(RuleSettings(pitch_count_thresholds=thresholds))
    for pk, feed in feeds.items():
        official: set[tuple[int, int]] = set()
        for side in ("away", "home"):
            for entry in feed["liveData"]["boxscore"]["teams"][side]["players"].values():
                pitches = entry["stats"].get("pitching", {}).get("numberOfPitches")
                if pitches is not None:
                    official |= {(entry["person"]["id"], t) for t in thresholds if pitches >= t}
        reported = {
            (m.player_ids[0], int(m.details["pitches"])) for m in moments[pk] if m.rule == "pitch_count"
        }
        assert reported == official, pk
    assert (
        sum(1 for ms in moments.values() for m in ms if m.rule == "pitch_count" and m.key.endswith("/95"))
        >= 3
    )


def test_no_hitter_watches_match_the_official_line_score(
    feeds: dict[int, dict[str, Any]], found: Callable[..., dict[int, list[Moment]]]
) -> None:
    moments = found(RuleSettings(no_hitter_after_inning=1))
    checked = 0
    for pk, feed in feeds.items():
        innings = feed["liveData"]["linescore"]["innings"]
        for pitching, batting in (("home", "away"), ("away", "home")):
            team = feed["gameData"]["teams"][pitching]["id"]
            hitless = 0
            for inning in innings:
                if inning[batting].get("hits", 0) > 0:
                    break
                if inning[batting].get("runs") is None and inning[batting].get("hits") is None:
                    break  # the home team did not bat (a home win)
                hitless += 1
            watched = sorted(
                int(m.key.split("/")[1])
                for m in moments[pk]
                if m.rule in ("no_hitter", "perfect_game") and m.team_id == team
            )
            assert watched == list(range(1, hitless + 1)), (pk, pitching)
            broken = [m for m in moments[pk] if m.rule.endswith("_broken_up") and m.team_id == team]
            if hitless and hitless < len(innings):
                first_hit = [m for m in broken if m.rule in ("no_hitter_broken_up", "perfect_game_broken_up")]
                assert first_hit[-1].inning == hitless + 1, (pk, pitching)
                play = _play(feed, first_hit[-1].at_bat_index)
                assert play["result"]["eventType"] in ("single", "double", "triple", "home_run")
            checked += 1
    assert checked == 2 * len(feeds)
    assert not [m for ms in found().values() for m in ms if "no_hitter" in m.rule or "perfect" in m.rule]


def test_cycle_watches_match_the_official_box_score(
    feeds: dict[int, dict[str, Any]], found: Callable[..., dict[int, list[Moment]]]
) -> None:
    # no batter of the recorded games had three hit types: a watch at two types checks the rule as well
    moments = found(RuleSettings(cycle_watch_hit_types=2))
    assert not [m for ms in found().values() for m in ms if m.rule.startswith("cycle")]
    total = 0
    for pk, feed in feeds.items():
        expected = set()
        for side in ("away", "home"):
            for entry in feed["liveData"]["boxscore"]["teams"][side]["players"].values():
                b = entry["stats"].get("batting", {})
                if not b:
                    continue
                singles = b["hits"] - b["doubles"] - b["triples"] - b["homeRuns"]
                kinds = sum(1 for n in (singles, b["doubles"], b["triples"], b["homeRuns"]) if n > 0)
                if kinds >= 2:
                    expected.add(entry["person"]["id"])
        assert {m.player_ids[0] for m in moments[pk] if m.rule == "cycle_watch"} == expected, pk
        assert not [m for m in moments[pk] if m.rule == "cycle"]  # nobody hit for the cycle
        total += len(expected)
    assert total >= 3  # batters with two hit types in the recordings


def test_velocity_drop_of_emerson_hancock_is_in_the_pitch_data(feeds: dict[int, dict[str, Any]]) -> None:
    settings = RuleSettings()
    drops = [m for m in moments_of(feeds[717055], settings) if m.rule == "velocity_drop"]
    assert [(m.player_ids, m.details["pitch_type"]) for m in drops] == [((676106,), "FF")]
    [drop] = drops
    # his four-seamers in the raw play-by-play, in order, up to the play of the moment
    speeds = [
        e["pitchData"]["startSpeed"]
        for p in feeds[717055]["liveData"]["plays"]["allPlays"]
        if p["about"]["atBatIndex"] <= drop.at_bat_index
        for e in p["playEvents"]
        if e.get("isPitch") and p["matchup"]["pitcher"]["id"] == 676106
        if (e["details"].get("type") or {}).get("code") == "FF"
    ]
    assert feeds[717055]["gameData"]["players"]["ID676106"]["fullName"] == "Emerson Hancock"
    baseline = sum(speeds[:10]) / 10
    recent = sum(speeds[-5:]) / 5
    assert baseline - recent >= settings.velocity_drop_mph
    assert f"{baseline:.1f}" == drop.details["baseline_mph"] and f"{recent:.1f}" == drop.details["recent_mph"]
    # and it was the first moment the drop crossed the threshold
    assert all(sum(speeds[:10]) / 10 - sum(speeds[i - 5 : i]) / 5 < 2.5 for i in range(15, len(speeds)))


def test_every_recorded_moment_has_a_unique_id(found: Callable[..., dict[int, list[Moment]]]) -> None:
    everything = [m for ms in found(RuleSettings(no_hitter_after_inning=1)).values() for m in ms]
    assert len({m.event_id for m in everything}) == len(everything)


def test_the_default_rules_find_thirteen_moments_in_the_recorded_games(
    found: Callable[..., dict[int, list[Moment]]],
) -> None:
    """The list in docs/moments.md: each kind is checked against MLB's numbers by the tests above."""
    counts: dict[str, int] = {}
    for ms in found().values():
        for m in ms:
            counts[m.rule] = counts.get(m.rule, 0) + 1
    assert counts == {"lead_change": 10, "walk_off": 1, "late_go_ahead_run": 1, "velocity_drop": 1}
