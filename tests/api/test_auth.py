"""Authentication and authorization of the API (sts.api.auth, sts.api.keys, /v1/admin/keys, sts keys).

The API is served in-process on a migrated database of the session's embedded PostgreSQL. Scopes are
checked on small probe routes declared here with the real ``require`` (so they do not depend on which
resource routes exist) and on the real admin routes; every ``/v1`` route of the app is checked to refuse
a caller without a key.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import structlog
from fastapi import Depends, FastAPI, WebSocket
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from sts.adapters.embedded_pg import EmbeddedPostgres
from sts.api import keys
from sts.api.app import create_app
from sts.api.auth import Principal, require
from sts.api.context import ApiContext
from sts.config import Settings
from sts.db import migrate
from sts.http.health import serve
from tests.conftest import _fresh_database

REPO = Path(__file__).resolve().parents[2]
NO_LIMITS = {"default": None, "public": None, "unlimited": None}


@pytest.fixture(scope="module")
def auth_db(pg_server: EmbeddedPostgres) -> Iterator[str]:
    databases = _fresh_database(pg_server)
    url = next(databases)
    migrate(url)
    yield url
    next(databases, None)


def _probes(app: FastAPI) -> None:
    """Routes that need each scope and answer with the caller's principal."""
    for scope in ("read", "stream", "export", "admin"):

        async def probe(p: Principal = Depends(require(scope))) -> dict[str, Any]:  # noqa: B008
            return {"key_id": p.key_id, "scopes": sorted(p.scopes), "tier": p.tier}

        app.add_api_route(f"/v1/probe/{scope}", probe, methods=["GET"])


@contextlib.asynccontextmanager
async def served(url: str, **overrides: Any) -> AsyncIterator[str]:
    settings = Settings(database_url=url, **{"api_rate_tiers": NO_LIMITS, **overrides})
    app = create_app(ApiContext(settings, url))
    _probes(app)
    server, _ = await serve(app, "127.0.0.1", 0)
    async with server:
        yield server.url


