"""The STS alert receiver over real HTTP on a migrated database: POST /v1/alerts/webhook with
Alertmanager's payload (version 4), GET /v1/alerts, the admin scope, bad input, forwarding."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sts.api.app import create_app
from sts.api.context import ApiContext
from sts.api.keys import create_key
from sts.config import Settings
from sts.http.health import serve
from sts.metrics import ALERTS_RECEIVED, BACKEND_READY


def alert(status: str, fingerprint: str, starts: str, **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "STSLiveGameNotUpdating", "severity": "critical", **labels},
        "annotations": {"summary": f"game {labels.get('game_pk')} stalled", "description": "no new timecode"},
        "startsAt": starts,
        "endsAt": "2026-11-26T20:05:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=x",
        "fingerprint": fingerprint,
    }


def payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": '{}:{alertname="STSLiveGameNotUpdating"}',
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": "sts",
        "groupLabels": {"alertname": "STSLiveGameNotUpdating"},
        "commonLabels": {"alertname": "STSLiveGameNotUpdating"},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9193",
        "alerts": list(alerts),
    }


@dataclass
class Served:
    url: str
    admin: str
    reader: str
    forwarded: list[tuple[bytes, dict[str, str]]]


@pytest.fixture
async def served(migrated_pg_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    forwarded: list[tuple[bytes, dict[str, str]]] = []

    async def sink(request: Request) -> Response:
        forwarded.append((await request.body(), dict(request.headers)))
        return Response(status_code=204)

    sink_server, _ = await serve(Starlette(routes=[Route("/hook", sink, methods=["POST"])]))
    async with await psycopg.AsyncConnection.connect(migrated_pg_url, autocommit=True) as conn:
        admin = (await create_key(conn, "alertmanager", ["admin"])).secret
        reader = (await create_key(conn, "reader", ["read"])).secret
    settings = Settings(
        data_dir=tmp_path, database_url=migrated_pg_url, alert_forward_url=f"{sink_server.url}/hook"
    )
    server, _ = await serve(create_app(ApiContext(settings, migrated_pg_url)))
    try:
        yield Served(server.url, admin, reader, forwarded)
    finally:
        await server.stop()
        await sink_server.stop()


def client(served: Served, key: str | None) -> httpx.AsyncClient:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    return httpx.AsyncClient(base_url=served.url, headers=headers, timeout=10)


async def test_alerts_are_recorded_once_per_occurrence_and_resolved(served: Served) -> None:
    stall = alert("firing", "a1b2c3d4e5f60718", "2026-11-26T20:00:00Z", game_pk="717055", instance="p:1")
    other = alert("firing", "0f0e0d0c0b0a0908", "2026-11-26T20:00:30Z", game_pk="747175", instance="p:1")
    before = ALERTS_RECEIVED.labels("firing")._value.get()
    async with client(served, served.admin) as http:
        r = await http.post("/v1/alerts/webhook", json=payload(stall, other))
        assert r.status_code == 200, r.text
        assert r.json() == {"received": 2, "new": 2, "forwarded": True}
        # Alertmanager repeats a notification: the occurrence is counted, not duplicated
        r = await http.post("/v1/alerts/webhook", json=payload(stall))
        assert r.json() == {"received": 1, "new": 0, "forwarded": True}
        resolved = {**stall, "status": "resolved", "endsAt": "2026-11-26T20:05:00Z"}
        r = await http.post("/v1/alerts/webhook", json=payload(resolved))
        assert r.json()["new"] == 0
        # a late repeat of the firing notification does not undo the resolution
        await http.post("/v1/alerts/webhook", json=payload(stall))

        listed = (await http.get("/v1/alerts")).json()
        assert [a["fingerprint"] for a in listed["items"]] == ["0f0e0d0c0b0a0908", "a1b2c3d4e5f60718"]
        got = {a["fingerprint"]: a for a in listed["items"]}["a1b2c3d4e5f60718"]
        assert got["status"] == "resolved"
        assert got["notifications"] == 4
        assert got["alertname"] == "STSLiveGameNotUpdating" and got["severity"] == "critical"
        assert got["labels"]["game_pk"] == "717055"
        assert got["annotations"]["summary"] == "game 717055 stalled"
        assert got["starts_at"].startswith("2026-11-26T20:00:00")
        assert got["ends_at"].startswith("2026-11-26T20:05:00")
        assert {a["fingerprint"]: a for a in listed["items"]}["0f0e0d0c0b0a0908"]["ends_at"] is None

        firing = (await http.get("/v1/alerts", params={"status": "firing"})).json()["items"]
        assert [a["labels"]["game_pk"] for a in firing] == ["747175"]
        by_game = (await http.get("/v1/alerts", params={"game_pk": 717055})).json()["items"]
        assert [a["fingerprint"] for a in by_game] == ["a1b2c3d4e5f60718"]
        first = (await http.get("/v1/alerts", params={"limit": 1})).json()
        assert len(first["items"]) == 1 and first["next_cursor"]
        second = (await http.get("/v1/alerts", params={"limit": 1, "cursor": first["next_cursor"]})).json()
        assert [a["fingerprint"] for a in first["items"] + second["items"]] == [
            a["fingerprint"] for a in listed["items"]
        ]
        assert second["next_cursor"] is None
    assert ALERTS_RECEIVED.labels("firing")._value.get() - before == 4


async def test_each_payload_is_forwarded_as_received_without_our_key(served: Served) -> None:
    body = json.dumps(
        payload(alert("firing", "feedfacecafe0001", "2026-11-26T21:00:00Z", game_pk="1"))
    ).encode()
    async with client(served, served.admin) as http:
        r = await http.post("/v1/alerts/webhook", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text
    for _ in range(100):
        if served.forwarded:
            break
        await asyncio.sleep(0.05)
    [(got, headers)] = served.forwarded
    assert got == body
    assert "authorization" not in headers and served.admin not in json.dumps(headers)


async def test_the_receiver_needs_the_admin_scope(served: Served) -> None:
    body = payload(alert("firing", "0000000000000001", "2026-11-26T20:00:00Z"))
    async with client(served, None) as http:
        r = await http.post("/v1/alerts/webhook", json=body)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert (await http.get("/v1/alerts")).status_code == 401
    async with client(served, served.reader) as http:
        r = await http.post("/v1/alerts/webhook", json=body)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert (await http.get("/v1/alerts")).status_code == 403
    async with client(served, served.admin) as http:
        assert (await http.get("/v1/alerts")).json()["items"] == []  # nothing was recorded


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"{not json", "malformed JSON"),
        (json.dumps({**payload(), "version": "3"}).encode(), "another payload version"),
        (json.dumps({**payload(), "alerts": [{"status": "firing"}]}).encode(), "an alert without labels"),
        (json.dumps({**payload(), "status": "exploded"}).encode(), "an unknown status"),
        (json.dumps([1, 2, 3]).encode(), "not an object"),
        (
            json.dumps(
                payload(alert("firing", "0000000000000002", "2026-11-26T20:00:00Z", game_pk="1\x00"))
            ).encode(),
            "a NUL character (PostgreSQL text cannot hold one)",
        ),
    ],
)
async def test_bad_payloads_get_the_standard_error_body(served: Served, body: bytes, why: str) -> None:
    async with client(served, served.admin) as http:
        r = await http.post("/v1/alerts/webhook", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, why
        err = r.json()["error"]
        assert err["code"] == "invalid_parameters" and err["status"] == 422 and err["request_id"]
        assert (await http.get("/v1/alerts")).json()["items"] == []


async def test_bad_list_parameters_are_client_errors(served: Served) -> None:
    async with client(served, served.admin) as http:
        for cursor in ("bm90IGEgY3Vyc29y", "WyIyMDI2LTExLTI2VDIwOjAwOjAwKzAwOjAwIiwxZTMwMF0"):
            r = await http.get("/v1/alerts", params={"cursor": cursor})
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"
        r = await http.get("/v1/alerts", params={"alertname": "a\x00b"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_parameters"
        r = await http.get("/v1/alerts", params={"status": "sleeping"})
        assert r.status_code == 422


async def test_the_api_reports_its_database_readiness_at_each_scrape(served: Served) -> None:
    BACKEND_READY.labels("database").set(0)  # whatever an earlier test left: the scrape sets it
    async with client(served, None) as http:
        text = (await http.get("/metrics")).text
    assert 'sts_backend_ready{backend="database"} 1.0' in text
    assert "sts_db_pool_connections" in text
