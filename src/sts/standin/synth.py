"""Synthesize the GUMBO feed of a game at one state of its :class:`GameTimeline` (pure, no I/O).

Contract of :func:`synthesize`:

- a ``final`` state returns the recorded final feed itself (the same object: do not mutate it);
- any other state returns a new top-level dict that shares every unchanged sub-object with the
  final feed (treat the result as read-only): completed plays, the players, the boxscore are the
  recorded objects; ``metaData``, ``gameData.status``, ``gameData.gameInfo``, ``liveData.plays`` and
  ``liveData.linescore`` are rebuilt; ``liveData.decisions`` is left out until the game is final;
- the last visible play is cut to its visible events: ``about.isComplete`` false, ``result`` as MLB
  shows an at-bat in progress, ``count`` = count after the last visible pitch, only the runner
  movements (with their credits) of visible events.

Known, deliberate gaps (the final feed is the only source): ``liveData.boxscore``, ``leaders``,
``gameData.flags``/``review``/``moundVisits`` keep their final values at every state.
"""

from __future__ import annotations

import re
from typing import Any

from sts.standin.linescore import build_linescore
from sts.standin.timeline import GameTimeline, State, apply_runners

JSON = dict[str, Any]

STATUS: dict[str, JSON] = {
    "scheduled": {
        "abstractGameState": "Preview",
        "codedGameState": "S",
        "detailedState": "Scheduled",
        "statusCode": "S",
        "startTimeTBD": False,
        "abstractGameCode": "P",
    },
    "pregame": {
        "abstractGameState": "Preview",
        "codedGameState": "P",
        "detailedState": "Pre-Game",
        "statusCode": "P",
        "startTimeTBD": False,
        "abstractGameCode": "P",
    },
    "warmup": {
        "abstractGameState": "Live",
        "codedGameState": "P",
        "detailedState": "Warmup",
        "statusCode": "PW",
        "startTimeTBD": False,
        "abstractGameCode": "L",
    },
    "live": {
        "abstractGameState": "Live",
        "codedGameState": "I",
        "detailedState": "In Progress",
        "statusCode": "I",
        "startTimeTBD": False,
        "abstractGameCode": "L",
    },
}


def status_of(tl: GameTimeline, state: State) -> JSON:
    """``gameData.status`` at ``state`` (the recorded one when final)."""
    if state.phase == "final":
        return dict(tl.feed["gameData"]["status"])
    return dict(STATUS[state.phase])


def partial_play(tl: GameTimeline, k: int, m: int) -> JSON:
    """Play ``k`` as MLB shows it while in progress, after its first ``m`` play events."""
    play = tl.plays[k]
    facts = tl.facts[k]
    events = play.get("playEvents", [])[:m]
    runners = [
        r
        for r in play.get("runners", [])
        if isinstance(r.get("details", {}).get("playIndex"), int) and r["details"]["playIndex"] < m
    ]
    away, home = facts.score_before
    scored = sum(1 for r in runners if r.get("movement", {}).get("end") == "score")
    if facts.top:
        away += scored
    else:
        home += scored
    last_count = events[-1].get("count") if events else None
    count = dict(last_count) if last_count else {"balls": 0, "strikes": 0, "outs": facts.outs_before}
    result: JSON = {"type": "atBat"}
    if events and events[-1].get("type") == "action":  # MLB drops them again at the next pitch
        details = events[-1].get("details", {})
        for key in ("event", "eventType", "description"):
            if key in details:
                result[key] = details[key]
    result.update(
        rbi=sum(1 for r in runners if r.get("details", {}).get("rbi")),
        awayScore=away,
        homeScore=home,
        isOut=False,
    )
    about = dict(play["about"])
    end_time = next(
        (
            ev.get("endTime") or ev.get("startTime")
            for ev in reversed(events)
            if ev.get("endTime") or ev.get("startTime")
        ),
        about.get("startTime"),
    )
    about.update(
        endTime=end_time,
        isComplete=False,
        isScoringPlay=scored > 0,
        hasOut=count.get("outs", 0) > facts.outs_before,
    )
    about.pop("hasReview", None)  # MLB leaves it out of an at-bat in progress
    if "captivatingIndex" in about:
        about["captivatingIndex"] = 0
    matchup = dict(play.get("matchup", {}))
    fielding = "home" if facts.batting == "away" else "away"
    pitcher = facts.lineup_before.get(fielding, {}).get("pitcher")
    for ev_index, side, key, pid in facts.subs:
        if ev_index < m and side == fielding and key == "pitcher":
            pitcher = pid
    if pitcher is not None and pitcher != matchup.get("pitcher", {}).get("id"):
        # the recorded matchup names the pitcher who finished the at-bat; before a mid-at-bat change
        # MLB shows the one on the mound (seen in 746139's diffPatch)
        matchup["pitcher"] = tl.person(pitcher)
        hand = tl.feed["gameData"].get("players", {}).get(f"ID{pitcher}", {}).get("pitchHand")
        if hand is not None and "pitchHand" in matchup:
            matchup["pitchHand"] = hand
    bases = facts.bases_before
    if runners or facts.swaps:
        bases = apply_runners(bases, runners, [sw for sw in facts.swaps if sw[0] < m])
    for key in ("postOnFirst", "postOnSecond", "postOnThird"):
        matchup.pop(key, None)
    splits = matchup.pop("splits", None)
    for base, key in (("1B", "postOnFirst"), ("2B", "postOnSecond"), ("3B", "postOnThird")):
        if base in bases:
            matchup[key] = tl.person(bases[base])
    if splits is not None:
        matchup["splits"] = splits
    out: JSON = {}
    for key, value in play.items():
        if key == "result":
            out[key] = result
        elif key == "about":
            out[key] = about
        elif key == "count":
            out[key] = count
        elif key == "matchup":
            out[key] = matchup
        elif key == "pitchIndex":
            out[key] = [i for i, ev in enumerate(events) if ev.get("isPitch")]
        elif key == "actionIndex":
            out[key] = [i for i, ev in enumerate(events) if ev.get("type") == "action"]
        elif key == "runnerIndex":
            out[key] = list(range(len(runners)))
        elif key == "runners":
            out[key] = runners
        elif key == "playEvents":
            out[key] = events
        elif key == "playEndTime":
            out[key] = end_time
        else:
            out[key] = value
    return out


