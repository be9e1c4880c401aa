"""Outage drill: each engine of the production profile fails and recovers, as seen by /ready and /metrics.

With the local engines running (``deploy/local/{postgres,seaweedfs,kafka,apicurio}.sh start``) and the
production settings exported (see docs/profiles.md), this opens the backends exactly as ``sts run``
does, serves ``/ready`` and ``/metrics``, and for each engine in turn: stops it with its script, polls
``/ready`` until it answers 503 naming that backend, starts the engine again and polls until 200.
It prints what ``/ready`` and ``sts_backend_ready`` said at each step and the seconds to detect and to
recover, and appends them as a JSON line to ``bench/results/outage_drill.jsonl``.

    uv run --frozen --all-extras python bench/outage_drill.py [--engines seaweedfs,kafka,apicurio,postgres]

It stops and starts the engines: run it on a machine where nothing else uses them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import structlog

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from sts.bootstrap import open_backends  # noqa: E402
from sts.config import Settings  # noqa: E402
from sts.http.health import health_app, serve  # noqa: E402

BACKEND_OF = {"postgres": "database", "seaweedfs": "object_store", "kafka": "event_bus",
              "apicurio": "schema_registry"}  # fmt: skip


def script(engine: str, action: str) -> None:
    subprocess.run([str(REPO / "deploy" / "local" / f"{engine}.sh"), action], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


async def until(http: httpx.AsyncClient, want: int, limit: float) -> tuple[float, dict[str, object]]:
    started = time.monotonic()
    while True:
        response = await http.get("/ready", timeout=15)
        if response.status_code == want:
            return time.monotonic() - started, response.json()
        if time.monotonic() - started > limit:
            raise SystemExit(f"/ready did not answer {want} within {limit} s: {response.text[:300]}")
        await asyncio.sleep(0.5)


def gauges(text: str) -> str:
    return " ".join(
        line.split("{", 1)[1] for line in text.splitlines() if line.startswith("sts_backend_ready{")
    )


async def drill(engines: list[str]) -> list[dict[str, object]]:
    settings = Settings()
    backends = await open_backends(settings)
    server, port = await serve(health_app(backends.readiness_checks(), timeout=3.0))
    results: list[dict[str, object]] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            await until(http, 200, 30)
            print(f"all ready: {gauges((await http.get('/metrics')).text)}")
            for engine in engines:
                backend = BACKEND_OF[engine]
                t0 = time.monotonic()
                script(engine, "stop")
                stopped = time.monotonic() - t0
                detect, body = await until(http, 503, 60)
                failing = body.get("failing")
                down = gauges((await http.get("/metrics")).text)
                t1 = time.monotonic()
                script(engine, "start")
                restarted = time.monotonic() - t1
                recover, _ = await until(http, 200, 180)
                up = gauges((await http.get("/metrics")).text)
                ok = failing == [backend]
                print(
                    f"{engine:<10} stop {stopped:5.1f}s  /ready 503 after {detect:5.1f}s failing={failing}"
                    f"  [{down}]"
                )
                print(
                    f"{'':<10} start {restarted:4.1f}s  /ready 200 after {recover:5.1f}s  [{up}]"
                    f"  {'OK' if ok else 'UNEXPECTED'}"
                )
                results.append(
                    {
                        "engine": engine,
                        "backend": backend,
                        "failing": failing,
                        "ok": ok,
                        "detect_s": round(detect, 1),
                        "recover_s": round(recover + restarted, 1),
                    }
                )
    finally:
        await server.stop()
        await backends.aclose()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default="seaweedfs,kafka,apicurio,postgres")
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(50))
    results = asyncio.run(drill(args.engines.split(",")))
    out = REPO / "bench" / "results" / "outage_drill.jsonl"
    with open(out, "a") as f:
        f.write(
            json.dumps({"bench": "outage_drill", "at": datetime.now(UTC).isoformat(), "results": results})
            + "\n"
        )
    if not all(r["ok"] for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
