"""Benchmark: put/get latency of one snapshot-sized object on each object-store backend.

For each backend (``file``: the embedded file store in a temporary folder; ``s3``: the S3 store on the
local SeaweedFS of ``deploy/local/seaweedfs.sh``, in buckets of its own that are deleted afterwards),
puts the same ``--size`` bytes (default 1.5 MB, about one live feed) ``--rounds`` times under one key
of ``mlb-current`` (an overwrite, as ingestion does), then gets it ``--rounds`` times.
Prints ms p50/p95/min per operation and appends one JSON line to ``bench/results/object_store.jsonl``.

    uv run --frozen --all-extras python bench/bench_object_store.py [--rounds 30] [--size 1572864]
        [--backends file,s3]

S3 settings as in the contract tests: ``STS_TEST_S3_URL`` (default
``s3://?endpoint=http://127.0.0.1:8333``), ``STS_S3_ACCESS_KEY`` / ``STS_S3_SECRET_KEY``
(default ``sts`` / ``sts-secret-key``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sts.config import Settings
from sts.ports import BUCKET_CURRENT, ObjectStore

RESULTS = Path(__file__).resolve().parent / "results" / "object_store.jsonl"


async def timed(rounds: int, op: Callable[[], Awaitable[object]]) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        await op()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 2),
        "min_ms": round(ordered[0], 2),
    }


async def bench(store: ObjectStore, size: int, rounds: int) -> dict[str, Any]:
    await store.ensure_buckets()
    data = os.urandom(size)
    key = "745123.json"
    await store.put(BUCKET_CURRENT, key, data)  # warm-up (connections, folders)
    await store.get(BUCKET_CURRENT, key)
    puts = await timed(rounds, lambda: store.put(BUCKET_CURRENT, key, data))
    gets = await timed(rounds, lambda: store.get(BUCKET_CURRENT, key))
    assert await store.get(BUCKET_CURRENT, key) == data
    return {"put": summary(puts), "get": summary(gets)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--size", type=int, default=1_572_864)
    parser.add_argument("--backends", default="file,s3")
    args = parser.parse_args()

    results: dict[str, Any] = {}
    for backend in args.backends.split(","):
        if backend == "file":
            from sts.adapters.file_store import FileObjectStore

            with tempfile.TemporaryDirectory() as tmp:
                results["file"] = await bench(FileObjectStore(Path(tmp)), args.size, args.rounds)
        elif backend == "s3":
            from sts.adapters.s3_store import from_url

            url = os.environ.get("STS_TEST_S3_URL", "s3://?endpoint=http://127.0.0.1:8333")
            url += ("&" if "?" in url else "?") + f"prefix=bench-{uuid.uuid4().hex[:8]}-"
            settings = Settings(
                s3_access_key=os.environ.get("STS_S3_ACCESS_KEY", "sts"),
                s3_secret_key=os.environ.get("STS_S3_SECRET_KEY", "sts-secret-key"),
            )
            store = from_url(url, settings)
            try:
                results["s3"] = await bench(store, args.size, args.rounds)
            finally:
                await store.purge_buckets()
                await store.close()
        else:
            raise SystemExit(f"unknown backend {backend!r} (file, s3)")

    for backend, r in results.items():
        print(
            f"{backend:5} {args.size} B x{args.rounds}: "
            f"put p50 {r['put']['p50_ms']} ms p95 {r['put']['p95_ms']} ms | "
            f"get p50 {r['get']['p50_ms']} ms p95 {r['get']['p95_ms']} ms"
        )
    line = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu",
        "size": args.size,
        "rounds": args.rounds,
        **results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
