"""Corrections injected into a replay: a completed play rewritten after the game is final (pure).

A :class:`Revision` says which game, what kind of change, which play (``at_bat_index``, or ``None`` for
the first play the kind applies to) and when: ``delay`` clock seconds after the game's Final state.
:func:`apply_revision` returns a NEW final feed (the recorded one is never mutated) in which:

``hit-to-error`` (a scoring change)
    a single with the bases empty, whose batter does not score and after which no run scores in that
    half inning, becomes a fielding error by the fielder who fielded the ball (his ``f_fielded_ball``
    credit becomes ``f_fielding_error``): ``result.event/eventType/description`` and the batter's
    runner ``details``. Those conditions keep every run (and so earned runs, RBI, the score) as they
    were, so the official numbers that change are exactly: batter and pitcher H -1 (batter TB -1; the
    batted-ball out kind +1 for both, as MLB counts a reached-on-error by its trajectory), fielder
    E +1 and chances +1, the same in ``teamStats``, and in ``liveData.linescore`` the batting side's
    hits and the fielding side's errors (game and inning). The rate strings (avg, obp, fielding…) are
    season-to-date in the feed and not recomputed. ``playsByInning[].hits`` loses the entry.
``overturn``
    a challenge overturned: an out gets ``reviewDetails`` with ``isOverturned`` true (challenged by
    the fielding team, whose out the overturned call gives), ``about.hasReview`` true and MLB's
    "X challenged, call on the field was overturned: …" description. The outcome is the recorded
    one (the out stands), so no statistic changes: this kind revises the review record and the
    text only.
``runner-credits``
    runner credits revised: on an out with an assist by a fielder other than the pitcher (who has at
    least one other chance in the game), the assist is re-credited to the pitcher of the play. The
    official fielding lines move with it (assists and chances, -1 for the old fielder, +1 for the
    pitcher); team totals do not change.

So the revised feed stays internally consistent wherever :mod:`sts.stats.compare` reads it, and the
data-quality check of the revised game matches exactly as the original did.

:func:`inject` appends the revised feed to a :class:`~sts.standin.timeline.GameTimeline` as a new
final state with a later timecode (``metaData.timeStamp``), so ``feed/live``, ``timestamps``,
``diffPatch`` and ``game/changes`` serve it like any other state.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from sts.standin.timeline import GameTimeline, timecode

JSON = dict[str, Any]

KINDS = ("hit-to-error", "overturn", "runner-credits")
_OUT_KIND = {
    "ground_ball": "groundOuts",
    "bunt_grounder": "groundOuts",
    "fly_ball": "flyOuts",
    "line_drive": "lineOuts",
    "bunt_line_drive": "lineOuts",
    "popup": "popOuts",
    "bunt_popup": "popOuts",
}
_POSITION_NAMES = {
    "1": "pitcher", "2": "catcher", "3": "first baseman", "4": "second baseman", "5": "third baseman",
    "6": "shortstop", "7": "left fielder", "8": "center fielder", "9": "right fielder",
}  # fmt: skip


class RevisionError(ValueError):
    """The revision cannot be applied to this game (no suitable play, bad specification)."""


@dataclass(frozen=True)
class Revision:
    """One correction to inject: ``kind`` (one of :data:`KINDS`) of play ``at_bat_index`` (``None``:
    the first suitable play) of game ``game_pk``, ``delay`` clock seconds after its Final state."""

    game_pk: int
    kind: str
    delay: float = 600.0
    at_bat_index: int | None = None

    @classmethod
    def parse(cls, text: str) -> Revision:
        """``GAMEPK:KIND[:DELAY[:ATBATINDEX]]``, e.g. ``747175:hit-to-error:600``."""
        parts = text.split(":")
        if len(parts) < 2 or len(parts) > 4:
            raise RevisionError(f"{text!r}: expected GAMEPK:KIND[:DELAY[:ATBATINDEX]]")
        try:
            pk = int(parts[0])
            delay = float(parts[2]) if len(parts) > 2 and parts[2] else 600.0
            abi = int(parts[3]) if len(parts) > 3 and parts[3] else None
        except ValueError:
            raise RevisionError(f"{text!r}: gamePk, delay and at-bat index must be numbers") from None
        if parts[1] not in KINDS:
            raise RevisionError(f"{text!r}: unknown kind {parts[1]!r} (one of {', '.join(KINDS)})")
        if delay < 1:
            raise RevisionError(f"{text!r}: the delay must be at least 1 second")
        return cls(pk, parts[1], delay, abi)


def _plays(feed: JSON) -> list[JSON]:
    return list(feed["liveData"]["plays"]["allPlays"])


def _players(feed: JSON, side: str) -> JSON:
    return dict(feed["liveData"]["boxscore"]["teams"][side]["players"])


def _sides(play: JSON) -> tuple[str, str]:
    """(batting side, fielding side)."""
    top = play["about"].get("isTopInning", play["about"].get("halfInning") == "top")
    return ("away", "home") if top else ("home", "away")


def _add(stats: JSON, name: str, n: int) -> None:
    if not isinstance(stats.get(name), int):
        raise RevisionError(f"the official box has no integer {name!r} to revise")
    stats[name] += n


def _player_stats(feed: JSON, side: str, pid: int, group: str) -> JSON:
    player = feed["liveData"]["boxscore"]["teams"][side]["players"].get(f"ID{pid}")
    if player is None:
        raise RevisionError(f"player {pid} is not in the {side} box")
    return dict(player["stats"][group])


def _half_scores_after(plays: list[JSON], k: int) -> bool:
    """Whether a run scores in play ``k``'s half inning from play ``k`` on."""
    about = plays[k]["about"]
    for p in plays[k:]:
        if (p["about"]["inning"], p["about"]["halfInning"]) != (about["inning"], about["halfInning"]):
            break
        if any(r["movement"].get("end") == "score" for r in p.get("runners", [])):
            return True
    return False


