"""The operator dashboard over real HTTP on a migrated database: the page (no external resource), its data
endpoint (admin scope, standard error bodies), charts from this process's own samples, and charts from a
real Prometheus (Debian's binary, started here on a free port, scraping the served app every second)."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from sts.api import dashboard
from sts.api.app import create_app
from sts.api.context import ApiContext
from sts.api.keys import create_key
from sts.config import Settings
from sts.http.health import serve
from tests.ops.prom_tools import REPO, tool

PANEL_IDS = {p.id for p in dashboard.PANELS}
CONSOLES = REPO / "deploy" / "prometheus" / "consoles"
# where Debian's prometheus package puts its console library (prom.lib, menu.lib)
CONSOLE_LIBRARIES = (
    Path("/usr/share/doc/prometheus/examples/console_libraries"),
    Path("/etc/prometheus/console_libraries"),
    Path("/usr/share/prometheus/console_libraries"),
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    admin: str
    reader: str


@pytest.fixture
async def keys(migrated_pg_url: str) -> tuple[str, str]:
    async with await psycopg.AsyncConnection.connect(migrated_pg_url, autocommit=True) as conn:
        admin = (await create_key(conn, "operator", ["admin"])).secret
        reader = (await create_key(conn, "reader", ["read"])).secret
    return admin, reader


async def _serve(settings: Settings, admin: str, reader: str) -> AsyncIterator[Served]:
    server, _ = await serve(create_app(ApiContext(settings, settings.database_url)))
    try:
        yield Served(server.url, admin, reader)
    finally:
        await server.stop()


@pytest.fixture
async def served(migrated_pg_url: str, keys: tuple[str, str], tmp_path: Path) -> AsyncIterator[Served]:
    settings = Settings(data_dir=tmp_path, database_url=migrated_pg_url, dashboard_sample_seconds=0.2)
    async for s in _serve(settings, *keys):
        yield s


def client(served: Served, key: str | None) -> httpx.AsyncClient:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    return httpx.AsyncClient(base_url=served.url, headers=headers, timeout=15)


def _panel(body: dict[str, Any], pid: str) -> dict[str, Any]:
    return next(p for p in body["panels"] if p["id"] == pid)


async def test_the_page_and_its_script_load_nothing_from_elsewhere(served: Served) -> None:
    async with client(served, None) as http:
        page = await http.get("/dashboard")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<script src="/dashboard/dashboard.js"></script>' in page.text
        js = await http.get("/dashboard/dashboard.js")
        assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    for text in (page.text, js.text):
        # the only absolute URL is the SVG namespace, which is a name, not a download
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text))
        assert urls <= {"http://www.w3.org/2000/svg"}, urls
    assert "/dashboard/data" in js.text and "Authorization" in js.text
    # not part of the API's OpenAPI document
    async with client(served, served.admin) as http:
        paths = (await http.get("/openapi.json")).json()["paths"]
    assert not any(p.startswith("/dashboard") for p in paths)


async def test_the_data_needs_the_admin_scope(served: Served) -> None:
    for key, status in ((None, 401), ("sts_0000000000000000_" + "x" * 43, 401), (served.reader, 403)):
        async with client(served, key) as http:
            resp = await http.get("/dashboard/data")
        assert resp.status_code == status, resp.text
        err = resp.json()["error"]
        assert err["status"] == status and err["code"] and err["request_id"]
    async with client(served, served.admin) as http:
        bad = await http.get("/dashboard/data", params={"minutes": "-5"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_parameters"


async def test_local_charts_follow_this_process_metrics(served: Served) -> None:
    async with client(served, served.admin) as http:
        first = await http.get("/dashboard/data", params={"minutes": 5})
        assert first.status_code == 200
        t0 = time.time()
        # some traffic: answered requests (200), and misses (404) on a route the API does not have
        for _ in range(20):
            assert (await http.get("/health")).status_code == 200
            await http.get("/v1/no-such-thing")
        t1 = time.time()
        deadline = time.monotonic() + 15
        while True:  # until two samples were taken after the traffic
            body = (await http.get("/dashboard/data", params={"minutes": 5})).json()
            times = {t for s in _panel(body, "api_rate")["series"] for t, _ in s["points"]}
            if len([t for t in times if t > t1]) >= 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    assert body["source"] == "local"
    assert {p["id"] for p in body["panels"]} == PANEL_IDS
    for p in body["panels"]:
        assert p["title"] and p["unit"] in ("s", "/s", "ratio", "")
    rate = _panel(body, "api_rate")
    by_status = {s["labels"]["status"]: s["points"] for s in rate["series"]}
    assert "200" in by_status and "404" in by_status, by_status
    recent = [v for t, v in by_status["200"] if t >= t0]
    assert recent and max(recent) > 0  # requests per second while we sent them
    latency = _panel(body, "api_latency")["series"]
    assert latency and all(0 <= v < 5 for s in latency for _, v in s["points"])


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    # 10 observations: 1 in (0, 0.1], 4 in (0.1, 0.25], 5 in (0.25, 1]
    buckets = [(0.1, 1.0), (0.25, 5.0), (1.0, 10.0), (float("inf"), 10.0)]
    assert dashboard.histogram_quantile(0.5, buckets) == pytest.approx(0.25)
    assert dashboard.histogram_quantile(0.9, buckets) == pytest.approx(0.25 + 0.75 * 4 / 5)
    assert dashboard.histogram_quantile(0.05, buckets) == pytest.approx(0.05)
    assert dashboard.histogram_quantile(0.99, [(0.1, 0.0), (float("inf"), 0.0)]) is None


def test_the_grafana_dashboard_file_is_generated_from_the_panels() -> None:
    """deploy/grafana/sts.json is what ``python -m sts.api.dashboard`` prints: regenerate it with that."""
    import json

    stored = json.loads((REPO / "deploy" / "grafana" / "sts.json").read_text())
    assert stored == dashboard.grafana_dashboard()
    assert [p["title"] for p in stored["panels"]] == [p.title for p in dashboard.PANELS]
    assert all("{w}" not in p["targets"][0]["expr"] for p in stored["panels"])


def test_local_rates_survive_a_counter_reset() -> None:
    panel = next(p for p in dashboard.PANELS if p.id == "api_rate")
    key = ("sts_api_requests_total", (("method", "GET"), ("route", "/x"), ("status", "200")))
    samples = [dashboard.Sample(t, {key: v}) for t, v in ((0, 100.0), (10, 150.0), (20, 20.0))]
    (series,) = dashboard.local_series(panel, samples)
    assert series["points"] == [[10, 5.0], [20, 2.0]]  # after the restart, counted from zero


# ---------------------------------------------------------------------- with a real Prometheus


@pytest.fixture
def prometheus_port() -> int:
    return _free_port()


@pytest.fixture
async def served_with_prometheus(
    migrated_pg_url: str, keys: tuple[str, str], tmp_path: Path, prometheus_port: int
) -> AsyncIterator[Served]:
    settings = Settings(
        data_dir=tmp_path, database_url=migrated_pg_url, prometheus_url=f"http://127.0.0.1:{prometheus_port}"
    )
    async for s in _serve(settings, *keys):
        yield s


def console_libraries() -> Path:
    for folder in CONSOLE_LIBRARIES:
        if (folder / "prom.lib").is_file():
            return folder
    message = "no Prometheus console library (prom.lib) found; Debian's prometheus package ships it"
    if os.environ.get("STS_REQUIRE_PROMETHEUS") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def prometheus(served_with_prometheus: Served, prometheus_port: int, tmp_path: Path) -> Iterator[str]:
    binary = tool("prometheus")
    libraries = console_libraries()
    target = served_with_prometheus.url.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        f"scrape_configs:\n  - job_name: sts-api\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prometheus_port}",
         f"--web.console.templates={CONSOLES}", f"--web.console.libraries={libraries}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{prometheus_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "Prometheus not ready in 30 s"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


async def test_charts_come_from_prometheus_when_it_is_configured(
    served_with_prometheus: Served, prometheus: str
) -> None:
    served = served_with_prometheus
    async with client(served, served.admin) as http:
        deadline = time.monotonic() + 45
        while True:
            for _ in range(10):
                await http.get("/health")
            body = (await http.get("/dashboard/data", params={"minutes": 5})).json()
            series = _panel(body, "api_rate")["series"]
            if any(s["labels"].get("status") == "200" and s["points"][-1][1] > 0 for s in series):
                break
            assert time.monotonic() < deadline, body
            await asyncio.sleep(1)
    assert body["source"] == "prometheus" and {p["id"] for p in body["panels"]} == PANEL_IDS
    assert not [p["error"] for p in body["panels"] if "error" in p]
    assert body["step"] >= 5 and body["end"] - body["start"] == pytest.approx(300, abs=1)
    pool = {(s["labels"]["pool"], s["labels"]["state"]) for s in _panel(body, "db_pool")["series"]}
    assert ("api", "max") in pool  # set at each scrape of /metrics


async def test_the_console_templates_render_on_prometheus(
    served_with_prometheus: Served, prometheus: str
) -> None:
    served = served_with_prometheus
    async with client(served, served.admin) as http:
        for _ in range(5):
            await http.get("/health")
    async with httpx.AsyncClient(base_url=prometheus, timeout=15) as prom:
        deadline = time.monotonic() + 30
        while True:  # until the served app has been scraped with its API requests counted
            r = await prom.get("/api/v1/query", params={"query": "sum(sts_api_requests_total)"})
            if r.json()["data"]["result"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        overview = await prom.get("/consoles/sts-overview.html")
        game = await prom.get("/consoles/sts-game.html", params={"game_pk": "717055'} or up{job='x"})
    assert overview.status_code == 200, overview.text[-2000:]
    assert "<h1>STS overview</h1>" in overview.text and "PromConsole.Graph" in overview.text
    assert "no live game" in overview.text
    assert "error executing template" not in overview.text.lower()
    assert game.status_code == 200, game.text[-2000:]
    assert "<h1>Game 717055</h1>" in game.text  # only the digits of the parameter reach a query
    assert "sts logs --game 717055" in game.text


async def test_prometheus_down_is_a_502_with_the_standard_body(
    migrated_pg_url: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url=migrated_pg_url, prometheus_url=f"http://127.0.0.1:{_free_port()}"
    )
    async for served in _serve(settings, *keys):
        async with client(served, served.admin) as http:
            resp = await http.get("/dashboard/data")
        assert resp.status_code == 502
        err = resp.json()["error"]
        assert err["code"] == "upstream_unavailable" and "127.0.0.1" in err["message"]
