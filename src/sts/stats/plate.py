"""Rules B1-B10 and P3: what one plate appearance adds to the batter's and the pitcher's lines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sts.stats import rules
from sts.stats.feed import Play, get, person_id

if TYPE_CHECKING:
    from sts.stats.engine import _Walk


def _batter_out(play: Play, batter: int | None) -> bool:
    for r in get(play, "runners", default=[]):
        if person_id(get(r, "details", "runner")) == batter and get(r, "movement", "isOut"):
            return True
    return False


def _trajectory(events: list[Mapping[str, Any]]) -> str | None:
    for ev in reversed(events):
        traj = get(ev, "hitData", "trajectory")
        if traj:
            return str(traj)
    return None


def record_plate_appearance(
    walk: _Walk, play: Play, events: list[Mapping[str, Any]], etype: str, side: str, fside: str
) -> None:
    batter = person_id(get(play, "matchup", "batter"))
    pitcher = person_id(get(play, "matchup", "pitcher"))
    walk.appear(side, batter, "batting", "fielding")

    def both(stat: str, n: int = 1) -> None:
        walk.bat(side, batter, stat, n)
        walk.pit(fside, pitcher, stat, n)

    walk.bat(side, batter, "plateAppearances")
    walk.pit(fside, pitcher, "battersFaced")
    if etype in rules.HITS:  # B3
        bases = rules.HITS[etype]
        both("hits")
        both({1: "singles", 2: "doubles", 3: "triples", 4: "homeRuns"}[bases])
        walk.bat(side, batter, "totalBases", bases)
        if walk.half:
            walk.half.line.hits += 1
    elif etype in rules.WALKS:
        both("baseOnBalls")
        if etype == "intent_walk":
            both("intentionalWalks")
    elif etype == "hit_by_pitch":
        both("hitByPitch")
        walk.pit(fside, pitcher, "hitBatsmen")
    elif etype in rules.STRIKEOUTS:
        both("strikeOuts")
    if etype in rules.SAC_FLIES:
        both("sacFlies")
    elif etype in rules.SAC_BUNTS:
        both("sacBunts")
    elif etype in rules.INTERFERENCE:
        both("catchersInterference")
    no_ab = rules.WALKS | rules.SAC_FLIES | rules.SAC_BUNTS | rules.INTERFERENCE | {"hit_by_pitch"}
    if etype not in no_ab:  # B2
        both("atBats")
    if etype == "grounded_into_double_play":  # B6
        walk.bat(side, batter, "groundIntoDoublePlay")
    elif etype == "grounded_into_triple_play":
        walk.bat(side, batter, "groundIntoTriplePlay")
    rbi = sum(
        1
        for r in get(play, "runners", default=[])
        if get(r, "details", "rbi") and get(r, "movement", "end") == "score"
    )
    both("rbi", rbi)  # B4
    if etype not in no_ab and etype not in rules.HITS:  # B8: an at-bat without a hit
        scored = {
            person_id(get(r, "details", "runner"))
            for r in get(play, "runners", default=[])
            if get(r, "movement", "end") == "score"
        }
        walk.bat(side, batter, "leftOnBase", len(set(walk.result_start) - scored))
    if etype in rules.BATTED_OUTS:  # B9
        kind = rules.TRAJECTORY_OUT.get(_trajectory(events) or "")
        if kind:
            both(kind)
            if kind in rules.AIR_OUTS:
                both("airOuts")
