"""The poll policy: from what is known of one game, how long until it is polled again, and why.

Pure (no I/O, no clock reads): :func:`plan` takes the game's :class:`GameView` and the time, and returns a
:class:`Plan` ``(state, interval, reason)``. The scheduler applies it (adding jitter) and shows it in
``sts schedule``. Intervals are clock seconds.

| game state (as last seen)                    | interval                                              |
|----------------------------------------------|-------------------------------------------------------|
| first pitch more than ``pregame_lead`` away  | none: the schedule poll watches it until then         |
| Scheduled / Pre-Game / Warmup                | ``pregame_interval``                                  |
| live, during action                          | ``max(poll_interval, metaData.wait)``, stretched to   |
|                                              | ``cadence_factor`` × the learned seconds between      |
|                                              | changes, at most ``max_live_interval``                |
| live, between innings (Middle / End)         | the live floor × ``break_factor``                     |
| Delayed / Suspended                          | ``delayed_interval``                                  |
| Postponed / Cancelled                        | the schedule poll watches it (a new date comes there) |
| Game Over (until Final)                      | ``game_over_interval``                                |
| Final, inside the correction window          | re-fetched when ``/game/changes`` lists it            |
| Final, window over                           | never                                                 |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sts.config import Settings


@dataclass(frozen=True)
class SchedulerConfig:
    """Every knob of the scheduler (clock seconds). The first three keep their historic positions."""

    poll_interval: float = 10.0  # live floor: never poll a live game faster (nor faster than metaData.wait)
    schedule_interval: float = 300.0
    pregame_lead: float = 1800.0  # the feed is followed from this long before the first pitch
    pregame_interval: float = 60.0
    break_factor: float = 3.0
    delayed_interval: float = 120.0
    game_over_interval: float = 30.0
    max_live_interval: float = 60.0
    cadence_factor: float = 0.5  # poll at this fraction of the learned seconds between changes
    cadence_alpha: float = 0.3  # weight of the newest gap in the moving average
    jitter: float = 0.1  # each interval is lengthened by up to this fraction, at random
    correction_window: float = 86400.0  # after Final: watch /game/changes this long (0: not at all)
    changes_interval: float = 300.0  # how often /game/changes is polled during a correction window
    budget_rate: float = 2.0  # requests per clock second, all games together
    budget_burst: float = 5.0

    def __post_init__(self) -> None:
        for name in ("poll_interval", "schedule_interval", "pregame_interval", "delayed_interval",
                     "game_over_interval", "changes_interval", "budget_rate"):  # fmt: skip
            if getattr(self, name) <= 0:
                raise ValueError(f"SchedulerConfig.{name} must be > 0, not {getattr(self, name)!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"SchedulerConfig.jitter must be within 0..1, not {self.jitter!r}")
        if not 0 < self.cadence_alpha <= 1:
            raise ValueError(
                f"SchedulerConfig.cadence_alpha must be within (0, 1], not {self.cadence_alpha!r}"
            )
        if self.break_factor < 1 or self.cadence_factor <= 0 or self.correction_window < 0:
            raise ValueError("SchedulerConfig: break_factor >= 1, cadence_factor > 0, correction_window >= 0")
        if self.budget_burst < 1:
            raise ValueError(f"SchedulerConfig.budget_burst must be >= 1, not {self.budget_burst!r}")


@dataclass(frozen=True)
class GameView:
    """What the policy reads about one game."""

    start: datetime | None = None
    status: str = "Preview"  # abstractGameState
    detailed: str = ""  # detailedState
    inning_state: str | None = None  # linescore inningState: Top / Middle / Bottom / End
    wait: float | None = None  # metaData.wait of the last snapshot
    cadence: float | None = None  # learned seconds between new timecodes while live (EWMA)
    final_at: datetime | None = None  # when the Final snapshot was ingested (None: not yet)
    polls: int = 0


@dataclass(frozen=True)
class Plan:
    # far, pre-game, warmup, live, inning break, delayed, suspended, postponed, game over, final, closed
    state: str
    interval: float | None  # clock seconds until the next poll; None: not polled by the feed loop
    reason: str


BREAK_STATES = frozenset({"Middle", "End"})


def is_final_state(status: str | None, detailed: str | None) -> bool:
    """Final for good: abstract Final but not "Game Over" (which comes before Final; stats can change)."""
    return status == "Final" and not (detailed or "").startswith("Game Over")


def live_floor(view: GameView, cfg: SchedulerConfig) -> float:
    """The fastest a live game is polled: the configured floor, never faster than ``metaData.wait``."""
    return max(cfg.poll_interval, float(view.wait or 0.0))


def _span(seconds: float) -> str:
    seconds = round(seconds)
    if abs(seconds) < 120:
        return f"{seconds}s"
    if abs(seconds) < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def _at(t: datetime) -> str:
    return t.strftime("%H:%M:%SZ")


def _day_at(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%SZ")


def plan(view: GameView, now: datetime, cfg: SchedulerConfig) -> Plan:
    """The next poll of one game (before jitter), with the reason in words."""
    detailed = view.detailed or ""
    if view.final_at is not None:
        closes = view.final_at + timedelta(seconds=cfg.correction_window)
        if now < closes:
            return Plan(
                "final",
                None,
                f"Final since {_at(view.final_at)}; correction window until {_day_at(closes)}: "
                f"re-fetched when /game/changes lists it (checked every {_span(cfg.changes_interval)})",
            )
        return Plan("closed", None, f"Final; correction window ended at {_day_at(closes)}: no longer polled")
    if detailed.startswith(("Postponed", "Cancelled")):
        return Plan(
            "postponed",
            None,
            f"{detailed}: not polled; the schedule (every {_span(cfg.schedule_interval)}) shows a new date",
        )
    if detailed.startswith(("Delayed", "Suspended")):
        state = "suspended" if detailed.startswith("Suspended") else "delayed"
        return Plan(
            state, cfg.delayed_interval, f"{detailed}: slower polling, every {_span(cfg.delayed_interval)}"
        )
    if detailed.startswith("Game Over"):
        return Plan(
            "game over",
            cfg.game_over_interval,
            f"Game Over, not yet Final (stats may still change): every {_span(cfg.game_over_interval)}",
        )
    if view.status == "Live" and detailed not in ("Warmup", "Pre-Game"):
        return _live(view, cfg)
    if view.start is not None and view.polls == 0 and view.status == "Preview":
        follow = view.start - timedelta(seconds=cfg.pregame_lead)
        if now < follow:
            return Plan(
                "far",
                (follow - now).total_seconds(),
                f"first pitch {_at(view.start)} (in {_span((view.start - now).total_seconds())}): "
                f"the feed is followed from {_span(cfg.pregame_lead)} before; until then the schedule "
                f"(every {_span(cfg.schedule_interval)}) watches it",
            )
    state = "warmup" if detailed == "Warmup" else "pre-game"
    when = ""
    if view.start is not None:
        left = (view.start - now).total_seconds()
        when = f", first pitch in {_span(left)}" if left > 0 else f", first pitch due {_span(-left)} ago"
    return Plan(
        state, cfg.pregame_interval, f"{detailed or view.status}{when}: every {_span(cfg.pregame_interval)}"
    )


def _live(view: GameView, cfg: SchedulerConfig) -> Plan:
    floor = live_floor(view, cfg)
    wait = f"metaData.wait {view.wait:g}s" if view.wait else "no metaData.wait"
    if view.inning_state in BREAK_STATES:
        interval = floor * cfg.break_factor
        return Plan(
            "inning break",
            interval,
            f"between innings ({view.inning_state}): {_span(floor)} live floor ({wait}) "
            f"× {cfg.break_factor:g} = {_span(interval)}",
        )
    ceiling = max(cfg.max_live_interval, floor)
    if view.cadence is None:
        return Plan(
            "live",
            floor,
            f"live: {_span(floor)} ({wait}, floor {_span(cfg.poll_interval)}); cadence not learned yet",
        )
    learned = view.cadence * cfg.cadence_factor
    interval = min(max(learned, floor), ceiling)
    if learned <= floor:
        why = f"changes every ~{_span(view.cadence)}: polling at the floor {_span(floor)} ({wait})"
    elif learned >= ceiling:
        why = f"changes every ~{_span(view.cadence)}: capped at {_span(ceiling)}"
    else:
        why = f"changes every ~{_span(view.cadence)}: × {cfg.cadence_factor:g} = {_span(interval)} ({wait})"
    return Plan("live", interval, f"live: {why}")


def update_cadence(previous: float | None, gap: float, alpha: float) -> float:
    """Exponentially weighted moving average of the seconds between new timecodes."""
    return gap if previous is None else alpha * gap + (1 - alpha) * previous


def config_from_settings(settings: Settings) -> SchedulerConfig:
    """The scheduler's knobs from the ``STS_*`` settings (see :class:`sts.config.Settings`)."""
    return SchedulerConfig(
        poll_interval=settings.poll_interval_seconds,
        schedule_interval=settings.schedule_interval_seconds,
        pregame_lead=settings.pregame_lead_seconds,
        pregame_interval=settings.pregame_interval_seconds,
        break_factor=settings.inning_break_factor,
        delayed_interval=settings.delayed_interval_seconds,
        game_over_interval=settings.game_over_interval_seconds,
        max_live_interval=settings.max_live_interval_seconds,
        jitter=settings.poll_jitter,
        correction_window=settings.correction_window_seconds,
        changes_interval=settings.changes_interval_seconds,
        budget_rate=settings.request_budget_per_second,
        budget_burst=settings.request_budget_burst,
    )
