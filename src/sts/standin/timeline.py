"""The timeline of one recorded game: when each part of its final feed became known.

Pure and precomputed once per game (no I/O). A game's life is a list of *states*, each starting at
an instant in whole UTC seconds (``times``), strictly increasing:

    Scheduled (first pitch - 3 h) → Pre-Game (- 90 min) → Warmup (- 20 min) → In Progress → Final

While in progress a state is ``(plays, events, complete)``: plays ``0 .. plays-1`` are visible, the
last of them shows its first ``events`` play events and is complete or not. Timing, in original
(recorded) time:

- first pitch = ``allPlays[0].about.startTime``; play ``k`` becomes visible at
  ``max(startTime_k, complete_{k-1})`` (so only the last visible play can be incomplete, as in MLB);
- a play event becomes visible at its ``endTime`` (its result is known then), clamped so events of a
  play appear in order and not before the play (pre-game actions recorded in the first play appear
  with the first pitch);
- play ``k`` completes at ``max(about.endTime, its last event, visible_k)``;
- Final at the end of the last play (or the recorded ``metaData.timeStamp`` if later and within 6 h):
  from then on the feed is the recorded final feed.

Several changes in one second collapse into one state (the last one), so ``timecodes`` (yyyymmdd_HHMMSS)
are distinct and each names exactly one state.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]

PRE_GAME_LEAD = 90 * 60
WARMUP_LEAD = 20 * 60
SCHEDULED_LEAD = 3 * 3600
HITS = frozenset({"single", "double", "triple", "home_run"})
ERROR_CREDITS = frozenset({"f_fielding_error", "f_throwing_error"})
POSITIONS = {
    "P": "pitcher",
    "C": "catcher",
    "1B": "first",
    "2B": "second",
    "3B": "third",
    "SS": "shortstop",
    "LF": "left",
    "CF": "center",
    "RF": "right",
}
BASES = ("1B", "2B", "3B")


def parse_time(value: str) -> float:
    """An MLB ISO time (``2024-06-12T04:12:48.304Z``) as a Unix epoch."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def timecode(epoch: float) -> str:
    """A Unix epoch as an MLB timecode ``yyyymmdd_HHMMSS`` (UTC, truncated to the second)."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y%m%d_%H%M%S")


def parse_timecode(value: str) -> float:
    """An MLB timecode as a Unix epoch; raises ``ValueError`` when malformed."""
    return datetime.strptime(value, "%Y%m%d_%H%M%S").replace(tzinfo=UTC).timestamp()


@dataclass(frozen=True, slots=True)
class State:
    """One state of a game. ``phase``: scheduled, pregame, warmup, live or final."""

    phase: str
    plays: int = 0
    events: int = 0
    complete: bool = False
    revision: int = 0  # final states appended by :func:`sts.standin.revisions.inject` count 1, 2, …


@dataclass(frozen=True, slots=True)
class PlayFacts:
    """What a completed play contributes, precomputed from the final feed."""

    inning: int
    top: bool
    batting: str  # "away" | "home"
    runs: int
    hit: bool
    errors: int  # charged to the fielding team
    outs_before: int
    outs_after: int
    score_before: tuple[int, int]  # (away, home)
    score_after: tuple[int, int]
    bases_before: dict[str, int]  # base -> runner id
    bases_after: dict[str, int]
    lineup_before: dict[str, dict[str, int]]  # side -> linescore position key -> player id
    subs: list[tuple[int, str, str, int]]  # (event index, side, position key, player id)
    swaps: list[tuple[int, int, int]]  # pinch runners: (event index, replaced id, new id)


def apply_runners(
    bases: dict[str, int], runners: list[JSON], swaps: list[tuple[int, int, int]] | tuple[()] = ()
) -> dict[str, int]:
    """Bases (base -> runner id) after pinch-runner ``swaps`` (event index, old id, new id) and the
    runner movements ``runners``; a runner put out or scoring leaves the bases."""
    where = {rid: base for base, rid in bases.items()}
    for _, old, new in swaps:
        if old in where:
            where[new] = where.pop(old)
    for r in runners:
        rid = r.get("details", {}).get("runner", {}).get("id")
        mv = r.get("movement", {})
        if not isinstance(rid, int):
            continue
        where.pop(rid, None)
        if mv.get("end") in BASES and not mv.get("isOut"):
            where[rid] = mv["end"]
    return {base: rid for rid, base in sorted(where.items(), key=lambda kv: kv[1])}


def count_errors(runners: list[JSON]) -> int:
    """Errors charged in these runner movements (one per fielder, credit and event)."""
    seen = set()
    for r in runners:
        for c in r.get("credits", []):
            if c.get("credit") in ERROR_CREDITS:
                seen.add((r.get("details", {}).get("playIndex"), c.get("player", {}).get("id"), c["credit"]))
    return len(seen)


class GameTimeline:
    """Precomputed states, instants and per-play facts of one final feed (see the module doc)."""

    def __init__(self, feed: JSON) -> None:
        self.feed = feed
        self.game_pk: int = int(feed.get("gamePk") or feed["gameData"]["game"]["pk"])
        self.plays: list[JSON] = feed["liveData"]["plays"]["allPlays"]
        gd = feed["gameData"]
        self.team_ids = {side: int(gd["teams"][side]["id"]) for side in ("away", "home")}
        box = feed["liveData"]["boxscore"]["teams"]
        self.side_of_player = {
            int(pid[2:]): side for side in ("away", "home") for pid in box[side].get("players", {})
        }
        self._timing()
        self._facts()
        self._states()
        self.overrides: dict[int, JSON] = {}  # state index -> feed served instead of the synthesized one

    def person(self, pid: int) -> JSON:
        """A ``{id, fullName, link}`` reference to a player of this game."""
        player = self.feed["gameData"].get("players", {}).get(f"ID{pid}", {})
        return {"id": pid, "fullName": player.get("fullName", ""), "link": f"/api/v1/people/{pid}"}

    def team_ref(self, side: str) -> JSON:
        team = self.feed["gameData"]["teams"][side]
        return {"id": team["id"], "name": team.get("name", ""), "link": team.get("link", "")}

    # ------------------------------------------------------------------ timing

    def _timing(self) -> None:
        self.visible: list[float] = []
        self.event_at: list[list[float]] = []
        self.complete_at: list[float] = []
        prev_complete = float("-inf")
        for play in self.plays:
            about = play["about"]
            vis = max(parse_time(about["startTime"]), prev_complete)
            last = vis
            times = []
            for ev in play.get("playEvents", []):
                stamp = ev.get("endTime") or ev.get("startTime")
                last = max(last, parse_time(stamp)) if stamp else last
                times.append(last)
            done = max(parse_time(about["endTime"]), last)
            self.visible.append(vis)
            self.event_at.append(times)
            self.complete_at.append(done)
            prev_complete = done
        self.first_pitch = self.visible[0]
        self.end = self.complete_at[-1]
        self.final_at = self.end
        stamp = self.feed.get("metaData", {}).get("timeStamp")
        try:
            recorded = parse_timecode(str(stamp))
        except ValueError:
            recorded = None
        if recorded is not None and int(self.end) <= recorded <= self.end + 6 * 3600:
            self.final_at = recorded

    # ------------------------------------------------------------------ per-play facts

    def _starting_lineups(self) -> dict[str, dict[str, int]]:
        box = self.feed["liveData"]["boxscore"]["teams"]
        lineups: dict[str, dict[str, int]] = {}
        for side in ("away", "home"):
            lineup: dict[str, int] = {}
            for pid, player in box[side].get("players", {}).items():
                order = str(player.get("battingOrder", ""))
                positions = player.get("allPositions") or []
                if order.isdigit() and int(order) % 100 == 0 and positions:
                    key = POSITIONS.get(positions[0].get("abbreviation", ""))
                    if key:
                        lineup[key] = int(pid[2:])
            if box[side].get("pitchers"):
                lineup["pitcher"] = int(box[side]["pitchers"][0])
            lineups[side] = lineup
        return lineups

    def _facts(self) -> None:
        self.facts: list[PlayFacts] = []
        bases: dict[str, int] = {}
        outs = 0
        score = (0, 0)
        half: tuple[int, bool] | None = None
        lineups = self._starting_lineups()
        for play in self.plays:
            about = play["about"]
            top = about["halfInning"] == "top" if "halfInning" in about else bool(about.get("isTopInning"))
            here = (int(about["inning"]), top)
            if here != half:
                bases, outs, half = {}, 0, here
            subs = []
            swaps = []
            for i, ev in enumerate(play.get("playEvents", [])):
                old = ev.get("replacedPlayer", {}).get("id")
                if ev.get("position", {}).get("abbreviation") == "PR" and isinstance(old, int):
                    swaps.append((i, old, int(ev["player"]["id"])))
                key = POSITIONS.get(ev.get("position", {}).get("abbreviation", ""))
                pid = ev.get("player", {}).get("id")
                if ev.get("type") == "action" and key and isinstance(pid, int) and pid in self.side_of_player:
                    subs.append((i, self.side_of_player[pid], key, pid))
            before = {side: dict(lu) for side, lu in lineups.items()}
            for _, side, key, pid in subs:
                lineups[side][key] = pid
            result = play.get("result", {})
            after = (int(result.get("awayScore", score[0])), int(result.get("homeScore", score[1])))
            batting = "away" if top else "home"
            bases_after = apply_runners(bases, play.get("runners", []), swaps)
            outs_after = int(play.get("count", {}).get("outs", outs))
            self.facts.append(
                PlayFacts(
                    inning=here[0],
                    top=top,
                    batting=batting,
                    runs=(after[0] - score[0]) if top else (after[1] - score[1]),
                    hit=result.get("eventType") in HITS,
                    errors=count_errors(play.get("runners", [])),
                    outs_before=outs,
                    outs_after=outs_after,
                    score_before=score,
                    score_after=after,
                    bases_before=bases,
                    bases_after=bases_after,
                    lineup_before=before,
                    subs=subs,
                    swaps=swaps,
                )
            )
            bases, outs, score = bases_after, outs_after, after
        self.lineup_final = lineups
        # plate appearances per batting side, for batter / on deck / in the hole
        self.pas: dict[str, list[tuple[int, int]]] = {"away": [], "home": []}
        for k, play in enumerate(self.plays):
            batter = play.get("matchup", {}).get("batter", {}).get("id")
            if isinstance(batter, int):
                self.pas[self.facts[k].batting].append((k, batter))
        self._hit_entries()

    def _hit_entries(self) -> None:
        """Map each ``playsByInning[].hits`` entry to (atBatIndex, event index) of its batted ball."""
        self.hits_at: list[dict[str, list[tuple[int, int]]]] = []
        for entry in self.feed["liveData"]["plays"].get("playsByInning", []):
            mapped: dict[str, list[tuple[int, int]]] = {}
            for side, half in (("away", "top"), ("home", "bottom")):
                plays = [k for k in entry.get(half, []) if 0 <= k < len(self.plays)]
                out: list[tuple[int, int]] = []
                j = 0
                for hit in entry.get("hits", {}).get(side, []):
                    bid = hit.get("batter", {}).get("id")
                    found = None
                    while j < len(plays) and found is None:
                        play = self.plays[plays[j]]
                        j += 1
                        evs = play.get("playEvents", [])
                        idx = [i for i, ev in enumerate(evs) if "hitData" in ev]
                        if play.get("matchup", {}).get("batter", {}).get("id") == bid and idx:
                            found = (plays[j - 1], idx[-1])
                    out.append(found or ((plays[-1] if plays else len(self.plays)), 1 << 30))
                mapped[side] = out
            self.hits_at.append(mapped)

    # ------------------------------------------------------------------ states

    def _states(self) -> None:
        fp = self.first_pitch
        raw: list[tuple[float, State]] = [
            (fp - SCHEDULED_LEAD, State("scheduled")),
            (fp - PRE_GAME_LEAD, State("pregame")),
            (fp - WARMUP_LEAD, State("warmup")),
        ]
        n = len(self.plays)
        for k in range(n):
            raw.append((self.visible[k], State("live", k + 1, 0, False)))
            for j, t in enumerate(self.event_at[k]):
                raw.append((t, State("live", k + 1, j + 1, False)))
            if k < n - 1:
                raw.append((self.complete_at[k], State("live", k + 1, len(self.event_at[k]), True)))
        if int(self.final_at) > int(self.end):
            raw.append((self.end, State("live", n, len(self.event_at[-1]), True)))
        raw.append((self.final_at, State("final", n, len(self.event_at[-1]), True)))
        self.times: list[int] = []
        self.states: list[State] = []
        for t, st in raw:
            sec = int(t // 1)
            if self.times and sec <= self.times[-1]:
                self.states[-1] = st
            else:
                self.times.append(sec)
                self.states.append(st)
        self.timecodes = [timecode(t) for t in self.times]

    def append_final(self, at: int, feed: JSON) -> int:
        """Append a later final state (a correction, :mod:`sts.standin.revisions`) at original time
        ``at`` (after every state), served as ``feed``; returns its index."""
        if at <= self.times[-1]:
            raise ValueError(f"a state appended at {at} must come after the last one ({self.times[-1]})")
        last = self.states[-1]
        self.times.append(int(at))
        self.states.append(State("final", last.plays, last.events, True, last.revision + 1))
        self.timecodes.append(timecode(at))
        self.overrides[len(self.states) - 1] = feed
        return len(self.states) - 1

    def feed_override(self, index: int) -> JSON | None:
        """The feed appended for state ``index`` (``None``: the state is synthesized as usual)."""
        return self.overrides.get(index)

    def index_at(self, epoch: float) -> int:
        """Index of the state in force at original time ``epoch`` (the first state if earlier)."""
        return max(0, bisect.bisect_right(self.times, int(epoch // 1)) - 1)

    def state_at(self, epoch: float) -> State:
        return self.states[self.index_at(epoch)]
