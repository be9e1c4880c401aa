"""The health/readiness/metrics server, run for real by ``serve`` on a loopback port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from sts.adapters.mlb_client import MLBClient
from sts.http import health_app, serve
from tests.client.fake_mlb import FakeMLB


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tcp_check(host: str, port: int) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        _, writer = await asyncio.open_connection(host, port)
        writer.close()
        await writer.wait_closed()

    return check


@pytest.fixture
async def mlb_url(shared_data: Path) -> AsyncIterator[str]:
    running, _ = await serve(FakeMLB(shared_data / "statsapi").app())
    async with running:
        yield running.url


async def test_serve_binds_a_free_port_and_stops_cleanly() -> None:
    running, port = await serve(health_app({}))
    assert port > 0 and running.port == port and running.url == f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{running.url}/health")
        assert r.status_code == 200 and r.json() == {"status": "ok"}
    await running.stop()
    assert running.task.done()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(f"{running.url}/health")


async def test_ready_passes_with_real_backends(mlb_url: str) -> None:
    host, port = httpx.URL(mlb_url).host, httpx.URL(mlb_url).port
    assert port is not None

    async def mlb_check() -> None:
        async with MLBClient(mlb_url, timeout=1, retries=0) as mlb:
            await mlb.teams()

    app = health_app({"mlb": mlb_check, "tcp": tcp_check(host, port)})
    running, _ = await serve(app)
    async with running, httpx.AsyncClient(base_url=running.url) as http:
        r = await http.get("/ready")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready"
    assert set(body["backends"]) == {"mlb", "tcp"}
    assert all(b["ok"] and b["latency_ms"] >= 0 for b in body["backends"].values())
    assert REGISTRY.get_sample_value("sts_backend_ready", {"backend": "mlb"}) == 1.0


async def test_ready_is_503_naming_the_failing_backend(mlb_url: str) -> None:
    url = httpx.URL(mlb_url)
    assert url.port is not None

    async def hangs() -> None:
        await asyncio.sleep(10)

    checks = {
        "up": tcp_check(url.host, url.port),
        "down": tcp_check("127.0.0.1", _closed_port()),
        "slow": hangs,
    }
    running, _ = await serve(health_app(checks, timeout=0.2))
    async with running, httpx.AsyncClient(base_url=running.url) as http:
        r = await http.get("/ready")
        live = await http.get("/health")
    assert r.status_code == 503 and live.status_code == 200
    body = r.json()
    assert body["status"] == "not ready"
    assert sorted(body["failing"]) == ["down", "slow"]
    assert body["backends"]["up"]["ok"] is True
    assert body["backends"]["down"]["ok"] is False
    assert "ConnectionRefusedError" in body["backends"]["down"]["error"]
    assert body["backends"]["slow"]["error"] == "no answer within 0.2s"
    assert body["backends"]["slow"]["latency_ms"] < 2000  # checks run concurrently, bounded
    assert REGISTRY.get_sample_value("sts_backend_ready", {"backend": "down"}) == 0.0
    assert REGISTRY.get_sample_value("sts_backend_ready", {"backend": "up"}) == 1.0


async def test_metrics_expose_upstream_requests_after_a_client_call(mlb_url: str) -> None:
    async with MLBClient(mlb_url, timeout=1, retries=0) as mlb:
        await mlb.linescore(744914)
    running, _ = await serve(health_app({}))
    async with running, httpx.AsyncClient(base_url=running.url) as http:
        r = await http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    lines = r.text.splitlines()
    assert any(
        line.startswith('sts_upstream_requests_total{endpoint="linescore",status="200"}') for line in lines
    )
    assert any(line.startswith('sts_upstream_request_seconds_bucket{endpoint="linescore"') for line in lines)


async def test_setting_should_exit_stops_the_server() -> None:
    running, _ = await serve(health_app({}))
    running.should_exit = True
    await asyncio.wait_for(running.task, 2)
    assert running.should_exit and running.task.done()
