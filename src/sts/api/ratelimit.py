"""Rate limits: a token bucket per API key (per client address for anonymous callers of public routes).

A tier (setting ``api_rate_tiers``) is ``{"rate": r, "burst": b}``: a bucket holds at most ``b`` tokens,
refills at ``r`` per second, and every request takes one; ``null`` means unlimited. A key names its tier;
anonymous callers use ``api_anonymous_tier``; a tier the settings do not know counts as ``default``.

Backends, behind :class:`Buckets`:

- :class:`MemoryBuckets` (the default): buckets in this process, on the monotonic clock.
- :class:`RedisBuckets` (setting ``redis_url``): one hash per bucket in Redis, updated atomically by a
  Lua script that reads Redis's own ``TIME``, so every API process sharing that Redis shares the bucket
  and no process's clock matters. When Redis fails, the decision is taken by in-process buckets instead
  (fail over, neither open nor closed: each process keeps enforcing the tier on its own, so the limit
  becomes at most N times looser with N processes, and the API stays up). Each such decision counts in
  ``sts_api_rate_limit_fallbacks_total``; ``sts_backend_ready{backend="redis"}`` goes to 0 and a warning
  is logged (at most every 10 s); Redis is tried again after one second.

Answers carry ``RateLimit-Limit`` (burst), ``RateLimit-Remaining`` (whole tokens left),
``RateLimit-Reset`` (seconds until the bucket is full again) and ``RateLimit-Policy`` (``b;w=b/r``);
a refusal is ``429 rate_limited`` with ``Retry-After`` (seconds until one request is allowed) and counts
in ``sts_api_rate_limited_total{tier}``.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sts.api.context import ApiContext
from sts.config import Settings
from sts.metrics import API_RATE_LIMIT_FALLBACKS, BACKEND_READY

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Tier:
    name: str
    rate: float  # tokens per second
    burst: float  # bucket size


@dataclass(frozen=True)
class Decision:
    allowed: bool
    tier: Tier
    tokens: float  # left after this request

    @property
    def retry_after(self) -> int:
        """Whole seconds until one token is back (0 when allowed)."""
        return 0 if self.allowed else max(1, math.ceil((1 - self.tokens) / self.tier.rate))

    def headers(self) -> dict[str, str]:
        t = self.tier
        h = {
            "RateLimit-Limit": str(int(t.burst)),
            "RateLimit-Remaining": str(max(0, math.floor(self.tokens))),
            "RateLimit-Reset": str(max(0, math.ceil((t.burst - self.tokens) / t.rate))),
            "RateLimit-Policy": f"{int(t.burst)};w={math.ceil(t.burst / t.rate)}",
        }
        if not self.allowed:
            h["Retry-After"] = str(self.retry_after)
        return h


class Buckets(Protocol):
    """Take one token from ``bucket`` of ``tier``; a refused request takes nothing."""

    async def take(self, bucket: str, tier: Tier) -> Decision: ...

    async def aclose(self) -> None: ...


class MemoryBuckets:
    """Buckets in this process (at most ``max_buckets``; the least recently used one goes first)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_buckets: int = 100_000) -> None:
        self._clock = clock
        self._max = max_buckets
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    async def take(self, bucket: str, tier: Tier) -> Decision:
        now = self._clock()
        k = (tier.name, bucket)
        tokens, ts = self._buckets.get(k, (tier.burst, now))
        tokens = min(tier.burst, tokens + max(0.0, now - ts) * tier.rate)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        self._buckets[k] = (tokens, now)
        self._buckets.move_to_end(k)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return Decision(allowed, tier, tokens)

    async def aclose(self) -> None:
        return None


