"""The scaled clock shared by the stand-in and the scheduler."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from sts.clock import Clock, ScaledClock, SystemClock


def test_scaled_clock_maps_real_to_virtual_time() -> None:
    origin_virtual = datetime(2024, 7, 1, 19, 0, tzinfo=UTC)
    clock = ScaledClock(time.time() - 10, origin_virtual, 60)
    elapsed = clock.now() - origin_virtual
    assert timedelta(seconds=599) < elapsed < timedelta(seconds=610)
    assert clock.now().tzinfo is not None
    assert abs(clock.now_epoch() - clock.now().timestamp()) < 1
    assert isinstance(clock, Clock) and isinstance(SystemClock(), Clock)


async def test_scaled_sleep_is_shorter_in_real_time() -> None:
    clock = ScaledClock(time.time(), datetime.now(UTC), 100)
    start = time.monotonic()
    await clock.sleep(5)  # 5 virtual seconds = 0.05 real seconds
    assert time.monotonic() - start < 1


def test_speed_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ScaledClock(0, datetime.now(UTC), 0)