def _hit_to_error_candidate(plays: list[JSON], k: int) -> JSON | None:
    """The fielder credit to turn into an error, if play ``k`` is a single the conditions allow."""
    play = plays[k]
    if play["result"].get("eventType") != "single" or not play["about"].get("isComplete"):
        return None
    runners = play.get("runners", [])
    batter = play["matchup"]["batter"]["id"]
    if len(runners) != 1 or runners[0]["details"]["runner"]["id"] != batter:
        return None  # bases empty, the batter stops at first
    if runners[0]["movement"].get("end") != "1B" or _half_scores_after(plays, k):
        return None
    fielded: list[JSON] = [c for c in runners[0].get("credits", []) if c.get("credit") == "f_fielded_ball"]
    hit = [ev for ev in play.get("playEvents", []) if ev.get("hitData", {}).get("trajectory") in _OUT_KIND]
    if len(fielded) != 1 or not hit or fielded[0].get("position", {}).get("code") not in _POSITION_NAMES:
        return None
    return fielded[0]


def _hit_to_error(feed: JSON, k: int) -> None:
    plays = feed["liveData"]["plays"]["allPlays"]
    credit = _hit_to_error_candidate(plays, k)
    if credit is None:
        raise RevisionError(f"play {k} is not a bases-empty single after which nobody scores")
    play = plays[k] = copy.deepcopy(plays[k])
    bat, fld = _sides(play)
    batter, pitcher = play["matchup"]["batter"], play["matchup"]["pitcher"]["id"]
    fielder = credit["player"]["id"]
    code = credit["position"]["code"]
    fielder_name = feed["gameData"]["players"].get(f"ID{fielder}", {}).get("fullName", str(fielder))
    trajectory = next(ev["hitData"]["trajectory"] for ev in reversed(play["playEvents"]) if "hitData" in ev)
    out_kind = _OUT_KIND[trajectory]
    name = batter.get("fullName", batter["id"])
    description = f"{name} reaches on a fielding error by {_POSITION_NAMES[code]} {fielder_name}."
    play["result"].update(event="Field Error", eventType="field_error", description=description)
    runner = play["runners"][0]
    runner["details"].update(event="Field Error", eventType="field_error")
    for c in runner["credits"]:
        if c is not None and c.get("credit") == "f_fielded_ball":
            c["credit"] = "f_fielding_error"

    box = feed["liveData"]["boxscore"]["teams"]
    outs = {out_kind: 1} | ({"airOuts": 1} if out_kind in ("flyOuts", "lineOuts", "popOuts") else {})
    changes = [
        (bat, batter["id"], "batting", {"hits": -1, "totalBases": -1, **outs}),
        (fld, pitcher, "pitching", {"hits": -1, **outs}),
        (fld, fielder, "fielding", {"errors": 1, "chances": 1}),
    ]
    for side, pid, group, delta in changes:
        stats = _player_stats(feed, side, pid, group)
        team = dict(box[side]["teamStats"][group])
        for name, n in delta.items():
            if name not in stats and name not in ("hits", "totalBases", "errors", "chances"):
                continue  # an out kind some seasons' boxes do not carry
            _add(stats, name, n)
            if name in team:
                _add(team, name, n)
        box[side]["players"][f"ID{pid}"]["stats"][group] = stats
        box[side]["teamStats"][group] = team
    line = feed["liveData"]["linescore"]
    inning = play["about"]["inning"]
    teams = line["teams"] = copy.deepcopy(line["teams"])
    _add(teams[bat], "hits", -1)
    _add(teams[fld], "errors", 1)
    innings = line["innings"] = copy.deepcopy(line["innings"])
    for entry in innings:
        if entry.get("num") == inning:
            _add(entry[bat], "hits", -1)
            _add(entry[fld], "errors", 1)
    by_inning = feed["liveData"]["plays"].get("playsByInning", [])
    for entry in by_inning:
        hits = entry.get("hits", {}).get(bat, [])
        for i, hit in enumerate(hits):
            if hit.get("inning") == inning and hit.get("batter", {}).get("id") == batter["id"]:
                entry["hits"][bat] = hits[:i] + hits[i + 1 :]
                break


