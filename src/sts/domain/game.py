"""Game-level records of a live feed: ``GameInfo`` (what the game is) and ``GameFinal`` (how it ended).

Pure functions. Volatile fields (a team's season record, a player's current age, weather while the
game is live) are left out of ``GameInfo`` so that its content, and so its event id, only changes when
a fact about the game changes.
"""

from __future__ import annotations

from typing import Any

from sts.domain.feed import (
    Json,
    as_bool,
    as_date,
    as_dict,
    as_int,
    as_list,
    as_str,
    dig,
    extra_json,
    leftovers,
    person_id,
)

_TEAM_KNOWN = frozenset((
    "id", "name", "abbreviation", "teamName", "locationName", "shortName", "league", "division",
    "venue", "link", "record",
))  # fmt: skip
_PLAYER_KNOWN = frozenset((
    "id", "fullName", "firstName", "lastName", "boxscoreName", "primaryNumber", "birthDate", "batSide",
    "pitchHand", "primaryPosition", "link", "currentAge",
))  # fmt: skip
_VENUE_KNOWN = frozenset(("id", "name", "location", "timeZone", "link"))
_BOX_PLAYER_KNOWN = frozenset((
    "person", "jerseyNumber", "position", "battingOrder", "gameStatus", "stats", "seasonStats",
    "parentTeamId",
))  # fmt: skip

Scalar = bool | int | float | str | None
_SCALARS = frozenset({bool, int, float, str})


def _team(t: Any) -> dict[str, Any] | None:
    tid = as_int(dig(t, "id"))
    if tid is None:
        return None
    return {
        "team_id": tid,
        "name": as_str(t.get("name")),
        "abbreviation": as_str(t.get("abbreviation")),
        "team_name": as_str(t.get("teamName")),
        "location_name": as_str(t.get("locationName")),
        "short_name": as_str(t.get("shortName")),
        "league_id": as_int(dig(t, "league", "id")),
        "league_name": as_str(dig(t, "league", "name")),
        "division_id": as_int(dig(t, "division", "id")),
        "division_name": as_str(dig(t, "division", "name")),
        "venue_id": as_int(dig(t, "venue", "id")),
        "extra": extra_json({"team": leftovers(t, _TEAM_KNOWN)}),
    }


def _venue(v: Any) -> dict[str, Any] | None:
    vid = as_int(dig(v, "id"))
    if vid is None:
        return None
    return {
        "venue_id": vid,
        "name": as_str(v.get("name")),
        "city": as_str(dig(v, "location", "city")),
        "state": as_str(dig(v, "location", "state")),
        "country": as_str(dig(v, "location", "country")),
        "timezone": as_str(dig(v, "timeZone", "id")),
        "extra": extra_json(
            {
                "venue": leftovers(v, _VENUE_KNOWN),
                "location": leftovers(dig(v, "location"), ("city", "state", "country")),
            }
        ),
    }


def _player(p: Json) -> dict[str, Any] | None:
    pid = as_int(p.get("id"))
    if pid is None:
        return None
    return {
        "person_id": pid,
        "full_name": as_str(p.get("fullName")),
        "first_name": as_str(p.get("firstName")),
        "last_name": as_str(p.get("lastName")),
        "boxscore_name": as_str(p.get("boxscoreName")),
        "primary_number": as_str(p.get("primaryNumber")),
        "birth_date": as_date(p.get("birthDate")),
        "bats": as_str(dig(p, "batSide", "code")),
        "throws": as_str(dig(p, "pitchHand", "code")),
        "primary_position": as_str(dig(p, "primaryPosition", "abbreviation")),
        "extra": extra_json({"person": leftovers(p, _PLAYER_KNOWN)}),
    }


def team_ids(feed: Json) -> tuple[int | None, int | None]:
    """``(away team id, home team id)``."""
    teams = dig(feed, "gameData", "teams")
    return as_int(dig(teams, "away", "id")), as_int(dig(teams, "home", "id"))


def game_info_record(feed: Json) -> dict[str, Any]:
    """The ``GameInfo`` fields (without the common fields)."""
    gd = as_dict(feed.get("gameData"))
    game = as_dict(gd.get("game"))
    dt = as_dict(gd.get("datetime"))
    players = [_player(p) for p in as_dict(gd.get("players")).values() if isinstance(p, dict)]
    return {
        "game_type": as_str(game.get("type")),
        "season": as_str(game.get("season")),
        "official_date": as_date(dt.get("officialDate")),
        "game_datetime": as_str(dt.get("dateTime")),
        "double_header": as_str(game.get("doubleHeader")),
        "game_number": as_int(game.get("gameNumber")),
        "day_night": as_str(dt.get("dayNight")),
        "scheduled_innings": as_int(dig(feed, "liveData", "linescore", "scheduledInnings")),
        "gameday_id": as_str(game.get("id")),
        "venue": _venue(gd.get("venue")),
        "away_team": _team(dig(gd, "teams", "away")),
        "home_team": _team(dig(gd, "teams", "home")),
        "players": sorted((p for p in players if p), key=lambda p: p["person_id"]),
        "extra": extra_json(
            {
                "game": leftovers(game, ("pk", "type", "season", "doubleHeader", "gameNumber", "id")),
                "datetime": leftovers(dt, ("officialDate", "dateTime", "dayNight")),
                "officialVenue": gd.get("officialVenue"),
                "officialScorer": gd.get("officialScorer"),
                "primaryDatacaster": gd.get("primaryDatacaster"),
            }
        ),
    }


