"""Log aggregation: redaction, the shipper's bounded queue, and a real demo run's lines in VictoriaLogs.

The VictoriaLogs tests need the server of ``deploy/local/victorialogs.sh`` (``STS_TEST_VLOGS_URL``,
default ``http://127.0.0.1:9428``): they skip when it does not answer, and fail instead with
``STS_REQUIRE_VLOGS=1`` (as in CI).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from sts import logging as sts_logging
from sts.cli.logs import build_query, search
from sts.logship import VLogsShipper

VLOGS_URL = os.environ.get("STS_TEST_VLOGS_URL", "http://127.0.0.1:9428")
GAME = 717055
# How long a test waits for lines to become searchable: VictoriaLogs makes what it ingested visible
# after about a second when the machine is idle, later on a busy one (where the shared server of a CI run
# also ingests every other process's lines); the waits end as soon as the lines are there
SEARCHABLE_WITHIN = 60.0


def require_vlogs() -> str:
    try:
        ok = httpx.get(f"{VLOGS_URL}/health", timeout=2).text.strip() == "OK"
    except httpx.HTTPError as exc:
        ok, why = False, str(exc)
    else:
        why = "/health did not answer OK"
    if not ok:
        message = f"no VictoriaLogs at {VLOGS_URL} ({why}); start it with deploy/local/victorialogs.sh start"
        if os.environ.get("STS_REQUIRE_VLOGS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return VLOGS_URL


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: nothing listens there


@pytest.fixture
def restore_logging() -> Iterator[None]:
    yield
    sts_logging.configure("json", "INFO", service="sts-test", vlogs_url="")  # closes the shipper
    structlog.reset_defaults()  # later tests get structlog as they would without this module
    structlog.contextvars.clear_contextvars()


# ---------------------------------------------------------------------- redaction (no service needed)

API_KEY = "sts_0123456789abcdef_" + "Zq8-_" * 8 + "xyz"  # the shape sts.api.keys makes
OTHER_KEY = "sts_" + "k3y" * 8
SECRETS = ("hunter2-db-password", API_KEY, API_KEY[21:], OTHER_KEY, "s3-secret-value-xyz", "tok-abcdef123456")


def _log_secrets(log: Any) -> None:
    log.info(
        "connecting",
        url="postgresql://sts:hunter2-db-password@db.example:5432/sts",
        s3_secret_key="s3-secret-value-xyz",
        headers={"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"},
    )
    log.info(f"request GET /v1/games?api_key={API_KEY}&date=2024-06-01")
    log.warning("login failed", detail="password: hunter2-db-password token=tok-abcdef123456")
    log.info(f"upstream said: Authorization: Bearer {API_KEY}")
    log.info("key created", note=f"handed out {API_KEY} and {OTHER_KEY}")
    try:
        raise RuntimeError(f"cannot reach postgresql://sts:hunter2-db-password@db/sts with key {API_KEY}")
    except RuntimeError:
        log.exception("backend failed")


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_secrets_never_reach_a_log_line(tmp_path: Path, fmt: str, restore_logging: None) -> None:
    out = tmp_path / "log.txt"
    sts_logging.configure(fmt, "INFO", service="sts-test", file=out, vlogs_url="")
    _log_secrets(structlog.get_logger())
    text = out.read_text()
    assert text.count("\n") >= 6, text
    assert "Bearer ***" in text
    for secret in SECRETS:
        assert secret not in text, (secret, text)
    # what is not secret survives: the user, host and the shape of what was logged
    assert "postgresql://sts:***@db.example:5432/sts" in text
    assert "api_key=***&date=2024-06-01" in text
    assert "handed out sts_0123456789abcdef_*** and sts_***" in text  # the key id is not secret
    assert "application/json" in text


def test_scrub_leaves_ordinary_text_alone() -> None:
    for text in (
        'sts_api_requests_total{route="/v1/games"} 3',
        "kafka://127.0.0.1:9092",
        "basic stats for 717055",
        "tokens_waited=4",
    ):
        assert sts_logging.scrub(text) == text


# ---------------------------------------------------------------------- the shipper's queue


def test_shipper_never_blocks_and_drops_the_oldest_when_vlogs_is_down() -> None:
    shipper = VLogsShipper(
        f"http://127.0.0.1:{_dead_port()}", max_queue=50, batch_lines=10, flush_interval=0.05, timeout=0.5
    )
    try:
        started = time.perf_counter()
        for i in range(500):
            shipper.submit(json.dumps({"msg": f"line {i}"}))
        assert time.perf_counter() - started < 0.5  # never waits for the dead server
        deadline = time.monotonic() + 5
        while shipper.dropped < 450 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert shipper.shipped == 0
        assert shipper.dropped >= 450
        assert shipper.pending() <= 50
        # what is kept are the newest lines
        with shipper._cond:
            kept = [json.loads(line)["msg"] for line in shipper._queue]
        assert kept and kept[-1] == "line 499"
    finally:
        shipper.close_timeout = 1.0
        shipper.close()


def _vlogs_binary() -> Path:
    repo = Path(__file__).resolve().parents[2]
    binary = Path(os.environ.get("STS_BIN_DIR", repo / ".cache" / "bin")) / "victoria-logs"
    if not binary.is_file():
        message = f"{binary} not built (deploy/local/victorialogs.sh build)"
        if os.environ.get("STS_REQUIRE_VLOGS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return binary


def test_lines_queued_during_an_outage_arrive_when_vlogs_comes_back(tmp_path: Path) -> None:
    """A VictoriaLogs of our own (the built binary, on a free port) starts only after the lines were
    logged: the shipper keeps them, retries, and every one arrives once, in order."""
    binary = _vlogs_binary()
    port = _dead_port()
    url = f"http://127.0.0.1:{port}"
    # a generous POST timeout: a batch that timed out after VictoriaLogs took it would be sent twice
    shipper = VLogsShipper(url, batch_lines=50, flush_interval=0.1, timeout=10.0)
    proc = None
    try:
        stream = f"outage-{secrets.token_hex(4)}"
        for i in range(300):
            shipper.submit(
                json.dumps({"service": stream, "msg": f"line {i:03d}", "ts": datetime.now(UTC).isoformat()})
            )
        time.sleep(1.5)  # the first POSTs fail: nothing listens yet
        assert shipper.shipped == 0 and shipper.pending() == 300
        proc = subprocess.Popen(
            [str(binary), f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={tmp_path / 'vlogs'}",
             "-loggerLevel=ERROR"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while shipper.shipped < 300 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (shipper.shipped, shipper.dropped, shipper.pending()) == (300, 0, 0)
        deadline = time.monotonic() + SEARCHABLE_WITHIN
        while True:
            rows = search(url, build_query(service=stream, since="15m"), 1000)
            if len(rows) >= 300 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        msgs = [r["_msg"] for r in rows]
        assert len(msgs) == 300, (len(msgs), len(set(msgs)))
        assert msgs == [f"line {i:03d}" for i in range(300)]
    finally:
        shipper.close_timeout = 1.0
        shipper.close()
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)


# ---------------------------------------------------------------------- VictoriaLogs


def _poll(logsql: str, until: Any, timeout: float = SEARCHABLE_WITHIN) -> list[dict[str, Any]]:
    """Query until ``until(rows)`` holds (VictoriaLogs makes new lines searchable after about a second)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = search(VLOGS_URL, logsql, 10_000)
        if until(rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.3)


