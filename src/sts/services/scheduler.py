"""The adaptive scheduler: which games to poll, when, and why.

- The schedule is polled every ``schedule_interval`` (clock seconds) for yesterday..today on the clock.
- Each game is polled by its own task; after every poll the pure policy (:mod:`sts.services.poll_policy`)
  gives the next interval from the game's state (pre-game, live or between innings, delayed, Game Over …),
  the server's ``metaData.wait`` and the cadence of changes learned for the game; the interval is
  lengthened by a random jitter (never shortened: ``metaData.wait`` is a floor).
- A game is followed until a Final snapshot of it is ingested. Then, during the correction window,
  ``/api/v1/game/changes?updatedSince=`` is polled every ``changes_interval``; a game it lists is fetched
  again (full fetch through the same fetch function), so a revised final is stored and its events derived.
- Every upstream request goes through one token bucket (:class:`sts.services.budget.RequestBudget`,
  :attr:`Scheduler.budget`), which the MLB client awaits before each attempt: games that become due
  together are spread out instead of bursting.
- Each game keeps ``(state, next poll, interval, reason)``; :meth:`Scheduler.explain` returns them (the
  health server's ``/schedule``, shown by ``sts schedule``).
- The clock is injectable (:class:`sts.clock.Clock`): the demo runs it at the stand-in's speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from sts import metrics
from sts.clock import Clock
from sts.errors import UpstreamError
from sts.services.budget import RequestBudget
from sts.services.ingest import Ingestor, IngestResult, Snapshot
from sts.services.poll_policy import (
    BREAK_STATES,
    GameView,
    Plan,
    SchedulerConfig,
    is_final_state,
    plan,
    update_cadence,
)

__all__ = ["FetchChanges", "FetchFeed", "FetchSchedule", "GameState", "Scheduler", "SchedulerConfig"]

log = structlog.get_logger(__name__)


@dataclass
class GameState:
    game_pk: int
    start: datetime | None
    status: str = "Preview"  # abstractGameState as last seen (schedule or feed)
    detailed: str = ""
    polls: int = 0
    stored: int = 0
    rejected: int = 0
    done: bool = False  # a Final snapshot has been ingested
    last_timecode: str | None = None
    inning_state: str | None = None
    wait: float | None = None  # metaData.wait of the last snapshot
    cadence: float | None = None  # learned seconds between new timecodes while live (EWMA)
    final_at: datetime | None = None  # clock time the fetch that brought the Final snapshot began
    poll_began: datetime | None = None  # clock time the latest feed fetch began
    refetches: int = 0  # fetched again because /game/changes listed it after Final
    # the explanation: what the scheduler will do next with this game, and why
    state: str = "far"
    interval: float | None = None
    next_poll: datetime | None = None
    reason: str = "seen on the schedule"
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def view(self) -> GameView:
        return GameView(
            self.start, self.status, self.detailed, self.inning_state, self.wait, self.cadence,
            self.final_at, self.polls,
        )  # fmt: skip


FetchFeed = Callable[[int], Awaitable[Snapshot]]
FetchSchedule = Callable[[datetime], Awaitable[dict[str, Any]]]
FetchChanges = Callable[[datetime], Awaitable[dict[str, Any]]]


class Scheduler:
    """Polls the schedule and every active game; hands each fetched snapshot to the ingestor.

    ``fetch_changes`` (``/game/changes`` since a time) enables the correction window; ``budget`` is the
    request budget the fetch functions' client spends (only shown here: the client takes the tokens);
    ``rand`` draws the jitter (0..1).
    """

    def __init__(
        self,
        fetch_schedule: FetchSchedule,
        fetch_feed: FetchFeed,
        ingestor: Ingestor,
        clock: Clock,
        config: SchedulerConfig,
        *,
        on_result: Callable[[IngestResult], None] | None = None,
        fetch_changes: FetchChanges | None = None,
        budget: RequestBudget | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._fetch_schedule = fetch_schedule
        self._fetch_feed = fetch_feed
        self._fetch_changes = fetch_changes
        self._ingestor = ingestor
        self._clock = clock
        self._config = config
        self._on_result = on_result
        self._rand = rand
        self.budget = budget
        self.games: dict[int, GameState] = {}
        self.schedule_polls = 0
        self.changes_polls = 0
        self.next_schedule: datetime | None = None
        self.next_changes: datetime | None = None
        self._changes_since: datetime | None = None
        self._changed = asyncio.Event()

    @property
    def config(self) -> SchedulerConfig:
        return self._config

    # ------------------------------------------------------------------ schedule

    async def refresh_schedule(self) -> None:
        now = self._clock.now()
        try:
            doc = await self._fetch_schedule(now)
        except UpstreamError as exc:
            log.warning("schedule poll failed", error=str(exc))
            return
        metrics.POLLS.labels("schedule").inc()
        self.schedule_polls += 1
        for day in doc.get("dates") or []:
            for game in day.get("games") or []:
                pk = game.get("gamePk")
                if not isinstance(pk, int):
                    continue
                st = self.games.get(pk)
                start = _parse_time(game.get("gameDate"))
                status = game.get("status") or {}
                abstract = status.get("abstractGameState", "Preview")
                if st is None:
                    st = self.games[pk] = GameState(pk, start, abstract, status.get("detailedState", ""))
                    log.info("game scheduled", game_pk=pk, start=str(start), status=abstract)
                elif not st.done:
                    st.start = start or st.start
                    if st.polls == 0:
                        st.status = abstract
                        st.detailed = status.get("detailedState", st.detailed)
                if st.task is None:
                    self._explain(st, plan(st.view(), now, self._config), now)
        self._update_gauges()

    def _due(self, st: GameState, now: datetime) -> bool:
        if st.done:
            return False
        if st.status in ("Live", "Final"):
            return True
        if st.detailed.startswith(("Postponed", "Cancelled")):
            return False
        if st.start is None:
            return True
        return now >= st.start - timedelta(seconds=self._config.pregame_lead)

    # ------------------------------------------------------------------ per-game polling

    def _explain(self, st: GameState, p: Plan, now: datetime, jittered: float | None = None) -> None:
        st.state, st.reason = p.state, p.reason
        st.interval = jittered if jittered is not None else p.interval
        if p.state in ("final", "postponed"):
            st.next_poll = self.next_changes if p.state == "final" else self.next_schedule
        elif st.interval is None:
            st.next_poll = None
        else:
            st.next_poll = now + timedelta(seconds=st.interval)

    def jittered(self, interval: float) -> float:
        """``interval`` lengthened by up to ``jitter`` × itself (never shortened)."""
        return interval * (1.0 + self._config.jitter * self._rand())

    async def _poll(self, st: GameState) -> IngestResult | None:
        st.poll_began = self._clock.now()
        try:
            snap = await self._fetch_feed(st.game_pk)
            metrics.POLLS.labels("feed").inc()
            st.polls += 1
            result = await self._ingestor.ingest(snap)
        except UpstreamError as exc:
            log.warning("feed poll failed", error=str(exc))
            return None
        self._record(st, result)
        return result

    async def _follow(self, st: GameState) -> None:
        """Poll one game until a Final snapshot is ingested."""
        from structlog.contextvars import bound_contextvars

        with bound_contextvars(game_pk=st.game_pk):
            log.info("following game")
            while not st.done:
                began = self._clock.now()
                result = await self._poll(st)
                if st.done:
                    break
                now = self._clock.now()
                p = plan(st.view(), now, self._config)
                interval = p.interval if p.interval is not None else self._config.schedule_interval
                wait = self.jittered(interval)
                if result is None:
                    p = Plan(p.state, p.interval, f"last poll failed; {p.reason}")
                # intervals run from the start of one poll to the next: the time a poll takes (budget
                # wait, download, ingestion) does not stretch the cadence
                self._explain(st, p, began, wait)
                await self._clock.sleep(wait - (now - began).total_seconds())
            log.info("game final and ingested", polls=st.polls, stored=st.stored)
            self._explain(st, plan(st.view(), self._clock.now(), self._config), self._clock.now())
            self._changed.set()

    def _record(self, st: GameState, result: IngestResult) -> None:
        if result.outcome == "rejected":
            st.rejected += 1
        else:
            if result.outcome == "stored":
                st.stored += 1
                self._learn(st, result)
            st.status = result.status or st.status
            st.detailed = result.detailed_state or st.detailed
            st.inning_state = result.inning_state
            st.wait = float(result.suggested_wait) if result.suggested_wait else None
            st.last_timecode = result.timecode
            if is_final_state(st.status, st.detailed) and not st.done:
                st.done = True
                # from when the fetch began, not when ingestion ended: a correction served in between
                # must still be newer than the first ``updatedSince`` of the correction window
                st.final_at = st.poll_began or self._clock.now()
        if self._on_result is not None:
            self._on_result(result)
        self._update_gauges()

    def _learn(self, st: GameState, result: IngestResult) -> None:
        """Moving average of the seconds between new timecodes, between two in-play snapshots only
        (pre-game gaps and inning breaks would teach the wrong cadence)."""
        was_live = st.status == "Live" and st.detailed not in ("Warmup", "Pre-Game")
        now_live = result.status == "Live" and result.detailed_state not in ("Warmup", "Pre-Game")
        if not (was_live and now_live) or st.inning_state in BREAK_STATES or not st.last_timecode:
            return
        gap = _timecode_gap(st.last_timecode, result.timecode)
        if gap is not None and gap > 0:
            st.cadence = update_cadence(st.cadence, gap, self._config.cadence_alpha)

    def _update_gauges(self) -> None:
        counts: dict[str, int] = {"Preview": 0, "Live": 0, "Final": 0}
        for st in self.games.values():
            key = "Final" if st.done else st.status
            counts[key] = counts.get(key, 0) + 1
        for state, n in counts.items():
            metrics.GAMES_TRACKED.labels(state).set(n)

    # ------------------------------------------------------------------ correction window

    def _in_window(self, st: GameState, now: datetime) -> bool:
        return (
            st.done
            and st.final_at is not None
            and now < st.final_at + timedelta(seconds=self._config.correction_window)
        )

    async def check_changes(self) -> list[int]:
        """Poll ``/game/changes`` once; fetch again every game in its correction window that it lists.

        Returns the gamePks fetched again (their fetches run as tasks of their own)."""
        if self._fetch_changes is None:
            return []
        now = self._clock.now()
        watched = [st for st in self.games.values() if self._in_window(st, now)]
        if not watched:
            return []
        since = self._changes_since or min(st.final_at for st in watched if st.final_at is not None)
        try:
            doc = await self._fetch_changes(since)
        except UpstreamError as exc:
            log.warning("game/changes poll failed", error=str(exc))
            return []
        metrics.POLLS.labels("changes").inc()
        self.changes_polls += 1
        self._changes_since = now
        listed = {g.get("gamePk") for d in doc.get("dates") or [] for g in d.get("games") or []}
        again = []
        for st in watched:
            if st.game_pk in listed and (st.task is None or st.task.done()):
                st.state, st.next_poll = "final", now
                st.reason = f"listed by /game/changes since {since.strftime('%H:%M:%SZ')}: fetching again"
                st.task = asyncio.create_task(self._refetch(st), name=f"refetch-{st.game_pk}")
                again.append(st.game_pk)
        return again

    async def _refetch(self, st: GameState) -> None:
        st.refetches += 1
        result = await self._poll(st)
        now = self._clock.now()
        p = plan(st.view(), now, self._config)
        outcome = "failed" if result is None else result.outcome
        log.info("final game fetched again", game_pk=st.game_pk, outcome=outcome, timecode=st.last_timecode)
        self._explain(st, Plan(p.state, p.interval, f"fetched again ({outcome}); {p.reason}"), now)

    # ------------------------------------------------------------------ main loop

    def all_done(self) -> bool:
        return bool(self.games) and all(st.done for st in self.games.values())

    def explain(self) -> dict[str, Any]:
        """Every game's state, next poll and reason (what ``/schedule`` and ``sts schedule`` show)."""
        now = self._clock.now()
        for st in self.games.values():
            if st.task is None or (st.done and st.task.done()):
                self._explain(st, plan(st.view(), now, self._config), now)
        games = []
        for st in sorted(self.games.values(), key=lambda g: (g.start or now, g.game_pk)):
            games.append(
                {
                    "gamePk": st.game_pk,
                    "state": st.state,
                    "status": st.status,
                    "detailedState": st.detailed,
                    "inningState": st.inning_state,
                    "start": _iso(st.start),
                    "nextPoll": _iso(st.next_poll),
                    "interval": None if st.interval is None else round(st.interval, 1),
                    "reason": st.reason,
                    "polls": st.polls,
                    "stored": st.stored,
                    "rejected": st.rejected,
                    "refetches": st.refetches,
                    "lastTimecode": st.last_timecode,
                    "cadence": None if st.cadence is None else round(st.cadence, 1),
                    "waitSeconds": st.wait,
                }
            )
        return {
            "now": _iso(now),
            "budget": None if self.budget is None else self.budget.describe(),
            "schedulePolls": self.schedule_polls,
            "nextSchedulePoll": _iso(self.next_schedule),
            "changesPolls": self.changes_polls,
            "nextChangesPoll": _iso(self.next_changes) if self._fetch_changes is not None else None,
            "games": games,
        }

    async def run(self, stop: asyncio.Event, *, until_done: bool = False) -> None:
        """Run until ``stop`` is set (or, with ``until_done``, until every scheduled game is Final)."""
        cfg = self._config
        self.next_schedule = self._clock.now()
        self.next_changes = self._clock.now() + timedelta(seconds=cfg.changes_interval)
        try:
            while not stop.is_set():
                now = self._clock.now()
                if now >= self.next_schedule:
                    self.next_schedule = now + timedelta(seconds=cfg.schedule_interval)
                    await self.refresh_schedule()
                if now >= self.next_changes:
                    self.next_changes = now + timedelta(seconds=cfg.changes_interval)
                    await self.check_changes()
                for st in self.games.values():
                    if st.task is None and self._due(st, now):
                        st.task = asyncio.create_task(self._follow(st), name=f"follow-{st.game_pk}")
                if until_done and self.all_done():
                    return
                # wake at the next schedule poll, at a game change, or within one poll interval
                self._changed.clear()
                timeout = min(cfg.poll_interval, cfg.schedule_interval, cfg.changes_interval)
                await _first(stop.wait(), self._changed.wait(), self._clock.sleep(timeout))
        finally:
            tasks = [st.task for st in self.games.values() if st.task and not st.task.done()]
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            for st in self.games.values():  # a later run (e.g. a new term as leader) follows them again
                if st.task is not None and (not st.done or st.task.cancelled()):
                    st.task = None


async def _first(*aws: Awaitable[Any]) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _timecode_gap(a: str | None, b: str | None) -> float | None:
    try:
        ta = datetime.strptime(str(a)[:15], "%Y%m%d_%H%M%S")
        tb = datetime.strptime(str(b)[:15], "%Y%m%d_%H%M%S")
    except ValueError:
        return None
    return (tb - ta).total_seconds()
