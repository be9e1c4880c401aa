"""Detection of revised plays (``PlayRevised``), per kind of revision, on MLB's recorded feeds.

The revised feeds are those the stand-in serves (:func:`sts.standin.revisions.apply_revision`); a few
cases edit a recorded play by hand to pin down what is and is not a revision.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest

from sts.events import derive as D
from sts.events.codec import SCHEMAS_DIR, load_schemas
from sts.events.derive import derive_events
from sts.events.model import GameEvent
from sts.events.revisions import play_changes, revision_kind
from sts.standin.revisions import apply_revision

SCHEMA = load_schemas(SCHEMAS_DIR)["PlayRevised"]


def final_feed(shared_data: Path, name: str = "feed_live_744914.json") -> dict[str, Any]:
    return json.loads((shared_data / "statsapi" / name).read_text())


def revised_events(feed: dict[str, Any], kind: str) -> tuple[int, list[GameEvent]]:
    revised, abi = apply_revision(feed, kind)
    revised["metaData"]["timeStamp"] = "20240701_235959"
    return abi, derive_events(feed, revised)


def the_revision(events: list[GameEvent]) -> GameEvent:
    found = [e for e in events if e.event_type == D.PLAY_REVISED]
    assert len(found) == 1, [e.event_type for e in events]
    fastavro.validate(found[0].payload, SCHEMA.parsed, raise_errors=True)
    assert set(found[0].payload) <= SCHEMA.fields
    return found[0]


def changed(event: GameEvent) -> dict[str, tuple[Any, Any]]:
    return {
        c["field"]: (c["old"] and json.loads(c["old"]), c["new"] and json.loads(c["new"]))
        for c in event.payload["changes"]
    }


def test_scoring_change_hit_to_error(shared_data: Path) -> None:
    feed = final_feed(shared_data)
    abi, events = revised_events(feed, "hit-to-error")
    assert abi == 9  # George Springer's single in the 2nd: bases empty, nobody scores after it
    rev = the_revision(events)
    # the new content first, then the revision pointing at it; the box changed, so a new GameFinal
    types = [e.event_type for e in events]
    assert types == [D.PLAY_COMPLETED, D.PLAY_REVISED, D.GAME_FINAL]
    assert rev.payload["play_event_id"] == events[0].event_id
    assert rev.payload["kind"] == "scoring_change"
    assert rev.payload["at_bat_index"] == 9 and rev.payload["batter_id"] == 543807
    c = changed(rev)
    assert c["result.eventType"] == ("single", "field_error")
    assert c["result.event"] == ("Single", "Field Error")
    assert "reaches on a fielding error" in c["result.description"][1]
    old_credits, new_credits = c["runners[0].credits"]
    assert [x["credit"] for x in old_credits] == ["f_fielded_ball"]
    assert [x["credit"] for x in new_credits] == ["f_fielding_error"]
    assert set(c) == {
        "result.description", "result.event", "result.eventType", "runners[0].details", "runners[0].credits",
    }  # fmt: skip


def test_challenge_overturned(shared_data: Path) -> None:
    feed = final_feed(shared_data, "feed_live_718322.json")
    _, events = revised_events(feed, "overturn")
    rev = the_revision(events)
    assert rev.payload["kind"] == "review"
    c = changed(rev)
    old_review, new_review = c["reviewDetails"]
    assert old_review is None and new_review["isOverturned"] is True
    assert c["about.hasReview"] == (False, True)
    assert "call on the field was overturned" in c["result.description"][1]
    # the outcome did not change: no new GameFinal (the box is the same)
    assert D.GAME_FINAL not in {e.event_type for e in events}


def test_an_existing_review_overturned(shared_data: Path) -> None:
    """718322 #32 has a real review (call confirmed); overturning it changes only isOverturned."""
    feed = final_feed(shared_data, "feed_live_718322.json")
    revised, abi = apply_revision(feed, "overturn", 32)
    assert abi == 32
    c = changed(the_revision(derive_events(feed, revised)))
    old_review, new_review = c["reviewDetails"]
    assert old_review["isOverturned"] is False and new_review["isOverturned"] is True
    assert "about.hasReview" not in c  # it was reviewed already