def _since(rows: list[dict[str, Any]], t0: datetime) -> list[dict[str, Any]]:
    return [r for r in rows if datetime.fromisoformat(r["_time"].replace("Z", "+00:00")) >= t0]


def test_shipped_lines_are_stored_redacted(restore_logging: None, tmp_path: Path) -> None:
    url = require_vlogs()
    service = f"sts-test-{secrets.token_hex(4)}"
    sts_logging.configure("json", "INFO", service=service, file=tmp_path / "l.txt", vlogs_url=url)
    log = structlog.get_logger()
    with structlog.contextvars.bound_contextvars(game_pk=GAME, request_id="req-g-1"):
        _log_secrets(log)
    shipper = sts_logging.shipper()
    assert shipper is not None and shipper.flush(10)
    rows = _poll(build_query(service=service, since="15m"), lambda rows: len(rows) >= 6)
    assert len(rows) == 6
    assert {r["game_pk"] for r in rows} == {str(GAME)} and {r["request_id"] for r in rows} == {"req-g-1"}
    assert {r["level"] for r in rows} == {"info", "warning", "error"}
    stored = json.dumps(rows)
    for secret in SECRETS:
        assert secret not in stored
    assert "postgresql://sts:***@db.example:5432/sts" in stored


@pytest.fixture(scope="module")
def recordings(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recordings folder holding one recorded game (a link to the shared file, not a copy)."""
    folder = tmp_path_factory.mktemp("recordings")
    (folder / f"feed_live_{GAME}.json").symlink_to(shared_data / "statsapi" / f"feed_live_{GAME}.json")
    return folder


@pytest.fixture(scope="module")
def demo_run(recordings: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[datetime, str, str]:
    """The real ``sts demo --until-done`` on one game at 600x, shipping to VictoriaLogs, with an S3 secret
    in its environment. Returns (start time, the secret, the demo's stderr)."""
    url = require_vlogs()
    data_dir = tmp_path_factory.mktemp("demo")
    data_dir.chmod(0o755)
    secret = f"s3-secret-{secrets.token_hex(8)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STS_")}
    env.update(STS_DATA_DIR=str(data_dir), STS_VLOGS_URL=url, STS_S3_SECRET_KEY=secret)
    t0 = datetime.now(UTC)
    proc = subprocess.run(
        [sys.executable, "-m", "sts", "demo", "--recordings", str(recordings), "--speed", "600",
         "--until-done", "--json"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)[0]["status"] == "Final"
    return t0, secret, proc.stderr


def _sts_logs(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STS_")}
    env["STS_VLOGS_URL"] = VLOGS_URL
    return subprocess.run(
        [sys.executable, "-m", "sts", "logs", *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.slow
def test_demo_logs_are_queryable_by_game_pk(demo_run: tuple[datetime, str, str]) -> None:
    t0, _, _ = demo_run
    # the lines of the last seconds may still be in VictoriaLogs' in-memory buffer: wait for them
    deadline = time.monotonic() + SEARCHABLE_WITHIN
    while True:
        proc = _sts_logs("--game", str(GAME), "--since", "15m", "--limit", "1000", "--json")
        assert proc.returncode == 0, proc.stderr
        rows = _since([json.loads(line) for line in proc.stdout.splitlines()], t0)
        msgs = [r["_msg"] for r in rows]
        if "game final and ingested" in msgs or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert "following game" in msgs and "game final and ingested" in msgs, msgs
    assert msgs.index("following game") < msgs.index("game final and ingested")  # oldest first
    for r in rows:
        assert r["game_pk"] == str(GAME)
        assert r["service"] == "sts-demo" and r["_stream"] == '{service="sts-demo"}'
        assert r["level"] in ("debug", "info", "warning", "error", "critical")
    # the readable form names the game too
    text = _sts_logs("--game", str(GAME), "--since", "15m", "--service", "sts-demo").stdout
    assert "game final and ingested" in text and f"game_pk={GAME}" in text


@pytest.mark.slow
def test_every_process_of_the_demo_ships_and_no_secret_is_stored(demo_run: tuple[datetime, str, str]) -> None:
    t0, secret, stderr = demo_run
    logsql = build_query(since="15m")
    rows = _since(
        _poll(
            logsql, lambda rows: {"sts-demo", "sts-standin"} <= {r.get("service") for r in _since(rows, t0)}
        ),
        t0,
    )
    services = {r.get("service") for r in rows}
    assert {"sts-demo", "sts-standin"} <= services, services
    assert secret not in json.dumps(rows)
    assert secret not in stderr


def test_sts_logs_reports_a_bad_option_and_an_unreachable_server() -> None:
    proc = _sts_logs("--since", "yesterday")
    assert proc.returncode == 2 and "--since" in proc.stderr
    proc = _sts_logs("--level", "loud")
    assert proc.returncode == 2 and "--level" in proc.stderr
    proc = _sts_logs("--url", f"http://127.0.0.1:{_dead_port()}")
    assert proc.returncode == 1 and "not reachable" in proc.stderr


def test_sts_logs_reports_a_query_victorialogs_refuses() -> None:
    require_vlogs()
    proc = _sts_logs("game_pk:(((")
    assert proc.returncode == 1 and "refused the query" in proc.stderr, proc.stderr


def _lines_of_request(url: str, request_id: str) -> list[dict[str, Any]]:
    """``sts logs --request-id`` (the real command), until VictoriaLogs has the lines (at most
    ``SEARCHABLE_WITHIN``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STS_")}
    deadline = time.monotonic() + SEARCHABLE_WITHIN
    while True:
        proc = subprocess.run(
            [sys.executable, "-m", "sts", "logs", "--url", url, "--request-id", request_id, "--json"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        rows = [json.loads(line) for line in proc.stdout.splitlines()]
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.3)


async def test_api_lines_carry_the_request_id_and_never_the_key(
    migrated_pg_url: str, tmp_path: Path, restore_logging: None
) -> None:
    """The API served in-process ships its lines: a request refused for a wrong key is found by its
    X-Request-ID, with the key id, and the key's secret part is nowhere in VictoriaLogs."""
    from sts.api.app import create_app
    from sts.api.context import ApiContext
    from sts.config import Settings
    from sts.http.health import serve

    url = require_vlogs()
    service = f"sts-api-test-{secrets.token_hex(4)}"
    sts_logging.configure("json", "INFO", service=service, file=tmp_path / "api.log", vlogs_url=url)
    request_id = f"req-{secrets.token_hex(6)}"
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    settings = Settings(data_dir=tmp_path, database_url=migrated_pg_url)
    server, _ = await serve(create_app(ApiContext(settings, migrated_pg_url)))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
            resp = await http.get(
                "/v1/games",
                headers={"Authorization": f"Bearer sts_{key_id}_{secret}", "X-Request-ID": request_id},
            )
        assert resp.status_code == 401 and resp.headers["x-request-id"] == request_id
    finally:
        await server.stop()
    shipper = sts_logging.shipper()
    assert shipper is not None and shipper.flush(10)
    rows = await asyncio.to_thread(_lines_of_request, url, request_id)
    assert rows, f"no line with request_id {request_id}"
    refused = [r for r in rows if r["_msg"] == "api request refused"]
    assert refused and refused[0]["service"] == service and refused[0]["key_id"] == key_id
    everything = search(url, build_query(service=service, since="15m"), 1000)
    assert secret not in json.dumps(everything)
    assert secret not in (tmp_path / "api.log").read_text()
