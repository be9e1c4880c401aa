"""A Retrosheet game turned into a GUMBO-shaped feed that :func:`sts.stats.derive_box` consumes.

Pure: a parsed :class:`~sts.retrosheet.events.Game` and a :class:`~sts.retrosheet.crosswalk.Crosswalk`
in, a feed dict out. One GUMBO play per Retrosheet ``play`` record that is not ``NP``:

- ``about``: atBatIndex (record order), inning, halfInning (the team batting first is the feed's
  ``away`` side, as the engine expects: the visitor, or the home team when ``info,htbf,true``);
- ``result``: eventType from the play field, the raw field as ``description``, rbi, running score;
- ``matchup``: batter, the pitcher charged with him (OBR 9.16(h): a reliever entering with a 2-0, 2-1,
  3-0, 3-1 or 3-2 count who walks the batter does not get him), ``postOn*`` bases after the play;
- ``playEvents``: the ``sub`` records since the previous play (substitution actions), the new pitches of
  the pitch sequence (the sequence repeats earlier pitches of the same plate appearance), and for a
  running event an action event (``fromCatcher`` for a catcher's pickoff);
- ``runners``: one movement per runner who moved or was put out, with ``responsiblePitcher`` (the
  pitcher who put him on; a batter who reaches on a force/fielder's choice takes over the retired
  runner's pitcher, OBR 9.16(g); ``presadj`` overrides), ``earned`` (not ``(UR)``), ``teamUnearned``
  (``(TUR)``), ``rbi`` and fielding credits from the fielder sequences.

The 2020 tie-breaker runner (``radj``) is placed on his base by a movement from that base to itself on
a ``runner_placed`` action event, so the engine knows he is there from the start of the half.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sts.retrosheet.crosswalk import Crosswalk
from sts.retrosheet.events import Game, PlayRecord, Start
from sts.retrosheet.pitches import BALL_HEAVY, count, pitch_events
from sts.retrosheet.playfield import HOME, Event, Move, default_rbi, parse_event
from sts.stats.rules import STRIKEOUTS

BASE_NAMES = {1: "1B", 2: "2B", 3: "3B", HOME: "score"}
ERROR_CREDIT = {"fielding": "f_fielding_error", "throwing": "f_throwing_error"}


@dataclass
class Converted:
    """The feed, plus what the conversion learned that a feed has no place for."""

    feed: dict[str, Any]
    game_id: str
    score: dict[str, int]
    players: dict[int, str]  # engine id -> retro id
    anomalies: list[str] = field(default_factory=list)


@dataclass
class _State:
    game: Game
    xw: Crosswalk
    lineup: dict[int, dict[int, str]] = field(default_factory=lambda: {0: {}, 1: {}})
    fielders: dict[int, dict[int, str]] = field(default_factory=lambda: {0: {}, 1: {}})
    position: dict[str, int] = field(default_factory=dict)
    entered: dict[str, int] = field(default_factory=dict)  # pitcher -> order of entry
    bases: dict[int, str] = field(default_factory=dict)
    responsible: dict[str, str] = field(default_factory=dict)
    half: tuple[int, int] | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)
    placements: list[tuple[int, str, int]] = field(default_factory=list)  # (event slot, runner, base)
    pa: tuple[int, int, str] | None = None  # the plate appearance the last record belonged to
    pa_pitches: str = ""
    relieved: tuple[str, tuple[int, int]] | None = None  # pitcher replaced mid-PA, count then
    count: str = ""  # balls/strikes of the last play record
    outs: int = 0  # outs in the half before the play being converted
    first: int = 0  # the team (0 visitor, 1 home) that bats in the top halves
    two_strike_batter: str | None = None
    score: list[int] = field(default_factory=lambda: [0, 0])
    plays: list[dict[str, Any]] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)

    def ref(self, retro_id: str) -> dict[str, Any]:
        return {"id": self.xw.person(retro_id)}

    def pitcher(self, team: int) -> str:
        return self.fielders[team].get(1, "")

    # -- records -------------------------------------------------------------------------------
    def start(self, s: Start) -> None:
        if s.slot:
            self.lineup[s.team][s.slot] = s.player
        if s.position <= 10:
            self.fielders[s.team][s.position] = s.player
        if s.position == 1:
            self.entered.setdefault(s.player, len(self.entered))
        self.position[s.player] = s.position

    def sub(self, s: Start) -> None:
        batting = self.half[1] if self.half else 0
        old_pos = self.position.get(s.player)
        replaced = self.lineup[s.team].get(s.slot) if s.slot else self.fielders[s.team].get(s.position)
        event: dict[str, Any] = {
            "isPitch": False,
            "type": "action",
            "player": self.ref(s.player),
            "position": {"code": str(s.position)},
        }
        if (old_pos is not None and replaced == s.player) or (
            old_pos is not None and s.position <= 10 and s.team != batting
        ):
            text = "Defensive switch from designated hitter" if old_pos == 10 else "Defensive switch"
            event["details"] = {"eventType": "defensive_switch", "description": f"{text} to {s.position}"}
        else:
            if s.team == batting and self.half is not None and s.position in (11, 12):
                etype = "offensive_substitution"
            elif s.position == 1:
                etype = "pitching_substitution"
            else:
                etype = (
                    "offensive_substitution"
                    if s.team == batting and s.position >= 10
                    else ("defensive_substitution")
                )
            event["details"] = {"eventType": etype}
            if replaced is not None:
                event["replacedPlayer"] = self.ref(replaced)
        if s.position == 1 and self.pa is not None and replaced and replaced != s.player:
            self.relieved = (replaced, count(self.pa_pitches))
        if s.team == batting and s.position == 11 and self.pa is not None and self.pa[2] == replaced:
            # a pinch hitter mid-count: his record repeats the pitches so far; OBR 9.15(b): a strikeout
            # completed after the first batter left with two strikes is the first batter's
            self.pa = (self.pa[0], self.pa[1], s.player)
            self.two_strike_batter = replaced if self.count[1:2] == "2" else self.two_strike_batter
        self.placements = [(i, s.player if r == replaced else r, b) for i, r, b in self.placements]
        if s.position == 12 or (replaced is not None and replaced in self.bases.values()):
            for base, rid in list(self.bases.items()):
                if rid == replaced:
                    self.bases[base] = s.player
                    self.responsible[s.player] = self.responsible.get(replaced, "")
        if replaced is not None and s.position <= 10 and self.fielders[s.team].get(s.position) == replaced:
            del self.fielders[s.team][s.position]
        self.start(s)
        self.pending.append(event)

    def adjust(self, kind: str, fields: tuple[str, ...]) -> None:
        if kind == "radj":
            self.placements.append((len(self.pending), fields[0], int(fields[1])))
        elif kind == "presadj":
            rid = self.bases.get(int(fields[1]))
            if rid:
                self.responsible[rid] = fields[0]

    # -- plays ---------------------------------------------------------------------------------
    def play(self, rec: PlayRecord) -> None:
        if self.half != (rec.inning, rec.team):
            self.half = (rec.inning, rec.team)
            self.bases = {}
            self.outs = 0
        fteam = 1 - rec.team
        for _, runner, base in self.placements:
            self.bases[base] = runner
            self.responsible[runner] = self.pitcher(fteam)
        key = (rec.inning, rec.team, rec.batter)
        seq = rec.pitches
        new = seq[len(self.pa_pitches) :] if self.pa == key and seq.startswith(self.pa_pitches) else seq
        if self.pa != key:
            self.relieved = self.two_strike_batter = None
        self.pa, self.pa_pitches, self.count = key, seq, rec.count
        event = parse_event(rec.event)
        if event.event_type == "no_play":
            return
        self.emit(rec, event, new, fteam)
        if event.is_pa:
            self.pa, self.pa_pitches, self.relieved, self.two_strike_batter = None, "", None, None

    def emit(self, rec: PlayRecord, event: Event, new_pitches: str, fteam: int) -> None:
        events = list(self.pending)
        for slot, runner, base in reversed(self.placements):
            events.insert(
                slot,
                {
                    "isPitch": False,
                    "type": "action",
                    "player": self.ref(runner),
                    "details": {"eventType": "runner_placed", "base": base},
                },
            )
        placed = [
            (i, r, b)
            for i, e in enumerate(events)
            for (_, r, b) in self.placements
            if e["details"]["eventType"] == "runner_placed" and e["player"]["id"] == self.xw.person(r)
        ]
        self.pending, self.placements = [], []
        events += pitch_events(new_pitches)
        if not event.is_pa or not events:
            events.append(
                {
                    "isPitch": False,
                    "type": "action",
                    "details": {"eventType": event.event_type, "fromCatcher": event.from_catcher},
                }
            )
        if event.trajectory:
            target = next((e for e in reversed(events) if e.get("isPitch")), events[-1])
            target["hitData"] = {"trajectory": event.trajectory}
        for i, e in enumerate(events):
            e["index"] = i
        last = len(events) - 1
        runners = [
            self.movement(i, runner, base, base, False, "runner_placed", fteam, rec, event)
            for i, runner, base in placed
        ]
        runners += self.apply(rec, event, fteam, last)
        self.outs += sum(1 for r in runners if r["movement"]["isOut"])
        pitcher = self.pitcher(fteam)
        if self.relieved and event.event_type in ("walk", "intent_walk") and self.relieved[1] in BALL_HEAVY:
            pitcher = self.relieved[0]  # OBR 9.16(h)
        batter = rec.batter
        if self.two_strike_batter and event.event_type in STRIKEOUTS:
            batter = self.two_strike_batter  # OBR 9.15(b)
        post = {
            f"postOn{n}": self.ref(self.bases[b])
            for b, n in ((1, "First"), (2, "Second"), (3, "Third"))
            if b in self.bases
        }
        self.plays.append(
            {
                "about": {
                    "atBatIndex": len(self.plays),
                    "inning": rec.inning,
                    "isComplete": True,
                    "halfInning": "top" if rec.team == self.first else "bottom",
                    "isTopInning": rec.team == self.first,
                },
                "result": {
                    "type": "atBat",
                    "eventType": event.event_type,
                    "event": event.basic,
                    "description": rec.event,
                    "rbi": sum(1 for r in runners if r["details"]["rbi"]),
                    "awayScore": self.score[self.first],
                    "homeScore": self.score[1 - self.first],
                },
                "matchup": {"batter": self.ref(batter), "pitcher": self.ref(pitcher), **post},
                "playEvents": events,
                "runners": runners,
            }
        )

    def apply(self, rec: PlayRecord, event: Event, fteam: int, index: int) -> list[dict[str, Any]]:
        order = sorted(event.moves.values(), key=lambda m: -m.start)
        runner_of: dict[int, str] = {}
        for m in order:
            rid = rec.batter if m.start <= 0 else self.bases.get(m.start)
            if rid is None:
                self.anomalies.append(f"{rec.inning},{rec.team} {rec.event}: nobody on {m.start}")
                continue
            runner_of[m.start] = rid
        if 0 in runner_of and not event.moves[0].out:
            self.responsible[rec.batter] = self.pitcher(fteam)
            forced = [m for m in order if m.out and m.start > 0 and m.start in runner_of]
            if forced and event.event_type in ("force_out", "fielders_choice_out", "fielders_choice"):
                prior = self.responsible.get(runner_of[forced[0].start])
                if prior:
                    self.responsible[rec.batter] = prior  # OBR 9.16(g)
        for start in runner_of:
            if start > 0:
                self.bases.pop(start, None)
        staying = set(self.bases.values()) | {
            runner_of[m.start] for m in order if m.start in runner_of and not m.out and m.end < HOME
        }
        for m in order:
            if m.start in runner_of and not m.out and m.end == HOME:
                self.charge_in_order(runner_of[m.start], staying)
        out = []
        for m in order:
            rid = runner_of.get(m.start)
            if rid is None:
                continue
            if m.start >= 0 and not m.out and m.end < HOME:
                self.bases[m.end] = rid
            out.append(
                self.movement(
                    index, rid, m.start, m.end, m.out, m.kind or event.event_type, fteam, rec, event, m
                )
            )
        return out

    def charge_in_order(self, scorer: str, staying: set[str]) -> None:
        """OBR 9.16(g) Comment: each pitcher is charged with the *number* of runners he put on base.
        When a reliever's runner scores while a runner an earlier pitcher is charged with (one who
        reached on a fielder's choice that retired that pitcher's runner) is still on base, the run
        goes to the earlier pitcher and the runner on base passes to the reliever."""
        mine = self.responsible.get(scorer, "")
        rank = self.entered.get(mine, -1)
        earlier = [r for r in staying if self.entered.get(self.responsible.get(r, ""), rank) < rank]
        if earlier:
            other = min(earlier, key=lambda r: self.entered[self.responsible[r]])
            self.responsible[scorer], self.responsible[other] = self.responsible[other], mine

    def movement(
        self,
        index: int,
        rid: str,
        start: int,
        end: int,
        is_out: bool,
        kind: str,
        fteam: int,
        rec: PlayRecord,
        event: Event,
        move: Move | None = None,
    ) -> dict[str, Any]:
        scored = not is_out and end == HOME and start >= 0
        if scored:
            self.score[rec.team] += 1
        credits: list[dict[str, Any]] = []
        if move is not None:
            for kind_name, positions in (
                ("f_fielded_ball", move.fielded),
                ("f_putout", move.putouts),
                ("f_assist", move.assists),
            ):
                credits += [self.credit(fteam, p, kind_name) for p in positions]
            for p, how in move.errors:
                name = (
                    "f_catcher_interf"
                    if how == "interference" and p == 2
                    else ERROR_CREDIT.get(how, "f_fielding_error")
                )
                credits.append(self.credit(fteam, p, name))
        details: dict[str, Any] = {
            "eventType": kind,
            "runner": self.ref(rid),
            "playIndex": index,
            "isScoringEvent": scored,
            "rbi": False,
            "earned": False,
        }
        if scored and move is not None:
            details["rbi"] = default_rbi(event, move, self.outs)
            details["earned"] = not move.unearned
            details["teamUnearned"] = move.team_unearned
            pitcher = self.responsible.get(rid) or self.pitcher(fteam)
            details["responsiblePitcher"] = self.ref(pitcher)
        return {
            "movement": {
                "originBase": BASE_NAMES.get(start),
                "start": BASE_NAMES.get(start),
                "end": None if is_out or start < 0 else BASE_NAMES.get(end),
                "isOut": is_out,
            },
            "details": details,
            "credits": [c for c in credits if c["player"]["id"] is not None],
        }

    def credit(self, fteam: int, pos: int, name: str) -> dict[str, Any]:
        rid = self.fielders[fteam].get(pos)
        if rid is None:
            self.anomalies.append(f"no fielder at {pos} for team {fteam}")
        return {
            "player": {"id": self.xw.person(rid) if rid else None},
            "position": {"code": str(pos)},
            "credit": name,
        }


def convert_game(game: Game, crosswalk: Crosswalk) -> Converted:
    """The GUMBO-shaped feed of ``game``; ids through ``crosswalk`` (unmapped ones are recorded there)."""
    st = _State(game, crosswalk)
    st.first = 1 if game.info.get("htbf") == "true" else 0
    codes = (game.visitor, game.home)
    teams = {"away": codes[st.first], "home": codes[1 - st.first]}
    for s in game.starts:
        st.start(s)
    for rec in game.body:
        if rec.play is not None:
            st.play(rec.play)
        elif rec.sub is not None:
            st.sub(rec.sub)
        else:
            st.adjust(rec.kind, rec.fields)
    people = {s.player for s in game.starts} | {r.sub.player for r in game.body if r.sub}
    players = {crosswalk.person(p): p for p in people}
    decisions = {
        k: {"id": crosswalk.person(game.info[v])}
        for k, v in (("winner", "wp"), ("loser", "lp"), ("save", "save"))
        if game.info.get(v)
    }
    names = {s.player: s.name for s in game.starts} | {r.sub.player: r.sub.name for r in game.body if r.sub}
    feed: dict[str, Any] = {
        "gamePk": None,
        "gameData": {
            "game": {"id": game.game_id, "doubleHeader": "Y" if game.info.get("number") != "0" else "N"},
            "datetime": {"officialDate": game.info.get("date", "").replace("/", "-")},
            "teams": {side: {"abbreviation": code, "id": code} for side, code in teams.items()},
            "players": {
                f"ID{crosswalk.person(p)}": {"id": crosswalk.person(p), "fullName": n}
                for p, n in names.items()
            },
        },
        "liveData": {
            "plays": {"allPlays": st.plays},
            "decisions": decisions,
            "linescore": {"scheduledInnings": int(game.info.get("innings") or 9)},
        },
    }
    score = {"away": st.score[st.first], "home": st.score[1 - st.first]}
    return Converted(feed, game.game_id, score, players, st.anomalies)
