"""Plays, play events and runners of a live feed as flat records (the Avro field names of
``Pitch``, ``PlayEvent``, ``Runner``, ``PlayCompleted``, ``Substitution``).

Pure functions over one play dict of ``liveData.plays.allPlays``. Fields the records do not model are
kept in an ``extra`` JSON string, grouped by the feed section they came from.
"""

from __future__ import annotations

from typing import Any

from sts.domain.feed import (
    Json,
    as_bool,
    as_dict,
    as_float,
    as_int,
    as_list,
    as_str,
    dig,
    dumps,
    extra_json,
    leftovers,
    person_id,
)

SUBSTITUTION_TYPES = frozenset(
    {"pitching_substitution", "offensive_substitution", "defensive_substitution", "defensive_switch"}
)

_EVENT_TOP = frozenset((
    "details", "count", "pitchData", "hitData", "index", "playId", "pitchNumber", "startTime",
    "endTime", "isPitch", "type", "player", "isSubstitution",
))  # fmt: skip
_EVENT_DETAILS = frozenset((
    "event", "eventType", "description", "code", "call", "type", "isInPlay", "isStrike", "isBall",
    "isOut", "hasReview",
))  # fmt: skip
_PITCH_DATA = frozenset((
    "startSpeed", "endSpeed", "strikeZoneTop", "strikeZoneBottom", "zone", "typeConfidence",
    "plateTime", "extension", "coordinates", "breaks",
))  # fmt: skip
_COORDS = {
    "px": "pX", "pz": "pZ", "pfx_x": "pfxX", "pfx_z": "pfxZ", "x": "x", "y": "y", "x0": "x0",
    "y0": "y0", "z0": "z0", "vx0": "vX0", "vy0": "vY0", "vz0": "vZ0", "ax": "aX", "ay": "aY", "az": "aZ",
}  # fmt: skip
_BREAKS = {
    "break_angle": "breakAngle", "break_length": "breakLength", "break_y": "breakY",
    "break_vertical": "breakVertical", "break_vertical_induced": "breakVerticalInduced",
    "break_horizontal": "breakHorizontal", "spin_rate": "spinRate", "spin_direction": "spinDirection",
}  # fmt: skip
_COORD_KEYS = frozenset(_COORDS.values())
_BREAK_KEYS = frozenset(_BREAKS.values())
_HIT_COORDS = frozenset(("coordX", "coordY"))
_COUNT = frozenset(("balls", "strikes", "outs"))
_HIT_DATA = frozenset((
    "launchSpeed", "launchAngle", "totalDistance", "trajectory", "hardness", "location", "coordinates",
))  # fmt: skip
_PLAY_TOP = frozenset((
    "result", "about", "count", "matchup", "runners", "playEvents", "atBatIndex", "reviewDetails",
    # derivable from playEvents / about: not kept
    "pitchIndex", "actionIndex", "runnerIndex", "playEndTime",
))  # fmt: skip
_RESULT = frozenset(("type", "event", "eventType", "description", "rbi", "awayScore", "homeScore", "isOut"))
_ABOUT = frozenset((
    "atBatIndex", "halfInning", "isTopInning", "inning", "startTime", "endTime", "isComplete",
    "isScoringPlay", "hasReview", "hasOut", "captivatingIndex",
))  # fmt: skip
_MATCHUP = frozenset((
    "batter", "batSide", "pitcher", "pitchHand", "splits", "postOnFirst", "postOnSecond", "postOnThird",
))  # fmt: skip
_MOVEMENT = frozenset(("originBase", "start", "end", "outBase", "isOut", "outNumber"))
_RUNNER_DETAILS = frozenset((
    "event", "eventType", "movementReason", "runner", "responsiblePitcher", "isScoringEvent", "rbi",
    "earned", "teamUnearned", "playIndex",
))  # fmt: skip


