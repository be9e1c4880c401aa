"""Routes: the STS alert receiver (docs/monitoring.md).

- ``POST /v1/alerts/webhook``: Alertmanager's webhook (payload version 4). Every alert of the payload is
  recorded in ``alerts`` (one row per occurrence: fingerprint + startsAt; a repeat updates it, a
  resolution closes it). With ``alert_forward_url`` set, the payload is then forwarded there as received
  (in the background: a slow or failing forward target never makes Alertmanager retry).
- ``GET /v1/alerts``: the recorded alerts, newest first, filtered by status, alert name, severity, game.

Both need the ``admin`` scope. Alertmanager sends the key with ``http_config.authorization``
(``type: Bearer``, ``credentials_file``): see deploy/prometheus/alertmanager.yml.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

import httpx
import psycopg
import structlog
from fastapi import APIRouter, Depends, Query, Request
from psycopg.types.json import Jsonb
from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

from sts.api.deps import Principal, context, db, require
from sts.api.errors import ApiError
from sts.api.pagination import Page, PageParams, page
from sts.metrics import ALERT_FORWARDS, ALERTS_RECEIVED

router = APIRouter(tags=["alerts"])
log = structlog.get_logger(__name__)

AlertStatus = Literal["firing", "resolved"]
Conn = Annotated[psycopg.AsyncConnection[Any], Depends(db)]
Admin = Annotated[Principal, Depends(require("admin"))]
_NO_NUL = r"^[^\x00]*$"  # PostgreSQL text and jsonb cannot hold U+0000
_Text = Annotated[str, StringConstraints(pattern=_NO_NUL)]
_Labels = dict[_Text, _Text]


def _timestamp_text(value: Any) -> Any:
    if not isinstance(value, str | datetime):  # a number is not a time here: Alertmanager sends RFC 3339
        raise ValueError("a time is an RFC 3339 string")
    return value


_Time = Annotated[datetime, BeforeValidator(_timestamp_text)]


class AlertmanagerAlert(BaseModel):
    """One alert of an Alertmanager notification."""

    status: AlertStatus
    labels: _Labels = Field(max_length=200)
    annotations: _Labels = Field(default_factory=dict, max_length=200)
    startsAt: _Time
    endsAt: _Time | None = None
    generatorURL: _Text | None = Field(None, max_length=4096)
    fingerprint: _Text = Field(min_length=1, max_length=128)


class AlertmanagerPayload(BaseModel):
    """Alertmanager's webhook body, version 4 (its ``webhook_config`` receiver)."""

    version: Literal["4"]
    groupKey: _Text = Field(max_length=8192)
    truncatedAlerts: int = Field(0, ge=0)
    status: AlertStatus
    receiver: _Text = Field(max_length=256)
    groupLabels: _Labels = Field(default_factory=dict)
    commonLabels: _Labels = Field(default_factory=dict)
    commonAnnotations: _Labels = Field(default_factory=dict)
    externalURL: _Text = Field("", max_length=4096)
    alerts: list[AlertmanagerAlert] = Field(max_length=1000)


class Receipt(BaseModel):
    received: int = Field(description="alerts in the payload")
    new: int = Field(description="of which occurrences STS had not recorded before")
    forwarded: bool = Field(description="the payload is being forwarded to alert_forward_url")


class Alert(BaseModel):
    id: int
    fingerprint: str
    status: AlertStatus
    alertname: str
    severity: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str | None
    receiver: str | None
    notifications: int = Field(description="notifications that carried this occurrence")
    received_at: datetime = Field(description="when STS first received it")
    last_received_at: datetime


_UPSERT = """
INSERT INTO alerts (fingerprint, starts_at, status, alertname, severity, labels, annotations, ends_at,
                    generator_url, receiver, group_key)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (fingerprint, starts_at) DO UPDATE SET
    status = CASE WHEN alerts.status = 'resolved' THEN 'resolved' ELSE EXCLUDED.status END,
    ends_at = COALESCE(alerts.ends_at, EXCLUDED.ends_at),
    annotations = CASE WHEN alerts.status = 'resolved' THEN alerts.annotations ELSE EXCLUDED.annotations END,
    notifications = alerts.notifications + 1,
    last_received_at = now()
RETURNING (xmax = 0) AS inserted
"""


def _ends_at(alert: AlertmanagerAlert) -> datetime | None:
    # a firing alert carries Go's zero time (0001-01-01) or a provisional end: only a resolution ends it
    if alert.status != "resolved" or alert.endsAt is None or alert.endsAt.year <= 1:
        return None
    return alert.endsAt


