"""The fixed-interval scheduler: which games to poll, and when.

- The schedule is polled every ``schedule_interval`` (clock seconds) for yesterday..today on the clock.
- A game is followed from ``pregame_lead`` before its scheduled start until a Final snapshot of it has
  been ingested; then it is left alone.
- Each followed game is polled every ``poll_interval`` clock seconds, never faster than the server's
  ``metaData.wait``.
- The clock is injectable (:class:`sts.clock.Clock`): the demo runs it at the stand-in's speed, so a
  game's three hours pass in a minute and every in-progress state is followed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from sts import metrics
from sts.clock import Clock
from sts.errors import UpstreamError
from sts.services.ingest import Ingestor, IngestResult, Snapshot

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
    task: asyncio.Task[None] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SchedulerConfig:
    poll_interval: float = 10.0
    schedule_interval: float = 300.0
    pregame_lead: float = 1800.0


FetchFeed = Callable[[int], Awaitable[Snapshot]]
FetchSchedule = Callable[[datetime], Awaitable[dict[str, Any]]]


class Scheduler:
    """Polls the schedule and every active game; hands each fetched snapshot to the ingestor."""

    def __init__(
        self,
        fetch_schedule: FetchSchedule,
        fetch_feed: FetchFeed,
        ingestor: Ingestor,
        clock: Clock,
        config: SchedulerConfig,
        *,
        on_result: Callable[[IngestResult], None] | None = None,
    ) -> None:
        self._fetch_schedule = fetch_schedule
        self._fetch_feed = fetch_feed
        self._ingestor = ingestor
        self._clock = clock
        self._config = config
        self._on_result = on_result
        self.games: dict[int, GameState] = {}
        self.schedule_polls = 0
        self._changed = asyncio.Event()

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
                status = (game.get("status") or {}).get("abstractGameState", "Preview")
                if st is None:
                    st = self.games[pk] = GameState(pk, start, status)
                    log.info("game scheduled", game_pk=pk, start=str(start), status=status)
                elif not st.done:
                    st.start = start or st.start
                    if st.polls == 0:
                        st.status = status
        self._update_gauges()

    def _due(self, st: GameState, now: datetime) -> bool:
        if st.done:
            return False
        if st.status in ("Live", "Final"):
            return True
        if st.start is None:
            return True
        return now >= st.start - timedelta(seconds=self._config.pregame_lead)

    # ------------------------------------------------------------------ per-game polling

    async def _follow(self, st: GameState) -> None:
        """Poll one game until a Final snapshot is ingested."""
        from structlog.contextvars import bound_contextvars

        with bound_contextvars(game_pk=st.game_pk):
            log.info("following game")
            while not st.done:
                wait = self._config.poll_interval
                try:
                    snap = await self._fetch_feed(st.game_pk)
                    metrics.POLLS.labels("feed").inc()
                    st.polls += 1
                    result = await self._ingestor.ingest(snap)
                except UpstreamError as exc:
                    log.warning("feed poll failed", error=str(exc))
                else:
                    self._record(st, result)
                    if result.suggested_wait:
                        wait = max(wait, float(result.suggested_wait))
                if not st.done:
                    await self._clock.sleep(wait)
            log.info("game final and ingested", polls=st.polls, stored=st.stored)
            self._changed.set()

    def _record(self, st: GameState, result: IngestResult) -> None:
        if result.outcome == "rejected":
            st.rejected += 1
        else:
            if result.outcome == "stored":
                st.stored += 1
            st.status = result.status or st.status
            st.detailed = result.detailed_state or st.detailed
            st.last_timecode = result.timecode
            if result.is_final:
                st.done = True
        if self._on_result is not None:
            self._on_result(result)
        self._update_gauges()

    def _update_gauges(self) -> None:
        counts: dict[str, int] = {"Preview": 0, "Live": 0, "Final": 0}
        for st in self.games.values():
            key = "Final" if st.done else st.status
            counts[key] = counts.get(key, 0) + 1
        for state, n in counts.items():
            metrics.GAMES_TRACKED.labels(state).set(n)

    # ------------------------------------------------------------------ main loop

    def all_done(self) -> bool:
        return bool(self.games) and all(st.done for st in self.games.values())

    async def run(self, stop: asyncio.Event, *, until_done: bool = False) -> None:
        """Run until ``stop`` is set (or, with ``until_done``, until every scheduled game is Final)."""
        next_schedule = self._clock.now()
        try:
            while not stop.is_set():
                now = self._clock.now()
                if now >= next_schedule:
                    await self.refresh_schedule()
                    next_schedule = now + timedelta(seconds=self._config.schedule_interval)
                for st in self.games.values():
                    if st.task is None and self._due(st, now):
                        st.task = asyncio.create_task(self._follow(st), name=f"follow-{st.game_pk}")
                if until_done and self.all_done():
                    return
                # wake at the next schedule poll, at a game change, or within one poll interval
                self._changed.clear()
                timeout = min(self._config.poll_interval, self._config.schedule_interval)
                await _first(stop.wait(), self._changed.wait(), self._clock.sleep(timeout))
        finally:
            tasks = [st.task for st in self.games.values() if st.task and not st.task.done()]
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            for st in self.games.values():  # a later run (e.g. a new term as leader) follows them again
                if st.task is not None and not st.done:
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
