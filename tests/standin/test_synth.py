"""The replay model: every synthesized state of every recorded game, checked for consistency."""

from __future__ import annotations

import json
import time

import pytest

from sts.recordings import Recordings
from sts.standin.synth import synthesize
from sts.standin.timeline import GameTimeline, State, parse_timecode
from tests.standin.conftest import FINAL_GAMES

PHASES = ["Scheduled", "Pre-Game", "Warmup", "In Progress", "Final"]


def _pitches(feed: dict) -> int:  # type: ignore[type-arg]
    return sum(1 for p in feed["liveData"]["plays"]["allPlays"] for e in p["playEvents"] if e.get("isPitch"))


@pytest.mark.parametrize("pk", sorted(FINAL_GAMES))
def test_states_grow_monotonically_to_the_final_feed(pk: int, timelines: dict[int, GameTimeline]) -> None:
    tl = timelines[pk]
    assert tl.times == sorted(set(tl.times)) and tl.timecodes == sorted(set(tl.timecodes))
    assert all(parse_timecode(tc) == t for tc, t in zip(tl.timecodes, tl.times, strict=True))
    phases: list[str] = []
    plays = pitches = runs = hits = scoring = 0
    for i in range(len(tl.states)):
        feed = synthesize(tl, i)
        assert feed["metaData"]["timeStamp"] == tl.timecodes[i]
        detailed = feed["gameData"]["status"]["detailedState"]
        if not phases or phases[-1] != detailed:
            phases.append(detailed)
        all_plays = feed["liveData"]["plays"]["allPlays"]
        assert len(all_plays) >= plays and _pitches(feed) >= pitches
        plays, pitches = len(all_plays), _pitches(feed)
        by_inning = feed["liveData"]["plays"]["playsByInning"]
        n_hits = sum(len(side) for inning in by_inning for side in inning["hits"].values())
        n_scoring = len(feed["liveData"]["plays"]["scoringPlays"])
        assert n_hits >= hits and n_scoring >= scoring
        hits, scoring = n_hits, n_scoring
        if all_plays:
            current = feed["liveData"]["plays"]["currentPlay"]
            assert current is all_plays[-1] or current == all_plays[-1]
            assert all(p["about"]["isComplete"] for p in all_plays[:-1])
            teams = feed["liveData"]["linescore"]["teams"]
            total = teams["away"]["runs"] + teams["home"]["runs"]
            assert total >= runs
            runs = total
            result = all_plays[-1]["result"]
            assert [teams[s]["runs"] for s in ("away", "home")] == [result["awayScore"], result["homeScore"]]
    assert phases == PHASES
    final = tl.feed
    assert plays == len(final["liveData"]["plays"]["allPlays"]) and pitches == _pitches(final)
    assert synthesize(tl, len(tl.states) - 1) is final
    assert tl.timecodes[-1] == final["metaData"]["timeStamp"]


def test_synthesizing_at_the_end_reproduces_the_recorded_final_feed(
    recordings: Recordings, timelines: dict[int, GameTimeline]
) -> None:
    for pk, tl in timelines.items():
        raw = json.loads(recordings.games[pk].source.read_bytes())
        raw = raw.get("response", raw)
        served = json.loads(json.dumps(synthesize(tl, tl.index_at(tl.final_at + 3600))))
        assert served == raw, pk


def test_last_play_state_linescore_matches_the_recorded_one(timelines: dict[int, GameTimeline]) -> None:
    """Recomputing the linescore from all plays gives MLB's innings and totals (where MLB is consistent)."""
    for pk in (717055, 718263, 718594, 744914, 746215):
        tl = timelines[pk]
        n = len(tl.plays)
        tl.states.append(State("live", n, len(tl.event_at[-1]), True))
        tl.timecodes.append("x")
        try:
            mine = synthesize(tl, len(tl.states) - 1)["liveData"]["linescore"]
        finally:
            tl.states.pop()
            tl.timecodes.pop()
        final = tl.feed["liveData"]["linescore"]
        assert mine["innings"] == final["innings"], pk
        assert mine["teams"] == final["teams"], pk


def test_partial_play_is_an_at_bat_in_progress(timelines: dict[int, GameTimeline]) -> None:
    tl = timelines[744914]
    for i, state in enumerate(tl.states):
        if state.phase != "live" or state.complete or state.events == 0:
            continue
        cur = synthesize(tl, i)["liveData"]["plays"]["currentPlay"]
        assert cur["about"]["isComplete"] is False and "hasReview" not in cur["about"]
        assert cur["result"]["type"] == "atBat" and cur["result"]["isOut"] is False
        assert len(cur["playEvents"]) == state.events
        assert cur["count"] == cur["playEvents"][-1]["count"]
        assert cur["pitchIndex"] == [j for j, e in enumerate(cur["playEvents"]) if e.get("isPitch")]
        assert all(r["details"]["playIndex"] < state.events for r in cur["runners"])
        assert cur["playEndTime"] == cur["about"]["endTime"]


def test_statuses_around_first_pitch(timelines: dict[int, GameTimeline]) -> None:
    tl = timelines[744914]
    fp = tl.first_pitch

    def status(t: float) -> dict:  # type: ignore[type-arg]
        return synthesize(tl, tl.index_at(t))["gameData"]["status"]  # type: ignore[no-any-return]

    assert status(fp - 3600)["detailedState"] == "Pre-Game"
    assert status(fp - 3600)["abstractGameState"] == "Preview"
    assert status(fp - 600) == {**status(fp - 600), "detailedState": "Warmup", "abstractGameState": "Live",
                                "codedGameState": "P"}  # fmt: skip
    assert status(fp + 1)["codedGameState"] == "I"
    assert status(tl.final_at)["codedGameState"] == "F"
    pre = synthesize(tl, tl.index_at(fp - 600))
    assert pre["liveData"]["plays"]["allPlays"] == [] and "decisions" not in pre["liveData"]


def test_synthesis_is_fast(timelines: dict[int, GameTimeline]) -> None:
    tl = timelines[718263]  # the largest feed (2.8 MB)
    live = [i for i, s in enumerate(tl.states) if s.phase == "live"]
    start = time.perf_counter()
    for i in live:
        synthesize(tl, i)
    per_state = (time.perf_counter() - start) / len(live)
    assert per_state < 0.030, f"{per_state * 1000:.1f} ms per state"
