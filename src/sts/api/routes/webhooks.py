"""Routes: webhook subscriptions, their deliveries, and the operations on them (docs/webhooks.md).

Scope ``stream`` to register and manage one's own subscriptions (a subscription belongs to the key that
created it); a key with ``admin`` sees and manages every subscription. Someone else's subscription is a
``404`` (its existence is not revealed). The signing secret is in the answer of the creation and of
``rotate-secret`` only, never in a listing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from sts.api import webhooks as wh
from sts.api.deps import Principal, context, db, require
from sts.api.errors import ApiError, ErrorBody
from sts.api.pagination import Page, PageParams, page
from sts.events.codec import load_schemas
from sts.events.versions import SCHEMAS_DIR

router = APIRouter(tags=["webhooks"])
_404: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no such webhook (or not yours)"}
}

# what a subscription can ask for: the records of mlb.game-events and mlb.notable-moments
EVENT_TYPES = tuple(sorted(set(load_schemas(SCHEMAS_DIR)) - {"DeadLetter", "SnapshotRejected"}))
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]


class WebhookIn(BaseModel):
    url: str = Field(
        max_length=wh.MAX_URL,
        description="http(s) URL that receives the POSTs (no credentials, no fragment, a public address)",
        json_schema_extra={"format": "uri", "pattern": wh.URL_PATTERN},
    )
    description: str | None = Field(None, max_length=200)
    event_types: list[EventType] = Field(
        default_factory=list, max_length=len(EVENT_TYPES), description="event types to receive; empty = all"
    )
    game_pks: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(
        default_factory=list, max_length=100, description="only these games; empty = any"
    )
    team_ids: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(
        default_factory=list,
        max_length=60,
        description="only games of these teams (home or away); empty = any",
    )


class Webhook(BaseModel):
    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    game_pks: list[int]
    team_ids: list[int]
    status: Literal["active", "disabled"]
    disabled_reason: str | None
    disabled_at: datetime | None
    consecutive_failures: int
    created_at: datetime
    owner_key_id: str | None


class WebhookWithSecret(Webhook):
    secret: str = Field(description="signs the deliveries; shown only now, keep it")


class RotatedSecret(BaseModel):
    id: uuid.UUID
    secret: str = Field(description="the new secret; shown only now")
    previous_secret_valid_until: datetime = Field(
        description="the old secret also signs deliveries until then"
    )


class Delivery(BaseModel):
    id: uuid.UUID
    event_id: str
    event_type: str
    game_pk: int | None
    status: Literal["pending", "delivered", "gave_up"]
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    last_duration_ms: float | None
    delivered_at: datetime | None
    gave_up_at: datetime | None


class PingResult(BaseModel):
    delivered: bool
    status_code: int | None
    error: str | None
    duration_ms: float
    delivery: Delivery


_COLUMNS = (
    "id, url, description, event_types, game_pks, team_ids, status, disabled_reason, disabled_at,"
    " consecutive_failures, created_at, owner_key_id"
)
_DELIVERY = (
    "id, event_id, event_type, game_pk, attempts, created_at, next_attempt_at, last_status, last_error,"
    " last_duration_ms, delivered_at, gave_up_at,"
    " CASE WHEN delivered_at IS NOT NULL THEN 'delivered' WHEN gave_up_at IS NOT NULL THEN 'gave_up'"
    " ELSE 'pending' END AS status"
)

Conn = Annotated[psycopg.AsyncConnection[Any], Depends(db)]
Caller = Annotated[Principal, Depends(require("stream"))]


def _is_admin(p: Principal) -> bool:
    return "admin" in p.scopes


async def _own(conn: psycopg.AsyncConnection[Any], p: Principal, webhook_id: uuid.UUID) -> dict[str, Any]:
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM webhook_subscriptions WHERE id = %s", (webhook_id,))
    row = await cur.fetchone()
    if row is None or (not _is_admin(p) and row["owner_key_id"] != p.key_id):
        raise ApiError(404, f"no webhook {webhook_id}")
    return dict(row)


async def _check(request: Request, url: str) -> None:
    try:
        wh.check_url(url)
        await wh.check_destination(url, context(request).settings.webhook_allow_private)
    except wh.UnsafeUrl as exc:
        raise ApiError(422, str(exc), "invalid_url") from exc


_ONE = {"webhook_id": "$response.body#/id"}
_LINKS = {
    name: {"operationId": op, "parameters": _ONE}
    for name, op in (
        ("GetWebhook", "get_webhook"),
        ("DeleteWebhook", "delete_webhook"),
        ("EnableWebhook", "enable_webhook"),
        ("RotateSecret", "rotate_webhook_secret"),
        ("TestWebhook", "test_webhook"),
        ("ListDeliveries", "list_webhook_deliveries"),
    )
}


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookWithSecret,
    summary="Register a webhook",
    operation_id="create_webhook",
    responses={201: {"description": "registered; the secret is shown only now", "links": _LINKS}},
)
async def create_webhook(body: WebhookIn, request: Request, conn: Conn, p: Caller) -> dict[str, Any]:
    await _check(request, body.url)
    secret = wh.new_secret()
    cur = await conn.execute(
        f"""
        INSERT INTO webhook_subscriptions (id, owner_key_id, url, secret, description, event_types, game_pks,
                                           team_ids)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}
        """,
        (uuid.uuid4(), p.key_id, body.url, secret, body.description, sorted(set(body.event_types)),
         sorted(set(body.game_pks)), sorted(set(body.team_ids))),
    )  # fmt: skip
    row = await cur.fetchone()
    await conn.commit()
    assert row is not None
    return {**row, "secret": secret}


@router.get(
    "/webhooks",
    response_model=Page[Webhook],
    operation_id="list_webhooks",
    summary="List webhooks (yours; an admin sees all)",
)
async def list_webhooks(conn: Conn, p: Caller, params: Annotated[PageParams, Depends()]) -> dict[str, Any]:
    after = params.after(2)
    t, after_id = _cursor(after)
    cur = await conn.execute(
        f"""
        SELECT {_COLUMNS} FROM webhook_subscriptions
        WHERE (%(admin)s OR owner_key_id IS NOT DISTINCT FROM %(owner)s)
          AND (%(after)s::boolean IS NOT TRUE OR (created_at, id) > (%(t)s::timestamptz, %(id)s::uuid))
        ORDER BY created_at, id LIMIT %(n)s
        """,
        {"admin": _is_admin(p), "owner": p.key_id, "after": after is not None, "t": t, "id": after_id,
         "n": params.limit + 1},
    )  # fmt: skip
    return page(await cur.fetchall(), params.limit, key=lambda r: [r["created_at"].isoformat(), str(r["id"])])


def _cursor(after: list[Any] | None) -> tuple[datetime | None, uuid.UUID | None]:
    if after is None:
        return None, None
    try:
        return datetime.fromisoformat(str(after[0])), uuid.UUID(str(after[1]))
    except ValueError:
        raise ApiError(400, "the cursor is not one this API gave out", "invalid_cursor") from None


@router.get(
    "/webhooks/{webhook_id}",
    response_model=Webhook,
    operation_id="get_webhook",
    summary="One webhook",
    responses=_404,
)
async def get_webhook(webhook_id: uuid.UUID, conn: Conn, p: Caller) -> dict[str, Any]:
    return await _own(conn, p, webhook_id)


@router.delete(
    "/webhooks/{webhook_id}",
    operation_id="delete_webhook",
    status_code=204,
    response_class=Response,
    summary="Delete a webhook",
    responses=_404,
)
async def delete_webhook(webhook_id: uuid.UUID, conn: Conn, p: Caller) -> Response:
    await _own(conn, p, webhook_id)
    await conn.execute("DELETE FROM webhook_subscriptions WHERE id = %s", (webhook_id,))
    await conn.commit()
    return Response(status_code=204)


@router.post(
    "/webhooks/{webhook_id}/enable",
    operation_id="enable_webhook",
    response_model=Webhook,
    summary="Enable a (disabled) webhook",
    responses=_404,
)
async def enable_webhook(webhook_id: uuid.UUID, request: Request, conn: Conn, p: Caller) -> dict[str, Any]:
    current = await _own(conn, p, webhook_id)
    await _check(request, current["url"])
    cur = await conn.execute(
        f"""
        UPDATE webhook_subscriptions SET status = 'active', disabled_reason = NULL, disabled_at = NULL,
            consecutive_failures = 0
        WHERE id = %s RETURNING {_COLUMNS}
        """,
        (webhook_id,),
    )
    row = await cur.fetchone()
    # deliveries that were waiting (or given up because of the outage that disabled it) stay as they are;
    # the ones still pending are due now
    await conn.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE subscription_id = %s"
        " AND next_attempt_at IS NOT NULL",
        (webhook_id,),
    )
    await conn.commit()
    return dict(row or {})


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    operation_id="rotate_webhook_secret",
    response_model=RotatedSecret,
    summary="Replace the signing secret",
    responses=_404,
)
async def rotate_secret(webhook_id: uuid.UUID, request: Request, conn: Conn, p: Caller) -> dict[str, Any]:
    await _own(conn, p, webhook_id)
    secret = wh.new_secret()
    grace = context(request).settings.webhook_secret_grace
    cur = await conn.execute(
        """
        UPDATE webhook_subscriptions SET previous_secret = secret, secret = %s, secret_rotated_at = now(),
            previous_secret_until = now() + make_interval(secs => %s)
        WHERE id = %s RETURNING previous_secret_until
        """,
        (secret, grace, webhook_id),
    )
    row = await cur.fetchone()
    await conn.commit()
    assert row is not None
    return {"id": webhook_id, "secret": secret, "previous_secret_valid_until": row["previous_secret_until"]}


@router.post(
    "/webhooks/{webhook_id}/test",
    operation_id="test_webhook",
    response_model=PingResult,
    summary="Send a ping now and report",
    responses=_404,
)
async def test_webhook(webhook_id: uuid.UUID, request: Request, conn: Conn, p: Caller) -> dict[str, Any]:
    """Sends one ``ping`` delivery at once (signed like any other) and answers with its outcome. Pings are
    listed with the deliveries, are not retried and do not count towards disabling."""
    await _own(conn, p, webhook_id)
    settings = context(request).settings
    delivery_id = uuid.uuid4()
    cur = await conn.execute(
        """
        INSERT INTO webhook_deliveries (id, subscription_id, event_id, event_type, payload)
        SELECT %(id)s, s.id, %(event)s, 'ping',
               jsonb_build_object('webhook_id', s.id::text, 'message', 'ping')
        FROM webhook_subscriptions s WHERE s.id = %(sub)s
        RETURNING id, subscription_id, event_id, event_type, game_pk, payload, created_at, attempts,
                  (SELECT url FROM webhook_subscriptions WHERE id = %(sub)s) AS url,
                  (SELECT secret FROM webhook_subscriptions WHERE id = %(sub)s) AS secret,
                  (SELECT previous_secret FROM webhook_subscriptions
                   WHERE id = %(sub)s AND previous_secret_until > now()) AS previous_secret
        """,
        {"id": delivery_id, "event": f"ping-{delivery_id}", "sub": webhook_id},
    )
    row = await cur.fetchone()
    await conn.commit()
    assert row is not None
    async with wh.new_client(settings) as client:
        attempt = await wh.send_delivery(conn, client, settings, dict(row), ping=True)
    cur = await conn.execute(f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE id = %s", (delivery_id,))
    delivery = await cur.fetchone()
    await conn.commit()
    return {
        "delivered": attempt.outcome == "delivered",
        "status_code": attempt.status,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
        "delivery": delivery,
    }


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    operation_id="list_webhook_deliveries",
    response_model=Page[Delivery],
    summary="A webhook's deliveries, newest first",
    responses=_404,
)
async def list_deliveries(
    webhook_id: uuid.UUID,
    conn: Conn,
    p: Caller,
    params: Annotated[PageParams, Depends()],
    status: Annotated[Literal["pending", "delivered", "gave_up"] | None, Query()] = None,
    event_type: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    await _own(conn, p, webhook_id)
    after = params.after(2)
    t, after_id = _cursor(after)
    cur = await conn.execute(
        f"""
        SELECT * FROM (SELECT {_DELIVERY} FROM webhook_deliveries WHERE subscription_id = %(sub)s) d
        WHERE (%(status)s::text IS NULL OR status = %(status)s)
          AND (%(type)s::text IS NULL OR event_type = %(type)s)
          AND (%(after)s::boolean IS NOT TRUE OR (created_at, id) < (%(t)s::timestamptz, %(id)s::uuid))
        ORDER BY created_at DESC, id DESC LIMIT %(n)s
        """,
        {"sub": webhook_id, "status": status, "type": event_type, "after": after is not None,
         "t": t, "id": after_id, "n": params.limit + 1},
    )  # fmt: skip
    return page(await cur.fetchall(), params.limit, key=lambda r: [r["created_at"].isoformat(), str(r["id"])])
