"""Leader election on a PostgreSQL advisory lock: at most one scheduler polls the MLB API at a time.

Every STS process that may schedule runs a :class:`LeaderElection` against the same database. The
leader is the process whose dedicated connection holds the session-level advisory lock ``key``
(``pg_try_advisory_lock``); the others are standbys that try to take the lock every ``interval``
seconds. The lock belongs to the database session, so it is released by the server the moment that
session ends: a leader that crashes, is SIGKILLed, loses its network or has its backend terminated
(``pg_terminate_backend``) stops being leader without any cooperation from it.

Contract:

- ``leading`` is set while this process believes it leads, and cleared as soon as it does not.
- The leader re-checks every ``interval`` seconds that its session is alive and still holds the lock
  (a query on the dedicated connection); any failure clears ``leading`` at once (losing the connection
  = losing leadership) and the process becomes a standby again.
- A standby that obtains the lock waits ``interval`` seconds (one re-check of a former leader whose
  session was cut but whose process still runs) and confirms it still holds the lock before it sets
  ``leading``; so two schedulers never overlap as long as both event loops are responsive, and a
  standby takes over within about ``2 * interval`` seconds of the leader's death. A leader that lost
  its session waits ``2 * interval`` before contending again, so a healthy standby gets the lock first.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import structlog

log = structlog.get_logger(__name__)

# one lock per role; a stable number derived from the role's name
SCHEDULER_LOCK = zlib.crc32(b"sts.scheduler")

_HOLDS = """
SELECT count(*) FROM pg_locks
 WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
   AND classid = (%(key)s::bigint >> 32)::oid AND objid = (%(key)s::bigint & 4294967295)::oid
   AND objsubid = 1
"""


class LeaderElection:
    """Contend for the advisory lock ``key`` on ``db_url`` until ``run``'s ``stop`` is set."""

    def __init__(
        self, db_url: str, key: int = SCHEDULER_LOCK, *, interval: float = 1.0, name: str = ""
    ) -> None:
        self.db_url = db_url
        self.key = key
        self.interval = interval
        self.name = name
        self.leading = asyncio.Event()
        self.standing_by = asyncio.Event()  # the complement of ``leading``
        self.standing_by.set()
        self.terms = 0  # how many times this process became leader
        self._cooldown_until = 0.0  # a leader that lost its session lets the standbys try first
        self._conn: psycopg.AsyncConnection[Any] | None = None

    @property
    def is_leader(self) -> bool:
        return self.leading.is_set()

    @property
    def backend_pid(self) -> int | None:
        """The server process id of the dedicated session (to terminate it in tests)."""
        return self._conn.info.backend_pid if self._conn is not None and not self._conn.closed else None

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self.db_url, autocommit=True, connect_timeout=5, application_name=f"sts-leader {self.name}"
            )
        return self._conn

    async def _try_lock(self) -> bool:
        conn = await self._connect()
        row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,))).fetchone()
        return bool(row and row[0])

    async def _holds_lock(self) -> bool:
        conn = await self._connect()
        row = await (await conn.execute(_HOLDS, {"key": self.key})).fetchone()
        return bool(row and row[0])

    async def _drop(self) -> None:
        if self.leading.is_set():
            log.warning("leadership lost", name=self.name, key=self.key)
            self._cooldown_until = asyncio.get_running_loop().time() + 2 * self.interval
        self._lead(False)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None

    async def step(self) -> bool:
        """One round: a standby tries to take the lock, a leader checks it still holds it. Returns
        whether this process leads afterwards. Connection errors cost leadership, never raise."""
        try:
            if self.leading.is_set():
                if not await self._holds_lock():
                    await self._drop()
            elif asyncio.get_running_loop().time() < self._cooldown_until:
                pass
            elif await self._try_lock():
                await asyncio.sleep(self.interval)  # let a cut-off former leader notice first
                if await self._holds_lock():
                    self.terms += 1
                    self._lead(True)
                    log.info("leadership acquired", name=self.name, key=self.key, term=self.terms)
        except (psycopg.Error, OSError) as exc:
            log.warning("leader election: database unavailable", name=self.name, error=str(exc))
            await self._drop()
        return self.leading.is_set()

    async def run(self, stop: asyncio.Event) -> None:
        """Contend until ``stop``; then release the lock (by closing the session)."""
        try:
            while not stop.is_set():
                await self.step()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval)
        finally:
            await self.release()

    async def release(self) -> None:
        """Give up leadership (closing the session frees the lock) and clear ``leading``."""
        self._lead(False)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None

    def _lead(self, leading: bool) -> None:
        (self.leading.set if leading else self.leading.clear)()
        (self.standing_by.clear if leading else self.standing_by.set)()


async def run_while_leading(
    leader: LeaderElection, stop: asyncio.Event, term: Callable[[asyncio.Event], Awaitable[None]]
) -> None:
    """Contend with ``leader`` until ``stop``; run ``term(term_stop)`` during each term of leadership.

    ``term_stop`` is set when leadership is lost (or ``stop`` is set), and ``term`` must then return
    promptly. When ``term`` returns by itself while still leading (e.g. every game is done), this
    returns too. A standby just waits here (its process keeps doing the rest, e.g. processing)."""
    elect_stop = asyncio.Event()
    elect = asyncio.create_task(leader.run(elect_stop), name="leader-election")
    try:
        while not stop.is_set() and not elect.done():
            await _first(stop.wait(), leader.leading.wait(), asyncio.shield(elect))
            if stop.is_set() or elect.done():
                break
            term_stop = asyncio.Event()

            async def relay(term_stop: asyncio.Event = term_stop) -> None:
                await _first(stop.wait(), leader.standing_by.wait())
                term_stop.set()

            relay_task = asyncio.create_task(relay())
            try:
                await term(term_stop)
            finally:
                relay_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay_task
            if not term_stop.is_set():
                return  # the term's work is finished
            log.info("scheduler stopped: not the leader any more", name=leader.name)
    finally:
        elect_stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await elect


async def _first(*aws: Awaitable[Any]) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
