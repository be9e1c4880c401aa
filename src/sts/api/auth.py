"""API keys, scopes and public routes: the ``require(scope)`` dependency every keyed route declares.

```python
@router.get("/games", dependencies=[Depends(require("read"))])   # or p: Principal = Depends(require("read"))
```

The key (see :mod:`sts.api.keys`) is read from ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``;
on ``stream`` routes also from ``?api_key=<key>`` (browsers' ``EventSource`` and ``WebSocket`` cannot set
headers; a URL may end up in proxy logs, so give browsers a key with the stream scope only). Answers:

- ``401 unauthorized`` (``WWW-Authenticate: Bearer``): no key on a route that is not public, a malformed,
  unknown or wrong key, or a revoked one. A bad key on a public route is still a 401 (a caller who sends a
  key wants to be that key). Failed attempts take a token from the caller's address's anonymous bucket,
  so guessing runs into ``429`` too.
- ``403 forbidden``: the key lacks the scope (``admin`` implies every scope).
- ``429 rate_limited``: the key's (or the address's) token bucket is empty (:mod:`sts.api.ratelimit`).

On a WebSocket the same refusals close the handshake with code 1008 and the reason as text.

Verified keys are cached in the process for ``api_key_cache_seconds`` (5 s): a key revoked through this
process's ``/v1/admin/keys`` stops at once, one revoked elsewhere (``sts keys revoke``, another process)
within that time. ``last_used_at`` is written when a key is (re)loaded, so at most once per period.

Public routes (setting ``api_public_routes``): ``"read"`` / ``"stream"`` make every route of that scope
public, an entry starting with ``/`` a route template or prefix (``/v1/games`` covers
``/v1/games/{game_pk}/boxscore``). Only read and stream routes can be public; export and admin never.
Anonymous callers are limited per client address in the ``api_anonymous_tier``.

Keys are never logged: failures log the reason, the route and the ``key_id`` (not secret) when there is one.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import Security
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPBearer
from starlette.exceptions import WebSocketException
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from sts.api import keys
from sts.api.context import ApiContext
from sts.api.errors import ApiError
from sts.api.middleware import route_template
from sts.api.ratelimit import STATE_KEY, get_limiter
from sts.metrics import API_AUTH_FAILURES, API_RATE_LIMITED

log = structlog.get_logger(__name__)

SCOPES = keys.SCOPES
PUBLIC_SCOPES = ("read", "stream")

# declared for the OpenAPI document (security schemes); the dependency reads the headers itself
_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: <key>`")
_query = APIKeyQuery(name="api_key", auto_error=False, description="stream routes only: `?api_key=<key>`")


@dataclass(frozen=True)
class Principal:
    key_id: str | None  # None: an anonymous caller of a public route
    scopes: frozenset[str]
    tier: str = "default"

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


class KeyCache:
    """Stored keys by ``key_id`` (``None``: no such key) for ``ttl`` seconds, at most ``max_entries``."""

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[keys.StoredKey | None, float]] = {}

    def get(self, key_id: str) -> tuple[bool, keys.StoredKey | None]:
        hit = self._entries.get(key_id)
        if hit is None or time.monotonic() - hit[1] >= self.ttl:
            return False, None
        return True, hit[0]

    def put(self, key_id: str, stored: keys.StoredKey | None) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key_id] = (stored, time.monotonic())

    def forget(self, key_id: str) -> None:
        self._entries.pop(key_id, None)


def key_cache(ctx: ApiContext) -> KeyCache:
    cache = ctx.extras.get("key_cache")
    if cache is None:
        cache = ctx.extras["key_cache"] = KeyCache(ctx.settings.api_key_cache_seconds)
    return cache


async def _stored(ctx: ApiContext, key_id: str) -> tuple[keys.StoredKey | None, bool]:
    """The stored key (cached or loaded) and whether it was just loaded from the database."""
    cache = key_cache(ctx)
    hit, stored = cache.get(key_id)
    if hit:
        return stored, False
    assert ctx.pool is not None, "the API's lifespan opens the pool"
    async with ctx.pool.connection() as conn:
        stored = await keys.load_key(conn, key_id)
    cache.put(key_id, stored)
    return stored, True


def is_public(public: list[str], template: str, scope: str) -> bool:
    if scope not in PUBLIC_SCOPES:
        return False
    for entry in public:
        if entry == scope:
            return True
        if entry.startswith("/"):
            prefix = entry.rstrip("/")
            if template == prefix or template.startswith(prefix + "/"):
                return True
    return False


def _read_key(conn: HTTPConnection, allow_query: bool) -> tuple[str | None, str | None]:
    """(key, None), (None, None) when there is none, or (None, why) when what was sent is not a key."""
    authorization = conn.headers.get("authorization")
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None, "the Authorization header must be `Bearer <key>`"
        return value.strip(), None
    header = conn.headers.get("x-api-key")
    if header is not None:
        return header.strip(), None
    if allow_query:
        query = conn.query_params.get("api_key")
        if query is not None:
            return query.strip(), None
    return None, None


def _refuse(
    conn: HTTPConnection,
    status: int,
    reason: str,
    message: str,
    *,
    key_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> Exception:
    API_AUTH_FAILURES.labels(reason).inc()
    route = route_template(conn.scope)
    # 429s can come by the thousand under a flood: the metric counts them, the log only at debug
    emit = log.debug if status == 429 else log.info
    emit("api request refused", status=status, reason=reason, route=route, key_id=key_id)
    if isinstance(conn, WebSocket):
        return WebSocketException(code=1008, reason=f"{status} {reason}: {message}"[:120])
    return ApiError(status, message, details={"reason": reason}, headers=headers)


def _www(error: str | None = None, scope: str | None = None) -> dict[str, str]:
    value = 'Bearer realm="sts"'
    if error:
        value += f', error="{error}"'
    if scope:
        value += f', scope="{scope}"'
    return {"WWW-Authenticate": value}


async def _throttle(conn: HTTPConnection, ctx: ApiContext, bucket: str, tier: str) -> None:
    """Take a token from ``bucket``; leave the RateLimit headers for the answer; 429 when empty."""
    decision = await get_limiter(ctx).take(bucket, tier)
    if decision is None:
        return
    headers = decision.headers()
    if not decision.allowed:
        API_RATE_LIMITED.labels(decision.tier.name).inc()
        raise _refuse(
            conn,
            429,
            "rate_limited",
            f"too many requests; try again in {decision.retry_after} s",
            headers=headers,
        )
    conn.scope.setdefault("state", {})[STATE_KEY] = headers


def _address(conn: HTTPConnection) -> str:
    return f"addr:{conn.client.host if conn.client else 'unknown'}"


async def authenticate(conn: HTTPConnection, scope: str) -> Principal:
    ctx: ApiContext = conn.app.state.ctx
    s = ctx.settings
    raw, problem = _read_key(conn, allow_query=scope == "stream")
    if raw is None and problem is None:
        template = route_template(conn.scope)  # with the router's /v1 prefix
        if not is_public(s.api_public_routes, template, scope):
            raise _refuse(conn, 401, "missing_key", "an API key is needed", headers=_www())
        await _throttle(conn, ctx, _address(conn), s.api_anonymous_tier)
        return Principal(None, frozenset({scope}), s.api_anonymous_tier)

    key_id = keys.parse_key(raw) if raw is not None else None
    stored: keys.StoredKey | None = None
    fresh = False
    if key_id is not None:
        stored, fresh = await _stored(ctx, key_id)
    pepper = s.api_key_pepper
    if stored is None or raw is None or not keys.matches(stored, raw, pepper):
        await _throttle(conn, ctx, _address(conn), s.api_anonymous_tier)  # guessing costs tokens too
        reason, message = (
            ("malformed_key", problem or "this is not an STS API key (sts_<id>_<secret>)")
            if key_id is None
            else ("invalid_key", "unknown API key")
        )
        raise _refuse(conn, 401, reason, message, key_id=key_id, headers=_www("invalid_token"))
    if stored.revoked:
        raise _refuse(
            conn, 401, "revoked_key", "this API key was revoked", key_id=key_id, headers=_www("invalid_token")
        )
    if fresh and ctx.pool is not None:
        async with ctx.pool.connection() as c:
            await keys.touch(c, stored.key_id)
    principal = Principal(stored.key_id, stored.scopes, stored.tier)
    if not principal.allows(scope):
        raise _refuse(
            conn,
            403,
            "missing_scope",
            f"this API key lacks the {scope!r} scope",
            key_id=key_id,
            headers=_www("insufficient_scope", scope),
        )
    await _throttle(conn, ctx, f"key:{stored.key_id}", stored.tier)
    return principal


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits callers with ``scope`` (or ``admin``) and returns their :class:`Principal`."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    if scope == "stream":

        async def stream_dependency(
            conn: HTTPConnection,
            _b: Annotated[Any, Security(_bearer)],
            _h: Annotated[Any, Security(_header)],
            _q: Annotated[Any, Security(_query)],
        ) -> Principal:
            return await authenticate(conn, scope)

        return stream_dependency

    async def dependency(
        conn: HTTPConnection, _b: Annotated[Any, Security(_bearer)], _h: Annotated[Any, Security(_header)]
    ) -> Principal:
        return await authenticate(conn, scope)

    return dependency
