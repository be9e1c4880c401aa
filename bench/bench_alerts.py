"""Benchmark: how long after a live game stops updating the operator is told (the stall alert's delay).

    .venv/bin/python bench/bench_alerts.py [--games 3] [--speed 20]

The setup of tests/ops/test_alerts_e2e.py, measured several times: the stand-in replays ``--games``
recorded games at ``--speed`` through the real pipeline (embedded profile, in a temporary folder) with
its health/metrics server; ``create_app`` serves the STS alert receiver; a Prometheus of its own runs the
repo's rules and intervals (deploy/prometheus/prometheus.yml: 5 s scrape and evaluation) over file_sd, an
Alertmanager of its own the repo's alertmanager.yml (only the receiver's address and key changed). Each
game in turn is stalled on the stand-in during play (not in an inning break), and the delay from its last
new timecode (wall clock) to the ``STSLiveGameNotUpdating`` alert recorded by STS is measured. Prints the
delays and appends one JSON line to ``bench/results/alerts.jsonl``. Needs ``prometheus`` and
``prometheus-alertmanager`` (deploy/local/prometheus.sh, alertmanager.sh install them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

import httpx  # noqa: E402
import psycopg  # noqa: E402
import yaml  # noqa: E402
from _common import git_commit, percentile  # noqa: E402

RESULTS = REPO / "bench" / "results" / "alerts.jsonl"
PROM_DIR = REPO / "deploy" / "prometheus"
ALERT = "STSLiveGameNotUpdating"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary(*names: str) -> str:
    for name in names:
        if found := shutil.which(name):
            return found
    raise SystemExit(
        f"{' / '.join(names)} not installed: run deploy/local/prometheus.sh / alertmanager.sh start"
    )


@contextlib.contextmanager
def daemon(args: list[str], log: Path) -> Any:
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


async def ready(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{url}/-/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise SystemExit(f"{url} did not become ready")


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from sts import metrics
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

    targets = tmp / "targets"
    settings = Settings(data_dir=tmp / "data", object_store_url=f"file://{tmp / 'objects'}")
    recordings = scan_recordings(args.recordings)
    pks = sorted(recordings.games)[: args.games]
    recordings = dataclasses.replace(recordings, games={pk: recordings.games[pk] for pk in pks})
    # staggered a little so the games are in different moments when their turn comes
    standin = StandIn(recordings, speed=args.speed, start_in=60, stagger=600)
    backends = await open_backends(settings)
    stop = asyncio.Event()
    delays: list[dict[str, Any]] = []
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(backends.aclose)
        await standin.start()
        stack.push_async_callback(standin.stop)
        async with await psycopg.AsyncConnection.connect(backends.database_url, autocommit=True) as conn:
            key = (await create_key(conn, "bench-alerts", ["admin"])).secret
        (tmp / "key").write_text(key)
        health, health_port = await serve(health_app(backends.readiness_checks()))
        stack.push_async_callback(health.stop)
        api, _ = await serve(create_app(ApiContext(settings, backends.database_url)))
        stack.push_async_callback(api.stop)
        stack.enter_context(registered_target(targets, "pipeline", "127.0.0.1", health_port))

        am_port, prom_port = free_port(), free_port()
        am = yaml.safe_load((PROM_DIR / "alertmanager.yml").read_text())
        hook = am["receivers"][0]["webhook_configs"][0]
        hook["url"] = f"{api.url}/v1/alerts/webhook"
        hook["http_config"]["authorization"]["credentials_file"] = str(tmp / "key")
        (tmp / "alertmanager.yml").write_text(yaml.safe_dump(am))
        repo = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
        prom = {
            "global": repo["global"],
            "rule_files": [str(PROM_DIR / "rules" / "sts.yml")],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [
                {
                    "job_name": "sts",
                    "file_sd_configs": [{"files": [f"{targets}/*.json"], "refresh_interval": "1s"}],
                }
            ],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(prom))
        stack.enter_context(
            daemon(
                [
                    binary("prometheus-alertmanager", "alertmanager"),
                    f"--config.file={tmp / 'alertmanager.yml'}",
                    f"--storage.path={tmp / 'am'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",
                ],
                tmp / "alertmanager.log",
            )
        )
        stack.enter_context(
            daemon(
                [
                    binary("prometheus"),
                    f"--config.file={tmp / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                tmp / "prometheus.log",
            )
        )
        await ready(f"http://127.0.0.1:{am_port}")
        await ready(f"http://127.0.0.1:{prom_port}")
        assert standin.base_url is not None
        client = await stack.enter_async_context(MLBClient(standin.base_url, timeout=10, retries=3))
        pipeline = Pipeline(backends, client, standin.clock, SchedulerConfig(pregame_lead=600))
        task = asyncio.create_task(pipeline.run(stop))

        async def stop_pipeline() -> None:
            stop.set()
            await asyncio.wait_for(task, 60)

        stack.push_async_callback(stop_pipeline)
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=api.url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
        )
        replay = standin.replay
        for pk in pks:
            deadline = time.monotonic() + 600
            while True:  # live and in play, then frozen in play
                if time.monotonic() > deadline:
                    raise SystemExit(f"game {pk} never became live in play")
                tracked = metrics.GAME_FRESHNESS.tracked().get(pk)
                if tracked is None or tracked[1] != "play":
                    await asyncio.sleep(0.2)
                    continue
                replay.stall(pk)
                frozen = next(g["timecode"] for g in replay.status()["games"] if g["gamePk"] == pk)
                for _ in range(3000):  # the frozen state is ingested within a poll or two
                    if await pipeline.ingestor.last_timecode(pk) == frozen:
                        break
                    await asyncio.sleep(0.1)
                tracked = metrics.GAME_FRESHNESS.tracked()[pk]
                if tracked[1] == "play":
                    break
                replay.stall(pk, False)
                await asyncio.sleep(1)
            last_update = tracked[0]
            while True:
                got = await http.get("/v1/alerts", params={"alertname": ALERT, "game_pk": pk})
                items = got.json()["items"]
                if items:
                    break
                if time.time() - last_update > 180:
                    raise SystemExit(f"no alert for {pk} within 180 s")
                await asyncio.sleep(0.25)
            received = datetime.fromisoformat(items[-1]["received_at"]).timestamp()
            delay = round(received - last_update, 2)
            print(f"game {pk}: stalled at {frozen}, {ALERT} at STS {delay:.1f} s after its last new timecode")
            delays.append({"game_pk": pk, "delay_s": delay})
            replay.stall(pk, False)
    values = [d["delay_s"] for d in delays]
    return {
        "bench": "alerts",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "games": len(pks),
        "speed": args.speed,
        "scrape_interval": repo["global"]["scrape_interval"],
        "evaluation_interval": repo["global"]["evaluation_interval"],
        "stalls": delays,
        "stall_to_alert_p50_s": percentile(values, 0.5),
        "stall_to_alert_max_s": max(values),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--games", type=int, default=3, help="games replayed, each stalled once in turn")
    ap.add_argument("--speed", type=float, default=20.0, help="replay speed (clock seconds per second)")
    ap.add_argument("--recordings", type=Path, default=REPO.parent / "shared" / "data" / "mlb" / "statsapi")
    args = ap.parse_args()
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    print(json.dumps({k: v for k, v in result.items() if k != "stalls"}))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