def _stats(value: Any) -> dict[str, Scalar]:
    """A stats dict as an Avro map of scalars (nested values, if any, as their string form)."""
    return {str(k): v if v is None or type(v) in _SCALARS else str(v) for k, v in as_dict(value).items()}


def _innings(linescore: Json) -> list[dict[str, Any]]:
    out = []
    for pos, inn in enumerate(as_list(linescore.get("innings"))):
        if not isinstance(inn, dict):
            continue
        num = as_int(inn.get("num"))
        rec: dict[str, Any] = {"num": pos + 1 if num is None else num}
        for side in ("away", "home"):
            s = as_dict(inn.get(side))
            rec[f"{side}_runs"] = as_int(s.get("runs"))
            rec[f"{side}_hits"] = as_int(s.get("hits"))
            rec[f"{side}_errors"] = as_int(s.get("errors"))
            rec[f"{side}_left_on_base"] = as_int(s.get("leftOnBase"))
        out.append(rec)
    return out


def game_final_record(feed: Json) -> dict[str, Any]:
    """The ``GameFinal`` fields (without the common fields)."""
    gd = as_dict(feed.get("gameData"))
    ld = as_dict(feed.get("liveData"))
    ls = as_dict(ld.get("linescore"))
    box = as_dict(ld.get("boxscore"))
    dec = as_dict(ld.get("decisions"))
    st = as_dict(gd.get("status"))
    away_id, home_id = team_ids(feed)
    team_lines, box_lines = [], []
    for side, tid in (("away", away_id), ("home", home_id)):
        bt = as_dict(dig(box, "teams", side))
        lt = as_dict(dig(ls, "teams", side))
        stats = as_dict(bt.get("teamStats"))
        team_lines.append(
            {
                "side": side,
                "team_id": tid,
                "runs": as_int(lt.get("runs")),
                "hits": as_int(lt.get("hits")),
                "errors": as_int(lt.get("errors")),
                "left_on_base": as_int(lt.get("leftOnBase")),
                "batting": _stats(stats.get("batting")),
                "pitching": _stats(stats.get("pitching")),
                "fielding": _stats(stats.get("fielding")),
            }
        )
        lines: list[dict[str, Any]] = []
        for p in as_dict(bt.get("players")).values():
            pid = person_id(dig(p, "person"))
            st_p = as_dict(dig(p, "stats"))
            if pid is None or not any(st_p.get(g) for g in ("batting", "pitching", "fielding")):
                continue
            lines.append(
                {
                    "side": side,
                    "team_id": tid,
                    "person_id": pid,
                    "jersey_number": as_str(p.get("jerseyNumber")),
                    "position": as_str(dig(p, "position", "abbreviation")),
                    "batting_order": as_str(p.get("battingOrder")),
                    "is_substitute": as_bool(dig(p, "gameStatus", "isSubstitute")),
                    "batting": _stats(st_p.get("batting")),
                    "pitching": _stats(st_p.get("pitching")),
                    "fielding": _stats(st_p.get("fielding")),
                    "extra": extra_json({"player": leftovers(p, _BOX_PLAYER_KNOWN)}),
                }
            )
        box_lines.extend(sorted(lines, key=lambda r: r["person_id"]))
    innings = _innings(ls)
    return {
        "abstract_state": as_str(st.get("abstractGameState")),
        "coded_state": as_str(st.get("codedGameState")),
        "detailed_state": as_str(st.get("detailedState")),
        "away_team_id": away_id,
        "home_team_id": home_id,
        "away_score": as_int(dig(ls, "teams", "away", "runs")),
        "home_score": as_int(dig(ls, "teams", "home", "runs")),
        "innings_played": len(innings) or as_int(ls.get("currentInning")),
        "scheduled_innings": as_int(ls.get("scheduledInnings")),
        "winner_id": person_id(dec.get("winner")),
        "loser_id": person_id(dec.get("loser")),
        "save_id": person_id(dec.get("save")),
        "innings": innings,
        "team_lines": team_lines,
        "box_lines": box_lines,
        "extra": extra_json(
            {
                "weather": gd.get("weather"),
                "gameInfo": gd.get("gameInfo"),
                "flags": gd.get("flags"),
                "decisions": leftovers(dec, ("winner", "loser", "save")),
                "boxscoreInfo": box.get("info"),
                "officials": box.get("officials"),
            }
        ),
    }
