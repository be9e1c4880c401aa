"""Notable-moment rules (pure, no I/O): the complex-event-processing core.

:func:`detect` walks the completed plays of one game in order (a compact form of each ``PlayCompleted``
event, see :func:`compact_play`) and returns every notable moment they contain. It is a pure function
of (game context, plays, settings, career baselines), so the consumer can keep the per-game state as
the plays themselves and recompute: a restart, a replay or a redelivered batch gives the same moments,
and each moment's id depends only on what it is (rule + natural key), never on when it was seen.

Only a contiguous prefix of plays (at-bat indexes 0, 1, 2, …) is evaluated: a gap means an event has not
arrived yet, and evaluating past it could report a moment that is not one.

Rules (each can be switched off; thresholds in :class:`RuleSettings`):

- ``no_hitter`` / ``perfect_game``: a team has allowed no hit (no baserunner at all) after each completed
  inning from ``no_hitter_after_inning`` on; ``no_hitter_broken_up`` / ``perfect_game_broken_up`` when
  the first hit (baserunner) comes after such a watch was announced; ``no_hitter_completed`` /
  ``perfect_game_completed`` once the game is final.
- ``cycle_watch``: a batter has ``cycle_watch_hit_types`` (3, or 2) of the 4 hit types (single, double,
  triple, home run); ``cycle`` with all 4.
- ``lead_change``: a team takes the lead that the other team held last (a tie in between does not
  matter; the first lead of the game is not a change).
- ``late_tying_run`` / ``late_go_ahead_run``: a play in inning ``late_inning`` or later that ties the
  game, or puts the batting team ahead when it was tied or behind (a walk-off is reported as
  ``walk_off`` only).
- ``walk_off``: the home team takes the lead in the bottom of the last scheduled inning or later.
- ``pitch_count``: a pitcher's pitch count reaches each of ``pitch_count_thresholds``.
- ``velocity_drop``: for a pitch type of ``velocity_pitch_types``, the mean speed of the pitcher's last
  ``velocity_window`` pitches of that type is ``velocity_drop_mph`` or more below the mean of his first
  ``velocity_baseline_pitches`` of that type in this game (once per pitcher and type).
- ``career_milestone``: a batter's career home runs (hits) reach a multiple of
  ``milestone_home_runs_every`` (``milestone_hits_every``). Needs the player's career total before the
  game (a baseline); without one the rule stays silent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sts.moments.model import (
    EVENT_TYPE,
    HIT_NAMES,
    HIT_TYPES,
    RULES,
    GameContext,
    Moment,
    RuleSettings,
    compact_play,
    contiguous,
    info_from_game_info,
)

__all__ = [
    "EVENT_TYPE",
    "HIT_TYPES",
    "RULES",
    "GameContext",
    "Moment",
    "RuleSettings",
    "compact_play",
    "contiguous",
    "detect",
    "info_from_game_info",
]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class _Detector:
    def __init__(
        self, ctx: GameContext, settings: RuleSettings, baselines: Mapping[int, Mapping[str, int]]
    ) -> None:
        self.ctx = ctx
        self.s = settings
        self.baselines = baselines
        self.out: list[Moment] = []
        # per fielding side ("away" / "home" pitchers): hits and baserunners allowed, watch announced
        self.hits_allowed = {"away": 0, "home": 0}
        self.runners_allowed = {"away": 0, "home": 0}
        self.no_hit_watch = {"away": False, "home": False}
        self.perfect_watch = {"away": False, "home": False}
        self.defensive_innings = {"away": 0, "home": 0}
        self.hit_types: dict[int, set[str]] = defaultdict(set)
        self.game_counts: dict[tuple[int, str], int] = defaultdict(int)
        self.last_leader: str | None = None
        self.current_pitcher: dict[str, int | None] = {"away": None, "home": None}
        self.pitches: dict[int, int] = defaultdict(int)
        self.speeds: dict[tuple[int, str], list[float]] = defaultdict(list)
        self.velocity_flagged: set[tuple[int, str]] = set()
        self.away = self.home = 0

    # ------------------------------------------------------------------ helpers

    def team(self, side: str) -> int | None:
        return self.ctx.away_id if side == "away" else self.ctx.home_id

    def team_name(self, side: str) -> str:
        return self.ctx.away_name if side == "away" else self.ctx.home_name

    def emit(
        self,
        rule: str,
        key: str,
        play: Mapping[str, Any],
        players: Sequence[int | None],
        side: str | None,
        headline: str,
        **details: Any,
    ) -> None:
        if not self.s.on(rule):
            return
        self.out.append(
            Moment(
                rule=rule,
                game_pk=self.ctx.game_pk,
                key=key,
                at_bat_index=int(play["abi"]),
                inning=play.get("inning"),
                half="top" if play["top"] else "bottom",
                player_ids=tuple(p for p in players if p is not None),
                team_id=self.team(side) if side else None,
                headline=headline,
                details={k: str(v) for k, v in details.items() if v is not None},
            )
        )

    # ------------------------------------------------------------------ the walk

    def run(self, plays: Sequence[Mapping[str, Any]]) -> list[Moment]:
        last: Mapping[str, Any] | None = None
        for play in plays:
            batting, fielding = ("away", "home") if play["top"] else ("home", "away")
            self.pitching(play, fielding)
            self.no_hitter(play, fielding)
            self.cycle_and_milestones(play)
            self.scoring(play, batting)
            last = play
        if self.ctx.final and last is not None:
            self.completed_no_hitters(last)
        return self.out

    def pitching(self, play: Mapping[str, Any], side: str) -> None:
        pitcher = self.current_pitcher[side]
        if pitcher is None:
            pitcher = play.get("pitcher")
        for item in play.get("seq") or []:
            if item[0] == "S":
                pitcher = item[1]
                continue
            if pitcher is None:
                continue
            self.pitches[pitcher] += 1
            count = self.pitches[pitcher]
            if count in self.s.pitch_count_thresholds:
                self.emit(
                    "pitch_count",
                    f"{pitcher}/{count}",
                    play,
                    [pitcher],
                    side,
                    f"{self.ctx.name(pitcher)} has thrown {count} pitches",
                    pitches=count,
                )
            self.velocity(play, side, pitcher, item[1], item[2])
        # the feed names the pitcher who finished the plate appearance: trust it over our tracking
        self.current_pitcher[side] = play.get("pitcher") or pitcher

    def velocity(self, play: Mapping[str, Any], side: str, pitcher: int, kind: Any, speed: Any) -> None:
        if kind not in self.s.velocity_pitch_types or not isinstance(speed, int | float):
            return
        speeds = self.speeds[(pitcher, kind)]
        speeds.append(float(speed))
        n, w = self.s.velocity_baseline_pitches, self.s.velocity_window
        if len(speeds) < n + w or (pitcher, kind) in self.velocity_flagged:
            return
        baseline = sum(speeds[:n]) / n
        recent = sum(speeds[-w:]) / w
        if baseline - recent >= self.s.velocity_drop_mph:
            self.velocity_flagged.add((pitcher, kind))
            self.emit(
                "velocity_drop",
                f"{pitcher}/{kind}",
                play,
                [pitcher],
                side,
                f"{self.ctx.name(pitcher)}'s {kind} is down {baseline - recent:.1f} mph "
                f"({recent:.1f} over his last {w}, {baseline:.1f} over his first {n})",
                pitch_type=kind,
                baseline_mph=f"{baseline:.1f}",
                recent_mph=f"{recent:.1f}",
                drop_mph=f"{baseline - recent:.1f}",
                pitches_of_type=len(speeds),
                pitch_count=self.pitches[pitcher],
            )

    def no_hitter(self, play: Mapping[str, Any], side: str) -> None:
        batter = play.get("batter")
        is_hit = play.get("event_type") in HIT_TYPES
        if play.get("reached") or is_hit:
            first_runner = self.runners_allowed[side] == 0
            self.runners_allowed[side] += 1
            if first_runner and self.perfect_watch[side] and not is_hit:
                self.emit(
                    "perfect_game_broken_up",
                    side,
                    play,
                    [batter, play.get("pitcher")],
                    side,
                    f"Perfect game over: {play.get('description') or self.ctx.name(batter)}",
                    event=play.get("event"),
                )
        if is_hit:
            self.hits_allowed[side] += 1
            if self.hits_allowed[side] == 1 and self.no_hit_watch[side]:
                lost = (
                    "perfect game"
                    if self.perfect_watch[side] and self.runners_allowed[side] == 1
                    else "no-hitter"
                )
                self.emit(
                    f"{lost.replace('-', '_').replace(' ', '_')}_broken_up",
                    side,
                    play,
                    [batter, play.get("pitcher")],
                    side,
                    f"{self.team_name(side)} {lost} broken up in the {_ordinal(play.get('inning') or 0)}: "
                    f"{play.get('description') or self.ctx.name(batter)}",
                    event=play.get("event"),
                )
        if play.get("outs") == 3:
            self.defensive_innings[side] += 1
            done = self.defensive_innings[side]
            if done >= self.s.no_hitter_after_inning and self.hits_allowed[side] == 0:
                perfect = self.runners_allowed[side] == 0
                rule = "perfect_game" if perfect else "no_hitter"
                if perfect:
                    self.perfect_watch[side] = True
                self.no_hit_watch[side] = True
                what = "a perfect game" if perfect else "a no-hitter"
                self.emit(
                    rule,
                    f"{side}/{done}",
                    play,
                    [],
                    side,
                    f"{self.team_name(side)} pitchers have {what} through {done} innings",
                    innings=done,
                    baserunners_allowed=self.runners_allowed[side],
                )

    def completed_no_hitters(self, last: Mapping[str, Any]) -> None:
        for side in ("away", "home"):
            if self.hits_allowed[side] or self.defensive_innings[side] < self.ctx.scheduled_innings:
                continue
            perfect = self.runners_allowed[side] == 0
            self.emit(
                "perfect_game_completed" if perfect else "no_hitter_completed",
                side,
                last,
                [],
                side,
                f"{self.team_name(side)} complete {'a perfect game' if perfect else 'a no-hitter'}",
                innings=self.defensive_innings[side],
            )

    def cycle_and_milestones(self, play: Mapping[str, Any]) -> None:
        kind = play.get("event_type")
        batter = play.get("batter")
        if kind not in HIT_TYPES or batter is None:
            return
        types = self.hit_types[batter]
        if kind not in types:
            types.add(kind)
            have = ", ".join(HIT_NAMES[t] for t in HIT_TYPES if t in types)
            if len(types) == self.s.cycle_watch_hit_types:
                missing = " and a ".join(HIT_NAMES[t] for t in HIT_TYPES if t not in types)
                self.emit(
                    "cycle_watch",
                    str(batter),
                    play,
                    [batter],
                    None,
                    f"{self.ctx.name(batter)} needs a {missing} for the cycle",
                    hits=have,
                    missing=missing,
                )
            elif len(types) == 4:
                self.emit(
                    "cycle",
                    str(batter),
                    play,
                    [batter],
                    None,
                    f"{self.ctx.name(batter)} hits for the cycle",
                    hits=have,
                )
        stats = [("hits", self.s.milestone_hits_every, "hits")]
        if kind == "home_run":
            stats.append(("hr", self.s.milestone_home_runs_every, "home runs"))
        for stat, every, label in stats:
            self.game_counts[(batter, stat)] += 1
            base = (self.baselines.get(batter) or {}).get(stat)
            if base is None:
                continue  # no known career total before this game: stay silent rather than guess
            total = base + self.game_counts[(batter, stat)]
            if total % every == 0:
                self.emit(
                    "career_milestone",
                    f"{batter}/{stat}/{total}",
                    play,
                    [batter],
                    None,
                    f"Career {label} No. {total} for {self.ctx.name(batter)}",
                    stat=stat,
                    career_total=total,
                    before_game=base,
                )

    def scoring(self, play: Mapping[str, Any], batting: str) -> None:
        away, home = play.get("away"), play.get("home")
        if not isinstance(away, int) or not isinstance(home, int):
            return
        before = (self.away, self.home)
        self.away, self.home = away, home
        if (away, home) == before:
            return
        diff_before = before[0] - before[1] if batting == "away" else before[1] - before[0]
        diff_after = away - home if batting == "away" else home - away
        leader = "away" if away > home else "home" if home > away else None
        batter = play.get("batter")
        score = f"{self.ctx.away_name} {away}, {self.ctx.home_name} {home}"
        inning = play.get("inning") or 0
        walk_off = (
            not play["top"]
            and inning >= self.ctx.scheduled_innings
            and before[1] <= before[0]
            and home > away
        )
        if leader is not None and self.last_leader is not None and leader != self.last_leader:
            self.emit(
                "lead_change",
                str(play["abi"]),
                play,
                [batter],
                leader,
                f"{self.team_name(leader)} take the lead: {score}",
                description=play.get("description"),
                score=score,
            )
        if leader is not None:
            self.last_leader = leader
        if walk_off:
            self.emit(
                "walk_off",
                str(play["abi"]),
                play,
                [batter],
                "home",
                f"Walk-off {str(play.get('event') or 'play').lower()} by {self.ctx.name(batter)}: {score}",
                event=play.get("event"),
                description=play.get("description"),
                score=score,
            )
        elif inning >= self.s.late_inning and diff_before <= 0 <= diff_after:
            if diff_after == 0 and diff_before < 0:
                rule, what = "late_tying_run", "ties the game"
            elif diff_after > 0:
                rule, what = "late_go_ahead_run", "puts them ahead"
            else:
                return
            self.emit(
                rule,
                str(play["abi"]),
                play,
                [batter],
                batting,
                f"{self.ctx.name(batter)} {what} in the {_ordinal(inning)}: {score}",
                event=play.get("event"),
                description=play.get("description"),
                score=score,
            )


def detect(
    ctx: GameContext,
    plays: Iterable[Mapping[str, Any]],
    settings: RuleSettings | None = None,
    baselines: Mapping[int, Mapping[str, int]] | None = None,
) -> list[Moment]:
    """Every notable moment in the contiguous prefix of ``plays`` (compact plays, any order), in play
    order. ``baselines`` maps a player id to his career totals before this game (``{"hr": n, "hits": n}``);
    a player without one gets no milestone."""
    return _Detector(ctx, settings or RuleSettings(), baselines or {}).run(contiguous(plays))
