"""FastAPI dependencies shared by the routes: a pooled database connection and the context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
from fastapi import Request
from psycopg.rows import dict_row

from sts.api.auth import Principal, require
from sts.api.context import ApiContext

__all__ = ["Principal", "context", "db", "require"]


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


async def db(request: Request) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A connection from the process's pool (rows as dicts), returned to the pool after the request."""
    ctx = context(request)
    assert ctx.pool is not None, "the API's lifespan opens the pool"
    async with ctx.pool.connection() as conn:
        conn.row_factory = dict_row  # type: ignore[assignment]
        yield conn