@router.post("/alerts/webhook", response_model=Receipt, summary="Receive an Alertmanager notification")
async def receive(payload: AlertmanagerPayload, request: Request, conn: Conn, _: Admin) -> dict[str, Any]:
    if _has_nul(payload.model_dump(mode="json")):  # PostgreSQL text and jsonb cannot hold U+0000
        raise ApiError(422, "text in the payload must not contain NUL characters", "invalid_parameters")
    new = 0
    async with conn.transaction():
        for a in payload.alerts:
            cur = await conn.execute(
                _UPSERT,
                (
                    a.fingerprint,
                    a.startsAt,
                    a.status,
                    a.labels.get("alertname", ""),
                    a.labels.get("severity"),
                    Jsonb(a.labels),
                    Jsonb(a.annotations),
                    _ends_at(a),
                    a.generatorURL,
                    payload.receiver,
                    payload.groupKey,
                ),
            )
            row = await cur.fetchone()
            new += 1 if row is not None and row["inserted"] else 0
    for a in payload.alerts:
        ALERTS_RECEIVED.labels(a.status).inc()
    log.info(
        "alerts received",
        status=payload.status,
        alerts=len(payload.alerts),
        new=new,
        names=sorted({a.labels.get("alertname", "") for a in payload.alerts}),
    )
    settings = context(request).settings
    forwarded = bool(settings.alert_forward_url)
    if forwarded:
        _spawn_forward(
            request, await request.body(), settings.alert_forward_url, settings.alert_forward_timeout
        )
    return {"received": len(payload.alerts), "new": new, "forwarded": forwarded}


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _spawn_forward(request: Request, body: bytes, url: str, timeout: float) -> None:
    # kept on the context so the task is not collected before it ends
    tasks: set[asyncio.Task[None]] = context(request).extras.setdefault("alert_forwards", set())
    task = asyncio.create_task(_forward(body, url, timeout))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def _forward(body: bytes, url: str, seconds: float) -> None:
    """POST the payload as Alertmanager sent it (never its Authorization header: that key is ours)."""
    try:
        async with httpx.AsyncClient(timeout=seconds) as client:
            resp = await client.post(
                url, content=body, headers={"Content-Type": "application/json", "User-Agent": "sts-alerts"}
            )
        ok = resp.status_code < 300
        ALERT_FORWARDS.labels("delivered" if ok else "failed").inc()
        if not ok:
            log.warning("alert forward refused", status=resp.status_code)
    except httpx.HTTPError as exc:
        ALERT_FORWARDS.labels("failed").inc()
        log.warning("alert forward failed", error=f"{type(exc).__name__}: {exc}")


@router.get("/alerts", response_model=Page[Alert], summary="Alerts received from Alertmanager")
async def list_alerts(
    conn: Conn,
    _: Admin,
    p: Annotated[PageParams, Depends()],
    status: Annotated[AlertStatus | None, Query(description="only firing or only resolved alerts")] = None,
    alertname: Annotated[
        str | None, Query(max_length=200, pattern=_NO_NUL, description="only this alert rule")
    ] = None,
    severity: Annotated[
        str | None, Query(max_length=50, pattern=_NO_NUL, description="only this severity label")
    ] = None,
    game_pk: Annotated[int | None, Query(ge=1, le=2**62, description="only alerts of this game")] = None,
) -> dict[str, Any]:
    where: list[str] = ["TRUE"]
    args: list[Any] = []
    for column, value in (("status", status), ("alertname", alertname), ("severity", severity)):
        if value is not None:
            where.append(f"{column} = %s")
            args.append(value)
    if game_pk is not None:
        where.append("labels->>'game_pk' = %s")
        args.append(str(game_pk))
    after = p.after(2)
    if after is not None:
        try:
            at = datetime.fromisoformat(str(after[0]))
        except ValueError:
            at = None
        last_id = after[1]
        if at is None or at.tzinfo is None or not isinstance(last_id, int) or not 0 <= last_id < 2**63:
            raise ApiError(400, "the cursor is not one this API gave out", "invalid_cursor")
        where.append("(received_at, id) < (%s, %s)")
        args.extend([at, last_id])
    cur = await conn.execute(
        "SELECT id, fingerprint, status, alertname, severity, labels, annotations, starts_at, ends_at,"
        " generator_url, receiver, notifications, received_at, last_received_at FROM alerts"
        f" WHERE {' AND '.join(where)} ORDER BY received_at DESC, id DESC LIMIT %s",
        [*args, p.limit + 1],
    )
    rows = await cur.fetchall()
    return page(rows, p.limit, key=lambda r: [r["received_at"].isoformat(), r["id"]])
