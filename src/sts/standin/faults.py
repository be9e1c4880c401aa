"""Upstream faults the stand-in can inject: what a flaky Stats API or CDN does to a poller.

A :class:`FaultPlan` says how often each kind of fault happens (a probability per request) and how it
behaves; a :class:`FaultInjector` draws from it with a seeded RNG and wraps the stand-in's ASGI app.

Kinds (``FAULT_KINDS``):

    error_500, error_502, error_503   that HTTP status with MLB's error body
    error_503_retry_after             503 with ``Retry-After: <retry_after_s>``
    timeout                           hang ``hang_s`` seconds (longer than the client's timeout), then 504
    slow                              answer correctly after ``slow_s`` seconds (not a failure)
    truncated                         200 with the JSON body cut short (Content-Length matches the cut)
    reset                             200 headers, half the body, then the connection is dropped
    stale                             the feed as it was ``stale_steps`` states ago, served as current
    out_of_order                      the feed at a random earlier state, served as current

``stale`` and ``out_of_order`` apply to ``/feed/live`` without ``timecode`` and to ``diffPatch`` (whose
end is then moved to the older state: an empty list, a patch to the older state, or the older full
feed); on other paths, or when the game has no earlier state, the request is served normally. Only
``/api/…`` paths are faulted (those containing one of ``paths`` when given); ``/standin/…`` never is.

Reproducibility: one ``random.Random(seed)`` decides every request in arrival order, so the same
sequence of requests gets the same faults. The counters (:meth:`FaultInjector.snapshot`) say how many
requests were seen and how many faults of each kind were actually served; the stand-in shows them in
``/standin/status`` under ``faults``.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs

FAULT_KINDS = (
    "error_500",
    "error_502",
    "error_503",
    "error_503_retry_after",
    "timeout",
    "slow",
    "truncated",
    "reset",
    "stale",
    "out_of_order",
)
#: kinds after which the client did not get the current, complete, correct answer
FAILING_KINDS = frozenset(FAULT_KINDS) - {"slow"}
#: relative weights of ``FaultPlan.mixed``: every kind, failing ones first
MIX = {
    "error_500": 2,
    "error_502": 1,
    "error_503": 1,
    "error_503_retry_after": 1,
    "timeout": 1,
    "slow": 1,
    "truncated": 2,
    "reset": 1,
    "stale": 2,
    "out_of_order": 1,
}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_FEED = re.compile(r"^/api/v1(?:\.1)?/game/(\d+)/feed/live(/diffPatch)?/?$")


@dataclass(frozen=True)
class FaultPlan:
    """How often each fault happens (``rates``: kind → probability per request, summing to ≤ 1) and
    how it behaves. Times are real seconds (the server's event loop), except ``retry_after_s`` which
    the client reads as its own clock's seconds."""

    rates: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0
    hang_s: float = 30.0
    slow_s: float = 2.0
    retry_after_s: float = 1.0
    stale_steps: int = 3
    paths: tuple[str, ...] = ()  # fault only paths containing one of these (empty: every /api/ path)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.rates) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kind(s) {', '.join(unknown)}; known: {', '.join(FAULT_KINDS)}")
        bad = {k: r for k, r in self.rates.items() if not 0.0 <= r <= 1.0}
        if bad:
            raise ValueError(f"fault rates must be between 0 and 1: {bad}")
        if sum(self.rates.values()) > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {sum(self.rates.values()):.3f} > 1")
        if self.hang_s < 0 or self.slow_s < 0 or self.retry_after_s < 0 or self.stale_steps < 1:
            raise ValueError("hang_s, slow_s and retry_after_s must be >= 0 and stale_steps >= 1")

    @classmethod
    def mixed(cls, total: float, **kwargs: Any) -> FaultPlan:
        """Every kind, ``total`` probability in all, shared out by the weights of :data:`MIX`."""
        weight = sum(MIX.values())
        return cls({k: total * w / weight for k, w in MIX.items()}, **kwargs)

    @classmethod
    def parse(cls, spec: str, **kwargs: Any) -> FaultPlan:
        """``"mix=0.3"`` (see :meth:`mixed`) or ``"error_503=0.05,timeout=0.02,…"``; ``ValueError`` if bad."""
        rates: dict[str, float] = {}
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            kind, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"fault spec {part!r} is not KIND=RATE")
            try:
                rates[kind.strip()] = float(value)
            except ValueError:
                raise ValueError(f"fault rate {value!r} of {kind!r} is not a number") from None
        if "mix" in rates:
            total = rates.pop("mix")
            if rates:
                raise ValueError("give either mix=RATE or rates per kind, not both")
            return cls.mixed(total, **kwargs)
        return cls(rates, **kwargs)


class FeedSource(Protocol):
    """What the injector needs from the stand-in to serve older states (:class:`StandInApp`)."""

    replay: Any

    def feed_bytes(self, pk: int, index: int) -> bytes: ...


