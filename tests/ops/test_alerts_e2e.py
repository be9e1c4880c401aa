"""End to end with the real Prometheus and Alertmanager: a live recorded game stalls on the stand-in and
the "game not updating" alert reaches the STS receiver through Alertmanager within a minute.

One deployment for the module: the stand-in replays 717055 at 20x; the real pipeline (scheduler →
ingestion → event log in PostgreSQL → processor) runs with its health/metrics server; ``create_app``
serves the API (the alert receiver) on the same database. Both register in a file_sd folder. A
Prometheus of the test's own (free port, TSDB under tmp) scrapes that folder every 5 s and evaluates the
repo's rules file every 5 s, unchanged; an Alertmanager of its own runs the repo's alertmanager.yml with
only the receiver's address and key file pointed at the test's API. Both tests fail (not skip) without
the binaries when ``STS_REQUIRE_PROMETHEUS=1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml

from sts import metrics
from sts.adapters.embedded_pg import EmbeddedPostgres
from sts.adapters.mlb_client import MLBClient
from sts.api.app import create_app
from sts.api.context import ApiContext
from sts.api.keys import create_key
from sts.bootstrap import open_backends
from sts.config import Settings
from sts.http.health import health_app, serve
from sts.http.targets import registered_target
from sts.recordings import scan_recordings
from sts.services.pipeline import Pipeline
from sts.services.scheduler import SchedulerConfig
from sts.standin.server import StandIn
from tests.conftest import _fresh_database
from tests.ops.prom_tools import ALERTMANAGER_BINARIES, PROM_DIR, RULES, tool

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]

GAME = 717055
SPEED = 20.0
ALERT = "STSLiveGameNotUpdating"
# the repo's promise: a live game that stops updating is known within a minute
WITHIN = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def daemon(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            assert proc.poll() is None, tail(log)
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{url}/-/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise AssertionError(f"{url} not ready in {seconds}s: {tail(log)}")


@dataclass
class Deployment:
    standin: StandIn
    pipeline: Pipeline
    api_url: str
    admin_key: str
    prometheus: str
    alertmanager: str
    targets: dict[str, str]  # service -> host:port registered in file_sd


@pytest.fixture(scope="module")
async def deployment(
    shared_data: Path, pg_server: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    prometheus_bin = tool("prometheus")
    alertmanager_bin = tool(*ALERTMANAGER_BINARIES)
    tmp = tmp_path_factory.mktemp("alerts-e2e")
    targets_dir = tmp / "targets"
    databases = _fresh_database(pg_server)
    settings = Settings(
        data_dir=tmp / "data",
        database_url=next(databases),
        object_store_url=f"file://{tmp / 'objects'}",
        metrics_targets_dir=targets_dir,
    )
    recordings = scan_recordings(shared_data / "statsapi")
    recordings = dataclasses.replace(recordings, games={GAME: recordings.games[GAME]})
    standin = StandIn(recordings, speed=SPEED, start_in=60)
    backends = await open_backends(settings)
    stop = asyncio.Event()
    metrics.GAME_FRESHNESS.forget(GAME)  # the freshness gauge is per process: no leftover of another test
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(lambda: next(databases, None))  # dropped last, once everything is closed
        stack.push_async_callback(backends.aclose)
        await standin.start()
        stack.push_async_callback(standin.stop)
        async with await psycopg.AsyncConnection.connect(backends.database_url, autocommit=True) as conn:
            admin_key = (await create_key(conn, "alertmanager", ["admin"])).secret
        key_file = tmp / "sts-api-key"
        key_file.write_text(admin_key)
        key_file.chmod(0o600)

        # the pipeline's health/metrics server and the API, each announced to Prometheus by file_sd
        health, health_port = await serve(health_app(backends.readiness_checks()))
        stack.push_async_callback(health.stop)
        api, api_port = await serve(create_app(ApiContext(settings, backends.database_url)))
        stack.push_async_callback(api.stop)
        stack.enter_context(registered_target(targets_dir, "pipeline", "127.0.0.1", health_port))
        stack.enter_context(registered_target(targets_dir, "api", "127.0.0.1", api_port))

        # Alertmanager: the repo's config, only the receiver pointed at this test's API
        am_port = free_port()
        am_config = yaml.safe_load((PROM_DIR / "alertmanager.yml").read_text())
        [receiver] = am_config["receivers"]
        hook = receiver["webhook_configs"][0]
        hook["url"] = f"{api.url}/v1/alerts/webhook"
        hook["http_config"]["authorization"]["credentials_file"] = str(key_file)
        (tmp / "alertmanager.yml").write_text(yaml.safe_dump(am_config))
        am_log = tmp / "alertmanager.log"
        am_proc = stack.enter_context(
            daemon(
                [
                    alertmanager_bin,
                    f"--config.file={tmp / 'alertmanager.yml'}",
                    f"--storage.path={tmp / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",
                ],
                am_log,
            )
        )
        # Prometheus: the repo's intervals and rules file, the test's file_sd folder and Alertmanager
        prom_port = free_port()
        repo = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
        prom_config = {
            "global": repo["global"],
            "rule_files": [str(RULES)],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [
                {
                    "job_name": "sts",
                    "file_sd_configs": [{"files": [f"{targets_dir}/*.json"], "refresh_interval": "1s"}],
                }
            ],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(prom_config))
        prom_log = tmp / "prometheus.log"
        prom_proc = stack.enter_context(
            daemon(
                [
                    prometheus_bin,
                    f"--config.file={tmp / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                prom_log,
            )
        )
        prometheus, alertmanager = f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{am_port}"
        await wait_ready(alertmanager, am_proc, am_log)
        await wait_ready(prometheus, prom_proc, prom_log)

        assert standin.base_url is not None
        client = await stack.enter_async_context(MLBClient(standin.base_url, timeout=10, retries=3))
        pipeline = Pipeline(backends, client, standin.clock, SchedulerConfig(pregame_lead=600))
        task = asyncio.create_task(pipeline.run(stop), name="pipeline")

        async def stop_pipeline() -> None:
            stop.set()
            await asyncio.wait_for(task, 60)

        stack.push_async_callback(stop_pipeline)
        yield Deployment(
            standin,
            pipeline,
            api.url,
            admin_key,
            prometheus,
            alertmanager,
            {"pipeline": f"127.0.0.1:{health_port}", "api": f"127.0.0.1:{api_port}"},
        )


async def test_prometheus_scrapes_every_sts_process(deployment: Deployment) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            doc = (await http.get(f"{deployment.prometheus}/api/v1/targets")).json()
            active = doc["data"]["activeTargets"]
            up = {t["labels"]["service"]: t["labels"]["instance"] for t in active if t["health"] == "up"}
            if up == deployment.targets or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert up == deployment.targets, active
        # and the samples are STS's: the catalog's metrics, from both processes
        q = await http.get(f"{deployment.prometheus}/api/v1/query", params={"query": "sts_backend_ready"})
        instances = {r["metric"]["instance"] for r in q.json()["data"]["result"]}
        assert deployment.targets["pipeline"] in instances


async def test_a_stalled_live_game_reaches_the_sts_receiver_within_a_minute(deployment: Deployment) -> None:
    replay, pipeline = deployment.standin.replay, deployment.pipeline
    # wait until the game is live and followed, then freeze it during play (not in an inning break,
    # which the rules allow minutes of silence): stall, wait until the frozen state is stored, check
    deadline = time.monotonic() + 90
    while True:
        assert time.monotonic() < deadline, "the game never became live in play"
        tracked = metrics.GAME_FRESHNESS.tracked().get(GAME)
        if tracked is None or tracked[1] != "play":
            await asyncio.sleep(0.2)
            continue
        replay.stall(GAME)
        frozen = replay.status()["games"][0]["timecode"]
        while await pipeline.ingestor.last_timecode(GAME) != frozen:
            assert time.monotonic() < deadline, "the frozen state was never ingested"
            await asyncio.sleep(0.1)
        tracked = metrics.GAME_FRESHNESS.tracked()[GAME]
        if tracked[1] == "play":
            break
        replay.stall(GAME, False)  # frozen in a break: let it run and try again
        await asyncio.sleep(1)
    last_update = tracked[0]  # wall-clock time the last new timecode was stored
    stalled_at = time.time()
    ago = stalled_at - last_update
    print(f"\nstalled {GAME} at timecode {frozen}; last new timecode stored {ago:.1f} s before")

    received: dict[str, Any] | None = None
    async with httpx.AsyncClient(
        base_url=deployment.api_url, headers={"Authorization": f"Bearer {deployment.admin_key}"}, timeout=10
    ) as http:
        while time.time() - last_update < WITHIN + 60:
            items = (await http.get("/v1/alerts", params={"alertname": ALERT, "game_pk": GAME})).json()[
                "items"
            ]
            if items:
                received = items[-1]  # the first one received (the list is newest first)
                break
            await asyncio.sleep(0.25)
    seen_at = time.time()
    # the game kept being polled: each answer was the same timecode, so nothing new was stored
    assert await pipeline.ingestor.last_timecode(GAME) == frozen
    assert received is not None, f"no {ALERT} alert for {GAME} within {WITHIN + 60:.0f} s"
    received_at = datetime.fromisoformat(received["received_at"]).timestamp()
    print(
        f"{ALERT} for {GAME} recorded by STS {received_at - last_update:.1f} s after the last new timecode"
        f" ({received_at - stalled_at:.1f} s after the stall was confirmed); seen by the test after"
        f" {seen_at - last_update:.1f} s"
    )
    assert received["status"] == "firing"
    assert received["severity"] == "critical"
    assert received["labels"]["game_pk"] == str(GAME)
    assert received["labels"]["instance"] in deployment.targets.values()
    assert received["annotations"]["summary"].startswith(f"Live game {GAME} has not updated for")
    assert received["receiver"] == "sts"
    # the rule's threshold is 30 s of silence: nothing fires before that, and it arrives within a minute
    assert 30 <= received_at - last_update <= WITHIN, received_at - last_update

    # what Prometheus holds of the pipeline's operations metrics (the catalog of docs/monitoring.md)
    pipeline_instance = deployment.targets["pipeline"]
    async with httpx.AsyncClient(timeout=5) as http:

        async def query(expr: str) -> list[dict[str, Any]]:
            doc = (await http.get(f"{deployment.prometheus}/api/v1/query", params={"query": expr})).json()
            result: list[dict[str, Any]] = doc["data"]["result"]
            return result

        [fresh] = await query(
            f'sts_game_seconds_since_update{{game_pk="{GAME}",instance="{pipeline_instance}"}}'
        )
        assert fresh["metric"]["phase"] == "play" and float(fresh["value"][1]) > 30
        [latency] = await query(
            f'sum(sts_snapshot_to_rows_seconds_count{{group="processor",instance="{pipeline_instance}"}})'
        )
        assert float(latency["value"][1]) > 0  # fetch -> rows committed, carried by the event headers
        lag = await query(f'sts_consumer_lag{{instance="{pipeline_instance}"}}')
        assert {r["metric"]["group"] for r in lag} >= {"processor", "season-stats", "moments"}
        [published] = await query(
            f'sum(sts_events_published_total{{topic="mlb.game-events",instance="{pipeline_instance}"}})'
        )
        assert float(published["value"][1]) > 0

    # Alertmanager holds it as active, with the same fingerprint STS recorded
    async with httpx.AsyncClient(timeout=5) as http:
        active = (await http.get(f"{deployment.alertmanager}/api/v2/alerts")).json()
    assert received["fingerprint"] in {a["fingerprint"] for a in active if a["labels"]["alertname"] == ALERT}
