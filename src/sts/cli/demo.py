"""``sts demo`` and ``sts run``: the whole pipeline, on the stand-in or on the real Stats API."""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import structlog
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sts import logging as sts_logging
from sts.adapters.mlb_client import MLBClient
from sts.bootstrap import open_backends
from sts.cli import app
from sts.cli._database import DEFAULT_MLB_DATA
from sts.cli.serve import create_demo_key, start_api
from sts.clock import ScaledClock, SystemClock
from sts.config import Settings
from sts.errors import STSError, UpstreamError
from sts.http.health import health_app, serve
from sts.http.targets import register_target, unregister_target
from sts.services.ingest import IngestResult
from sts.services.pipeline import Pipeline, game_summaries
from sts.services.poll_policy import config_from_settings

log = structlog.get_logger(__name__)
err = Console(stderr=True)

DEFAULT_RECORDINGS = DEFAULT_MLB_DATA / "statsapi"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # PR_SET_PDEATHSIG: the stand-in ends when the demo process dies, even on SIGKILL
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _replay_origin(state_file: Path, recordings: Path, speed: float, fresh: bool) -> float:
    """The replay's origin (real epoch): resumed from the data dir unless ``fresh`` or settings differ."""
    key = {"recordings": str(recordings.resolve()), "speed": speed}
    if state_file.exists() and not fresh:
        with open(state_file) as f:
            saved = json.load(f)
        if {k: saved.get(k) for k in key} == key:
            return float(saved["origin"])
    origin = time.time()
    state_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({**key, "origin": origin}))
    os.replace(tmp, state_file)
    return origin