# KEYS[1] bucket; ARGV rate, burst. Returns {allowed (0/1), tokens left as a string}. Redis >= 5 replicates
# a script's effects, so reading TIME in a writing script is allowed.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'ts', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, string.format('%.6f', tokens)}
"""


class RedisBuckets:
    """Buckets in Redis, shared by every process using the same ``url`` and ``prefix``."""

    RETRY_SECONDS = 1.0
    LOG_EVERY_SECONDS = 10.0

    def __init__(self, url: str, prefix: str = "sts:rl:", *, timeout: float = 0.5) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        self._script = self._redis.register_script(_TAKE)
        self._prefix = prefix
        self._fallback = MemoryBuckets()
        self._down_until = 0.0
        self._last_log = -math.inf
        BACKEND_READY.labels("redis").set(1)

    async def take(self, bucket: str, tier: Tier) -> Decision:
        import redis.exceptions

        now = time.monotonic()
        if now >= self._down_until:
            try:
                allowed, tokens = await self._script(
                    keys=[f"{self._prefix}{tier.name}:{bucket}"], args=[tier.rate, tier.burst]
                )
            except (redis.exceptions.RedisError, OSError) as exc:
                self._down_until = now + self.RETRY_SECONDS
                BACKEND_READY.labels("redis").set(0)
                if now - self._last_log >= self.LOG_EVERY_SECONDS:
                    self._last_log = now
                    log.warning("rate limiter: Redis failed, using in-process buckets", error=str(exc))
            else:
                BACKEND_READY.labels("redis").set(1)
                return Decision(bool(int(allowed)), tier, float(tokens))
        API_RATE_LIMIT_FALLBACKS.inc()
        return await self._fallback.take(bucket, tier)

    async def aclose(self) -> None:
        await self._redis.aclose()


def parse_tiers(raw: Mapping[str, Mapping[str, Any] | None]) -> dict[str, Tier | None]:
    tiers: dict[str, Tier | None] = {}
    for name, spec in raw.items():
        if spec is None:
            tiers[name] = None
            continue
        try:
            rate, burst = float(spec["rate"]), float(spec["burst"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f'rate tier {name!r}: expected {{"rate": r, "burst": b}} or null, got {spec!r}'
            ) from exc
        if not (0 < rate < math.inf and 1 <= burst < math.inf):
            raise ValueError(f"rate tier {name!r}: rate must be > 0 and burst >= 1")
        tiers[name] = Tier(name, rate, burst)
    return tiers


class RateLimiter:
    """The tiers of the settings over one :class:`Buckets` backend."""

    def __init__(self, settings: Settings, buckets: Buckets | None = None) -> None:
        self.tiers = parse_tiers(settings.api_rate_tiers)
        if buckets is None:
            buckets = (
                RedisBuckets(settings.redis_url, settings.api_rate_limit_prefix)
                if settings.redis_url
                else MemoryBuckets()
            )
        self.buckets = buckets

    def tier(self, name: str) -> Tier | None:
        """``None``: unlimited. An unknown name is the ``default`` tier (unlimited if that is missing too)."""
        if name in self.tiers:
            return self.tiers[name]
        return self.tiers.get("default")

    async def take(self, bucket: str, tier_name: str) -> Decision | None:
        tier = self.tier(tier_name)
        if tier is None:
            return None
        return await self.buckets.take(bucket, tier)


def get_limiter(ctx: ApiContext) -> RateLimiter:
    limiter = ctx.extras.get("ratelimiter")
    if limiter is None:
        limiter = ctx.extras["ratelimiter"] = RateLimiter(ctx.settings)
    return limiter


async def close_limiter(ctx: ApiContext) -> None:
    """Close the limiter's connections (the app's lifespan calls it at shutdown)."""
    limiter = ctx.extras.pop("ratelimiter", None)
    if limiter is not None:
        await limiter.buckets.aclose()


STATE_KEY = "ratelimit_headers"


class RateLimitHeaders:
    """ASGI middleware: adds the ``RateLimit-*`` headers that :func:`sts.api.auth.require` left in the
    request's state to the answer (whatever the route returned), unless the answer already has them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra: dict[str, str] | None = scope.get("state", {}).get(STATE_KEY)
                if extra:
                    have = {k.lower() for k, _ in message.get("headers", [])}
                    add = [
                        (k.lower().encode(), v.encode())
                        for k, v in extra.items()
                        if k.lower().encode() not in have
                    ]
                    message["headers"] = [*message.get("headers", []), *add]
            await send(message)

        await self.app(scope, receive, send_wrapper)
