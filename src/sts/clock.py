"""Clocks: the wall clock, and a scaled virtual clock shared by the stand-in and the scheduler.

A :class:`Clock` tells the time (a UTC-aware :class:`~datetime.datetime`) and sleeps in *its own*
seconds. :class:`ScaledClock` runs ``speed`` times faster than real time from a fixed origin, so two
processes built with the same ``(origin_real, origin_virtual, speed)`` agree on the virtual time
without talking to each other (the stand-in prints its origin; pass it to the scheduler).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """What the time is, and how to wait.

    Contract:
    - ``now()`` returns a timezone-aware datetime in UTC; successive calls never go backwards.
    - ``await sleep(s)`` returns after ``s`` seconds *of this clock* have passed (``s <= 0``: yields once).
    """

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """A virtual clock: ``now() = origin_virtual + (time.time() - origin_real) * speed``.

    ``origin_real`` is a Unix epoch (seconds), ``origin_virtual`` the virtual instant at that real
    moment (naive datetimes are taken as UTC), ``speed`` virtual seconds per real second (> 0).
    ``sleep(s)`` sleeps ``s / speed`` real seconds.
    """

    def __init__(self, origin_real: float, origin_virtual: datetime, speed: float) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, not {speed!r}")
        if origin_virtual.tzinfo is None:
            origin_virtual = origin_virtual.replace(tzinfo=UTC)
        self.origin_real = float(origin_real)
        self.origin_virtual = origin_virtual.astimezone(UTC)
        self.speed = float(speed)

    def now(self) -> datetime:
        return self.origin_virtual + timedelta(seconds=(time.time() - self.origin_real) * self.speed)

    def now_epoch(self) -> float:
        """The virtual time as a Unix epoch (seconds); cheaper than :meth:`now` for arithmetic."""
        return self.origin_virtual.timestamp() + (time.time() - self.origin_real) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def __repr__(self) -> str:
        return (
            f"ScaledClock(origin_real={self.origin_real!r}, "
            f"origin_virtual={self.origin_virtual.isoformat()!r}, speed={self.speed!r})"
        )
