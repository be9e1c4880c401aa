"""``liveData.linescore`` of a game at one state of its timeline, recomputed from the plays (pure).

Per inning and side: ``runs`` (only once that half has started, as MLB does), ``hits``, ``errors``
(charged to the fielding side) and ``leftOnBase`` (counted when the half is over); team totals;
the current inning, half and state (``Middle``/``End`` between halves), the count; ``offense``
(batter, on deck, in the hole, runners on base, the batting side's pitcher, batting order, team)
and ``defense`` (the nine fielders as of that moment, from the starting lineups in the boxscore plus
every substitution event so far, and the fielding side's next batters).

Upcoming batters come from the batting side's recorded plate appearances (so pinch hitters appear
when they actually batted), falling back to the boxscore batting order past the last one.
"""

from __future__ import annotations

from typing import Any

from sts.standin.timeline import POSITIONS, GameTimeline, State, apply_runners, count_errors

JSON = dict[str, Any]

_ORDINAL = {1: "st", 2: "nd", 3: "rd"}


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else _ORDINAL.get(n % 10, 'th')}"


def _upcoming(tl: GameTimeline, side: str, k: int, include_k: bool) -> list[int]:
    """Ids of the next three batters of ``side`` from play ``k`` on (``k`` itself if ``include_k``)."""
    seq = [pid for ab, pid in tl.pas[side] if ab > k or (include_k and ab == k)][:3]
    if len(seq) < 3:
        order = [int(p) for p in tl.feed["liveData"]["boxscore"]["teams"][side].get("battingOrder", [])]
        if order:
            last = seq[-1] if seq else (tl.pas[side][-1][1] if tl.pas[side] else order[-1])
            i = order.index(last) + 1 if last in order else 0
            while len(seq) < 3:
                seq.append(order[i % len(order)])
                i += 1
    return seq


def _slot(tl: GameTimeline, side: str, pid: int) -> int | None:
    player = tl.feed["liveData"]["boxscore"]["teams"][side].get("players", {}).get(f"ID{pid}", {})
    order = str(player.get("battingOrder", ""))
    return int(order) // 100 if order.isdigit() else None


def _batters(tl: GameTimeline, batters: list[int]) -> JSON:
    return {key: tl.person(pid) for key, pid in zip(("batter", "onDeck", "inHole"), batters, strict=False)}


def _pregame(tl: GameTimeline) -> JSON:
    final = tl.feed["liveData"]["linescore"]
    return {
        "scheduledInnings": final.get("scheduledInnings", 9),
        "innings": [],
        "teams": {"home": {}, "away": {}},
        "defense": {"team": tl.team_ref("home")},
        "offense": {"team": tl.team_ref("away")},
        "balls": 0,
        "strikes": 0,
        "outs": 0,
    }


def build_linescore(tl: GameTimeline, state: State, current_play: JSON | None) -> JSON:
    """The linescore at ``state`` (``current_play``: the feed's ``currentPlay`` at that state)."""
    if state.phase == "final":
        return dict(tl.feed["liveData"]["linescore"])
    if not state.plays or current_play is None:
        return _pregame(tl)
    k = state.plays - 1
    facts = tl.facts[k]
    lines: dict[tuple[int, str], JSON] = {}
    started: set[tuple[int, str]] = set()
    for i in range(k + 1):
        f = tl.facts[i]
        fielding = "home" if f.batting == "away" else "away"
        bat = lines.setdefault((f.inning, f.batting), {"runs": 0, "hits": 0, "errors": 0, "leftOnBase": 0})
        fld = lines.setdefault((f.inning, fielding), {"runs": 0, "hits": 0, "errors": 0, "leftOnBase": 0})
        started.add((f.inning, f.batting))
        if i < k or state.complete:
            bat["runs"] += f.runs
            bat["hits"] += int(f.hit)
            fld["errors"] += f.errors
            half_over = i < k and (tl.facts[i + 1].inning, tl.facts[i + 1].top) != (f.inning, f.top)
            last_play = i == len(tl.plays) - 1
            if half_over or (i == k and (f.outs_after >= 3 or last_play)):
                bat["leftOnBase"] += len(f.bases_after)
        else:
            cur = current_play
            bat["runs"] += cur["result"]["awayScore" if f.top else "homeScore"] - (
                f.score_before[0] if f.top else f.score_before[1]
            )
            fld["errors"] += count_errors(cur.get("runners", []))
    innings = []
    for n in range(1, facts.inning + 1):
        entry: JSON = {"num": n, "ordinalNum": ordinal(n)}
        for side in ("home", "away"):
            line = dict(lines.get((n, side), {"runs": 0, "hits": 0, "errors": 0, "leftOnBase": 0}))
            if (n, side) not in started:
                line.pop("runs")
            entry[side] = line
        innings.append(entry)
    teams = {
        side: {
            key: sum(v.get(key, 0) for (_, s), v in lines.items() if s == side)
            for key in ("runs", "hits", "errors", "leftOnBase")
        }
        for side in ("home", "away")
    }
    score = (current_play["result"]["awayScore"], current_play["result"]["homeScore"])
    teams["away"]["runs"], teams["home"]["runs"] = score
    between = state.complete and facts.outs_after >= 3
    inning_state = ("Middle" if facts.top else "End") if between else ("Top" if facts.top else "Bottom")
    batting = facts.batting
    if between:
        batting = "home" if facts.top else "away"
    fielding = "home" if batting == "away" else "away"
    lineups = {side: dict(lu) for side, lu in facts.lineup_before.items()}
    for ev_index, side, key, pid in facts.subs:
        if state.complete or ev_index < state.events:
            lineups[side][key] = pid
    if state.complete:
        bases = {} if between else facts.bases_after
    else:
        swaps = [sw for sw in facts.swaps if sw[0] < state.events]
        bases = apply_runners(facts.bases_before, current_play.get("runners", []), swaps)
    in_play = not state.complete and batting == facts.batting
    off_batters = _upcoming(tl, batting, k, include_k=in_play)
    def_batters = _upcoming(tl, fielding, k, include_k=False)
    count = current_play.get("count", {})
    defense: JSON = {
        key: tl.person(lineups[fielding][key]) for key in POSITIONS.values() if key in lineups[fielding]
    }
    defense.update(_batters(tl, def_batters))
    defense["battingOrder"] = _slot(tl, fielding, def_batters[0]) if def_batters else None
    defense["team"] = tl.team_ref(fielding)
    offense = _batters(tl, off_batters)
    for base, key in (("1B", "first"), ("2B", "second"), ("3B", "third")):
        if base in bases:
            offense[key] = tl.person(bases[base])
    if "pitcher" in lineups[batting]:
        offense["pitcher"] = tl.person(lineups[batting]["pitcher"])
    offense["battingOrder"] = _slot(tl, batting, off_batters[0]) if off_batters else None
    offense["team"] = tl.team_ref(batting)
    final = tl.feed["liveData"]["linescore"]
    return {
        "currentInning": facts.inning,
        "currentInningOrdinal": ordinal(facts.inning),
        "inningState": inning_state,
        "inningHalf": "Top" if facts.top else "Bottom",
        "isTopInning": facts.top,
        "scheduledInnings": final.get("scheduledInnings", 9),
        "innings": innings,
        "teams": teams,
        "defense": defense,
        "offense": offense,
        "balls": count.get("balls", 0),
        "strikes": count.get("strikes", 0),
        "outs": count.get("outs", 0),
    }
