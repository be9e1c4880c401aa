"""Leader election on a PostgreSQL advisory lock (``sts.services.leader``), on a real database.

- Two contenders: exactly one leads.
- The leader's session is terminated (``pg_terminate_backend``) or its process is SIGKILLed: the
  standby leads within a few seconds, and the old leader stops leading.
- Two whole pipelines (leader + standby) against one stand-in: each game is polled at one scheduler's
  rate, before, during and after a hand-over.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from sts.adapters.mlb_client import MLBClient
from sts.bootstrap import open_backends
from sts.config import Settings
from sts.recordings import scan_recordings
from sts.services.ingest import Snapshot
from sts.services.leader import LeaderElection
from sts.services.pipeline import Pipeline
from sts.services.scheduler import SchedulerConfig
from sts.standin.server import StandIn

INTERVAL = 0.3


@contextlib.asynccontextmanager
async def contending(*elections: LeaderElection) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(e.run(stop)) for e in elections]
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def until(predicate: object, within: float) -> float:
    """Seconds until ``predicate()`` holds (fails after ``within`` seconds)."""
    started = time.monotonic()
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() - started < within, f"not within {within} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_two_contenders_exactly_one_leads(pg_url: str) -> None:
    a, b = (
        LeaderElection(pg_url, interval=INTERVAL, name="a"),
        LeaderElection(pg_url, interval=INTERVAL, name="b"),
    )
    async with contending(a, b):
        await until(lambda: a.is_leader or b.is_leader, 5)
        for _ in range(10):  # and it stays that way
            assert a.is_leader != b.is_leader
            await asyncio.sleep(INTERVAL / 2)
    assert not a.is_leader and not b.is_leader  # both released on stop


async def test_terminated_session_hands_leadership_to_the_standby(pg_url: str) -> None:
    a, b = (
        LeaderElection(pg_url, interval=INTERVAL, name="a"),
        LeaderElection(pg_url, interval=INTERVAL, name="b"),
    )
    async with contending(a):
        await until(lambda: a.is_leader, 5)
        async with contending(b):
            await asyncio.sleep(3 * INTERVAL)
            assert a.is_leader and not b.is_leader
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(%s)", (a.backend_pid,))
            took = await until(lambda: b.is_leader, 5)
            assert not a.is_leader
            assert took < 3.0  # about two intervals (0.6 s) when the machine is not loaded
            await asyncio.sleep(5 * INTERVAL)
            assert b.is_leader and not a.is_leader  # the former leader is a standby now


HOLDER = """
import asyncio, sys
from sts.services.leader import LeaderElection

async def main() -> None:
    e = LeaderElection(sys.argv[1], interval=0.3, name="child")
    stop = asyncio.Event()
    task = asyncio.create_task(e.run(stop))
    await e.leading.wait()
    print("leading", flush=True)
    await task

asyncio.run(main())
"""


async def test_killed_leader_process_is_replaced_within_seconds(pg_url: str) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, pg_url, stdout=asyncio.subprocess.PIPE, env=dict(os.environ)
    )
    try:
        assert child.stdout is not None
        async with asyncio.timeout(30):
            while (await child.stdout.readline()).strip() != b"leading":  # after its log lines
                assert child.returncode is None
        standby = LeaderElection(pg_url, interval=INTERVAL, name="standby")
        async with contending(standby):
            await asyncio.sleep(3 * INTERVAL)
            assert not standby.is_leader
            child.send_signal(signal.SIGKILL)
            took = await until(lambda: standby.is_leader, 5)
            assert took < 3.0
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await child.wait()


# --------------------------------------------------------------------------- two whole pipelines

SPEED = 60.0
POLL = 30.0  # clock seconds: one scheduler polls a game every 0.5 real seconds
WINDOW = 4.0  # real seconds


def _per_game_max(polls: list[tuple[float, str, int]], start: float, end: float) -> int:
    counts = Counter(pk for t, _, pk in polls if start <= t < end)
    return max(counts.values(), default=0)


async def test_leader_and_standby_pipelines_poll_each_game_at_one_schedulers_rate(
    shared_data: Path, pg_url: str, tmp_path: Path
) -> None:
    recordings = scan_recordings(shared_data / "statsapi")
    games = dict(sorted(recordings.games.items())[:2])
    standin = StandIn(replace(recordings, games=games), speed=SPEED, start_in=600)
    base = await standin.start()
    settings = Settings(
        data_dir=tmp_path,
        database_url=pg_url,
        object_store_url=f"file://{tmp_path / 'objects'}",
        partitions=2,
    )
    config = SchedulerConfig(poll_interval=POLL, schedule_interval=600, pregame_lead=1800)
    polls: list[tuple[float, str, int]] = []
    backends = [await open_backends(settings), await open_backends(settings)]
    elections = [LeaderElection(pg_url, interval=INTERVAL, name=n) for n in ("one", "two")]
    stop = asyncio.Event()
    runs: list[asyncio.Task[None]] = []
    try:
        async with MLBClient(base, timeout=10, retries=2) as client:
            for name, b, election in zip(("one", "two"), backends, elections, strict=True):
                pipeline = Pipeline(b, client, standin.clock, config, leader=election)
                fetch = pipeline._fetch_feed

                async def counted(pk: int, name: str = name, fetch: object = fetch) -> Snapshot:
                    polls.append((time.monotonic(), name, pk))
                    return await fetch(pk)  # type: ignore[operator,no-any-return]

                pipeline.scheduler._fetch_feed = counted
                runs.append(asyncio.create_task(pipeline.run(stop)))

            await until(lambda: len(polls) >= 4, 30)
            t0 = time.monotonic()
            await asyncio.sleep(WINDOW)
            one_rate = WINDOW * SPEED / POLL  # polls per game per window for one scheduler
            assert 0 < _per_game_max(polls, t0, t0 + WINDOW) <= one_rate + 1
            leaders = [e for e in elections if e.is_leader]
            assert len(leaders) == 1
            assert {who for t, who, _ in polls if t >= t0} == {leaders[0].name}

            # the leader's session dies: the standby's scheduler takes over, nobody doubles the rate
            old, new = leaders[0], next(e for e in elections if e is not leaders[0])
            cut = time.monotonic()
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(%s)", (old.backend_pid,))
            await until(lambda: any(who == new.name and t > cut for t, who, _ in polls), 10)
            took_over = next(t for t, who, _ in polls if who == new.name and t > cut) - cut
            assert took_over < 3.0
            await asyncio.sleep(WINDOW)
            assert new.is_leader and not old.is_leader
            # any window of WINDOW seconds around the hand-over: at most one scheduler's rate (the new
            # leader's first poll of each game comes at once, hence the + 2)
            for start in (cut - WINDOW / 2, cut, cut + WINDOW / 2):
                assert _per_game_max(polls, start, start + WINDOW) <= one_rate + 2, polls
            assert not any(who == old.name for t, who, _ in polls if t > cut + 2 * INTERVAL + 1.0)
    finally:
        stop.set()
        await asyncio.gather(*runs, return_exceptions=True)
        for b in backends:
            await b.aclose()
        await standin.stop()


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
