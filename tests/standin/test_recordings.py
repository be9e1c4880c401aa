"""Scanning recorded responses: what is found in the real recordings, and bad files tolerated."""

from __future__ import annotations

import json
from pathlib import Path

from sts.recordings import Recordings, scan_recordings
from tests.standin.conftest import FINAL_GAMES


def test_finds_the_eight_final_games(recordings: Recordings) -> None:
    assert set(recordings.games) == FINAL_GAMES
    sources = {pk: game.source.as_posix() for pk, game in recordings.games.items()}
    assert sources[747175].endswith("recorded/feed_live_747175.stub.json")  # envelope
    assert sources[631220].endswith("more/feed_live_631220.json")
    assert sources[746215].endswith("converted_from_js/feed_live_746215.json")
    for game in recordings.games.values():
        assert game.feed["gameData"]["status"]["abstractGameState"] == "Final"


def test_in_progress_only_game_is_not_replayed(recordings: Recordings) -> None:
    assert 746139 not in recordings.games
    reason = recordings.not_replayed[746139]
    assert "no final feed" in reason and "20240612_041248" in reason


def test_other_responses_indexed_by_content(recordings: Recordings) -> None:
    assert recordings.games[744914].boxscore is not None
    assert recordings.games[744914].linescore is not None
    assert recordings.games[747175].boxscore is not None  # from an envelope: pk from path_params
    assert recordings.games[744914].schedule_entry is not None
    assert {660271, 592450} <= set(recordings.people)
    assert recordings.teams and all("teams" in t for t in recordings.teams)
    skipped = {p.name for p, _ in recordings.skipped}
    assert "teams_stats_hitting_2024.stub.json" in skipped  # a "teams" key, but not a /teams response


def test_tolerates_malformed_files(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "failed.stub.json").write_text(
        json.dumps({"endpoint": "game", "url": "https://x/api/v1.1/game/1/feed/live", "status_code": 500,
                    "response": {}})
    )  # fmt: skip
    feed = {"gamePk": 5, "gameData": {"status": {"abstractGameState": "Final"}}, "liveData": {"plays": {}}}
    (tmp_path / "feed_live_5.json").write_text(json.dumps(feed))
    rec = scan_recordings(tmp_path)
    assert rec.games == {}
    reasons = {p.name: why for p, why in rec.skipped}
    assert set(reasons) == {"broken.json", "list.json", "failed.stub.json", "feed_live_5.json"}
    assert "JSON" in reasons["broken.json"] and "500" in reasons["failed.stub.json"]
    assert "no plays" in reasons["feed_live_5.json"]


def test_a_final_feed_missing_parts_is_not_replayed(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from sts.clock import ScaledClock
    from sts.standin.replay import Replay

    play = {"about": {"atBatIndex": 0, "inning": 1, "halfInning": "top", "startTime": "2024-01-01T00:00:00Z",
                      "endTime": "2024-01-01T00:01:00Z"}}  # fmt: skip
    feed = {"gamePk": 7, "gameData": {"status": {"abstractGameState": "Final"}},
            "liveData": {"plays": {"allPlays": [play]}}}  # fmt: skip
    (tmp_path / "feed.json").write_text(json.dumps(feed))
    rec = scan_recordings(tmp_path)
    assert set(rec.games) == {7}
    replay = Replay(rec, ScaledClock(0, datetime.now(UTC), 1))
    assert replay.games == {} and "lacks what a replay needs" in replay.not_replayed[7]
