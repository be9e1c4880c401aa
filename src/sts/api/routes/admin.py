"""Routes: API keys over the API (``admin`` scope), the same as ``sts keys``.

- ``GET /v1/admin/keys``            the keys (never their secrets), by ``key_id``, paged
- ``POST /v1/admin/keys``           create one: ``201`` with the full ``key``, shown this once
- ``DELETE /v1/admin/keys/{key_id}`` revoke one (idempotent; ``404`` for an unknown id); it stops
  working at once on this process, within ``api_key_cache_seconds`` on the others
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field, field_validator

from sts.api import keys
from sts.api.auth import Principal, key_cache
from sts.api.deps import context, db, require
from sts.api.errors import ApiError, ErrorBody
from sts.api.pagination import Page, PageParams, page

router = APIRouter(prefix="/admin", tags=["admin"])

Scope = Literal["read", "stream", "export", "admin"]
Conn = Annotated[psycopg.AsyncConnection[Any], Depends(db)]
Admin = Annotated[Principal, Depends(require("admin"))]


class ApiKey(BaseModel):
    key_id: str
    name: str
    prefix: str = Field(description="the first characters of the key, to recognise it")
    scopes: list[Scope]
    tier: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    active: bool


class NewApiKey(ApiKey):
    key: str = Field(description="the full key: shown this once, stored only as a hash")


class KeyRequest(BaseModel):
    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$",
        description="who or what the key is for (printable text)",
    )
    scopes: list[Scope] = Field(min_length=1, max_length=4, description="admin implies every scope")
    tier: str = Field(
        default="default",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="rate-limit tier (api_rate_tiers); one this deployment does not define counts as default",
    )

    @field_validator("name")
    @classmethod
    def _utf8(cls, value: str) -> str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate from a JSON \\ud800 escape
            raise ValueError("the name is not valid Unicode text") from exc
        return value


def _out(info: keys.KeyInfo) -> dict[str, Any]:
    return {
        "key_id": info.key_id,
        "name": info.name,
        "prefix": info.prefix,
        "scopes": list(info.scopes),
        "tier": info.tier,
        "created_at": info.created_at,
        "revoked_at": info.revoked_at,
        "last_used_at": info.last_used_at,
        "active": info.active,
    }


@router.get("/keys", response_model=Page[ApiKey], summary="List API keys")
async def list_api_keys(
    _: Admin,
    conn: Conn,
    p: Annotated[PageParams, Depends()],
    include_revoked: Annotated[bool, Query(description="list revoked keys too")] = True,
) -> dict[str, Any]:
    after = p.after(1)
    if after is not None and not (isinstance(after[0], str) and keys.KEY_ID_RE.match(after[0])):
        raise ApiError(400, "the cursor is not one this API gave out", "invalid_cursor")
    found = await keys.list_keys(
        conn, include_revoked=include_revoked, after=after[0] if after else None, limit=p.limit + 1
    )
    return page([_out(k) for k in found], p.limit, key=lambda r: [r["key_id"]])


@router.post("/keys", response_model=NewApiKey, status_code=201, summary="Create an API key")
async def create_api_key(
    body: KeyRequest, _: Admin, conn: Conn, ctx: Annotated[Any, Depends(context)]
) -> dict[str, Any]:
    try:
        new = await keys.create_key(
            conn, body.name, body.scopes, body.tier, pepper=ctx.settings.api_key_pepper
        )
    except ValueError as exc:
        raise ApiError(422, str(exc)) from exc
    key_cache(ctx).forget(new.key_id)
    return {**_out(new.info), "key": new.secret}


@router.delete(
    "/keys/{key_id}",
    response_model=ApiKey,
    summary="Revoke an API key",
    responses={404: {"model": ErrorBody, "description": "no such key"}},
)
async def revoke_api_key(
    key_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="16 hex digits")],
    _: Admin,
    conn: Conn,
    ctx: Annotated[Any, Depends(context)],
) -> dict[str, Any]:
    info = await keys.revoke_key(conn, key_id)
    key_cache(ctx).forget(key_id)
    if info is None:
        raise ApiError(404, f"no API key {key_id!r}")
    return _out(info)