def _overturn_candidate(plays: list[JSON], k: int) -> bool:
    play = plays[k]
    return bool(play["about"].get("isComplete")) and play["result"].get("isOut") is True


def _overturn(feed: JSON, k: int) -> None:
    plays = feed["liveData"]["plays"]["allPlays"]
    if not _overturn_candidate(plays, k):
        raise RevisionError(f"play {k} is not a completed out")
    play = plays[k] = copy.deepcopy(plays[k])
    _, fld = _sides(play)
    old = play.get("reviewDetails") or {}
    team = feed["gameData"]["teams"][fld]
    play["reviewDetails"] = {
        "isOverturned": True,
        "inProgress": False,
        "reviewType": old.get("reviewType", "MA"),
        "challengeTeamId": team["id"],
    }
    play["about"]["hasReview"] = True
    description = play["result"].get("description", "")
    play["result"]["description"] = (
        f"{team.get('name', 'The fielding team')} challenged, call on the field was overturned: {description}"
    )


def _credits_candidate(feed: JSON, plays: list[JSON], k: int) -> tuple[int, int, JSON] | None:
    """(runner index, credit index, fielder) of an assist to re-credit to the pitcher."""
    play = plays[k]
    if not play["about"].get("isComplete") or play["result"].get("isOut") is not True:
        return None
    pitcher = play["matchup"]["pitcher"]["id"]
    _, fld = _sides(play)
    for ri, r in enumerate(play.get("runners", [])):
        for ci, c in enumerate(r.get("credits", [])):
            pid = c.get("player", {}).get("id")
            if c.get("credit") != "f_assist" or pid == pitcher:
                continue
            try:
                chances = _player_stats(feed, fld, pid, "fielding").get("chances", 0)
                pitcher_fielding = _player_stats(feed, fld, pitcher, "fielding")
            except RevisionError:
                continue
            if chances >= 2 and isinstance(pitcher_fielding.get("assists"), int):
                return ri, ci, c
    return None


