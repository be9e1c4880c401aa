"""The whole pipeline in one process: scheduler → ingestion → bus → processor, plus health/metrics.

Used by ``sts demo`` (against the stand-in, on a scaled clock) and ``sts run`` (against the real
Stats API, on the system clock).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
import structlog

from sts.adapters.mlb_client import MLBClient
from sts.bootstrap import Backends
from sts.clock import Clock
from sts.metrics import CONSUMER_LAG, GAME_FRESHNESS
from sts.moments.baselines import LahmanFeedBaselines
from sts.moments.consumer import GROUP as MOMENTS_GROUP
from sts.moments.consumer import moments_consumer
from sts.moments.rules import RuleSettings
from sts.ports import TOPIC_GAME_EVENTS
from sts.services.backup import keep_gauge_fresh
from sts.services.budget import RequestBudget
from sts.services.dlq import DeadLetterMonitor
from sts.services.fetcher import FeedFetcher, FetchMode
from sts.services.ingest import Ingestor, IngestResult, Snapshot
from sts.services.leader import LeaderElection, run_while_leading
from sts.services.processor import Processor
from sts.services.scheduler import Scheduler, SchedulerConfig
from sts.services.stats_updater import GROUP as STATS_GROUP
from sts.services.stats_updater import stats_updater

log = structlog.get_logger(__name__)

PROCESSOR_GROUP = "processor"
LAG_REFRESH_SECONDS = 5.0


@dataclass
class PipelineStats:
    snapshots_stored: int = 0
    snapshots_rejected: int = 0
    events_published: int = 0
    rejected_reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class Pipeline:
    backends: Backends
    client: MLBClient
    clock: Clock
    config: SchedulerConfig
    stats: PipelineStats = field(default_factory=PipelineStats)
    on_result: Callable[[IngestResult], None] | None = None
    # with a leader election, the scheduler runs only while this process leads (a standby processes)
    leader: LeaderElection | None = None
    fetch_mode: FetchMode = "incremental"  # see sts.services.fetcher

    def __post_init__(self) -> None:
        b = self.backends
        self.ingestor = Ingestor(b.store, b.bus, b.codec)
        self.fetcher = FeedFetcher(self.client, b.store, mode=self.fetch_mode)
        # one request budget for every upstream request: the client takes a token before each attempt
        if self.client.budget is None:
            self.client.budget = RequestBudget(self.config.budget_rate, self.config.budget_burst, self.clock)
        self.budget = self.client.budget
        self.scheduler = Scheduler(
            self._fetch_schedule,
            self._fetch_feed,
            self.ingestor,
            self.clock,
            self.config,
            on_result=self._record,
            fetch_changes=self.client.game_changes,
            budget=self.budget if isinstance(self.budget, RequestBudget) else None,
        )
        self.processor = Processor(b.bus, b.codec, b.database_url, group=PROCESSOR_GROUP)
        self.stats_updater = stats_updater(b.bus, b.codec, b.store, b.database_url)
        rules = RuleSettings.from_settings(b.settings)
        self.moments = moments_consumer(b.bus, b.codec, b.database_url, rules, LahmanFeedBaselines(b.store))
        self.dead_letters = DeadLetterMonitor(b.bus, b.codec, b.database_url)

    async def _fetch_schedule(self, now: datetime) -> dict[str, Any]:
        today = now.date()
        return await self.client.schedule(start=today - timedelta(days=1), end=today)

    async def _fetch_feed(self, game_pk: int) -> Snapshot:
        return await self.fetcher.fetch(game_pk)

    def _record(self, result: IngestResult) -> None:
        if result.outcome == "stored":
            self.stats.snapshots_stored += 1
            self.stats.events_published += result.events
        elif result.outcome == "rejected":
            self.stats.snapshots_rejected += 1
            reason = result.reason or "unknown"
            self.stats.rejected_reasons[reason] = self.stats.rejected_reasons.get(reason, 0) + 1
        if self.on_result is not None:
            self.on_result(result)

    async def lag(self) -> int:
        """Records of ``mlb.game-events`` not yet handled by the processor, season-stats or moments group."""
        total = 0
        for group in (PROCESSOR_GROUP, STATS_GROUP, MOMENTS_GROUP):
            total += sum((await self.backends.bus.lag(group, TOPIC_GAME_EVENTS)).values())
        return total

    async def _watch_lag(self, stop: asyncio.Event, every: float = LAG_REFRESH_SECONDS) -> None:
        """Set ``sts_consumer_lag{group,topic}`` from ``bus.lag`` every ``every`` wall-clock seconds."""
        while not stop.is_set():
            for group in (PROCESSOR_GROUP, STATS_GROUP, MOMENTS_GROUP):
                try:
                    lag = await self.backends.bus.lag(group, TOPIC_GAME_EVENTS)
                except Exception as exc:  # a bus outage: the consumers report it; try again later
                    log.debug("consumer lag unavailable", group=group, error=str(exc))
                    continue
                CONSUMER_LAG.labels(group, TOPIC_GAME_EVENTS).set(sum(lag.values()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    async def _schedule(self, stop: asyncio.Event, until_done: bool) -> None:
        """The scheduler for one term; when it ends (stopped, or leadership lost) this process no longer
        ingests, so its per-game freshness series go (the new leader's start with its first poll)."""
        try:
            await self.scheduler.run(stop, until_done=until_done)
        finally:
            for game_pk in list(self.scheduler.games):
                GAME_FRESHNESS.forget(game_pk)

    async def run(self, stop: asyncio.Event, *, until_done: bool = False) -> None:
        """Run scheduler and processor until ``stop`` (or until every game is Final and processed)."""
        proc_stop = asyncio.Event()
        consumers = [
            asyncio.create_task(self.processor.run(proc_stop), name="processor"),
            asyncio.create_task(self.stats_updater.run(proc_stop), name="season-stats"),
            asyncio.create_task(self.moments.run(proc_stop), name="moments"),
            # indexes the dead-letter topics and keeps the dead-letter gauges of /metrics current
            asyncio.create_task(self.dead_letters.run(proc_stop), name="dead-letters"),
            # sts_backup_last_success_timestamp_seconds from the backups table (docs/backup.md)
            asyncio.create_task(keep_gauge_fresh(self.backends.database_url, proc_stop), name="backup-gauge"),
            # keeps sts_consumer_lag current for every consumer group of this process
            asyncio.create_task(self._watch_lag(proc_stop), name="consumer-lag"),
        ]
        try:
            if self.leader is None:
                await self._schedule(stop, until_done)
            else:
                await run_while_leading(
                    self.leader, stop, lambda term_stop: self._schedule(term_stop, until_done)
                )
            if until_done and not stop.is_set():
                # every game is Final and ingested: wait until the consumers have caught up
                while not stop.is_set() and not any(t.done() for t in consumers):
                    if await self.lag() == 0:
                        break
                    await asyncio.sleep(0.2)
        finally:
            proc_stop.set()
            for task in consumers:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, timeout=30)
        for task in consumers:
            if task.done() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]


async def game_summaries(database_url: str) -> list[dict[str, Any]]:
    """Per game: gamePk, away, home, awayRuns, homeRuns, innings, plays, pitches, status (from the DB)."""
    from sts.db.queries import list_games

    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        games = await list_games(conn)
    return [
        {
            "gamePk": g["game_pk"],
            "away": g["away"],
            "home": g["home"],
            "awayRuns": g["away_score"],
            "homeRuns": g["home_score"],
            "innings": g["innings_played"],
            "plays": g["plays"],
            "pitches": g["pitches"],
            "status": g["status"],
        }
        for g in sorted(games, key=lambda g: g["game_pk"])
    ]
