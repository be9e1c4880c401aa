"""``create_app(ctx)``: the STS API as one FastAPI app.

- ``/v1/...``            the REST API (routers in :mod:`sts.api.routes`), documented at ``/openapi.json``
  and browsable at ``/docs``;
- ``/health``, ``/ready`` liveness and readiness (no key needed);
- ``/metrics``           Prometheus exposition of this process.

The lifespan opens the database pool and starts the background parts (the bus tail that feeds streams and
invalidates the cache, the webhook dispatcher), and stops them in reverse order.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sts import __version__
from sts.api import dashboard, errors
from sts.api.context import ApiContext
from sts.api.hub import get_hub
from sts.api.middleware import RequestContextMiddleware
from sts.api.ratelimit import RateLimitHeaders, close_limiter, get_limiter
from sts.api.routes import ROUTERS
from sts.api.webhooks import get_dispatcher
from sts.metrics import BACKEND_READY, DB_POOL_CONNECTIONS, DB_POOL_WAITING

DESCRIPTION = """\
Your own copy of MLB's games, live: schedule, games, line scores, box scores (derived from the
play-by-play, with their agreement with the official box), plays, pitches, players, teams, standings,
leaderboards and notable moments; live streams (SSE, WebSocket), webhooks and exports.

Authenticate with an API key: `Authorization: Bearer <key>` (or `X-API-Key: <key>`). Lists are paged by
cursor: pass the `next_cursor` of a page as `cursor` to get the next one. Every error has the same body:
`{"error": {"code", "message", "status", "request_id", "details"}}`.
"""


def _pool_metrics(pool: AsyncConnectionPool) -> None:
    stats = pool.get_stats()
    size = stats.get("pool_size", 0)
    idle = stats.get("pool_available", 0)
    DB_POOL_CONNECTIONS.labels("api", "in_use").set(size - idle)
    DB_POOL_CONNECTIONS.labels("api", "idle").set(idle)
    DB_POOL_CONNECTIONS.labels("api", "max").set(pool.max_size)
    DB_POOL_WAITING.labels("api").set(stats.get("requests_waiting", 0))


async def _close_ops_store(ctx: ApiContext) -> None:
    """Close the object store the operators' routes opened from settings (``/v1/ops/ingestion``), if any.
    A store the app was given (``extras["store"]``) belongs to whoever gave it."""
    store = ctx.extras.pop("ops_store", None)
    if store is not None:
        await store.close()


def create_app(ctx: ApiContext) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        s = ctx.settings
        ctx.pool = AsyncConnectionPool(
            ctx.database_url, min_size=s.api_pool_min, max_size=s.api_pool_max, open=False, name="api"
        )
        await ctx.pool.open(wait=True, timeout=30)
        hub = get_hub(ctx)
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(ctx.pool.close)
            get_limiter(ctx)  # a bad api_rate_tiers fails the start, not every request
            stack.push_async_callback(close_limiter, ctx)
            stack.push_async_callback(_close_ops_store, ctx)
            if hub is not None:
                await hub.start()
                stack.push_async_callback(hub.stop)
            dispatcher = get_dispatcher(ctx)  # webhooks: needs the bus
            if dispatcher is not None:
                await dispatcher.start()
                stack.push_async_callback(dispatcher.stop)
            yield

    app = FastAPI(
        title="STS, the MLB Statistics Tracking System",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
    )
    app.state.ctx = ctx
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router, prefix="/v1", responses=errors.ERROR_RESPONSES)
    dashboard.install(app, ctx.settings)  # /dashboard: the operator page (docs/dashboard.md)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/ready", include_in_schema=False)
    async def ready(request: Request) -> Response:
        try:
            assert ctx.pool is not None
            async with ctx.pool.connection(timeout=3) as conn:
                await conn.execute("SELECT 1")
        except Exception as exc:  # readiness reports every failure
            return JSONResponse({"status": "not ready", "error": f"database: {exc}"}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        if ctx.pool is not None:
            _pool_metrics(ctx.pool)
        # sts_backend_ready{backend="database"} of this process, as fresh as the scrape (STSBackendNotReady)
        try:
            assert ctx.pool is not None
            async with ctx.pool.connection(timeout=3) as conn:
                await conn.execute("SELECT 1")
            BACKEND_READY.labels("database").set(1)
        except Exception:  # any failure means not ready; /ready tells why
            BACKEND_READY.labels("database").set(0)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RateLimitHeaders)
    app.add_middleware(RequestContextMiddleware)
    return app
