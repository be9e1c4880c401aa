"""The stand-in's corrections: revised final feeds that stay consistent, served as a later state."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import typer

from sts.cli.standin import standin
from sts.clock import ScaledClock
from sts.recordings import Recordings, scan_recordings
from sts.standin.replay import Replay
from sts.standin.revisions import KINDS, Revision, RevisionError, apply_revision
from sts.stats import compare_box, derive_box
from tests.events.feeds import FINAL_FEEDS, load

PK = 744914


@pytest.fixture(scope="module")
def recordings(shared_data: Path) -> Recordings:
    return scan_recordings(shared_data / "statsapi")


def replay_at(recordings: Recordings, original: float, revisions: list[Revision], pk: int = PK) -> Replay:
    """A replay of game ``pk`` whose (nearly frozen) clock shows the game at original time ``original``."""
    one = Recordings(recordings.root, games={pk: recordings.games[pk]})
    probe = Replay(one, ScaledClock(time.time(), datetime.now(UTC), 1.0), start_in=0)
    first_pitch = probe.get(pk).timeline.first_pitch
    clock = ScaledClock(time.time(), datetime(2026, 7, 1, 12, tzinfo=UTC), 1e-6)
    return Replay(one, clock, start_in=first_pitch - original, revisions=revisions)


def box_player(feed: dict[str, Any], side: str, pid: int, group: str) -> dict[str, Any]:
    return dict(feed["liveData"]["boxscore"]["teams"][side]["players"][f"ID{pid}"]["stats"][group])


@pytest.mark.parametrize("kind", KINDS)
def test_revised_feeds_stay_consistent_with_their_box(kind: str) -> None:
    """MLB's box of every revised recorded game still matches the box we derive from its plays
    exactly as the recorded one does, so the data-quality check does not flag the correction."""
    for name in FINAL_FEEDS:
        feed = load(name)
        before = compare_box(feed, derive_box(feed))
        revised, _ = apply_revision(feed, kind)
        after = compare_box(revised, derive_box(revised))
        assert (after.matched, after.total) == (before.matched, before.total), name
        assert after.mismatches == before.mismatches, name
        assert feed == load(name), "the recorded feed was mutated"


def test_hit_to_error_changes_the_official_numbers() -> None:
    feed = load("feed_live_744914.json")
    revised, abi = apply_revision(feed, "hit-to-error")
    play = revised["liveData"]["plays"]["allPlays"][abi]
    batter, pitcher = play["matchup"]["batter"]["id"], play["matchup"]["pitcher"]["id"]
    fielder = play["runners"][0]["credits"][0]["player"]["id"]
    assert play["result"]["eventType"] == "field_error"
    assert (
        box_player(revised, "home", batter, "batting")["hits"]
        == box_player(feed, "home", batter, "batting")["hits"] - 1
    )
    assert (
        box_player(revised, "away", pitcher, "pitching")["hits"]
        == box_player(feed, "away", pitcher, "pitching")["hits"] - 1
    )
    assert (
        box_player(revised, "away", fielder, "fielding")["errors"]
        == box_player(feed, "away", fielder, "fielding")["errors"] + 1
    )
    old_line, new_line = feed["liveData"]["linescore"]["teams"], revised["liveData"]["linescore"]["teams"]
    assert new_line["home"]["hits"] == old_line["home"]["hits"] - 1
    assert new_line["away"]["errors"] == old_line["away"]["errors"] + 1
    assert new_line["home"]["runs"] == old_line["home"]["runs"]


def test_unsuitable_plays_and_bad_specifications_are_refused() -> None:
    feed = load("feed_live_744914.json")
    with pytest.raises(RevisionError, match="not a bases-empty single"):
        apply_revision(feed, "hit-to-error", 0)  # a fly out
    with pytest.raises(RevisionError, match="has no play 999"):
        apply_revision(feed, "overturn", 999)
    with pytest.raises(RevisionError, match="unknown revision kind"):
        apply_revision(feed, "rain")
    assert Revision.parse("744914:hit-to-error") == Revision(744914, "hit-to-error", 600.0, None)
    assert Revision.parse("744914:overturn:30:5") == Revision(744914, "overturn", 30.0, 5)
    for bad in ("744914", "x:overturn", "744914:rain", "744914:overturn:0", "1:2:3:4:5"):
        with pytest.raises(RevisionError):
            Revision.parse(bad)


def test_the_revision_is_a_later_state_served_like_any_other(recordings: Recordings) -> None:
    base = Replay(
        Recordings(recordings.root, games={PK: recordings.games[PK]}),
        ScaledClock(time.time(), datetime.now(UTC), 1.0),
    )
    final_at = base.get(PK).timeline.times[-1]
    revision = Revision(PK, "hit-to-error", delay=600)

    before = replay_at(recordings, final_at + 300, [revision])
    tl = before.get(PK).timeline
    assert tl.times[-1] == final_at + 600 and tl.states[-1].revision == 1
    final_tc, revised_tc = tl.timecodes[-2], tl.timecodes[-1]
    assert before.timestamps(PK)[-1] == final_tc  # not yet
    assert before.feed(PK, before.state_index(PK)) is recordings.games[PK].feed

    after = replay_at(recordings, final_at + 601, [revision])
    assert after.timestamps(PK)[-2:] == [final_tc, revised_tc]
    revised = after.feed(PK, after.state_index(PK))
    assert revised["metaData"]["timeStamp"] == revised_tc
    assert revised["liveData"]["plays"]["allPlays"][9]["result"]["eventType"] == "field_error"
    assert after.feed(PK, after.state_index(PK, final_tc)) is recordings.games[PK].feed
    # diffPatch from the Final state gives exactly the revised feed
    patch = after.diff_patch(PK, final_tc)
    assert isinstance(patch, list) and len(patch) == 1
    patched = jsonpatch.apply_patch(copy.deepcopy(recordings.games[PK].feed), patch[0]["diff"])
    assert patched == revised
    assert after.diff_patch(PK, revised_tc) == []
    # the boxscore and linescore endpoints serve the revised values, the schedule the same score
    assert after.boxscore(PK)["teams"] == revised["liveData"]["boxscore"]["teams"]
    assert after.linescore(PK)["teams"] == revised["liveData"]["linescore"]["teams"]
    entry = after.schedule()["dates"][0]["games"][0]
    assert entry["status"]["abstractGameState"] == "Final"
    assert entry["teams"]["home"]["score"] == revised["liveData"]["linescore"]["teams"]["home"]["runs"]


def test_two_revisions_of_one_game_stack(recordings: Recordings) -> None:
    revisions = [Revision(PK, "hit-to-error", 600), Revision(PK, "runner-credits", 300)]
    replay = replay_at(recordings, 10**10, revisions)
    tl = replay.get(PK).timeline
    assert [s.revision for s in tl.states[-3:]] == [0, 1, 2]
    assert tl.times[-1] - tl.times[-2] == 300
    last = replay.feed(PK, replay.state_index(PK))
    plays = last["liveData"]["plays"]["allPlays"]
    assert plays[9]["result"]["eventType"] == "field_error"  # the first revision is kept
    assert any(
        c["position"]["code"] == "1" and c["credit"] == "f_assist" for c in plays[3]["runners"][0]["credits"]
    )


def test_cli_refuses_a_bad_revision(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for spec, message in (("744914:rain", "unknown kind"), ("1234:overturn", "game 1234 is not replayed")):
        with pytest.raises(typer.Exit) as exc:
            standin(recordings=shared_data / "statsapi", revise=[spec], port=0)
        assert exc.value.exit_code == 2
        assert message in capsys.readouterr().err