def play_event_record(index: int, ev: Json) -> dict[str, Any]:
    """The ``PlayEvent`` record of one ``playEvents[]`` entry."""
    details = as_dict(ev.get("details"))
    count = as_dict(ev.get("count"))
    pitch = as_dict(ev.get("pitchData"))
    coords = as_dict(pitch.get("coordinates"))
    breaks = as_dict(pitch.get("breaks"))
    hit = as_dict(ev.get("hitData"))
    hit_coords = as_dict(hit.get("coordinates"))
    rec: dict[str, Any] = {
        "event_index": index,
        "type": as_str(ev.get("type")),
        "is_pitch": as_bool(ev.get("isPitch")),
        "is_substitution": as_bool(ev.get("isSubstitution")),
        "play_id": as_str(ev.get("playId")),
        "pitch_number": as_int(ev.get("pitchNumber")),
        "start_time": as_str(ev.get("startTime")),
        "end_time": as_str(ev.get("endTime")),
        "player_id": person_id(ev.get("player")),
        "event": as_str(details.get("event")),
        "event_type": as_str(details.get("eventType")),
        "description": as_str(details.get("description")),
        "code": as_str(details.get("code")),
        "call_code": as_str(dig(details, "call", "code")),
        "call_description": as_str(dig(details, "call", "description")),
        "pitch_type_code": as_str(dig(details, "type", "code")),
        "pitch_type_description": as_str(dig(details, "type", "description")),
        "is_in_play": as_bool(details.get("isInPlay")),
        "is_strike": as_bool(details.get("isStrike")),
        "is_ball": as_bool(details.get("isBall")),
        "is_out": as_bool(details.get("isOut")),
        "has_review": as_bool(details.get("hasReview")),
        "balls": as_int(count.get("balls")),
        "strikes": as_int(count.get("strikes")),
        "outs": as_int(count.get("outs")),
        "start_speed": as_float(pitch.get("startSpeed")),
        "end_speed": as_float(pitch.get("endSpeed")),
        "strike_zone_top": as_float(pitch.get("strikeZoneTop")),
        "strike_zone_bottom": as_float(pitch.get("strikeZoneBottom")),
        "zone": as_int(pitch.get("zone")),
        "type_confidence": as_float(pitch.get("typeConfidence")),
        "plate_time": as_float(pitch.get("plateTime")),
        "extension": as_float(pitch.get("extension")),
    }
    for name, key in _COORDS.items():
        rec[name] = as_float(coords.get(key))
    for name, key in _BREAKS.items():
        rec[name] = as_float(breaks.get(key))
    rec.update(
        launch_speed=as_float(hit.get("launchSpeed")),
        launch_angle=as_float(hit.get("launchAngle")),
        total_distance=as_float(hit.get("totalDistance")),
        trajectory=as_str(hit.get("trajectory")),
        hardness=as_str(hit.get("hardness")),
        location=as_str(hit.get("location")),
        hit_coord_x=as_float(hit_coords.get("coordX")),
        hit_coord_y=as_float(hit_coords.get("coordY")),
    )
    pitch_extra = leftovers(pitch, _PITCH_DATA)
    for name, sub, known in (("coordinates", coords, _COORD_KEYS), ("breaks", breaks, _BREAK_KEYS)):
        rest = leftovers(sub, known)
        if rest:
            pitch_extra[name] = rest
    hit_extra = leftovers(hit, _HIT_DATA)
    if rest := leftovers(hit_coords, _HIT_COORDS):
        hit_extra["coordinates"] = rest
    rec["extra"] = extra_json(
        {
            "top": leftovers(ev, _EVENT_TOP),
            "details": leftovers(details, _EVENT_DETAILS),
            "count": leftovers(count, _COUNT),
            "pitchData": pitch_extra,
            "hitData": hit_extra,
        }
    )
    return rec


def is_substitution(ev: Json) -> bool:
    """A substitution action: ``isSubstitution`` or a substitution/switch event type."""
    return ev.get("isSubstitution") is True or dig(ev, "details", "eventType") in SUBSTITUTION_TYPES


def substitution_record(ev: Json, index: int, team_ids: tuple[int | None, int | None]) -> dict[str, Any]:
    """The ``Substitution`` fields of one action (without the play position and common fields).

    ``team_ids`` is ``(batting team, fielding team)`` of the half inning.
    """
    details = as_dict(ev.get("details"))
    sub_type = as_str(details.get("eventType"))
    return {
        "event_index": index,
        "substitution_type": sub_type,
        "event": as_str(details.get("event")),
        "description": as_str(details.get("description")),
        "team_id": team_ids[0] if sub_type == "offensive_substitution" else team_ids[1],
        "player_id": person_id(ev.get("player")),
        "replaced_player_id": person_id(ev.get("replacedPlayer")),
        "position_code": as_str(dig(ev, "position", "code")),
        "position_abbreviation": as_str(dig(ev, "position", "abbreviation")),
        "batting_order": as_str(ev.get("battingOrder")),
        "base": as_int(ev.get("base")),
        "start_time": as_str(ev.get("startTime")),
        "extra": extra_json(
            {
                "top": leftovers(
                    ev,
                    (*_EVENT_TOP, "replacedPlayer", "position", "battingOrder", "base"),
                ),
                "details": leftovers(details, ("event", "eventType", "description")),
            }
        ),
    }


