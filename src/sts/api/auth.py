"""API keys and scopes. PLACEHOLDER: the auth work replaces this module (keys hashed in the database,
constant-time comparison, scopes read/stream/export/admin, public routes from settings, rate limiting).

Routes declare what they need with ``Depends(require("read"))``; the dependency returns the caller's
:class:`Principal` or raises ``401``/``403`` (:class:`sts.api.errors.ApiError`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request

SCOPES = ("read", "stream", "export", "admin")


@dataclass(frozen=True)
class Principal:
    key_id: str | None  # None: an anonymous caller of a public route
    scopes: frozenset[str]
    tier: str = "default"


def require(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    async def dependency(request: Request) -> Principal:
        return Principal(None, frozenset(SCOPES), "public")  # placeholder: everything allowed

    return dependency
