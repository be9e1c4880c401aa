"""Benchmark: ``sts replay`` (events/s from the bus) and ``sts rebuild`` (snapshots/s from mlb-live).

Over every recorded final feed (``../shared/data/mlb/statsapi`` by default), the stand-in's replay model
synthesizes a game's in-progress states (every ``--step``-th state, plus the final one). On the
embedded backends (a real embedded PostgreSQL, the file object store, the PostgreSQL event log) they are
ingested once (not timed): raw snapshots in ``mlb-live``, events on ``mlb.game-events``. Then, in the
same run, each into a fresh database:

- replay:  ``mlb.game-events`` from offset 0 through every live consumer's apply;
- rebuild: every snapshot of ``mlb-live`` validated, its events derived and applied the same way.

The two databases must end with the same checksums (else the run fails). Prints the figures and appends
them as one JSON line to ``bench/results/replay.jsonl``.

    uv run --frozen python bench/bench_replay.py [--step 10] [--recordings DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import structlog

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from _common import git_commit  # noqa: E402
from bench_ingest import build_snapshots  # noqa: E402

from sts.adapters.embedded_pg import EmbeddedPostgres  # noqa: E402
from sts.adapters.file_store import FileObjectStore  # noqa: E402
from sts.adapters.pg_bus import PostgresEventBus  # noqa: E402
from sts.adapters.pg_registry import PostgresSchemaRegistry  # noqa: E402
from sts.bootstrap import ensure_topics  # noqa: E402
from sts.config import Settings  # noqa: E402
from sts.db import migrate  # noqa: E402
from sts.db.queries import table_checksums  # noqa: E402
from sts.events.codec import AvroCodec  # noqa: E402
from sts.services.ingest import Ingestor, Snapshot  # noqa: E402
from sts.services.replay import Position, live_consumers, rebuild, replay  # noqa: E402

WALL_CLOCK = {
    "processed_events": ("processed_at",),
    "derived_box_lines": ("derived_at",),
    "box_quality": ("checked_at",),
    "stat_constants": ("loaded_at",),
    "park_factors": ("loaded_at",),
}


def fresh_database(pg: EmbeddedPostgres, name: str) -> str:
    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg.url(name)
    migrate(url)
    return url


async def checksums(url: str) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        return await table_checksums(conn, exclude_columns=WALL_CLOCK)


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
        for pk, raw in snapshots:
            result = await ingestor.ingest(Snapshot(pk, raw, "bench", datetime.now(UTC)))
            if result.outcome != "stored":
                raise SystemExit(f"snapshot of {pk} was {result.outcome}: {result.reason}")
        consumers = live_consumers(Settings(), store)

        replayed = fresh_database(pg, "bench_replay")
        t0 = time.perf_counter()
        r = await replay(bus, codec, replayed, consumers, start=Position(every=0))
        replay_s = time.perf_counter() - t0

        rebuilt = fresh_database(pg, "bench_rebuild")
        t0 = time.perf_counter()
        b = await rebuild(store, rebuilt, consumers)
        rebuild_s = time.perf_counter() - t0

        if r.failures or b.failures or b.rejected:
            raise SystemExit(f"failures: replay {r.failures[:3]}, rebuild {b.failures[:3]} {b.rejected}")
        a, b2 = await checksums(replayed), await checksums(rebuilt)
        same = a == b2
        if not same:
            differ = sorted(t for t in a if a[t] != b2.get(t))
            raise SystemExit(f"replay and rebuild ended with different checksums: {differ}")
        await bus.close()
        await registry.close()
        await store.close()
    finally:
        pg.stop()
    return {
        "snapshots": len(snapshots),
        "games": len({pk for pk, _ in snapshots}),
        "megabytes": round(sum(len(raw) for _, raw in snapshots) / 1e6, 1),
        "records": r.read,
        "events": r.events,
        "replay_s": round(replay_s, 2),
        "replay_events_per_s": round(r.read / replay_s, 1),
        "rebuild_s": round(rebuild_s, 2),
        "rebuild_snapshots_per_s": round(b.read / rebuild_s, 1),
        "rebuild_events_per_s": round(b.events / rebuild_s, 1),
        "same_checksums": same,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recordings", type=Path, default=REPO.parent / "shared" / "data" / "mlb" / "statsapi")
    ap.add_argument("--step", type=int, default=10, help="take every STEP-th state of each game")
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "replay.jsonl")
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))

    snapshots = build_snapshots(args.recordings, args.step)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        figures = asyncio.run(run(snapshots, root))

    print(
        f"{figures['snapshots']} snapshots of {figures['games']} games ({figures['megabytes']} MB), "
        f"{figures['records']} records on the bus"
    )
    print(f"replay:  {figures['replay_events_per_s']:>8} events/s     ({figures['replay_s']} s)")
    print(
        f"rebuild: {figures['rebuild_snapshots_per_s']:>8} snapshots/s  ({figures['rebuild_s']} s, "
        f"{figures['rebuild_events_per_s']} events/s)"
    )
    print(f"same checksums: {figures['same_checksums']}")

    commit = git_commit(short=True)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    line = {"bench": "replay", "at": datetime.now(UTC).isoformat(), "commit": commit, "step": args.step}
    with open(args.results, "a") as f:
        f.write(json.dumps({**line, **figures}) + "\n")


if __name__ == "__main__":
    main()