def runner_record(index: int, runner: Json) -> dict[str, Any]:
    """The ``Runner`` record of one ``runners[]`` entry, with its fielding credits."""
    mv = as_dict(runner.get("movement"))
    det = as_dict(runner.get("details"))
    credits = [
        {
            "player_id": person_id(c.get("player")),
            "position_code": as_str(dig(c, "position", "code")),
            "position_abbreviation": as_str(dig(c, "position", "abbreviation")),
            "credit": as_str(c.get("credit")),
        }
        for c in as_list(runner.get("credits"))
        if isinstance(c, dict)
    ]
    return {
        "runner_index": index,
        "runner_id": person_id(det.get("runner")),
        "origin_base": as_str(mv.get("originBase")),
        "start_base": as_str(mv.get("start")),
        "end_base": as_str(mv.get("end")),
        "out_base": as_str(mv.get("outBase")),
        "is_out": as_bool(mv.get("isOut")),
        "out_number": as_int(mv.get("outNumber")),
        "event": as_str(det.get("event")),
        "event_type": as_str(det.get("eventType")),
        "movement_reason": as_str(det.get("movementReason")),
        "responsible_pitcher_id": person_id(det.get("responsiblePitcher")),
        "is_scoring_event": as_bool(det.get("isScoringEvent")),
        "rbi": as_bool(det.get("rbi")),
        "earned": as_bool(det.get("earned")),
        "team_unearned": as_bool(det.get("teamUnearned")),
        "play_index": as_int(det.get("playIndex")),
        "credits": credits,
        "extra": extra_json(
            {
                "top": leftovers(runner, ("movement", "details", "credits")),
                "movement": leftovers(mv, _MOVEMENT),
                "details": leftovers(det, _RUNNER_DETAILS),
            }
        ),
    }


def play_position(play: Json, at_bat_index: int) -> dict[str, Any]:
    """``at_bat_index``, ``inning``, ``half_inning`` of a play."""
    about = as_dict(play.get("about"))
    return {
        "at_bat_index": at_bat_index,
        "inning": as_int(about.get("inning")),
        "half_inning": as_str(about.get("halfInning")),
    }


def play_record(play: Json, at_bat_index: int, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``PlayCompleted`` fields of a play (without the common fields); ``events`` are its
    ``PlayEvent`` records."""
    about = as_dict(play.get("about"))
    result = as_dict(play.get("result"))
    count = as_dict(play.get("count"))
    matchup = as_dict(play.get("matchup"))
    splits = as_dict(matchup.get("splits"))
    review = play.get("reviewDetails")
    rec = play_position(play, at_bat_index)
    rec.update(
        is_top_inning=as_bool(about.get("isTopInning")),
        start_time=as_str(about.get("startTime")),
        end_time=as_str(about.get("endTime")),
        is_complete=as_bool(about.get("isComplete")),
        is_scoring_play=as_bool(about.get("isScoringPlay")),
        has_review=as_bool(about.get("hasReview")),
        has_out=as_bool(about.get("hasOut")),
        captivating_index=as_int(about.get("captivatingIndex")),
        result_type=as_str(result.get("type")),
        event=as_str(result.get("event")),
        event_type=as_str(result.get("eventType")),
        description=as_str(result.get("description")),
        rbi=as_int(result.get("rbi")),
        away_score=as_int(result.get("awayScore")),
        home_score=as_int(result.get("homeScore")),
        is_out=as_bool(result.get("isOut")),
        balls=as_int(count.get("balls")),
        strikes=as_int(count.get("strikes")),
        outs=as_int(count.get("outs")),
        batter_id=person_id(matchup.get("batter")),
        bat_side=as_str(dig(matchup, "batSide", "code")),
        pitcher_id=person_id(matchup.get("pitcher")),
        pitch_hand=as_str(dig(matchup, "pitchHand", "code")),
        batter_split=as_str(splits.get("batter")),
        pitcher_split=as_str(splits.get("pitcher")),
        men_on_base=as_str(splits.get("menOnBase")),
        post_on_first_id=person_id(matchup.get("postOnFirst")),
        post_on_second_id=person_id(matchup.get("postOnSecond")),
        post_on_third_id=person_id(matchup.get("postOnThird")),
        review_details=dumps(review) if review not in (None, {}, []) else None,
        runners=[
            runner_record(i, r) for i, r in enumerate(as_list(play.get("runners"))) if isinstance(r, dict)
        ],
        play_events=events,
        extra=extra_json(
            {
                "top": leftovers(play, _PLAY_TOP),
                "about": leftovers(about, _ABOUT),
                "result": leftovers(result, _RESULT),
                "count": leftovers(count, _COUNT),
                "matchup": leftovers(matchup, _MATCHUP),
                "splits": leftovers(splits, ("batter", "pitcher", "menOnBase")),
            }
        ),
    )
    return rec