async def _key(url: str, *scopes: str, tier: str = "default", pepper: str = "") -> keys.NewKey:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await keys.create_key(conn, f"test {'+'.join(scopes)}", scopes, tier, pepper=pepper)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _assert_error(r: httpx.Response, status: int, reason: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert err["status"] == status and err["code"] and err["message"]
    assert err["request_id"] == r.headers["x-request-id"]
    if reason is not None:
        assert err["details"] == {"reason": reason}
    return err


async def test_no_key_wrong_key_malformed_key(auth_db: str) -> None:
    good = await _key(auth_db, "read")
    wrong_secret = good.secret[:-4] + ("AAAA" if not good.secret.endswith("AAAA") else "BBBB")
    unknown = f"sts_{'0' * 16}_{good.secret.split('_', 2)[2]}"
    async with served(auth_db) as base, httpx.AsyncClient(base_url=base) as http:
        r = await http.get("/v1/probe/read")
        _assert_error(r, 401, "missing_key")
        assert r.headers["www-authenticate"].startswith("Bearer")

        for headers, reason in (
            (_bearer(wrong_secret), "invalid_key"),
            (_bearer(unknown), "invalid_key"),
            ({"X-API-Key": "not-a-key"}, "malformed_key"),
            ({"Authorization": f"Basic {good.secret}"}, "malformed_key"),
            ({"Authorization": "Bearer"}, "malformed_key"),
            ({"X-API-Key": "x" * 4000}, "malformed_key"),
        ):
            r = await http.get("/v1/probe/read", headers=headers)
            err = _assert_error(r, 401, reason)
            assert 'error="invalid_token"' in r.headers["www-authenticate"]
            assert good.secret.split("_", 2)[2] not in r.text  # never echoed
            assert "sts_" not in err["message"] or "<id>" in err["message"]

        # the real key works, by either header, and ?api_key= is not read on a non-stream route
        r = await http.get("/v1/probe/read", headers=_bearer(good.secret))
        assert r.status_code == 200 and r.json() == {
            "key_id": good.key_id,
            "scopes": ["read"],
            "tier": "default",
        }
        r = await http.get("/v1/probe/read", headers={"X-API-Key": good.secret})
        assert r.status_code == 200
        r = await http.get("/v1/probe/read", params={"api_key": good.secret})
        _assert_error(r, 401, "missing_key")


async def test_scopes_and_admin_implies_all(auth_db: str) -> None:
    reader = await _key(auth_db, "read")
    streamer = await _key(auth_db, "stream")
    admin = await _key(auth_db, "admin")
    async with served(auth_db) as base, httpx.AsyncClient(base_url=base) as http:
        for scope in ("stream", "export", "admin"):
            r = await http.get(f"/v1/probe/{scope}", headers=_bearer(reader.secret))
            _assert_error(r, 403, "missing_scope")
            assert f'scope="{scope}"' in r.headers["www-authenticate"]
            assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
        for scope in ("read", "stream", "export", "admin"):
            r = await http.get(f"/v1/probe/{scope}", headers=_bearer(admin.secret))
            assert r.status_code == 200, (scope, r.text)
        # browsers' EventSource/WebSocket: ?api_key= on stream routes only
        r = await http.get("/v1/probe/stream", params={"api_key": streamer.secret})
        assert r.status_code == 200 and r.json()["key_id"] == streamer.key_id
        r = await http.get("/v1/admin/keys", headers=_bearer(reader.secret))
        _assert_error(r, 403, "missing_scope")


async def test_every_v1_route_refuses_a_caller_without_a_key(auth_db: str) -> None:
    settings = Settings(database_url=auth_db, api_rate_tiers=NO_LIMITS)
    app = create_app(ApiContext(settings, auth_db))
    paths = {p: ops for p, ops in app.openapi()["paths"].items() if p.startswith("/v1/")}
    assert "/v1/admin/keys" in paths
    server, _ = await serve(app, "127.0.0.1", 0)
    async with server, httpx.AsyncClient(base_url=server.url) as http:
        for template, ops in paths.items():
            path = re.sub(r"\{[^}]+\}", "1", template)
            for method in ops:
                r = await http.request(method.upper(), path)
                assert r.status_code == 401, f"{method} {template} answered {r.status_code} without a key"
                _assert_error(r, 401, "missing_key")


async def test_revoked_key_via_api_stops_at_once(auth_db: str) -> None:
    admin = await _key(auth_db, "admin")
    async with (
        served(auth_db) as base,
        httpx.AsyncClient(base_url=base, headers=_bearer(admin.secret)) as http,
    ):
        r = await http.post("/v1/admin/keys", json={"name": "ci bot", "scopes": ["read", "export"]})
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["scopes"] == ["read", "export"] and created["active"] and created["tier"] == "default"
        assert keys.parse_key(created["key"]) == created["key_id"]
        new_key = created["key"]

        async with httpx.AsyncClient(base_url=base, headers=_bearer(new_key)) as bot:
            assert (await bot.get("/v1/probe/export")).status_code == 200  # now cached as valid

            listed = (await http.get("/v1/admin/keys", params={"limit": 500})).json()
            mine = [k for k in listed["items"] if k["key_id"] == created["key_id"]]
            assert len(mine) == 1 and "key" not in mine[0] and mine[0]["last_used_at"] is not None
            assert new_key not in (await http.get("/v1/admin/keys")).text

            r = await http.delete(f"/v1/admin/keys/{created['key_id']}")
            assert r.status_code == 200 and r.json()["active"] is False and r.json()["revoked_at"]
            r = await bot.get("/v1/probe/export")  # within the cache period: this process forgot it
            _assert_error(r, 401, "revoked_key")
            r = await http.delete(f"/v1/admin/keys/{created['key_id']}")  # idempotent
            assert r.status_code == 200
        _assert_error(await http.delete("/v1/admin/keys/ffffffffffffffff"), 404)

        # bad requests get the standard body, and create nothing
        for body in (
            {"name": "x", "scopes": ["root"]},
            {"name": "x", "scopes": []},
            {"name": "", "scopes": ["read"]},
            {"name": "x", "scopes": ["read"], "tier": "gold tier!"},
            {"scopes": ["read"]},
        ):
            _assert_error(await http.post("/v1/admin/keys", json=body), 422)
        r = await http.post(
            "/v1/admin/keys", content=b"{not json", headers={"content-type": "application/json"}
        )
        _assert_error(r, 422)
        _assert_error(await http.get("/v1/admin/keys", params={"cursor": "!!"}), 400)
        for raw in (b'{"name": "a\\u0000b", "scopes": ["read"]}', b'{"name": "\\ud800", "scopes": ["read"]}'):
            r = await http.post("/v1/admin/keys", content=raw, headers={"content-type": "application/json"})
            _assert_error(r, 422)  # text PostgreSQL cannot store is refused, not a 500
        _assert_error(await http.delete("/v1/admin/keys/%00"), 422)
        nul_cursor = base64.urlsafe_b64encode(b'["\\u0000"]').decode().rstrip("=")
        _assert_error(await http.get("/v1/admin/keys", params={"cursor": nul_cursor}), 400)


async def test_admin_keys_are_paged(auth_db: str) -> None:
    admin = await _key(auth_db, "admin")
    for _ in range(3):
        await _key(auth_db, "read")
    async with (
        served(auth_db) as base,
        httpx.AsyncClient(base_url=base, headers=_bearer(admin.secret)) as http,
    ):
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await http.get("/v1/admin/keys", params=params)).json()
            assert len(page["items"]) <= 2
            seen += [k["key_id"] for k in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    async with await psycopg.AsyncConnection.connect(auth_db) as conn:
        everything = [k.key_id for k in await keys.list_keys(conn)]
    assert seen == everything and len(seen) >= 4


def _sts(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STS_DATABASE_URL": url, "STS_LOG_FORMAT": "json"}
    return subprocess.run(
        [sys.executable, "-m", "sts", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )


async def test_cli_create_list_revoke_and_cache_period(auth_db: str) -> None:
    r = await asyncio.to_thread(
        _sts, auth_db, "keys", "create", "from the cli", "--scope", "read", "--scope", "stream"
    )
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip()
    key_id = keys.parse_key(key)
    assert key_id is not None and key not in r.stderr
    listed = await asyncio.to_thread(_sts, auth_db, "keys", "list", "--json")
    assert listed.returncode == 0 and key not in listed.stdout and key.split("_", 2)[2] not in listed.stdout
    assert [k["scopes"] for k in __import__("json").loads(listed.stdout) if k["key_id"] == key_id] == [
        ["read", "stream"]
    ]
    bad = await asyncio.to_thread(_sts, auth_db, "keys", "create", "x", "--scope", "root")
    assert bad.returncode == 2 and "unknown scope" in bad.stderr

    async with served(auth_db, api_key_cache_seconds=1.0) as base, httpx.AsyncClient(base_url=base) as http:
        loop = asyncio.get_running_loop()  # (its clock is time.monotonic, the key cache's)
        assert (await http.get("/v1/probe/stream", headers=_bearer(key))).status_code == 200
        cached_by = loop.time()  # the first request loaded the key and cached it, at the latest now
        r = await asyncio.to_thread(_sts, auth_db, "keys", "revoke", key_id)
        assert r.returncode == 0, r.stderr
        # another process revoked it: this one notices within api_key_cache_seconds. Only a request sent
        # within that period of the caching may still pass, however long the requests take
        while True:
            sent = loop.time()
            if (await http.get("/v1/probe/stream", headers=_bearer(key))).status_code != 200:
                break
            assert sent < cached_by + 1.0, "a key revoked by the CLI kept working past the cache period"
            await asyncio.sleep(0.1)
        _assert_error(await http.get("/v1/probe/stream", headers=_bearer(key)), 401, "revoked_key")
    missing = await asyncio.to_thread(_sts, auth_db, "keys", "revoke", "ffffffffffffffff")
    assert missing.returncode == 1 and "no API key" in missing.stderr


async def test_public_routes_setting(auth_db: str) -> None:
    reader = await _key(auth_db, "read")
    tiers = {"default": None, "public": {"rate": 1, "burst": 2}, "unlimited": None}
    async with (
        served(auth_db, api_public_routes=["read"], api_rate_tiers=tiers) as base,
        httpx.AsyncClient(base_url=base) as http,
    ):
        r = await http.get("/v1/probe/read")
        assert r.status_code == 200 and r.json() == {"key_id": None, "scopes": ["read"], "tier": "public"}
        assert r.headers["ratelimit-limit"] == "2"
        # anonymous callers share their address's bucket (burst 2)
        assert (await http.get("/v1/probe/read")).status_code == 200
        _assert_error(await http.get("/v1/probe/read"), 429, "rate_limited")
        # public never opens the other scopes
        for scope in ("stream", "export", "admin"):
            _assert_error(await http.get(f"/v1/probe/{scope}"), 401, "missing_key")
        _assert_error(await http.get("/v1/admin/keys"), 401, "missing_key")
        # a key on a public route is still that key (its own bucket, unlimited here)
        r = await http.get("/v1/probe/read", headers=_bearer(reader.secret))
        assert r.status_code == 200 and r.json()["key_id"] == reader.key_id
        # a bad key is paid for from the address's bucket: empty now, so guessing meets 429
        _assert_error(await http.get("/v1/probe/read", headers={"X-API-Key": "nope"}), 429, "rate_limited")

    # templates and prefixes (on the real routers too); admin can never be public even when listed
    async with (
        served(auth_db, api_public_routes=["/v1/probe/stream", "/v1/admin", "/v1/games"]) as base,
        httpx.AsyncClient(base_url=base) as http,
    ):
        assert (await http.get("/v1/probe/stream")).status_code == 200
        r = await http.get("/v1/games")
        assert r.status_code == 200 and r.json()["items"] == [], r.text  # an empty database
        assert (
            await http.get("/v1/games/1")
        ).status_code == 404  # /v1/games/{game_pk}: covered, no such game
        _assert_error(await http.get("/v1/players"), 401, "missing_key")
        _assert_error(await http.get("/v1/probe/read"), 401, "missing_key")
        _assert_error(await http.get("/v1/admin/keys"), 401, "missing_key")


async def test_keys_never_in_logs_or_error_bodies_and_pepper(auth_db: str) -> None:
    pepper = "a-server-side-pepper"
    admin = await _key(auth_db, "admin", pepper=pepper)
    unpeppered = await _key(auth_db, "read")  # hashed without the pepper: useless on this server
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as captured:
            async with (
                served(auth_db, api_key_pepper=pepper) as base,
                httpx.AsyncClient(base_url=base) as http,
            ):
                assert (await http.get("/v1/probe/read", headers=_bearer(admin.secret))).status_code == 200
                r = await http.get("/v1/probe/read", headers=_bearer(unpeppered.secret))
                _assert_error(r, 401, "invalid_key")
                bodies = [r.text]
                for headers in (_bearer(admin.secret[:-1]), {"X-API-Key": admin.secret + "x"}):
                    bodies.append((await http.get("/v1/probe/read", headers=headers)).text)
                r = await http.post(
                    "/v1/admin/keys", json={"name": "n", "scopes": ["read"]}, headers=_bearer(admin.secret)
                )
                assert r.status_code == 201
                created = r.json()["key"]
                r = await http.get("/v1/probe/read", headers=_bearer(created))
                assert r.status_code == 200  # the API hashes with the pepper too
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert any(e.get("reason") == "invalid_key" for e in captured)  # refusals are logged...
    logged = stream.getvalue() + "\n".join(repr(e) for e in captured)
    for secret in (admin.secret, unpeppered.secret, created):
        part = secret.split("_", 2)[2]
        assert part[:12] not in logged  # ...without any key
        for body in bodies:
            assert part[:12] not in body
    async with await psycopg.AsyncConnection.connect(auth_db) as conn:
        dump = await (await conn.execute("SELECT string_agg(api_keys::text, ' ') FROM api_keys")).fetchone()
    assert dump is not None
    for secret in (admin.secret, unpeppered.secret, created):
        assert secret.split("_", 2)[2][:12] not in dump[0]


def test_websocket_refusals_close_with_1008(auth_db: str) -> None:
    settings = Settings(database_url=auth_db, api_rate_tiers=NO_LIMITS)
    app = create_app(ApiContext(settings, auth_db))

    async def ws(websocket: WebSocket, p: Principal = Depends(require("stream"))) -> None:  # noqa: B008
        await websocket.accept()
        await websocket.send_json({"key_id": p.key_id})
        await websocket.close()

    app.add_api_websocket_route("/v1/probe/ws", ws)
    reader = asyncio.run(_key(auth_db, "read"))
    streamer = asyncio.run(_key(auth_db, "stream"))
    with TestClient(app) as client:
        for query, reason in (
            ("", "missing_key"),
            ("?api_key=nope", "malformed_key"),
            (f"?api_key={reader.secret}", "missing_scope"),
        ):
            with (
                pytest.raises(WebSocketDisconnect) as refused,
                client.websocket_connect(f"/v1/probe/ws{query}"),
            ):
                pass
            assert refused.value.code == 1008 and reason in refused.value.reason
            assert reader.secret not in refused.value.reason
        with client.websocket_connect(f"/v1/probe/ws?api_key={streamer.secret}") as accepted:
            assert accepted.receive_json() == {"key_id": streamer.key_id}