def _runner_credits(feed: JSON, k: int) -> None:
    plays = feed["liveData"]["plays"]["allPlays"]
    found = _credits_candidate(feed, plays, k)
    if found is None:
        raise RevisionError(f"play {k} has no assist by a fielder other than the pitcher to re-credit")
    ri, ci, _ = found
    play = plays[k] = copy.deepcopy(plays[k])
    _, fld = _sides(play)
    credit = play["runners"][ri]["credits"][ci]
    old = credit["player"]["id"]
    pitcher = play["matchup"]["pitcher"]["id"]
    credit["player"] = {"id": pitcher, "link": f"/api/v1/people/{pitcher}"}
    credit["position"] = {"code": "1", "name": "Pitcher", "type": "Pitcher", "abbreviation": "P"}
    box = feed["liveData"]["boxscore"]["teams"][fld]["players"]
    for pid, n in ((old, -1), (pitcher, 1)):
        stats = _player_stats(feed, fld, pid, "fielding")
        _add(stats, "assists", n)
        _add(stats, "chances", n)
        box[f"ID{pid}"]["stats"]["fielding"] = stats


_APPLY = {"hit-to-error": _hit_to_error, "overturn": _overturn, "runner-credits": _runner_credits}


def _suitable(feed: JSON, kind: str, k: int) -> bool:
    plays = _plays(feed)
    if kind == "hit-to-error":
        return _hit_to_error_candidate(plays, k) is not None
    if kind == "overturn":
        return _overturn_candidate(plays, k)
    return _credits_candidate(feed, plays, k) is not None


def apply_revision(feed: JSON, kind: str, at_bat_index: int | None = None) -> tuple[JSON, int]:
    """``(revised feed, at-bat index revised)``: a copy of the final ``feed`` with ``kind`` applied
    (see the module doc). Raises :class:`RevisionError` when no (or not that) play is suitable."""
    if kind not in KINDS:
        raise RevisionError(f"unknown revision kind {kind!r} (one of {', '.join(KINDS)})")
    plays = _plays(feed)
    if at_bat_index is None:
        k = next((i for i in range(len(plays)) if _suitable(feed, kind, i)), None)
        if k is None:
            raise RevisionError(f"no play of game {feed.get('gamePk')} suits a {kind} revision")
    else:
        k = next((i for i, p in enumerate(plays) if p["about"].get("atBatIndex") == at_bat_index), -1)
        if k < 0:
            raise RevisionError(f"game {feed.get('gamePk')} has no play {at_bat_index}")
    revised = dict(feed)
    revised["metaData"] = dict(feed["metaData"])
    revised["liveData"] = live = dict(feed["liveData"])
    live["plays"] = dict(feed["liveData"]["plays"])
    live["plays"]["allPlays"] = list(plays)
    live["plays"]["playsByInning"] = copy.deepcopy(feed["liveData"]["plays"].get("playsByInning", []))
    live["boxscore"] = copy.deepcopy(feed["liveData"]["boxscore"])
    live["linescore"] = dict(feed["liveData"]["linescore"])
    _APPLY[kind](revised, k)
    abi = int(plays[k]["about"]["atBatIndex"])
    current = live["plays"].get("currentPlay")
    if isinstance(current, dict) and current.get("about", {}).get("atBatIndex") == abi:
        live["plays"]["currentPlay"] = live["plays"]["allPlays"][k]
    return revised, abi


def inject(timeline: GameTimeline, revision: Revision) -> int:
    """Apply ``revision`` to the game's latest final feed and append it to ``timeline`` as a new final
    state ``revision.delay`` seconds after the last one. Returns the revised play's at-bat index."""
    if revision.game_pk != timeline.game_pk:
        raise RevisionError(f"revision of game {revision.game_pk} given to game {timeline.game_pk}")
    base = timeline.feed_override(len(timeline.states) - 1) or timeline.feed
    revised, abi = apply_revision(base, revision.kind, revision.at_bat_index)
    at = timeline.times[-1] + max(1, int(revision.delay))
    revised["metaData"]["timeStamp"] = timecode(at)
    timeline.append_final(at, revised)
    return abi