def test_runner_credits_revised(shared_data: Path) -> None:
    feed = final_feed(shared_data)
    abi, events = revised_events(feed, "runner-credits")
    rev = the_revision(events)
    assert rev.payload["kind"] == "runner_credits"
    c = changed(rev)
    assert list(c) == ["runners[0].credits"]
    old, new = c["runners[0].credits"]
    pitcher = feed["liveData"]["plays"]["allPlays"][abi]["matchup"]["pitcher"]["id"]
    assert [x["credit"] for x in old] == [x["credit"] for x in new]
    assert old[0]["player"]["id"] != pitcher and new[0]["player"]["id"] == pitcher


def test_same_revision_same_id_and_nothing_new_after_it(shared_data: Path) -> None:
    feed = final_feed(shared_data)
    revised, _ = apply_revision(feed, "hit-to-error")
    revised["metaData"]["timeStamp"] = "20240701_235959"
    first = the_revision(derive_events(feed, revised))
    again = the_revision(derive_events(copy.deepcopy(feed), copy.deepcopy(revised)))
    assert first.event_id == again.event_id
    later = copy.deepcopy(revised)
    later["metaData"]["timeStamp"] = "20240702_000100"
    assert [e.event_type for e in derive_events(revised, later)] == []  # nothing changed since


def test_not_revisions(shared_data: Path) -> None:
    feed = final_feed(shared_data)
    # a tracking refinement of a completed play is an update (new PlayCompleted), not a revision
    refined = copy.deepcopy(feed)
    play = refined["liveData"]["plays"]["allPlays"][9]
    play["about"]["captivatingIndex"] = 99
    play["playEvents"][-1]["hitData"]["launchSpeed"] = 90.1
    events = derive_events(feed, refined)
    assert [e.event_type for e in events] == [D.PITCH, D.PLAY_COMPLETED]
    # a play that was not complete before is completed, not revised
    live = copy.deepcopy(feed)
    live["liveData"]["plays"]["allPlays"][9]["about"]["isComplete"] = False
    assert D.PLAY_REVISED not in {e.event_type for e in derive_events(live, feed)}
    # without a previous snapshot there is nothing to revise
    assert D.PLAY_REVISED not in {e.event_type for e in derive_events(None, feed)}


def test_play_changes_and_kinds() -> None:
    old = {
        "result": {"event": "Single", "eventType": "single", "description": "A singles.", "rbi": 0},
        "about": {"isComplete": True, "hasReview": False},
        "runners": [{"movement": {"end": "1B"}, "details": {"event": "Single"}, "credits": []}],
    }
    new = copy.deepcopy(old)
    assert play_changes(old, new) == []
    new["result"]["description"] = "A singles sharply."
    assert revision_kind(play_changes(old, new)) == "description"
    new["runners"].append({"movement": {"end": "score"}, "details": {"event": "Single"}, "credits": []})
    changes = play_changes(old, new)
    assert [c["field"] for c in changes] == [
        "result.description", "runners.length", "runners[1].movement", "runners[1].details",
        "runners[1].credits",
    ]  # fmt: skip
    assert changes[2]["old"] is None and json.loads(str(changes[2]["new"])) == {"end": "score"}
    assert revision_kind(changes) == "runner_credits"
    new["result"]["rbi"] = 1
    assert revision_kind(play_changes(old, new)) == "runner_credits"
    new["reviewDetails"] = {"isOverturned": True}
    assert revision_kind(play_changes(old, new)) == "review"
    new["result"]["eventType"] = "double"
    assert revision_kind(play_changes(old, new)) == "scoring_change"
    assert revision_kind([{"field": "count.outs", "old": "1", "new": "2"}]) == "other"


@pytest.mark.parametrize("kind", ["hit-to-error", "overturn", "runner-credits"])
def test_every_recorded_game_can_be_revised_and_detected(shared_data: Path, kind: str) -> None:
    from tests.events.feeds import FINAL_FEEDS, load

    for name in FINAL_FEEDS:
        feed = load(name)
        revised, abi = apply_revision(feed, kind)
        rev = the_revision(derive_events(feed, revised))
        assert rev.payload["at_bat_index"] == abi, name
