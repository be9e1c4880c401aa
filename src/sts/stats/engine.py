"""Derive a full box score from a game's play-by-play. Pure: a feed dict in, a :class:`GameBox` out.

The rules applied are listed, with their Official Baseball Rules sections, in :mod:`sts.stats.rules`
(rule ids such as ``B8`` or ``P6`` are cited in comments here).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sts.stats import rules
from sts.stats.box import GROUPS, GameBox, InningLine, TeamBox
from sts.stats.feed import Feed, Play, all_plays, batting_side, game_pk, get, other, person_id
from sts.stats.lookahead import half_start_runners, starting_catchers
from sts.stats.plate import record_plate_appearance
from sts.stats.roles import Stint, finish_pitching_roles


@dataclass
class _Half:
    inning: int
    side: str
    line: InningLine
    outs: int = 0


@dataclass
class _Walk:
    box: GameBox
    pitcher: dict[str, int | None] = field(default_factory=lambda: {"away": None, "home": None})
    catcher: dict[str, int | None] = field(default_factory=lambda: {"away": None, "home": None})
    stints: dict[str, list[Stint]] = field(default_factory=lambda: {"away": [], "home": []})
    on_base: dict[int, str] = field(default_factory=dict)  # runner id -> base
    score: dict[str, int] = field(default_factory=lambda: {"away": 0, "home": 0})
    half: _Half | None = None
    subbed_in: set[int | None] = field(default_factory=set)
    first_position: dict[int | None, str] = field(default_factory=dict)  # how we first saw him field
    half_starts: dict[tuple[int, str], dict[int, str]] = field(default_factory=dict)
    responsible: dict[int, int | None] = field(default_factory=dict)  # runner -> pitcher (P4 fallback)
    result_start: dict[int, str] = field(default_factory=dict)
    team_unearned: dict[str, int] = field(default_factory=lambda: {"away": 0, "home": 0})

    # -- helpers -------------------------------------------------------------------------------
    def team(self, side: str) -> TeamBox:
        return self.box.teams[side]

    def appear(self, side: str, pid: int | None, *groups: str) -> None:
        if pid is not None:
            self.team(side).player(pid).present.update(groups)

    def bat(self, side: str, pid: int | None, stat: str, n: int = 1) -> None:
        if pid is not None and n:
            self.team(side).player(pid).batting[stat] += n

    def pit(self, side: str, pid: int | None, stat: str, n: int = 1) -> None:
        if pid is not None and n:
            self.team(side).player(pid).pitching[stat] += n

    def fld(self, side: str, pid: int | None, stat: str, n: int = 1) -> None:
        if pid is not None and n:
            self.team(side).player(pid).fielding[stat] += n

    def inning_line(self, side: str, inning: int) -> InningLine:
        innings = self.team(side).innings
        while len(innings) < inning:
            innings.append(InningLine())
        return innings[inning - 1]

    def stint(self, side: str) -> Stint | None:
        return self.stints[side][-1] if self.stints[side] else None

    # -- pitchers ------------------------------------------------------------------------------
    def enter_pitcher(self, side: str, pid: int | None) -> None:
        """P1/P6/P8: ``pid`` takes the mound for fielding ``side``."""
        if pid is None or pid == self.pitcher[side]:
            return
        self.pitcher[side] = pid
        self.appear(side, pid, "pitching", "fielding")
        lead = self.score[side] - self.score[other(side)]
        starter = not self.stints[side]
        if starter:
            self.first_position.setdefault(pid, "starting pitcher")
        else:
            self.stints[side][-1].lead_at_exit = lead
        # the runners on base belong to the other side's half only while ``side`` is fielding
        on_base = set(self.on_base) if self.half is not None and self.half.side != side else set()
        self.pit(side, pid, "inheritedRunners", len(on_base))  # P6
        self.stints[side].append(
            Stint(
                pid=pid,
                inherited=on_base,
                lead_at_entry=lead,
                runners_at_entry=len(on_base),
                starter=starter,
                inning=self.half.inning if self.half else 1,
            )
        )

    # -- the walk ------------------------------------------------------------------------------
    def start_half(self, play: Play, side: str) -> None:
        inning = int(get(play, "about", "inning", default=1))
        if self.half is not None and (self.half.inning, self.half.side) == (inning, side):
            return
        self.end_half()
        line = self.inning_line(side, inning)
        line.played = True
        self.half = _Half(inning, side, line)
        self.on_base = dict(self.half_starts.get((inning, side), {}))  # L2
        self.box.innings_played = max(self.box.innings_played, inning)

    def end_half(self) -> None:
        if self.half is not None:
            self.half.line.leftOnBase = len(self.on_base)  # L1
        self.half = None

    def play(self, play: Play) -> None:
        side = batting_side(play)
        fside = other(side)
        self.start_half(play, side)
        events = sorted(
            (e for e in get(play, "playEvents", default=[]) if isinstance(e, Mapping)),
            key=lambda e: int(e.get("index", 0)),
        )
        has_sub = any(get(e, "details", "eventType") == "pitching_substitution" for e in events)
        matchup_pitcher = person_id(get(play, "matchup", "pitcher"))
        if self.pitcher[fside] is None or not has_sub:
            self.enter_pitcher(fside, matchup_pitcher)  # P1

        by_index: dict[int | None, list[Mapping[str, Any]]] = defaultdict(list)
        for r in get(play, "runners", default=[]):
            idx = get(r, "details", "playIndex")
            by_index[int(idx) if idx is not None else None].append(r)
        seen_errors: set[tuple[int | None, int, str]] = set()
        last = _result_index(play, events)
        self.result_start = {}
        for ev in events:
            idx = int(ev.get("index", 0))
            self.event(ev, side, fside)
            if idx == last:  # B8: the bases as the batter's result begins
                self.result_start = dict(self.on_base)
            self.movements(ev, by_index.pop(idx, []), idx, side, fside, seen_errors)
        for idx, rest in sorted(by_index.items(), key=lambda kv: -1 if kv[0] is None else kv[0]):
            self.movements({}, rest, idx, side, fside, seen_errors)
        self.plate_appearance(play, events, side, fside)

    def event(self, ev: Mapping[str, Any], side: str, fside: str) -> None:
        details = get(ev, "details", default={})
        etype = details.get("eventType")
        player = person_id(get(ev, "player"))
        if etype in ("pitching_substitution", "offensive_substitution", "defensive_substitution"):
            self.subbed_in.add(player)
        elif etype == "defensive_switch":
            # F4: "Defensive switch from designated hitter to ..." means he did not start in the field
            text = str(details.get("description") or "").lower()
            self.first_position.setdefault(player, "dh" if "from designated hitter" in text else "credit")
        # a defensive change logged after the third out is for the side that takes the field next
        defense = side if self.half is not None and self.half.outs >= 3 else fside
        if etype == "pitching_substitution":
            self.enter_pitcher(defense, player)
        elif etype in ("offensive_substitution", "defensive_substitution", "defensive_switch"):
            team_side = side if etype == "offensive_substitution" else defense
            pos = get(ev, "position", "code")
            if pos == "1":
                self.appear(team_side, player, "pitching", "fielding")
            else:
                self.appear(team_side, player, "batting", "fielding")
            if pos == "2" and team_side == defense:
                self.catcher[defense] = player
            replaced = person_id(get(ev, "replacedPlayer"))
            if replaced is not None and replaced in self.on_base and player is not None:
                self.on_base[player] = self.on_base.pop(replaced)  # P6: pinch runner
                self.responsible[player] = self.responsible.get(replaced)
        if ev.get("isPitch"):
            pitcher = self.pitcher[fside]
            self.pit(fside, pitcher, "numberOfPitches")
            self.pit(fside, pitcher, "pitchesThrown")
            code = get(details, "call", "code") or details.get("code")
            if details.get("isStrike") or details.get("isInPlay") or code in rules.STRIKE_CALLS:
                self.pit(fside, pitcher, "strikes")
            else:
                self.pit(fside, pitcher, "balls")

    def movements(
        self,
        event: Mapping[str, Any],
        runners: Iterable[Mapping[str, Any]],
        idx: int | None,
        side: str,
        fside: str,
        seen_errors: set[tuple[int | None, int, str]],
    ) -> None:
        pitcher = self.pitcher[fside]
        line = self.half.line if self.half else InningLine()
        wp_pb_bk: set[str] = set()
        for r in runners:
            mv = get(r, "movement", default={})
            d = get(r, "details", default={})
            rid = person_id(get(d, "runner"))
            if rid is None:
                continue
            etype = str(d.get("eventType") or "")
            self.on_base.pop(rid, None)
            self.appear(side, rid, "batting", "fielding")
            if mv.get("isOut"):
                self.pit(fside, pitcher, "outs")  # P2
                if self.half:
                    self.half.outs += 1
            elif mv.get("end") == "score":
                self.score_run(d, rid, side, fside, line)
            elif mv.get("end") in rules.BASES:
                self.on_base[rid] = str(mv["end"])
            if mv.get("start") is None and not mv.get("isOut"):
                self.responsible[rid] = pitcher  # the batter reached: his pitcher is responsible
            kind = rules.runner_event_kind(etype)
            if kind == "sb":
                self.bat(side, rid, "stolenBases")
                self.pit(fside, pitcher, "stolenBases")
                self.fld(fside, self.catcher[fside], "stolenBases")
            elif kind == "cs" and (mv.get("isOut") or _saved_by_error(r)):  # B7, OBR 9.07(h)
                self.bat(side, rid, "caughtStealing")
                self.pit(fside, pitcher, "caughtStealing")
                self.fld(fside, self.catcher[fside], "caughtStealing")
            picked_off = kind == "pickoff" or (kind == "cs" and etype.startswith("pickoff"))
            if picked_off and mv.get("isOut"):
                self.bat(side, rid, "pickoffs")
                if get(event, "details", "fromCatcher"):
                    self.fld(fside, self.catcher[fside], "pickoffs")  # F3
                else:
                    self.pit(fside, pitcher, "pickoffs")
            if etype in ("wild_pitch", "passed_ball", "balk"):
                wp_pb_bk.add(etype)
            self.credits(r, idx, fside, seen_errors)
        if "wild_pitch" in wp_pb_bk:
            self.pit(fside, pitcher, "wildPitches")
        if "balk" in wp_pb_bk:
            self.pit(fside, pitcher, "balks")
        if "passed_ball" in wp_pb_bk:  # F2: OBR 9.13(b), charged to the catcher, not the pitcher
            self.fld(fside, self.catcher[fside], "passedBall")

    def score_run(self, d: Mapping[str, Any], rid: int, side: str, fside: str, line: InningLine) -> None:
        self.bat(side, rid, "runs")  # B5
        charged = (
            person_id(get(d, "responsiblePitcher")) or self.responsible.get(rid) or self.pitcher[fside]
        )  # P4
        self.pit(fside, charged, "runs")
        if d.get("earned"):
            self.pit(fside, charged, "earnedRuns")
            if d.get("teamUnearned"):
                self.team_unearned[fside] += 1
        line.runs += 1
        self.score[side] += 1
        stint = self.stint(fside)
        if stint is not None:
            if rid in stint.inherited:
                self.pit(fside, stint.pid, "inheritedRunnersScored")  # P6
            stint.note_score(self.score[fside] - self.score[side])

    def credits(
        self,
        r: Mapping[str, Any],
        idx: int | None,
        fside: str,
        seen_errors: set[tuple[int | None, int, str]],
    ) -> None:
        assisted: set[int] = set()
        for c in get(r, "credits", default=[]):
            pid = person_id(get(c, "player"))
            credit = str(c.get("credit") or "")
            if pid is None:
                continue
            self.appear(fside, pid, "fielding")
            self.first_position.setdefault(pid, "credit")
            if get(c, "position", "code") == "2":
                self.catcher[fside] = pid
            if credit == "f_putout":
                self.fld(fside, pid, "putOuts")
            elif credit == "f_assist" and pid not in assisted:
                assisted.add(pid)
                self.fld(fside, pid, "assists")
            elif rules.is_error_credit(credit) and (idx, pid, credit) not in seen_errors:
                seen_errors.add((idx, pid, credit))
                self.fld(fside, pid, "errors")
                if self.half:  # L1: errors go to the fielding side's line of this inning
                    self.inning_line(fside, self.half.inning).errors += 1

    def plate_appearance(self, play: Play, events: list[Mapping[str, Any]], side: str, fside: str) -> None:
        etype = get(play, "result", "eventType")
        if etype not in rules.PA_EVENTS:
            return
        record_plate_appearance(self, play, events, str(etype), side, fside)


_STEAL_FROM = {"2b": "1B", "3b": "2B", "home": "3B"}


def _saved_by_error(runner: Mapping[str, Any]) -> bool:
    """The runner the caught-stealing event is about (he started on the base before its target) is safe
    only because of an error charged on his own movement (Retrosheet ``CS2(2E6)``): still caught
    stealing (OBR 9.07(h): "would have been put out by errorless play")."""
    target = str(get(runner, "details", "eventType", default="")).rsplit("_", 1)[-1]
    if get(runner, "movement", "start") != _STEAL_FROM.get(target):
        return False
    return any(rules.is_error_credit(str(c.get("credit") or "")) for c in get(runner, "credits", default=[]))


def _result_index(play: Play, events: list[Mapping[str, Any]]) -> int | None:
    """The ``playEvents`` index of the batter's result: where his own movement starts, else the last
    pitch, else the last event (later events — substitutions, advisories — are not part of it)."""
    batter = person_id(get(play, "matchup", "batter"))
    own = [
        int(get(r, "details", "playIndex"))
        for r in get(play, "runners", default=[])
        if get(r, "details", "playIndex") is not None
        and get(r, "movement", "start") is None
        and person_id(get(r, "details", "runner")) == batter
    ]
    if own:
        return min(own)
    pitches = [int(e.get("index", 0)) for e in events if e.get("isPitch")]
    if pitches:
        return pitches[-1]
    return int(events[-1].get("index", 0)) if events else None


def derive_box(feed: Feed) -> GameBox:
    """The box score of ``feed`` derived from its plays alone (plus decisions for W/L/SV)."""
    walk = _Walk(GameBox(game_pk(feed)))
    plays = [p for p in all_plays(feed) if get(p, "about", "isComplete", default=True) is not False]
    walk.catcher = starting_catchers(plays)
    walk.half_starts = half_start_runners(plays)
    for play in plays:
        walk.play(play)
    last_half = walk.half
    walk.end_half()
    if last_half is not None:
        # a game that ends in the bottom half with fewer than three outs ended on the winning run
        walk.box.walk_off = last_half.side == "home" and last_half.outs < 3
    for team in walk.box.teams.values():
        if walk.box.innings_played:  # lines for unplayed bottom halves too
            walk.inning_line(team.side, walk.box.innings_played)
    finish_pitching_roles(walk.box, walk.stints, walk.score, feed)
    for side, team in walk.box.teams.items():
        for player in team.players.values():
            if "batting" in player.present:
                player.batting["gamesPlayed"] = 1
            f = player.fielding
            if player.person_id not in walk.subbed_in and walk.first_position.get(player.person_id) in (
                "credit",
                "starting pitcher",
            ):
                f["gamesStarted"] = 1  # F4
            f["chances"] = f["putOuts"] + f["assists"] + f["errors"]  # F1
        _mark_silent_starters(walk, team)
        team_totals(team)
        team.pitching["earnedRuns"] -= walk.team_unearned[side]  # P4
    return walk.box


def _mark_silent_starters(walk: _Walk, team: TeamBox) -> None:
    """F5: in a DH game, two starting batters with no fielding evidence in any play (no credit, no
    switch) are the DH and a fielder who never touched the ball; the plays cannot tell which is which,
    so neither's fielding ``gamesStarted`` is decided (both are 0 here and reported as undetermined)."""
    starters = [
        p for p in team.players.values() if p.person_id not in walk.subbed_in and "batting" in p.present
    ]
    pitcher_bats = any(walk.first_position.get(p.person_id) == "starting pitcher" for p in starters)
    silent = [p for p in starters if p.person_id not in walk.first_position]
    if not pitcher_bats and len(silent) == 2:
        for p in silent:
            walk.box.undetermined.add((p.person_id, "fielding", "gamesStarted"))


def team_totals(team: TeamBox) -> None:
    """Team lines are the sums of the player lines (feed convention for ``teamStats``)."""
    for group in GROUPS:
        total = team.group(group)
        total.clear()
        for player in team.players.values():
            total.update(player.group(group))
