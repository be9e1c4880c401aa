"""Rate-limit decision cost: in-process buckets vs Redis (the Lua script), sequential and concurrent.

    python bench/bench_ratelimit.py [--n 5000] [--concurrency 32] [--redis-url redis://127.0.0.1:6379/0]

For each backend: the latency of one decision (p50/p99, one caller at a time) and decisions per second
with ``--concurrency`` callers on one event loop (one connection pool per process, as in ``sts serve``),
over 1,000 keys in a tier that never refuses (so every decision does the full read-refill-write). Redis
must answer (``deploy/local/redis.sh start``); without it only the in-process backend is measured.
Prints a table and appends one JSON line to ``bench/results/ratelimit.jsonl``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import REPO, git_commit, percentile

from sts.api.ratelimit import Buckets, MemoryBuckets, RedisBuckets, Tier

TIER = Tier("bench", rate=1e6, burst=1e9)
KEYS = 1000


async def measure(name: str, buckets: Buckets, n: int, concurrency: int) -> dict[str, Any]:
    for i in range(KEYS):  # warm: create the buckets (and load the script into Redis)
        await buckets.take(f"key:{i}", TIER)
    latencies = []
    for i in range(n):
        started = time.perf_counter()
        await buckets.take(f"key:{i % KEYS}", TIER)
        latencies.append((time.perf_counter() - started) * 1000)
    per_task = n // concurrency

    async def caller(c: int) -> None:
        for i in range(per_task):
            await buckets.take(f"key:{(c * per_task + i) % KEYS}", TIER)

    started = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "backend": name,
        "decision_ms_p50": round(percentile(latencies, 0.5), 4),
        "decision_ms_p99": round(percentile(latencies, 0.99), 4),
        "decisions_per_s_concurrent": round(per_task * concurrency / elapsed),
    }


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = [await measure("memory", MemoryBuckets(), args.n, args.concurrency)]
    redis_buckets = RedisBuckets(args.redis_url, f"sts:rl:bench-{uuid.uuid4().hex[:8]}:", timeout=2)
    try:
        import redis.asyncio as aioredis

        probe = aioredis.Redis.from_url(args.redis_url, socket_connect_timeout=2)
        try:
            await probe.ping()
        finally:
            await probe.aclose()
    except Exception as exc:  # the bench reports what it could measure
        print(f"Redis at {args.redis_url} does not answer ({exc}): measuring the in-process backend only")
    else:
        results.append(await measure("redis", redis_buckets, args.n, args.concurrency))
    finally:
        await redis_buckets.aclose()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000, help="decisions per measurement")
    ap.add_argument("--concurrency", type=int, default=32, help="concurrent callers")
    ap.add_argument("--redis-url", default=os.environ.get("STS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "ratelimit.jsonl")
    args = ap.parse_args()
    results = asyncio.run(run(args))
    print(f"{args.n} decisions over {KEYS} keys; concurrent: {args.concurrency} callers")
    print(f"{'backend':<9}{'p50 ms':>9}{'p99 ms':>9}{'decisions/s':>13}")
    for r in results:
        print(
            f"{r['backend']:<9}{r['decision_ms_p50']:>9}{r['decision_ms_p99']:>9}{r['decisions_per_s_concurrent']:>13}"
        )
    line = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(short=True),
        "n": args.n,
        "concurrency": args.concurrency,
        "load_average": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "results": results,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with open(args.results, "a") as f:
        f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
