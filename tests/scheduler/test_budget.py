"""The token bucket on a virtual clock (pure logic: no engines, no real waiting)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from sts.services.budget import RequestBudget


class VirtualClock:
    """A clock whose time moves only when someone sleeps on it."""

    def __init__(self) -> None:
        self.t = datetime(2026, 7, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += timedelta(seconds=max(0.0, seconds))
        await asyncio.sleep(0)


def max_in_window(times: list[float], window: float) -> int:
    """The most of ``times`` in any half-open window ``[x, x + window)``."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


async def test_fifteen_at_once_are_spread_out_by_the_rate() -> None:
    clock = VirtualClock()
    budget = RequestBudget(rate=2.0, burst=5, clock=clock)
    t0 = clock.now()
    waits_before = REGISTRY.get_sample_value("sts_request_budget_waits_total") or 0.0
    granted: list[tuple[int, float]] = []
    waits: list[float] = []

    async def one(i: int) -> None:
        asked = clock.now()
        await budget.acquire()
        granted.append((i, (clock.now() - t0).total_seconds()))
        waits.append((clock.now() - asked).total_seconds())

    await asyncio.gather(*(one(i) for i in range(15)))
    assert [i for i, _ in granted] == list(range(15))  # first come, first served
    times = [t for _, t in granted]
    assert times[:5] == [0.0] * 5  # the burst
    assert times[5:] == pytest.approx([0.5 * k for k in range(1, 11)])  # then one every 1/rate
    for window in (0.5, 1.0, 2.0, 5.0, 10.0):
        assert max_in_window(times, window) <= budget.max_requests(window)
    assert budget.stats.acquired == 15 and budget.stats.waited == 10
    assert budget.stats.wait_seconds == pytest.approx(sum(waits))
    assert REGISTRY.get_sample_value("sts_request_budget_waits_total") == waits_before + 10


async def test_the_bucket_refills_up_to_the_burst_only() -> None:
    clock = VirtualClock()
    budget = RequestBudget(rate=1.0, burst=3, clock=clock)
    for _ in range(3):
        await budget.acquire()
    assert budget.tokens == pytest.approx(0.0)
    await clock.sleep(100)  # a long idle time refills to the burst, not to 100
    assert budget.tokens == pytest.approx(3.0)
    t0 = clock.now()
    for _ in range(4):
        await budget.acquire()
    assert (clock.now() - t0).total_seconds() == pytest.approx(1.0)  # 3 at once, the 4th after 1 s


def test_invalid_budgets_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        RequestBudget(0, 5, VirtualClock())
    with pytest.raises(ValueError, match="burst"):
        RequestBudget(1, 0.5, VirtualClock())


def test_max_in_window_counts_what_it_should() -> None:
    assert max_in_window([0, 0, 0, 1, 2, 2.5], 1.0) == 3
    assert max_in_window([0, 0.9, 1.8, 2.7], 1.0) == 2
