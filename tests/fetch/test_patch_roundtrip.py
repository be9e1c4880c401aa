"""Patches, checked both ways: the stand-in's by round trip, the client's on MLB's real pairs.

- Stand-in: for pairs of states ``A`` < ``B`` of every replayed game (drawn by hypothesis), its
  diffPatch answer applied by the fetcher's code to the feed at ``A`` gives exactly the feed at ``B``;
  past the patch span the answer is the feed at ``B`` itself, and ``A`` = ``B`` gives ``[]``.
- MLB: the recorded real pairs of game 746139 (``copy`` and ``move`` included) go through the fetcher's
  :func:`apply_patches` and :func:`check_state`: the result is the feed stamped with the patch's end.
- Shape: the stand-in's answers over HTTP look like MLB's (a list of ``{"diff": [ops]}`` objects whose
  ops carry only RFC 6902 members).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sts.adapters.mlb_client import MLBClient
from sts.clock import ScaledClock
from sts.recordings import Recordings
from sts.services.fetcher import apply_patches, check_state, dumps
from sts.standin.diffpatch import MAX_PATCH_SPAN
from sts.standin.replay import Replay
from sts.standin.server import StandIn
from tests.fetch.conftest import GAME, advance, only

REAL_PAIRS = [  # (base feed, MLB's diffPatch answer that followed it, the answer's end timecode)
    (
        "feed_live_746139_20240612_041248.json",
        "diffPatch_746139_20240612_041248_to_041302.json",
        "20240612_041302",
    ),
    (
        "feed_live_746139_20240612_042717.json",
        "diffPatch_746139_20240612_042717_to_042758.json",
        "20240612_042758",
    ),
]
OP_MEMBERS = {
    "add": {"op", "path", "value"},
    "remove": {"op", "path"},
    "replace": {"op", "path", "value"},
    "move": {"op", "path", "from"},
    "copy": {"op", "path", "from"},
    "test": {"op", "path", "value"},
}


@pytest.fixture(scope="module")
def replay(recordings: Recordings) -> Replay:
    """Every recorded game, with the clock long past their ends (every timecode is served)."""
    return Replay(recordings, ScaledClock(0.0, datetime(2030, 1, 1, tzinfo=UTC), 1.0), start_in=-10 * 86400)


def _canonical(doc: Any) -> Any:
    return json.loads(dumps(doc))


def _assert_mlb_shape(answer: Any) -> None:
    assert isinstance(answer, list) and answer
    for item in answer:
        assert isinstance(item, dict) and set(item) == {"diff"} and isinstance(item["diff"], list)
        for op in item["diff"]:
            assert set(op) == OP_MEMBERS[op["op"]], op
            assert isinstance(op["path"], str) and op["path"].startswith("/")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_stand_in_patch_from_a_to_b_gives_the_feed_at_b(replay: Replay, data: st.DataObject) -> None:
    pk = data.draw(st.sampled_from(sorted(replay.games)), label="game")
    tl = replay.games[pk].timeline
    a = data.draw(st.integers(0, len(tl.timecodes) - 2), label="A")
    # mostly pairs within the patch span (what a poller asks), sometimes anything later
    near = [i for i in range(a + 1, len(tl.timecodes)) if tl.times[i] - tl.times[a] <= MAX_PATCH_SPAN]
    if near and data.draw(st.booleans(), label="near"):
        b = data.draw(st.sampled_from(near), label="B")
    else:
        b = data.draw(st.integers(a + 1, len(tl.timecodes) - 1), label="B")
    answer = _canonical(replay.diff_patch(pk, tl.timecodes[a], tl.timecodes[b]))
    want = _canonical(replay.feed(pk, b))
    if tl.times[b] - tl.times[a] > MAX_PATCH_SPAN:
        assert answer == want  # too old a start: the full feed at B
        return
    _assert_mlb_shape(answer)
    got = apply_patches(dumps(replay.feed(pk, a)), answer)
    assert got == want
    assert check_state(pk, got, tl.timecodes[a], strictly_later=True) == tl.timecodes[b]


def test_same_state_gives_an_empty_answer(replay: Replay) -> None:
    for pk, game in replay.games.items():
        tc = game.timeline.timecodes[len(game.timeline.timecodes) // 2]
        assert replay.diff_patch(pk, tc, tc) == []


def test_every_consecutive_pair_of_one_game_round_trips(replay: Replay) -> None:
    """The whole game 747175, state after state, as a poller that never misses one would see it."""
    tl = replay.games[GAME].timeline
    raw = dumps(replay.feed(GAME, 0))
    for b in range(1, len(tl.timecodes)):
        answer = _canonical(replay.diff_patch(GAME, tl.timecodes[b - 1], tl.timecodes[b]))
        if isinstance(answer, dict):  # a quiet spell longer than the span (before the game)
            assert tl.times[b] - tl.times[b - 1] > MAX_PATCH_SPAN
            raw = dumps(answer)
            continue
        doc = apply_patches(raw, answer)
        check_state(GAME, doc, tl.timecodes[b - 1], strictly_later=True)
        raw = dumps(doc)
    assert json.loads(raw) == _canonical(replay.games[GAME].game.feed)  # ends on the recorded final feed


@pytest.mark.parametrize(("base", "patch", "end"), REAL_PAIRS)
def test_real_mlb_patch_through_the_fetcher_code(shared_data: Path, base: str, patch: str, end: str) -> None:
    raw = (shared_data / "statsapi" / base).read_bytes()
    answer = json.loads((shared_data / "statsapi" / patch).read_text())
    _assert_mlb_shape(answer)
    start = json.loads(raw)["metaData"]["timeStamp"]
    doc = apply_patches(raw, answer)
    assert check_state(746139, doc, start, strictly_later=True) == end
    if "042717" in base:  # the pitching change: MLB moves and copies whole subtrees
        assert {"copy", "move"} <= {op["op"] for p in answer for op in p["diff"]}
    assert json.loads(raw)["metaData"]["timeStamp"] == start  # the base is left alone


def test_real_mlb_patch_on_the_wrong_base_is_refused(shared_data: Path) -> None:
    """The second real patch applied to the first base: ops that do not fit are caught, or the result
    is not a later state of the game (never a silently wrong document accepted as is)."""
    from sts.services.fetcher import PatchRejected

    raw = (shared_data / "statsapi" / REAL_PAIRS[0][0]).read_bytes()
    answer = json.loads((shared_data / "statsapi" / REAL_PAIRS[1][1]).read_text())
    with pytest.raises(PatchRejected) as info:
        apply_patches(raw, answer)
    assert info.value.reason == "patch_failed"


async def test_stand_in_answers_over_http_have_mlb_shape(recordings: Recordings) -> None:
    standin = StandIn(only(recordings, GAME), speed=0.001, start_in=-3600)
    base = await standin.start()
    try:
        async with MLBClient(base, retries=0) as client:
            start = (await client.feed_timestamps(GAME))[-1]
            empty = await client.diff_patch(GAME, start)
            assert empty.shape == "empty" and empty.body == b"[]"
            advance(standin, 90)
            answer = await client.diff_patch(GAME, start)
            assert answer.shape == "patches"
            _assert_mlb_shape(answer.json())
            assert answer.timecode is not None and answer.timecode > start
            advance(standin, 2 * MAX_PATCH_SPAN)
            assert (await client.diff_patch(GAME, start)).shape == "full_feed"
    finally:
        await standin.stop()
