"""The same game from two sources: the box derived from MLB's feed against the box derived from the
Retrosheet event file, player by player and stat by stat. Pure.

Players are paired by id: MLBAM ids the Chadwick register gave the Retrosheet side pair directly. A
Retrosheet player the register lacks (kept under a surrogate id) is paired, for this comparison only,
with the feed player of the same full name on the same side; the pairing is reported (``by_name``) so it
is never mistaken for a crosswalk entry.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sts.stats import GameBox
from sts.stats.box import GROUPS
from sts.stats.feed import Feed, get, person_id, player_names
from sts.stats.rules import PA_EVENTS


@dataclass(frozen=True)
class StatDiff:
    side: str
    player: int | None  # feed (MLBAM) id; None for a team or linescore line
    name: str
    group: str
    stat: str
    feed: int
    retrosheet: int


@dataclass
class Crosscheck:
    matched: int = 0
    total: int = 0
    diffs: list[StatDiff] = field(default_factory=list)
    by_name: dict[int, int] = field(default_factory=dict)  # retro-side id -> feed id, paired by name
    pairs: dict[int, int] = field(default_factory=dict)  # retro-side id -> feed id, all pairs
    unpaired: list[tuple[str, int, str]] = field(default_factory=list)  # (source, id, name)

    @property
    def ok(self) -> bool:
        return not self.diffs and not self.unpaired

    def add(self, diff: StatDiff) -> None:
        self.total += 1
        if diff.feed == diff.retrosheet:
            self.matched += 1
        else:
            self.diffs.append(diff)


def _norm(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in plain if ch.isalnum())


def pair_players(
    feed: Feed, feed_box: GameBox, retro_box: GameBox, retro_names: dict[int, str]
) -> dict[int, int]:
    """``{retro-side id: feed id}`` for every pairable player (by id, else by name on the same side)."""
    names = player_names(feed)
    pairs: dict[int, int] = {}
    for side, team in retro_box.teams.items():
        feed_ids = set(feed_box.teams[side].players)
        by_name = {_norm(names.get(pid, "")): pid for pid in feed_ids}
        for pid in team.players:
            if pid in feed_ids:
                pairs[pid] = pid
            elif _norm(retro_names.get(pid, "")) in by_name:
                pairs[pid] = by_name[_norm(retro_names[pid])]
    return pairs


def crosscheck(feed: Feed, feed_box: GameBox, retro_box: GameBox, retro_names: dict[int, str]) -> Crosscheck:
    """Compare every stat either derived line carries, for every paired player, the team lines and the
    linescore (runs, hits, errors, left on base per inning)."""
    out = Crosscheck()
    names = player_names(feed)
    pairs = pair_players(feed, feed_box, retro_box, retro_names)
    out.pairs = pairs
    out.by_name = {r: f for r, f in pairs.items() if r != f}
    for side in ("away", "home"):
        fteam, rteam = feed_box.teams[side], retro_box.teams[side]
        paired_feed = {pairs[r] for r in rteam.players if r in pairs}
        out.unpaired += [("retrosheet", r, retro_names.get(r, "")) for r in rteam.players if r not in pairs]
        out.unpaired += [("feed", f, names.get(f, "")) for f in fteam.players if f not in paired_feed]
        for rid, rp in rteam.players.items():
            fid = pairs.get(rid)
            if fid is None or fid not in fteam.players:
                continue
            fp = fteam.players[fid]
            for group in GROUPS:
                a, b = fp.group(group), rp.group(group)
                for stat in sorted(set(a) | set(b)):
                    out.add(StatDiff(side, fid, names.get(fid, str(fid)), group, stat, a[stat], b[stat]))
        for group in GROUPS:
            a, b = fteam.group(group), rteam.group(group)
            for stat in sorted(set(a) | set(b)):
                out.add(StatDiff(side, None, "team", group, stat, a[stat], b[stat]))
        for i, (fi, ri) in enumerate(zip(fteam.innings, rteam.innings, strict=False), start=1):
            for stat in ("runs", "hits", "errors", "leftOnBase"):
                out.add(
                    StatDiff(
                        side, None, f"inning {i}", "linescore", stat, getattr(fi, stat), getattr(ri, stat)
                    )
                )
        if len(fteam.innings) != len(rteam.innings):
            out.add(
                StatDiff(
                    side, None, "linescore", "linescore", "innings", len(fteam.innings), len(rteam.innings)
                )
            )
    return out


@dataclass(frozen=True)
class PlayDiff:
    """One plate appearance the two sources describe differently (event type or batted-ball type)."""

    inning: int
    half: str
    batter: str
    feed_index: int
    feed: str  # "event_type/trajectory: description"
    retrosheet: str


def _plate_appearances(feed: Feed) -> list[Mapping[str, Any]]:
    plays = get(feed, "liveData", "plays", "allPlays", default=[])
    return [p for p in plays if get(p, "result", "eventType") in PA_EVENTS]


def _trajectory(play: Mapping[str, Any]) -> str:
    found = [get(e, "hitData", "trajectory") for e in get(play, "playEvents", default=[])]
    return next((str(t) for t in reversed(found) if t), "-")


def play_differences(feed: Feed, retro_feed: Feed, pairs: Mapping[int, int]) -> list[PlayDiff]:
    """Plate appearances paired in order within each half-inning (the n-th PA of a half in one source
    with the n-th in the other) whose event type or batted-ball trajectory differ: the plays behind
    a box difference."""
    names = player_names(feed)
    out = []
    mine = _plate_appearances(feed)
    theirs = _plate_appearances(retro_feed)
    for official, retro in zip(mine, theirs, strict=False):
        a = (get(official, "result", "eventType"), _trajectory(official))
        b = (get(retro, "result", "eventType"), _trajectory(retro))
        batter = person_id(get(official, "matchup", "batter"))
        retro_batter = person_id(get(retro, "matchup", "batter"))
        if a != b or (retro_batter is not None and pairs.get(retro_batter) != batter):
            out.append(
                PlayDiff(
                    int(get(official, "about", "inning", default=0)),
                    str(get(official, "about", "halfInning", default="")),
                    names.get(batter or 0, str(batter)),
                    int(get(official, "about", "atBatIndex", default=-1)),
                    f"{a[0]}/{a[1]}: {get(official, 'result', 'description', default='')}",
                    f"{b[0]}/{b[1]}: {get(retro, 'result', 'description', default='')}",
                )
            )
    if len(mine) != len(theirs):
        out.append(
            PlayDiff(0, "", "", -1, f"{len(mine)} plate appearances", f"{len(theirs)} plate appearances")
        )
    return out


def remap(box: GameBox, pairs: Mapping[int, int]) -> GameBox:
    """``box`` with its players re-keyed by ``pairs`` (retro-side id -> feed id), so that it can be
    compared with the feed's official box by :func:`sts.stats.compare_box`. Unpaired players keep
    their ids."""
    out = GameBox(box.game_pk, innings_played=box.innings_played, walk_off=box.walk_off)
    for side, team in box.teams.items():
        target = out.teams[side]
        target.batting, target.pitching, target.fielding = team.batting, team.pitching, team.fielding
        target.innings = team.innings
        for pid, player in team.players.items():
            new = pairs.get(pid, pid)
            target.players[new] = replace(player, person_id=new)
    return out