def _plays_by_inning(tl: GameTimeline, k: int, m: int, complete: bool) -> list[JSON]:
    """``playsByInning`` cut to plays ``0..k`` (play ``k`` showing ``m`` events)."""
    out: list[JSON] = []
    entries = tl.feed["liveData"]["plays"].get("playsByInning", [])
    for entry, hits_at in zip(entries, tl.hits_at, strict=False):
        if entry.get("startIndex", 0) > k:
            break
        top = [i for i in entry.get("top", []) if i <= k]
        bottom = [i for i in entry.get("bottom", []) if i <= k]
        seen = top + bottom
        new = dict(entry)
        new["startIndex"] = min(seen) if seen else entry.get("startIndex")
        new["endIndex"] = max(seen) if seen else entry.get("startIndex")
        new["top"], new["bottom"] = top, bottom
        hits = {}
        for side, entries in entry.get("hits", {}).items():
            at = hits_at.get(side, [])
            hits[side] = [
                hit
                for hit, (ab, ev) in zip(entries, at, strict=False)
                if ab < k or (ab == k and (complete or ev < m))
            ]
        new["hits"] = hits
        out.append(new)
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def meta_events(tl: GameTimeline, state: State) -> tuple[list[str], list[str]]:
    """``metaData.gameEvents`` and ``logicalEvents`` for the latest change of ``state``.

    As seen in MLB's feeds: the event type of the latest play event (a pitch: its call, e.g.
    ``ball``) or completed play; ``countChange``/``countBS`` when a pitch changed the count,
    ``newLeftHandedHit``/``newRightHandedHit`` when a batter comes up, ``pitcherChange`` at a
    pitching substitution, ``midInning`` at a third out,
    ``basesEmpty`` when nobody is on base."""
    if state.phase != "live" or not state.plays:
        return [], []
    k = state.plays - 1
    play, facts = tl.plays[k], tl.facts[k]
    events = play.get("playEvents", [])
    game: list[str] = []
    logical: list[str] = []
    if state.complete:
        if play.get("result", {}).get("eventType"):
            game.append(play["result"]["eventType"])
        if facts.outs_after >= 3:
            logical.append("midInning")
        if facts.outs_after >= 3 or not facts.bases_after:
            logical.append("basesEmpty")
    elif state.events == 0:
        side = play.get("matchup", {}).get("batSide", {}).get("code")
        logical.append("newLeftHandedHit" if side == "L" else "newRightHandedHit")
        if not facts.bases_before:
            logical.append("basesEmpty")
    else:
        event = events[state.events - 1]
        details = event.get("details", {})
        if details.get("eventType"):
            game.append(details["eventType"])
            if details["eventType"] == "pitching_substitution":
                logical.append("pitcherChange")
        elif event.get("isPitch"):
            call = details.get("call", {}).get("description") or details.get("description") or ""
            if call:
                game.append(_slug(call))
        if event.get("isPitch"):
            before = events[state.events - 2].get("count", {}) if state.events > 1 else {}
            after = event.get("count", {})
            pair = (after.get("balls", 0), after.get("strikes", 0))
            if pair != (before.get("balls", 0), before.get("strikes", 0)):
                logical += ["countChange", f"count{pair[0]}{pair[1]}"]
    return game, logical


def synthesize(tl: GameTimeline, index: int) -> JSON:
    """The feed at state ``tl.states[index]`` (see the module doc for what is shared and rebuilt)."""
    state = tl.states[index]
    if state.phase == "final":
        return tl.feed
    final = tl.feed
    feed = dict(final)
    game_events, logical_events = meta_events(tl, state)
    feed["metaData"] = {
        "wait": 10,
        "timeStamp": tl.timecodes[index],
        "gameEvents": game_events,
        "logicalEvents": logical_events,
    }
    game_data = dict(final["gameData"])
    game_data["status"] = status_of(tl, state)
    first_pitch = final["gameData"].get("gameInfo", {}).get("firstPitch")
    game_data["gameInfo"] = {"firstPitch": first_pitch} if state.plays and first_pitch else {}
    feed["gameData"] = game_data
    live = {key: value for key, value in final["liveData"].items() if key != "decisions"}
    plays_out: JSON = {}
    if state.plays:
        k = state.plays - 1
        current = tl.plays[k] if state.complete else partial_play(tl, k, state.events)
        all_plays = [*tl.plays[:k], current]
        plays_out = {
            "allPlays": all_plays,
            "currentPlay": current,
            "scoringPlays": [
                i for i in final["liveData"]["plays"].get("scoringPlays", []) if i < k + int(state.complete)
            ],
            "playsByInning": _plays_by_inning(tl, k, state.events, state.complete),
        }
    else:
        plays_out = {"allPlays": [], "scoringPlays": [], "playsByInning": []}
    live["plays"] = plays_out
    live["linescore"] = build_linescore(tl, state, plays_out.get("currentPlay"))
    feed["liveData"] = live
    return feed
