"""Liveness, readiness and metrics over HTTP, plus a helper to run any ASGI app in-process.

``health_app(checks)`` serves:

- ``GET /health``  liveness: ``200 {"status": "ok"}`` for as long as the process runs; checks nothing.
- ``GET /ready``   readiness: runs every check concurrently, each bounded by ``timeout`` seconds.
  ``200 {"status": "ready", "backends": {name: {"ok": true, "latency_ms": …}}}`` when all pass, else
  ``503`` with ``"status": "not ready"``, ``"failing": [names]`` and ``"error"`` on each failing backend.
  Sets ``sts_backend_ready{backend}`` to 1 or 0 for every check.
- ``GET /metrics`` Prometheus text exposition of ``registry`` (the default registry unless given), after
  running the readiness checks so that ``sts_backend_ready`` is current at every scrape.
- ``GET /schedule`` when a ``schedule`` provider is given: its JSON (the scheduler's per-game state, next
  poll and reason, read by ``sts schedule --url``); ``404`` while it has nothing to show (not leading, or
  not started yet: the provider returns ``None``).

A check is an ``async`` callable that returns ``None`` when the backend is usable and raises otherwise
(the ``ready()`` method of every port fits).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from sts.metrics import BACKEND_READY

Check = Callable[[], Awaitable[None]]


async def _run_check(check: Check, limit: float) -> dict[str, Any]:
    started = time.perf_counter()
    error: str | None = None
    deadline = asyncio.timeout(limit)
    try:
        async with deadline:
            await check()
    except Exception as exc:  # a readiness probe reports every failure, it never crashes
        if isinstance(exc, TimeoutError) and deadline.expired():
            error = f"no answer within {limit:g}s"
        else:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    result: dict[str, Any] = {"ok": error is None, "latency_ms": latency_ms}
    if error is not None:
        result["error"] = error
    return result


def health_app(
    checks: Mapping[str, Check],
    registry: CollectorRegistry = REGISTRY,
    *,
    timeout: float = 5.0,
    schedule: Callable[[], Mapping[str, Any] | None] | None = None,
) -> Starlette:
    """Build the health/readiness/metrics app for ``checks`` (backend name -> async check)."""
    names = list(checks)

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def run_checks() -> dict[str, dict[str, Any]]:
        results = await asyncio.gather(*(_run_check(checks[n], timeout) for n in names))
        backends = dict(zip(names, results, strict=True))
        for name, r in backends.items():
            BACKEND_READY.labels(name).set(1 if r["ok"] else 0)
        return backends

    async def ready(_: Request) -> Response:
        backends = await run_checks()
        failing = [n for n, r in backends.items() if not r["ok"]]
        if failing:
            body = {"status": "not ready", "failing": failing, "backends": backends}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ready", "backends": backends})

    async def metrics(_: Request) -> Response:
        await run_checks()  # sts_backend_ready is as fresh as the scrape (alerts read it from here)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def schedule_view(_: Request) -> Response:
        shown = None if schedule is None else schedule()
        if shown is None:
            return JSONResponse({"error": "no scheduler runs in this process (yet)"}, status_code=404)
        return JSONResponse(dict(shown))

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/schedule", schedule_view, methods=["GET"]),
        ]
    )


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the embedding process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass
class RunningServer:
    """An ASGI app served by uvicorn inside this event loop. Stop it with ``await stop()`` (or
    ``async with``); stopping waits for in-flight requests up to ``grace`` seconds, then cancels them."""

    server: uvicorn.Server
    task: asyncio.Task[None]
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def should_exit(self) -> bool:
        """Proxy of uvicorn's flag: setting it asks the server to stop without waiting (prefer ``stop``)."""
        return self.server.should_exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self.server.should_exit = value

    async def stop(self, grace: float = 5.0) -> None:
        if self.task.done():
            await self.task
            return
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self.task), grace)
        except TimeoutError:
            self.server.force_exit = True
            await self.task

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def _listen(host: str, port: int) -> socket.socket:
    # proto must be IPPROTO_TCP (socket.create_server leaves 0): asyncio sets TCP_NODELAY only on such
    # sockets, and without it every small response waits ~40 ms for a delayed ACK.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def serve(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning", ws: str = "auto"
) -> tuple[RunningServer, int]:
    """Serve ``app`` on ``host:port`` (port 0 = any free port) in the running event loop.

    ``ws``: uvicorn's WebSocket implementation (``"auto"``: websockets' sans-I/O one, which the API's
    live streams use; ``"none"`` refuses WebSocket upgrades).

    Returns once the server accepts connections, with the port actually bound. The socket is bound
    here, so a port in use raises :class:`OSError` at once. Logging configuration is left alone.
    """
    sock = _listen(host, port)
    bound_port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level=log_level,
        access_log=False,
        ws=ws,
        lifespan="auto",
        timeout_graceful_shutdown=2,
    )
    server = _EmbeddedServer(config)

    async def run() -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit as exc:  # uvicorn exits when the app's lifespan startup fails
            msg = f"the server on {host}:{bound_port} failed to start (exit {exc.code})"
            raise RuntimeError(msg) from None
        finally:
            sock.close()

    task = asyncio.create_task(run(), name=f"uvicorn {host}:{bound_port}")
    while not server.started:
        if task.done():
            await task  # raises the startup error
            raise RuntimeError(f"the server on {host}:{bound_port} stopped during startup")
        await asyncio.sleep(0.005)
    return RunningServer(server, task, host, bound_port), bound_port
