"""ASGI middleware: a request id on every request and answer, the API metrics, and log context.

- ``X-Request-ID``: taken from the request when it is a sane token (≤ 64 of ``[A-Za-z0-9._-]``), else
  generated; echoed on the answer, bound to the log context as ``request_id``, stored on
  ``request.state.request_id`` (error bodies quote it).
- ``sts_api_requests_total{route,method,status}`` and ``sts_api_request_seconds{route,method}``: the
  route label is the matched route's template (``/v1/games/{game_pk}``), never the raw path, so the
  label set stays bounded; unmatched paths count as ``unmatched``.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sts.metrics import API_LATENCY, API_REQUESTS

_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def route_template(scope: Scope) -> str:
    """The matched route's full template (``/v1/games/{game_pk}``), or ``unmatched``.

    FastAPI (0.16x) matches an included router's routes by their own path (``/games/{game_pk}``)
    and keeps the include's prefix in ``scope["fastapi"]["included_router"]``; the prefix is put back.
    """
    path = getattr(scope.get("route"), "path", None)
    if not path:
        return "unmatched"
    included = (scope.get("fastapi") or {}).get("included_router")
    prefix = getattr(getattr(included, "include_context", None), "prefix", "") or ""
    return str(path if path.startswith(prefix + "/") else prefix + path)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = ""
        for k, v in scope.get("headers", ()):
            if k == b"x-request-id":
                given = v.decode("latin-1")
                break
        request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = {"code": 500}
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                template = route_template(scope)
                method = scope.get("method", "WS")
                API_REQUESTS.labels(template, method, str(status["code"])).inc()
                API_LATENCY.labels(template, method).observe(time.perf_counter() - started)