def _start_standin(
    recordings: Path, speed: float, origin: float, start_in: float, log_file: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "sts",
        "standin",
        "--recordings",
        str(recordings),
        "--speed",
        str(speed),
        "--port",
        str(port),
        "--origin",
        repr(origin),
        "--start-in",
        str(start_in),
    ]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    out = open(log_file, "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise STSError(f"the stand-in exited with {proc.returncode}; see {log_file}")
        try:
            if httpx.get(f"{base}/standin/status", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.terminate()
    raise STSError(f"the stand-in did not become ready within 60 s; see {log_file}")


def _print_summary(rows: list[dict[str, Any]], not_replayed: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="Games")
    for col in ("gamePk", "away", "home", "awayRuns", "homeRuns", "innings", "plays", "pitches", "status"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            *(
                str(r[c])
                for c in (
                    "gamePk",
                    "away",
                    "home",
                    "awayRuns",
                    "homeRuns",
                    "innings",
                    "plays",
                    "pitches",
                    "status",
                )
            )
        )
    out = Console(width=max(Console().width, 110))  # the whole table also when piped
    out.print(table)
    for g in not_replayed:
        out.print(f"not replayed: game {g.get('gamePk')}: {g.get('reason')}")


async def _run_pipeline(
    settings: Settings,
    base_url: str,
    clock: Any,
    until_done: bool,
    show_progress: bool,
    total_games: int,
    *,
    demo_key: bool = False,
) -> tuple[list[dict[str, Any]], Pipeline]:
    backends = await open_backends(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = None
    api_server = None
    target = None
    running: list[Pipeline] = []  # what /schedule shows (sts schedule --url)
    try:
        view = health_app(
            backends.readiness_checks(), schedule=lambda: running[0].scheduler.explain() if running else None
        )
        server, port = await serve(view, settings.http_host, settings.http_port)
        if settings.metrics_targets_dir is not None:  # Prometheus finds it (docs/monitoring.md)
            target = register_target(settings.metrics_targets_dir, "pipeline", settings.http_host, port)
        err.print(f"health and metrics: http://{settings.http_host}:{port}/ready  /metrics  /schedule")
        # the REST API on the same backends (docs/api.md); the demo prints a first key, once
        api_server = await start_api(settings, backends, fall_back_to_free_port=True)
        err.print(f"API: {api_server.url}/v1  (docs {api_server.url}/docs)", soft_wrap=True)
        if demo_key:
            key = await create_demo_key(settings, backends.database_url)
            err.print(f"API key (every scope; shown only now): {key}", soft_wrap=True, highlight=False)
            err.print(
                f"  try: curl -H 'Authorization: Bearer {key}' {api_server.url}/v1/games", soft_wrap=True
            )
        async with MLBClient(
            base_url, timeout=settings.http_timeout_seconds, retries=settings.http_retries
        ) as client:
            config = config_from_settings(settings)
            progress = Progress(
                TextColumn("{task.description:<18}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                disable=not show_progress,
            )
            games_t = progress.add_task("games final", total=total_games or None)
            plays_t = progress.add_task("plays ingested", total=None)
            pitches_t = progress.add_task("pitches ingested", total=None)
            counts = {"plays": 0, "pitches": 0}

            def on_result(result: IngestResult) -> None:
                done = sum(1 for g in pipeline.scheduler.games.values() if g.done)
                progress.update(
                    games_t, completed=done, total=max(total_games, len(pipeline.scheduler.games))
                )

            leader = None
            if settings.leader_election:  # replicas: one schedules, the others only process
                from sts.services.leader import LeaderElection

                leader = LeaderElection(backends.database_url, name=socket.gethostname())
            mode = settings.fetch_mode
            pipeline = Pipeline(
                backends, client, clock, config, on_result=on_result, leader=leader, fetch_mode=mode
            )
            running.append(pipeline)

            def on_events(game_pk: int, events: list[Any]) -> None:
                counts["plays"] += sum(1 for e in events if e.event_type == "PlayCompleted")
                counts["pitches"] += sum(1 for e in events if e.event_type == "Pitch")
                progress.update(plays_t, completed=counts["plays"])
                progress.update(pitches_t, completed=counts["pitches"])

            pipeline.ingestor._on_events = on_events
            with progress:
                await pipeline.run(stop, until_done=until_done)
            rows = await game_summaries(backends.database_url)
            return rows, pipeline
    finally:
        if target is not None:
            unregister_target(target)
        if api_server is not None:
            await api_server.stop()
        if server is not None:
            await server.stop()
        await backends.aclose()


@app.command()
def demo(
    recordings: Annotated[Path | None, typer.Option(help="folder of recorded MLB responses")] = None,
    speed: Annotated[float, typer.Option(help="replay speed (clock seconds per real second)")] = 240.0,
    until_done: Annotated[
        bool, typer.Option("--until-done", help="exit once every game is Final and processed")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="start the replay over instead of resuming it")
    ] = False,
    poll_interval: Annotated[float, typer.Option(help="poll interval in replay seconds")] = 60.0,
    start_in: Annotated[float, typer.Option(help="replay seconds until the first pitch")] = 1800.0,
) -> None:
    """Replay recorded games through the whole pipeline on the embedded backends."""
    settings = Settings()
    rec = recordings or (DEFAULT_RECORDINGS if DEFAULT_RECORDINGS.is_dir() else None)
    if rec is None or not rec.is_dir():
        err.print(
            "no recordings folder: pass --recordings DIR (a folder of recorded MLB Stats API responses, "
            "e.g. ../shared/data/mlb/statsapi)"
        )
        raise typer.Exit(2)
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    sts_logging.configure("json", settings.log_level, service="sts-demo", file=data_dir / "logs" / "sts.log")
    settings = settings.model_copy(
        update={
            "poll_interval_seconds": poll_interval,
            "schedule_interval_seconds": max(poll_interval, 300.0),
        }
    )
    origin = _replay_origin(data_dir / "demo-replay.json", rec, speed, fresh)
    proc, base = _start_standin(rec, speed, origin, start_in, data_dir / "logs" / "standin.log")
    try:
        status = httpx.get(f"{base}/standin/status", timeout=5).json()
        total = len(status.get("games", []))
        not_replayed = status.get("notReplayed", [])
        err.print(f"stand-in at {base}: {total} games replayed at {speed:g}x")
        clock = ScaledClock(origin, datetime.fromtimestamp(origin, UTC), speed)
        try:
            rows, pipeline = asyncio.run(
                _run_pipeline(
                    settings,
                    base,
                    clock,
                    until_done,
                    not as_json and sys.stderr.isatty(),
                    total,
                    demo_key=True,
                )
            )
        except STSError as exc:
            err.print(f"error: {exc}")
            raise typer.Exit(1) from exc
        stats = pipeline.stats
        err.print(
            f"snapshots stored {stats.snapshots_stored}, rejected {stats.snapshots_rejected} "
            f"{stats.rejected_reasons or ''}, events published {stats.events_published}"
        )
        _print_summary(rows, not_replayed, as_json)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@app.command()
def run(
    until_done: Annotated[
        bool, typer.Option("--until-done", help="exit once today's games are Final")
    ] = False,
) -> None:
    """Follow today's games on the MLB Stats API (STS_MLB_API_URL) until stopped."""
    settings = Settings()
    sts_logging.configure(settings.log_format, settings.log_level, service="sts")

    async def reachable() -> None:
        async with MLBClient(settings.mlb_api_url, timeout=settings.http_timeout_seconds, retries=1) as c:
            today = datetime.now(UTC).date()
            await c.schedule(start=today, end=today)

    try:
        asyncio.run(reachable())
    except UpstreamError as exc:
        err.print(f"error: the MLB Stats API at {settings.mlb_api_url} is not reachable: {exc}")
        raise typer.Exit(2) from exc
    rows, _ = asyncio.run(_run_pipeline(settings, settings.mlb_api_url, SystemClock(), until_done, True, 0))
    _print_summary(rows, [], False)
