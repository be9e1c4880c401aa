"""derive_events over the recorded real feeds."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sts.events import derive as D
from sts.events.derive import derive_events
from tests.events.feeds import FINAL_FEEDS, LIVE_FEEDS, load, states, truncated

SCHEMAS = Path(D.__file__).parent / "schemas"
FACTS = {D.PITCH, D.PLAY_COMPLETED, D.SCORE_CHANGED, D.SUBSTITUTION}


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    named: dict[str, Any] = {}
    out = {}
    for f in sorted(SCHEMAS.glob("*.avsc")):
        raw = json.loads(f.read_text())
        assert raw["name"] == f.stem and raw["namespace"] == "sts.events"
        out[f.stem] = fastavro.parse_schema(raw, named_schemas=named)
    return out


def test_every_schema_field_is_documented_and_events_lead_with_common_fields(schemas: dict[str, Any]) -> None:
    def walk(rec: dict[str, Any]) -> None:
        for field in rec["fields"]:
            assert field.get("doc"), f"{rec['name']}.{field['name']} has no doc"
            t = field["type"]
            if isinstance(t, list) and "null" in t:
                assert t[0] == "null" and field.get("default", "missing") is None, field["name"]
            for sub in t if isinstance(t, list) else [t]:
                if isinstance(sub, dict) and sub.get("type") == "record":
                    walk(sub)
                if isinstance(sub, dict) and sub.get("type") == "array" and isinstance(sub["items"], dict):
                    walk(sub["items"])

    for f in SCHEMAS.glob("*.avsc"):
        raw = json.loads(f.read_text())
        walk(raw)
        assert [x["name"] for x in raw["fields"][:3]] == ["event_id", "game_pk", "timecode"]


@pytest.mark.parametrize("name", FINAL_FEEDS)
def test_final_feed_gives_every_fact(name: str, schemas: dict[str, Any]) -> None:
    feed = load(name)
    events = derive_events(None, feed)
    kinds = Counter(e.event_type for e in events)
    plays = feed["liveData"]["plays"]["allPlays"]
    evs = [ev for p in plays for ev in p["playEvents"]]
    assert kinds[D.PLAY_COMPLETED] == len(plays)
    assert kinds[D.PITCH] == sum(1 for ev in evs if ev.get("isPitch") is True)
    assert kinds[D.SUBSTITUTION] == sum(1 for ev in evs if ev.get("isSubstitution") is True)
    assert kinds[D.GAME_INFO] == kinds[D.GAME_FINAL] == kinds[D.GAME_STATUS_CHANGED] == 1
    # a run can score on an action inside a play (a balk): isScoringPlay is false, the score changes
    scores = [(0, 0)] + [(p["result"]["awayScore"], p["result"]["homeScore"]) for p in plays]
    assert kinds[D.SCORE_CHANGED] == sum(1 for a, b in itertools.pairwise(scores) if a != b)
    assert kinds[D.SCORE_CHANGED] >= sum(1 for p in plays if p["about"].get("isScoringPlay"))
    last = [e for e in events if e.event_type == D.SCORE_CHANGED][-1].payload
    final = next(e for e in events if e.event_type == D.GAME_FINAL).payload
    assert (last["away_score"], last["home_score"]) == (final["away_score"], final["home_score"])
    assert events[0].event_type == D.GAME_INFO
    assert [e.event_type for e in events[-2:]] == [D.GAME_STATUS_CHANGED, D.GAME_FINAL]
    assert len({e.event_id for e in events}) == len(events)
    for e in events:
        assert e.payload["event_id"] == e.event_id and e.payload["game_pk"] == e.game_pk == feed["gamePk"]
        assert e.payload["timecode"] == feed["metaData"]["timeStamp"]
        fastavro.validation.validate(e.payload, schemas[e.event_type], raise_errors=True)


@pytest.mark.parametrize("name", FINAL_FEEDS + LIVE_FEEDS)
def test_ids_are_deterministic_and_nothing_is_new_twice(name: str) -> None:
    feed = load(name)
    first = derive_events(None, feed)
    assert derive_events(None, load(name)) == first
    assert derive_events(feed, load(name)) == []


@pytest.mark.parametrize("name", FINAL_FEEDS)
def test_any_sequence_of_states_gives_the_same_facts(name: str) -> None:
    final = load(name)
    expected = {e.event_id for e in derive_events(None, final) if e.event_type in FACTS}
    for every in (3, 7):
        seen: list[str] = []
        previous = None
        for state in states(final, every):
            seen.extend(e.event_id for e in derive_events(previous, state) if e.event_type in FACTS)
            previous = state
        assert len(seen) == len(set(seen)), "an unchanged fact was emitted twice"
        assert set(seen) == expected


def test_status_and_final_follow_the_snapshots() -> None:
    final = load("feed_live_744914.json")
    live = states(final, 20)
    first = derive_events(None, live[0])
    assert D.GAME_FINAL not in {e.event_type for e in first}
    assert derive_events(live[0], live[1])[-1].event_type != D.GAME_STATUS_CHANGED
    last = derive_events(live[-2], final)
    status = [e for e in last if e.event_type == D.GAME_STATUS_CHANGED]
    assert [s.payload["previous_abstract_state"] for s in status] == ["Live"]
    assert last[-1].event_type == D.GAME_FINAL


def test_revised_play_gets_a_new_id() -> None:
    feed = load("feed_live_744914.json")
    revised = load("feed_live_744914.json")
    revised["liveData"]["plays"]["allPlays"][5]["result"]["description"] = "Scorer's change."
    new = derive_events(feed, revised)
    # the new content, then what changed (issue 5: corrections)
    assert [(e.event_type, e.payload.get("at_bat_index")) for e in new] == [
        (D.PLAY_COMPLETED, 5),
        (D.PLAY_REVISED, 5),
    ]
    assert new[1].payload["kind"] == "description"
    assert new[1].payload["play_event_id"] == new[0].event_id


def test_tolerates_missing_and_unknown_fields(schemas: dict[str, Any]) -> None:
    feed = load("feed_live_744914.json")
    play = feed["liveData"]["plays"]["allPlays"][3]
    del play["about"]["endTime"]
    pitch = play["playEvents"][0]
    pitch.pop("pitchData", None)
    pitch["details"]["absChallenge"] = {"challenger": 123, "overturned": True}
    feed["gameData"]["players"].pop(next(iter(feed["gameData"]["players"])))
    del feed["liveData"]["boxscore"]
    events = derive_events(None, feed)
    first_pitch = next(e for e in events if e.event_type == D.PITCH and e.payload["at_bat_index"] == 3)
    assert json.loads(first_pitch.payload["extra"])["details"]["absChallenge"]["overturned"] is True
    assert first_pitch.payload["start_speed"] is None
    for e in events:
        fastavro.validation.validate(e.payload, schemas[e.event_type], raise_errors=True)
    assert derive_events(None, {"gamePk": 1})[0].event_type == D.GAME_INFO
    with pytest.raises(ValueError):
        derive_events(None, {})


def test_postponed_game_is_not_final() -> None:
    feed = load("feed_live_744914.json")
    feed["gameData"]["status"].update(codedGameState="D", detailedState="Postponed")
    kinds = {e.event_type for e in derive_events(None, feed)}
    assert D.GAME_STATUS_CHANGED in kinds and D.GAME_FINAL not in kinds


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 20)), min_size=1, max_size=6))
def test_random_sequences_give_the_same_facts(cuts: list[tuple[int, int]]) -> None:
    final = load("feed_live_718594.json")
    expected = {e.event_id for e in derive_events(None, final) if e.event_type in FACTS}
    n = len(final["liveData"]["plays"]["allPlays"])
    sequence = [truncated(final, k % n, j, step) for step, (k, j) in enumerate(sorted(cuts))] + [final]
    seen: set[str] = set()
    previous = None
    for state in sequence:
        seen.update(e.event_id for e in derive_events(previous, state) if e.event_type in FACTS)
        previous = state
    assert seen == expected


def test_a_repeated_status_transition_gets_a_new_id() -> None:
    final = load("feed_live_744914.json")
    live = states(final, 20)[:3]
    delayed = [json.loads(json.dumps(s)) for s in live]
    for s in delayed:
        s["gameData"]["status"].update(codedGameState="PR", detailedState="Delayed: Rain")
    sequence = [live[0], delayed[1], live[1], delayed[2], live[2]]
    ids = []
    for prev, cur in itertools.pairwise(sequence):
        ids += [e.event_id for e in derive_events(prev, cur) if e.event_type == D.GAME_STATUS_CHANGED]
    assert len(ids) == 4 and len(set(ids)) == 4
