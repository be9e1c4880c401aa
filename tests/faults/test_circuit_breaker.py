"""The circuit breaker's state machine (closed → open → half-open → closed/open), on a hand-set clock."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from sts.adapters.circuit_breaker import CLOSED, HALF_OPEN, OPEN, BreakerConfig, CircuitBreaker
from sts.errors import CircuitOpen, UpstreamUnavailable


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _breaker(host: str, **cfg: float) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    config = BreakerConfig(**{"threshold": 3, "cooldown": 30.0, "window": 10, "min_calls": 6, **cfg})  # type: ignore[arg-type]
    return CircuitBreaker(host, config, clock), clock


def _fail(b: CircuitBreaker, n: int = 1) -> None:
    for _ in range(n):
        b.record(b.acquire(), ok=False)


def _succeed(b: CircuitBreaker, n: int = 1) -> None:
    for _ in range(n):
        b.record(b.acquire(), ok=True)


def _gauge(host: str) -> float | None:
    return REGISTRY.get_sample_value("sts_upstream_circuit_state", {"host": host})


def test_opens_after_threshold_consecutive_failures_and_refuses_with_a_clear_error() -> None:
    b, clock = _breaker("consecutive:1")
    _fail(b, 2)
    _succeed(b)  # a success resets the run of failures
    _fail(b, 2)
    assert b.state == CLOSED and _gauge("consecutive:1") == 0
    _fail(b)
    assert b.state == OPEN and _gauge("consecutive:1") == 2
    clock.t += 12.5
    with pytest.raises(CircuitOpen) as err:
        b.acquire()
    assert isinstance(err.value, UpstreamUnavailable)  # callers that catch upstream errors catch it
    assert str(err.value).startswith("circuit open for host consecutive:1 (3 consecutive failures")
    assert "retry after 17.5s" in str(err.value) and err.value.retry_after == pytest.approx(17.5)
    rejected = REGISTRY.get_sample_value("sts_upstream_circuit_rejected_total", {"host": "consecutive:1"})
    assert rejected == 1


def test_opens_on_failure_rate_over_the_window_without_a_long_run() -> None:
    b, _ = _breaker("rate:1", threshold=100, failure_rate=0.5)
    for _ in range(2):
        _fail(b, 2)
        _succeed(b)
    assert b.state == CLOSED  # 4 of 6 failed but only once min_calls is reached does the rate count
    _fail(b)  # 5 of 7 >= 50 %
    assert b.state == OPEN and "5 failures in the last 7 requests" in b.reason


def test_half_open_lets_one_trial_through_and_closes_on_success() -> None:
    b, clock = _breaker("half:1")
    _fail(b, 3)
    clock.t += 30.0
    trial = b.acquire()
    assert trial.trial and b.state == HALF_OPEN and _gauge("half:1") == 1
    with pytest.raises(CircuitOpen, match="a trial request is in flight"):
        b.acquire()
    b.record(trial, ok=True)
    assert b.state == CLOSED and b.consecutive == 0
    assert not b.acquire().trial
    moves = {
        s: REGISTRY.get_sample_value("sts_upstream_circuit_transitions_total", {"host": "half:1", "state": s})
        for s in (OPEN, HALF_OPEN, CLOSED)
    }
    assert moves == {OPEN: 1, HALF_OPEN: 1, CLOSED: 1}


def test_a_failed_trial_opens_again_for_a_full_cooldown() -> None:
    b, clock = _breaker("half:2")
    _fail(b, 3)
    clock.t += 31.0
    b.record(b.acquire(), ok=False)
    assert b.state == OPEN and b.reason == "trial request failed"
    clock.t += 29.0
    with pytest.raises(CircuitOpen, match=r"retry after 1\.0s"):
        b.acquire()
    clock.t += 1.0
    assert b.acquire().trial


def test_an_abandoned_trial_frees_the_slot() -> None:
    b, clock = _breaker("half:3")
    _fail(b, 3)
    clock.t += 30.0
    b.abandon(b.acquire())  # e.g. the request was cancelled
    assert b.state == HALF_OPEN and b.acquire().trial


def test_late_outcomes_of_requests_sent_before_opening_do_not_close_it() -> None:
    b, _ = _breaker("late:1")
    early = b.acquire()
    _fail(b, 3)
    b.record(early, ok=True)  # answered after the circuit opened
    assert b.state == OPEN


def test_config_is_checked() -> None:
    with pytest.raises(ValueError):
        BreakerConfig(threshold=0)
    with pytest.raises(ValueError):
        BreakerConfig(failure_rate=0.0)
    with pytest.raises(ValueError):
        BreakerConfig(cooldown=-1)
