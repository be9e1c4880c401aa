"""Benchmark: snapshots ingested and normalized per second, beside the time to only parse the JSON.

Over every recorded final feed (``../shared/data/mlb/statsapi`` by default), the stand-in's replay model
synthesizes a game's in-progress states (every ``--step``-th state, plus the final one); each state is
serialized to bytes once (not timed). Then, in the same run, on the embedded backends (a real embedded
PostgreSQL, the file object store, the PostgreSQL event log):

- parse only:  ``json.loads`` of the same bytes;
- ingest + normalize: validate, store the raw snapshot, derive and publish events, move mlb-current,
  then the processor applies the new events to the normalized tables (committed).

Prints snapshots/s and ms per snapshot (p50/p95) for both, and their ratio, and appends the figures
as one JSON line to ``bench/results/ingest.jsonl``.

    uv run --frozen python bench/bench_ingest.py [--step 10] [--recordings DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from _common import git_commit, percentile  # noqa: E402

from sts.adapters.embedded_pg import EmbeddedPostgres  # noqa: E402
from sts.adapters.file_store import FileObjectStore  # noqa: E402
from sts.adapters.pg_bus import PostgresEventBus  # noqa: E402
from sts.adapters.pg_registry import PostgresSchemaRegistry  # noqa: E402
from sts.bootstrap import ensure_topics  # noqa: E402
from sts.db import migrate  # noqa: E402
from sts.events.codec import AvroCodec  # noqa: E402
from sts.recordings import scan_recordings  # noqa: E402
from sts.services.ingest import Ingestor, Snapshot  # noqa: E402
from sts.services.processor import Processor  # noqa: E402
from sts.standin.synth import synthesize  # noqa: E402
from sts.standin.timeline import GameTimeline  # noqa: E402


def build_snapshots(recordings: Path, step: int) -> list[tuple[int, bytes]]:
    recs = scan_recordings(recordings)
    out: list[tuple[int, bytes]] = []
    for pk, game in sorted(recs.games.items()):
        tl = GameTimeline(game.feed)
        n = len(tl.states)
        indexes = sorted(set(range(0, n, step)) | {n - 1})
        for i in indexes:
            out.append((pk, json.dumps(synthesize(tl, i)).encode()))
    return out


async def run(snapshots: list[tuple[int, bytes]], root: Path) -> dict[str, Any]:
    pg = EmbeddedPostgres(root / "pgdata")
    url = pg.start()
    try:
        migrate(url)
        store = FileObjectStore(root / "objects")
        await store.ensure_buckets()
        bus = PostgresEventBus(url)
        registry = PostgresSchemaRegistry(url)
        await ensure_topics(bus, 6)
        codec = AvroCodec(registry)
        ingestor = Ingestor(store, bus, codec)
        processor = Processor(bus, codec, url, group="bench", poll_timeout=0.005)

        parse_ms: list[float] = []
        for _, raw in snapshots:
            t0 = time.perf_counter()
            json.loads(raw)
            parse_ms.append((time.perf_counter() - t0) * 1000)

        total_ms: list[float] = []
        events = 0
        t_all = time.perf_counter()
        for pk, raw in snapshots:
            t0 = time.perf_counter()
            result = await ingestor.ingest(Snapshot(pk, raw, "bench", datetime.now(UTC)))
            if result.outcome != "stored":
                raise SystemExit(f"snapshot of {pk} was {result.outcome}: {result.reason}")
            events += result.events
            await processor.process_available(idle_polls=1)
            total_ms.append((time.perf_counter() - t0) * 1000)
        wall = time.perf_counter() - t_all
        await processor.close()
        await bus.close()
        await registry.close()
        await store.close()
    finally:
        pg.stop()
    mb = sum(len(r) for _, r in snapshots) / 1e6
    return {
        "snapshots": len(snapshots),
        "games": len({pk for pk, _ in snapshots}),
        "megabytes": round(mb, 1),
        "events": events,
        "ingest_normalize_per_s": round(len(snapshots) / wall, 1),
        "ingest_normalize_ms_p50": round(percentile(total_ms, 0.5), 2),
        "ingest_normalize_ms_p95": round(percentile(total_ms, 0.95), 2),
        "parse_only_per_s": round(len(parse_ms) / (sum(parse_ms) / 1000), 1),
        "parse_only_ms_p50": round(percentile(parse_ms, 0.5), 2),
        "parse_only_ms_p95": round(percentile(parse_ms, 0.95), 2),
        "ratio_p50": round(percentile(total_ms, 0.5) / percentile(parse_ms, 0.5), 1),
        "ratio_mean": round(statistics.mean(total_ms) / statistics.mean(parse_ms), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recordings", type=Path, default=REPO.parent / "shared" / "data" / "mlb" / "statsapi")
    ap.add_argument("--step", type=int, default=10, help="take every STEP-th state of each game")
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "ingest.jsonl")
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))

    snapshots = build_snapshots(args.recordings, args.step)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        figures = asyncio.run(run(snapshots, root))

    print(
        f"{figures['snapshots']} snapshots of {figures['games']} games ({figures['megabytes']} MB), "
        f"{figures['events']} events"
    )
    print(
        f"ingest+normalize: {figures['ingest_normalize_per_s']:>8} snapshots/s   "
        f"p50 {figures['ingest_normalize_ms_p50']:>7} ms   p95 {figures['ingest_normalize_ms_p95']:>7} ms"
    )
    print(
        f"parse only:       {figures['parse_only_per_s']:>8} snapshots/s   "
        f"p50 {figures['parse_only_ms_p50']:>7} ms   p95 {figures['parse_only_ms_p95']:>7} ms"
    )
    print(f"ratio (ingest+normalize / parse): p50 {figures['ratio_p50']}x, mean {figures['ratio_mean']}x")

    commit = git_commit(short=True)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with open(args.results, "a") as f:
        f.write(
            json.dumps(
                {
                    "bench": "ingest",
                    "at": datetime.now(UTC).isoformat(),
                    "commit": commit,
                    "step": args.step,
                    **figures,
                }
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
