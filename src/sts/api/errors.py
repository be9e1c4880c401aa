"""One error body for every failure the API returns.

```json
{"error": {"code": "not_found", "message": "no game 123", "status": 404, "request_id": "…", "details": …}}
```

``code`` is stable and machine-readable; ``message`` is for people; ``details`` is optional (validation
errors list the offending parameters). Unexpected exceptions become ``500 internal_error`` with the
request id and no stack (the stack goes to the log).
"""

from __future__ import annotations

from typing import Any

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_parameters",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """Raise anywhere in a handler: becomes the standard error body with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.details = details
        self.headers = headers or {}


class ErrorDetail(BaseModel):
    code: str
    message: str
    status: int
    request_id: str | None = None
    details: Any = None


class ErrorBody(BaseModel):
    """The body of every 4xx and 5xx answer."""

    error: ErrorDetail


def error_response(
    request: Request,
    status: int,
    message: str,
    code: str | None = None,
    *,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {
        "error": {
            "code": code or _CODES.get(status, "error"),
            "message": message,
            "status": status,
            "request_id": getattr(request.state, "request_id", None),
            "details": details,
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


# the error answers every route may give, for the OpenAPI document
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody, "description": d}
    for s, d in (
        (400, "invalid cursor or parameters"),
        (401, "no API key, or an unknown or revoked one"),
        (403, "the key lacks the scope"),
        (422, "invalid parameters"),
        (429, "rate limited (see Retry-After)"),
    )
}


def install(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(
            request, exc.status, exc.message, exc.code, details=exc.details, headers=exc.headers
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        message = exc.detail if isinstance(exc.detail, str) else _CODES.get(exc.status_code, "error")
        return error_response(request, exc.status_code, message, headers=dict(exc.headers or {}))

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return error_response(request, 422, "invalid parameters", details=details)

    async def bad_data(request: Request, exc: Exception) -> JSONResponse:
        # values PostgreSQL cannot take (a NUL character in text, a number out of range): the
        # request's fault, whichever route let them through; 422, never a 500
        log.warning("request data refused by the database", path=request.url.path, error=type(exc).__name__)
        return error_response(
            request, 422, "a value of the request cannot be stored or compared", "invalid_data"
        )

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return error_response(request, 500, "internal error; quote the request id when reporting it")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(psycopg.DataError, bad_data)
    app.add_exception_handler(Exception, unexpected)