class FaultInjector:
    """Draws a fault per request from ``plan`` and serves it; counts what it served."""

    def __init__(self, plan: FaultPlan, source: FeedSource) -> None:
        self.plan = plan
        self.source = source
        self._rng = random.Random(plan.seed)
        self.requests = 0
        self.injected: dict[str, int] = {k: 0 for k in FAULT_KINDS}

    def set_plan(self, plan: FaultPlan) -> None:
        """Change the faults of a running stand-in (the RNG restarts from ``plan.seed``; counters go on)."""
        self.plan = plan
        self._rng = random.Random(plan.seed)

    def snapshot(self) -> dict[str, Any]:
        """The counters: requests seen, faults served per kind, failing faults and their share."""
        failing = sum(n for k, n in self.injected.items() if k in FAILING_KINDS)
        return {
            "seed": self.plan.seed,
            "rates": dict(self.plan.rates),
            "requests": self.requests,
            "injected": dict(self.injected),
            "failing": failing,
            "failingShare": failing / self.requests if self.requests else 0.0,
        }

    def draw(self) -> str | None:
        """The fault for the next request (``None``: serve it normally)."""
        r = self._rng.random()
        for kind in FAULT_KINDS:
            rate = self.plan.rates.get(kind, 0.0)
            if r < rate:
                return kind
            r -= rate
        return None

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """``app`` with faults injected into its ``/api/…`` HTTP requests."""

        async def faulty(scope: Scope, receive: Receive, send: Send) -> None:
            path = str(scope.get("path", "")) if scope["type"] == "http" else ""
            paths = self.plan.paths
            if not path.startswith("/api/") or (paths and not any(p in path for p in paths)):
                await app(scope, receive, send)
                return
            self.requests += 1
            kind = self.draw()
            if kind is None or not await self._serve(kind, app, scope, receive, send):
                await app(scope, receive, send)

        return faulty

    # ------------------------------------------------------------------ the faults

    async def _serve(self, kind: str, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> bool:
        """Serve fault ``kind``; ``False`` when it does not apply (the caller serves normally)."""
        plan = self.plan
        if kind.startswith("error_"):
            status = int(kind[6:9])
            headers = [(b"retry-after", str(math.ceil(plan.retry_after_s)).encode())]
            await _error(send, status, "Service unavailable" if status == 503 else "Internal error",
                         headers if kind == "error_503_retry_after" else [])  # fmt: skip
        elif kind == "timeout":
            self.injected[kind] += 1  # counted now: the client gives up before the answer
            await asyncio.sleep(plan.hang_s)
            await _error(send, 504, "Gateway timeout")
            return True
        elif kind == "slow":
            await asyncio.sleep(plan.slow_s)
            await app(scope, receive, send)
        elif kind in ("truncated", "reset"):
            status, headers, body = await _capture(app, scope, receive)
            if status != 200 or len(body) < 2:
                await _replay_response(send, status, headers, body)
                return True  # served as is, not counted
            if kind == "truncated":
                cut = body[: max(1, int(len(body) * (0.1 + 0.8 * self._rng.random())))]
                await _replay_response(send, status, headers, cut)
            else:
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
                # returning here, response unfinished: the server drops the connection
        else:  # stale, out_of_order
            older = self._older(kind, scope)
            if older is None:
                return False
            await _replay_response(send, 200, [(b"content-type", b"application/json;charset=UTF-8")], older)
        self.injected[kind] += 1
        return True

    def _older(self, kind: str, scope: Scope) -> bytes | None:
        """The response as of an older state of the game, or ``None`` if there is none to serve."""
        match = _FEED.match(str(scope.get("path", "")))
        if match is None:
            return None
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        pk, is_patch = int(match.group(1)), bool(match.group(2))
        replay = self.source.replay
        try:
            now = replay.state_index(pk, None)
            if not is_patch and query.get("timecode"):
                return None  # an explicit timecode asks for the past anyway
            if now == 0:
                return None
            older = max(0, now - self.plan.stale_steps) if kind == "stale" else self._rng.randrange(now)
            if not is_patch:
                return self.source.feed_bytes(pk, older)
            start = query.get("startTimecode")
            if not start:
                return None
            older_tc = replay.get(pk).timeline.timecodes[older]
            return json.dumps(replay.diff_patch(pk, start, older_tc), separators=(",", ":")).encode()
        except (LookupError, ValueError):
            return None  # unknown game, bad or future timecode: the normal handler answers


async def _capture(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[int, list[Any], bytes]:
    """Run ``app`` and collect its whole response."""
    status = 500
    headers: list[Any] = []
    chunks: list[bytes] = []

    async def collect(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    await app(scope, receive, collect)
    return status, headers, b"".join(chunks)


async def _replay_response(send: Send, status: int, headers: list[Any], body: bytes) -> None:
    kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    kept.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": kept})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Send, status: int, message: str, extra: list[Any] | None = None) -> None:
    body = json.dumps(
        {"messageNumber": 1, "message": f"{message} (injected by the STS stand-in)", "traceId": None}
    ).encode()
    headers = [(b"content-type", b"application/json;charset=UTF-8"), *(extra or [])]
    await _replay_response(send, status, headers, body)
