"""Synthesized mid-game feeds have the shape of MLB's real in-progress feeds (game 746139).

746139's final feed is not recorded, so a like-for-like state of another 2024 game (same half-inning
side, runners on, last event an action, pitches or not) is compared with each 746139 feed. Every
part the stand-in *rebuilds* must match MLB's shape exactly; the parts it copies from the final feed
(players, venue, boxscore, play events, matchups) may differ by season and by data, and are only
reported (see src/sts/standin/README.md for the list and why).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from sts.standin.diffpatch import json_diff
from sts.standin.shapes import shape_diff
from sts.standin.synth import synthesize
from sts.standin.timeline import GameTimeline

CANDIDATES = [744914, 746215, 747175]  # the 2024 games, same season as 746139
LIVE_FEEDS = ["feed_live_746139_20240612_041248.json", "feed_live_746139_20240612_042717.json"]
COPIED = frozenset(
    {
        "$.gameData.players",
        "$.gameData.venue",
        "$.liveData.boxscore",
        "$.liveData.leaders",
        "$.liveData.plays.allPlays",
        "$.liveData.plays.currentPlay.matchup",
        "$.liveData.plays.currentPlay.playEvents",
    }
)


def like_state(tl: GameTimeline, live: dict[str, Any]) -> int | None:
    """Index of a state of ``tl`` in the same situation as the real in-progress feed ``live``."""
    current = live["liveData"]["plays"]["currentPlay"]
    ls = live["liveData"]["linescore"]
    runners = sum(1 for base in ("first", "second", "third") if base in ls["offense"])
    for i, state in enumerate(tl.states):
        if state.phase != "live" or state.complete or state.events == 0:
            continue
        facts = tl.facts[state.plays - 1]
        events = tl.plays[state.plays - 1]["playEvents"][: state.events]
        pitched = any(e.get("isPitch") for e in events)
        if (
            events[-1].get("type") == "action"
            and "position" not in events[-1]
            and pitched == bool(current["pitchIndex"])
            and len(facts.bases_before) == runners
            and facts.top == ls["isTopInning"]
            and facts.inning >= 2
        ):
            return i
    return None


@pytest.mark.parametrize("live_name", LIVE_FEEDS)
def test_rebuilt_parts_have_mlbs_in_progress_shape(
    live_name: str, statsapi: Path, timelines: dict[int, GameTimeline]
) -> None:
    live = json.loads((statsapi / live_name).read_bytes())
    compared = []
    for pk in CANDIDATES:
        tl = timelines[pk]
        index = like_state(tl, live)
        if index is None:
            continue
        compared.append(pk)
        mine = dict(synthesize(tl, index))
        mine.setdefault("copyright", live["copyright"])  # 747175's envelope dropped it
        diffs = shape_diff(live, mine, ignore=COPIED)
        assert diffs == [], f"{pk}: " + "\n".join(diffs)
        # the current play as a whole (events and matchup come from the recording): same keys, same order
        live_cp, my_cp = live["liveData"]["plays"]["currentPlay"], mine["liveData"]["plays"]["currentPlay"]
        assert list(live_cp) == list(my_cp)
        assert list(live_cp["about"]) == list(my_cp["about"])
        assert list(live["liveData"]["linescore"]) == list(mine["liveData"]["linescore"])
    assert compared, "no recorded game has a comparable state"


def test_shape_diff_reports_differences() -> None:
    a = {"x": 1, "y": [{"k": "s"}, {"k": "t", "extra": True}], "ID1": {"n": 1}}
    b = {"x": "1", "y": [{"k": "s"}], "z": None, "ID2": {"n": 2}}
    diffs = shape_diff(a, b)
    assert "$.x: number vs string" in diffs
    assert "$: keys only in second: ['z']" in diffs
    assert "$.y[]: keys only in first: ['extra']" in diffs
    assert len(diffs) == 3


def _kinds(ops: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(op, path with indices folded), ``copy`` counted as ``add``."""
    out = set()
    for op in ops:
        path = re.sub(r"/\d+(?=/|$)", "/N", op["path"])
        out.add(("add" if op["op"] == "copy" else op["op"], path))
    return out


def _pitch_after_action(events: list[dict[str, Any]], m: int) -> bool:
    return m >= 2 and events[m - 2].get("type") == "action" and bool(events[m - 1].get("isPitch"))


def _pitching_change(events: list[dict[str, Any]], m: int) -> bool:
    return m >= 1 and events[m - 1].get("details", {}).get("eventType") == "pitching_substitution"


# what MLB also changes and the stand-in cannot (live boxscore, data MLB amends after the fact)
NOT_SYNTHESIZED = (
    "/boxscore/",
    "/pitchData/",
    "/pitcherHotColdZone",
    "/gameData/moundVisits/",
    "/gameData/players/",
)


@pytest.mark.parametrize(
    ("patch_name", "step"),
    [
        ("diffPatch_746139_20240612_041248_to_041302.json", _pitch_after_action),  # a ball after a timeout
        ("diffPatch_746139_20240612_042717_to_042758.json", _pitching_change),  # a pitching change
    ],
)
def test_one_step_changes_what_mlb_changes(
    patch_name: str, step: Any, statsapi: Path, timelines: dict[int, GameTimeline]
) -> None:
    """A real MLB diffPatch of one step and the same kind of step synthesized for 744914 touch the
    same places (paths with indices folded), apart from what the stand-in does not synthesize."""
    real = json.loads((statsapi / patch_name).read_bytes())
    mlb = _kinds([op for block in real for op in block["diff"]])
    tl = timelines[744914]
    index = next(
        i
        for i, st in enumerate(tl.states)
        if st.phase == "live"
        and not st.complete
        and step(tl.plays[st.plays - 1]["playEvents"], st.events)
        and tl.states[i - 1].plays == st.plays
        and tl.states[i - 1].events == st.events - 1
    )
    mine = _kinds(json_diff(synthesize(tl, index - 1), synthesize(tl, index)))
    assert mine <= mlb, mine - mlb
    rest = {path for _, path in mlb - mine}
    assert all(
        any(part in p for part in NOT_SYNTHESIZED) or p.endswith("/playEvents/N/endTime") for p in rest
    ), rest
