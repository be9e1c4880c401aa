"""Benchmark: REST API throughput and latency with ``wrk``, one ``sts serve`` process.

Setup: an embedded PostgreSQL (the event log in its tables) and a file object store in a temporary
folder; the real pipeline replays two recorded games (717055, 747175) through the stand-in on a fast
clock; a read key of the ``unlimited`` rate tier (so the rate limiter never throttles the run). Then,
twice, ``sts serve --port 0`` in a child process: with the server-side cache on (the default
``STS_API_CACHE_ENTRIES``), then off (``STS_API_CACHE_ENTRIES=0``). Against each, ``wrk`` (Debian
package) runs every case for ``--duration`` seconds with ``--threads``/``--connections``:

- ``box``      ``GET /v1/games/747175/boxscore`` (the same final game again and again)
- ``leaders``  ``GET /v1/leaders?stat=H&season=2024``
- ``season``   ``GET /v1/players/684320/season?season=2024`` (a pitcher's season line with splits)

A small Lua script makes wrk print its summary as JSON (requests, errors, latency percentiles).
Printed as a table; one JSON line appended to ``bench/results/api.jsonl``. Any non-2xx answer or socket
error is reported (and fails the run: a 429 would mean the limiter was measured, not the API).

    uv run --frozen python bench/bench_api.py [--duration 15] [--threads 2] [--connections 32]

wrk, the API process and PostgreSQL share this machine's CPUs: the figures are a floor for a server
whose clients run elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from _common import git_commit  # noqa: E402

RESULTS = REPO / "bench" / "results" / "api.jsonl"
SHARED = Path(os.environ.get("STS_SHARED_DIR", REPO.parent / "shared"))
GAMES = (717055, 747175)
CASES = {
    "box": "/v1/games/747175/boxscore",
    "leaders": "/v1/leaders?stat=H&season=2024",
    "season": "/v1/players/684320/season?season=2024",
}
LUA = """
done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,'
    .. '"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""


def note(what: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


async def replay(tmp: Path) -> tuple[Any, dict[str, str], str]:
    """Open embedded backends under ``tmp``, replay the games into them; return the backends, the
    environment naming them for a child process, and a read key of the unlimited tier."""
    import psycopg
    import structlog

    from sts.adapters.mlb_client import MLBClient
    from sts.api.keys import create_key
    from sts.bootstrap import open_backends
    from sts.config import Settings
    from sts.recordings import scan_recordings
    from sts.services.pipeline import Pipeline
    from sts.services.scheduler import SchedulerConfig
    from sts.standin.server import StandIn

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    settings = Settings(data_dir=tmp / "data", object_store_url=f"file://{tmp / 'objects'}")
    backends = await open_backends(settings)
    recordings = scan_recordings(SHARED / "data" / "mlb" / "statsapi")
    recordings = dataclasses.replace(recordings, games={pk: recordings.games[pk] for pk in GAMES})
    standin = StandIn(recordings, speed=600.0, start_in=300)
    try:
        base = await standin.start()
        async with MLBClient(base, timeout=10, retries=3) as client:
            config = SchedulerConfig(poll_interval=60, schedule_interval=300, pregame_lead=1800)
            pipeline = Pipeline(backends, client, standin.clock, config)
            await asyncio.wait_for(pipeline.run(asyncio.Event(), until_done=True), timeout=600)
    finally:
        await standin.stop()
    async with await psycopg.AsyncConnection.connect(backends.database_url, autocommit=True) as conn:
        key = (await create_key(conn, "bench-api", ["read"], tier="unlimited")).secret
    env = {
        **os.environ,
        "STS_DATA_DIR": str(tmp / "data"),
        "STS_DATABASE_URL": backends.database_url,
        "STS_OBJECT_STORE_URL": f"file://{tmp / 'objects'}",
        "STS_LOG_LEVEL": "warning",
    }
    return backends, env, key


def serve(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sts", "serve", "--port", "0"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()  # "http://127.0.0.1:PORT/v1"
    if not line.startswith("http"):
        proc.kill()
        raise SystemExit(f"sts serve did not start (exit {proc.wait()})")
    return proc, line.removesuffix("/v1")


def check(base: str, key: str) -> None:
    import httpx

    for path in CASES.values():
        r = httpx.get(base + path, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        if r.status_code != 200:
            raise SystemExit(f"{path}: {r.status_code} {r.text[:300]}")


def wrk(url: str, key: str, script: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.duration}s",
           "--latency", "--timeout", "10s", "-H", f"Authorization: Bearer {key}", "-s", str(script),
           url]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    summary = json.loads(next(ln for ln in reversed(out.splitlines()) if ln.startswith("{")))
    seconds = summary["duration_us"] / 1e6
    errors = sum(summary[k] for k in ("connect", "read", "write", "timeout"))
    return {
        "requests": summary["requests"],
        "rps": round(summary["requests"] / seconds, 1),
        "p50_ms": round(summary["p50_us"] / 1000, 2),
        "p90_ms": round(summary["p90_us"] / 1000, 2),
        "p99_ms": round(summary["p99_us"] / 1000, 2),
        "max_ms": round(summary["max_us"] / 1000, 2),
        "kb_per_request": round(summary["bytes"] / max(summary["requests"], 1) / 1024, 1),
        "non_2xx": summary["status"],
        "socket_errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per case")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    tmp = Path(tempfile.mkdtemp(prefix="sts-bench-api-"))
    script = tmp / "report.lua"
    script.write_text(LUA)
    loop = asyncio.new_event_loop()
    note("replaying the games into an embedded database")
    backends, env, key = loop.run_until_complete(replay(tmp))
    runs: list[dict[str, Any]] = []
    try:
        for cache, extra in (("on", {}), ("off", {"STS_API_CACHE_ENTRIES": "0"})):
            proc, base = serve({**env, **extra})
            try:
                check(base, key)
                for case, path in CASES.items():
                    note(f"cache {cache}: {case} for {args.duration} s")
                    runs.append(
                        {"case": case, "cache": cache, "path": path, **wrk(base + path, key, script, args)}
                    )
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    finally:
        loop.run_until_complete(backends.aclose())
        loop.close()
        shutil.rmtree(tmp, ignore_errors=True)

    head = ("case", "cache", "req/s", "p50 ms", "p99 ms", "max ms", "KB", "failed")
    print("{:8} {:5} {:>9} {:>8} {:>8} {:>8} {:>6} {:>7}".format(*head))
    for r in runs:
        failed = r["non_2xx"] + r["socket_errors"]
        print(f"{r['case']:8} {r['cache']:5} {r['rps']:>9.1f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
              f"{r['max_ms']:>8.2f} {r['kb_per_request']:>6.1f} {failed:>7}")  # fmt: skip
    line = {
        "bench": "api",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "wrk": {"threads": args.threads, "connections": args.connections, "duration_s": args.duration},
        "games": list(GAMES),
        "runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(line) + "\n")
    print(f"appended to {RESULTS.relative_to(REPO)}")
    if any(r["non_2xx"] or r["socket_errors"] for r in runs):
        raise SystemExit("some requests failed (see non-2xx): the figures above include them")


if __name__ == "__main__":
    main()
