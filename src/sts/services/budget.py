"""One global request budget for every upstream (MLB API) request: a token bucket on a :class:`Clock`.

Contract of :class:`RequestBudget`:

- ``rate`` tokens are added per clock second, up to ``burst`` (the bucket starts full);
- ``await acquire()`` takes one token, waiting (on the clock) until one is there; waiters are served
  first come, first served, so no game starves;
- hence, over *any* window of ``W`` clock seconds, at most ``burst + rate * W`` requests start: fifteen
  games that become due at the same instant are spread out instead of bursting.

The MLB client calls ``acquire()`` before every attempt it sends (retries included), so whoever fetches
through that client (schedule, feeds, ``feed/live/diffPatch``, ``game/changes``) spends the same budget.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sts import metrics
from sts.clock import Clock


@dataclass
class BudgetStats:
    acquired: int = 0
    waited: int = 0  # acquisitions that had to wait for a token
    wait_seconds: float = 0.0  # clock seconds spent waiting, summed


class RequestBudget:
    """A token bucket: ``rate`` requests per clock second on average, at most ``burst`` at once."""

    def __init__(self, rate: float, burst: float, clock: Clock) -> None:
        if rate <= 0:
            raise ValueError(f"the request budget's rate must be > 0 requests/s, not {rate!r}")
        if burst < 1:
            raise ValueError(f"the request budget's burst must be >= 1, not {burst!r}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._tokens = self.burst
        self._stamp: float | None = None
        self._lock = asyncio.Lock()  # FIFO: waiters take tokens in arrival order
        self.stats = BudgetStats()

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _refill(self) -> float:
        now = self._now()
        if self._stamp is not None and now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        if self._stamp is None or now > self._stamp:
            self._stamp = now
        return now

    @property
    def tokens(self) -> float:
        """Tokens available now (refilled to the current clock time)."""
        self._refill()
        return self._tokens

    def max_requests(self, window: float) -> int:
        """The most requests the bucket lets start in any window of ``window`` clock seconds."""
        return int(self.burst + self.rate * window)

    async def acquire(self) -> None:
        """Take one token, waiting on the clock until there is one."""
        start = self._now()
        waited = self._lock.locked()  # others are queued ahead: this one waits for them
        async with self._lock:
            self._refill()
            while self._tokens < 1.0:
                waited = True
                await self._clock.sleep((1.0 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1.0
            self.stats.acquired += 1
            if waited:
                waited_for = max(0.0, self._now() - start)
                self.stats.waited += 1
                self.stats.wait_seconds += waited_for
                metrics.BUDGET_WAITS.inc()
                metrics.BUDGET_WAIT_SECONDS.inc(waited_for)

    def describe(self) -> dict[str, float | int]:
        return {
            "rate_per_second": self.rate,
            "burst": self.burst,
            "tokens": round(self.tokens, 3),
            "acquired": self.stats.acquired,
            "waited": self.stats.waited,
            "wait_seconds": round(self.stats.wait_seconds, 3),
        }
