"""A circuit breaker per upstream host, so a failing Stats API is left alone instead of hammered.

States and transitions::

    closed ──(threshold consecutive failures, or failure rate ≥ rate over the last `window` calls)──► open
    open ──(cooldown seconds on the client's clock)──► half_open: ONE trial request is let through
    half_open ──trial succeeds──► closed          half_open ──trial fails──► open (cooldown again)

A *failure* is an attempt that got no usable HTTP answer: a timeout, a connection error, a 5xx or a
429. Any other answer (2xx, even with a body that does not parse; 4xx) is a success: the host is up.
While open (and while a half-open trial is in flight) :meth:`CircuitBreaker.acquire` raises
:class:`sts.errors.CircuitOpen` at once ("circuit open for host …, retry after …s"), without a request.

The clock is injectable (seconds as a float), so a client on the scheduler's scaled clock cools down
in that clock's seconds. Transitions are logged and counted (``sts_upstream_circuit_state{host}``:
0 closed, 1 half-open, 2 open; ``sts_upstream_circuit_transitions_total{host,state}``;
``sts_upstream_circuit_rejected_total{host}``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from sts.errors import CircuitOpen
from sts.metrics import UPSTREAM_CIRCUIT_REJECTED, UPSTREAM_CIRCUIT_STATE, UPSTREAM_CIRCUIT_TRANSITIONS

log = structlog.get_logger(__name__)

CLOSED, HALF_OPEN, OPEN = "closed", "half_open", "open"
_STATE_VALUE = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


@dataclass(frozen=True)
class BreakerConfig:
    """When a host's circuit opens (``threshold`` consecutive failures, or a failure share of at
    least ``failure_rate`` over the last ``window`` attempts once ``min_calls`` were seen) and how long
    it stays open before a trial (``cooldown``, seconds of the client's clock)."""

    threshold: int = 5
    failure_rate: float = 0.5
    window: int = 20
    min_calls: int = 10
    cooldown: float = 30.0

    def __post_init__(self) -> None:
        if self.threshold < 1 or self.window < 1 or self.min_calls < 1:
            raise ValueError("threshold, window and min_calls must be >= 1")
        if not 0.0 < self.failure_rate <= 1.0:
            raise ValueError("failure_rate must be in (0, 1]")
        if self.cooldown < 0:
            raise ValueError("cooldown must be >= 0")


@dataclass(frozen=True)
class Permit:
    """Leave to send one attempt; ``trial`` when it is the half-open state's single trial."""

    trial: bool


class CircuitBreaker:
    """The breaker of one host. Use: ``permit = acquire()``, send, then ``record(permit, ok)``;
    ``abandon(permit)`` when the attempt ended without an outcome (e.g. cancelled)."""

    def __init__(self, host: str, config: BreakerConfig, clock: Callable[[], float]) -> None:
        self.host = host
        self.config = config
        self._clock = clock
        self.state = CLOSED
        self.consecutive = 0
        self._outcomes: deque[bool] = deque(maxlen=config.window)  # True = failure
        self.opened_at = 0.0
        self.reason = ""
        self._trial_in_flight = False
        UPSTREAM_CIRCUIT_STATE.labels(host).set(0)

    def retry_after(self) -> float:
        """Seconds until an open circuit lets a trial through (0 when not open)."""
        if self.state != OPEN:
            return 0.0
        return max(0.0, self.opened_at + self.config.cooldown - self._clock())

    def acquire(self) -> Permit:
        """Leave to send an attempt, or :class:`CircuitOpen` while the host is left alone."""
        if self.state == OPEN:
            if self.retry_after() > 0:
                self._refuse(self.reason)
            self._move(HALF_OPEN, "cool-down over: one trial request")
        if self.state == HALF_OPEN:
            if self._trial_in_flight:
                self._refuse("a trial request is in flight")
            self._trial_in_flight = True
            return Permit(trial=True)
        return Permit(trial=False)

    def record(self, permit: Permit, ok: bool) -> None:
        """The outcome of a permitted attempt."""
        if permit.trial:
            self._trial_in_flight = False
            if self.state == HALF_OPEN:
                if ok:
                    self._move(CLOSED, "trial request succeeded")
                else:
                    self._open("trial request failed")
                return
        if ok:
            self.consecutive = 0
            if self.state == CLOSED:
                self._outcomes.append(False)
            return
        self.consecutive += 1
        if self.state != CLOSED:
            return
        self._outcomes.append(True)
        cfg = self.config
        failures = sum(self._outcomes)
        if self.consecutive >= cfg.threshold:
            self._open(f"{self.consecutive} consecutive failures")
        elif len(self._outcomes) >= cfg.min_calls and failures / len(self._outcomes) >= cfg.failure_rate:
            self._open(f"{failures} failures in the last {len(self._outcomes)} requests")

    def abandon(self, permit: Permit) -> None:
        """The attempt ended without an outcome: free the trial slot if it held it."""
        if permit.trial:
            self._trial_in_flight = False

    # ------------------------------------------------------------------ internals

    def _refuse(self, why: str) -> None:
        UPSTREAM_CIRCUIT_REJECTED.labels(self.host).inc()
        raise CircuitOpen(self.host, self.retry_after(), why)

    def _open(self, reason: str) -> None:
        self.reason = reason
        self.opened_at = self._clock()
        self._move(OPEN, reason)

    def _move(self, state: str, why: str) -> None:
        before, self.state = self.state, state
        if state == CLOSED:
            self.consecutive = 0
            self._outcomes.clear()
        UPSTREAM_CIRCUIT_STATE.labels(self.host).set(_STATE_VALUE[state])
        UPSTREAM_CIRCUIT_TRANSITIONS.labels(self.host, state).inc()
        level = log.warning if state == OPEN else log.info
        level("circuit breaker " + state.replace("_", "-"), host=self.host, previous=before, reason=why,
              cooldown_s=self.config.cooldown if state == OPEN else None)  # fmt: skip
