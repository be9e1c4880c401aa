"""``sts serve``: the REST API (live streams, webhooks and exports included) on ``api_host:api_port``.

It opens the configured backends (:func:`sts.bootstrap.open_backends`: the database, and the event
bus that feeds live streams and invalidates the server cache), serves :func:`sts.api.app.create_app`
and runs until SIGINT or SIGTERM. It prints its address on stdout. Several ``sts serve`` processes can
share one database (and Redis for rate limits); each has its own pool, cache and bus tail.

:func:`start_api` is also used by ``sts demo``, which serves the API next to its pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Annotated

import typer
from rich.console import Console

from sts import logging as sts_logging
from sts.api.app import create_app
from sts.api.context import ApiContext
from sts.bootstrap import Backends, open_backends
from sts.cli import app
from sts.config import Settings
from sts.errors import STSError
from sts.http.health import RunningServer
from sts.http.health import serve as serve_asgi
from sts.http.targets import register_target, unregister_target

err = Console(stderr=True)


async def start_api(
    settings: Settings, backends: Backends, *, fall_back_to_free_port: bool = False
) -> RunningServer:
    """Serve the API on the backends (its lifespan opens the pool, the hub, the dispatcher).

    With ``fall_back_to_free_port`` a busy ``api_port`` is replaced by any free one (the demo, where a
    second copy or a test run may hold the default port)."""
    ctx = ApiContext(settings, backends.database_url, backends.bus, backends.codec)
    try:
        server, _ = await serve_asgi(create_app(ctx), settings.api_host, settings.api_port)
    except OSError:
        if not fall_back_to_free_port or settings.api_port == 0:
            raise
        server, _ = await serve_asgi(create_app(ctx), settings.api_host, 0)
    return server


async def create_demo_key(settings: Settings, database_url: str) -> str | None:
    """A new key with every scope (the demo prints it once); ``None`` when keys are unavailable."""
    import psycopg

    from sts.api import keys

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        new = await keys.create_key(conn, "demo", keys.SCOPES, pepper=settings.api_key_pepper)
    return new.secret


async def _serve(settings: Settings) -> None:
    backends = await open_backends(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    target = None
    try:
        server = await start_api(settings, backends)
        async with server:
            if settings.metrics_targets_dir is not None:  # Prometheus finds it (docs/monitoring.md)
                target = register_target(settings.metrics_targets_dir, "api", server.host, server.port)
            typer.echo(f"{server.url}/v1")
            err.print(f"API at {server.url}/v1 (OpenAPI {server.url}/openapi.json, docs {server.url}/docs)")
            done = asyncio.ensure_future(stop.wait())
            await asyncio.wait([done, server.task], return_when=asyncio.FIRST_COMPLETED)
            done.cancel()
            if server.task.done():
                await server.task  # raises what stopped it
    finally:
        if target is not None:
            unregister_target(target)
        with contextlib.suppress(Exception):
            await backends.aclose()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on (default STS_API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default STS_API_PORT; 0 = any free port)")] = None,
) -> None:
    """Serve the REST API (docs/api.md) until stopped (Ctrl-C or SIGTERM)."""
    settings = Settings()
    updates = {k: v for k, v in (("api_host", host), ("api_port", port)) if v is not None}
    if updates:
        settings = settings.model_copy(update=updates)
    sts_logging.configure(settings.log_format, settings.log_level, service="sts-api")
    try:
        asyncio.run(_serve(settings))
    except OSError as exc:
        err.print(f"error: cannot listen on {settings.api_host}:{settings.api_port}: {exc}")
        raise typer.Exit(2) from exc
    except STSError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from exc
