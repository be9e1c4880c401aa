"""Benchmark: the PostgreSQL event bus against the Kafka bus, in the same run, over the same replay.

The events of every recorded game are derived once (from the stand-in's synthesized in-progress states,
every ``--step``-th one plus the final one, as ingestion would derive them). Then, for each bus:

1. **steady**: the events are published at ``--rate`` events/s (a batch every 10 ms) while one
   processor (a consumer group member applying them to the normalized tables of a fresh database)
   consumes. End-to-end latency of an event = the moment its ``publish`` call began → the moment the
   database transaction holding its rows committed. Reported: events/s achieved, p50/p99/max.
2. **drain**: a new group on a fresh database processes the whole replay already on the bus, as fast
   as it can: events/s.

Buses: ``postgres`` (the embedded default: the event log in tables of an embedded PostgreSQL, the same
server holding the normalized tables) and ``kafka`` (``--kafka``, default the broker of
``deploy/local/kafka.sh``, with Apicurio at ``--registry``; topics and groups under a prefix of their
own, deleted afterwards). The processor's database is an embedded PostgreSQL in both cases, so only the
bus differs. Prints a table and appends one JSON line to ``bench/results/bus.jsonl``.

    uv run --frozen --all-extras python bench/bench_bus.py [--rate 500] [--step 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import structlog

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from _common import percentile  # noqa: E402

from sts.adapters.embedded_pg import EmbeddedPostgres  # noqa: E402
from sts.bootstrap import ensure_topics  # noqa: E402
from sts.db import migrate  # noqa: E402
from sts.events.codec import AvroCodec  # noqa: E402
from sts.events.derive import derive_events  # noqa: E402
from sts.events.model import GameEvent  # noqa: E402
from sts.ports import TOPIC_GAME_EVENTS, EventBus, Record, SchemaRegistry  # noqa: E402
from sts.recordings import scan_recordings  # noqa: E402
from sts.services.processor import Processor  # noqa: E402
from sts.standin.synth import synthesize  # noqa: E402
from sts.standin.timeline import GameTimeline  # noqa: E402

TICK = 0.01
T0 = time.perf_counter()


def note(what: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(f"[{time.perf_counter() - T0:7.1f} s] {what}", file=sys.stderr, flush=True)


def replay_events(recordings: Path, step: int) -> list[GameEvent]:
    events: list[GameEvent] = []
    for _, game in sorted(scan_recordings(recordings).games.items()):
        timeline = GameTimeline(game.feed)
        n = len(timeline.states)
        previous: dict[str, Any] | None = None
        for i in sorted(set(range(0, n, step)) | {n - 1}):
            current = json.loads(json.dumps(synthesize(timeline, i)))
            events += derive_events(previous, current)
            previous = current
    return events


def fresh_database(pg: EmbeddedPostgres) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg.url(name)
    migrate(url)
    return url


def timed_processor(
    bus: EventBus, codec: AvroCodec, db: str, group: str, on_commit: Callable[[Sequence[Record]], None]
) -> Processor:
    """A processor that reports every batch the moment its database transaction has committed."""
    proc = Processor(bus, codec, db, group=group, poll_timeout=0.05)
    handle = proc._handle

    async def handled(records: Sequence[Record]) -> None:
        await handle(records)
        on_commit(records)

    proc._handle = handled  # type: ignore[method-assign]
    return proc


async def steady(
    bus: EventBus, codec: AvroCodec, db: str, events: list[GameEvent], rate: float
) -> dict[str, Any]:
    messages = [await codec.message(TOPIC_GAME_EVENTS, ev) for ev in events]
    published: dict[str, float] = {}
    committed: dict[str, float] = {}
    want = {m.headers["event_id"] for m in messages}
    all_committed = asyncio.Event()

    def on_commit(records: Sequence[Record]) -> None:
        now = time.perf_counter()
        for r in records:
            committed.setdefault(r.headers["event_id"], now)
        if want <= committed.keys():
            all_committed.set()

    proc = timed_processor(bus, codec, db, "bench-steady", on_commit)
    stop = asyncio.Event()
    await proc.step()  # joined the group before the clock starts
    consumer = asyncio.create_task(proc.run(stop))
    start = time.perf_counter()
    sent = 0
    while sent < len(messages):
        due = min(len(messages), int((time.perf_counter() - start) * rate) + 1)
        if due > sent:
            batch = messages[sent:due]
            t = time.perf_counter()
            await bus.publish(batch)
            for m in batch:
                published[m.headers["event_id"]] = t
            sent = due
        await asyncio.sleep(TICK)
    done, _ = await asyncio.wait(
        [consumer, asyncio.create_task(all_committed.wait())],
        timeout=300,
        return_when=asyncio.FIRST_COMPLETED,
    )
    if consumer in done:
        consumer.result()  # the processor died: raise its error
        raise RuntimeError("the processor stopped")
    stop.set()
    await consumer
    lat = [(committed[e] - published[e]) * 1000 for e in want if e in committed]
    wall = max(committed.values()) - start
    return {
        "events": len(want),
        "committed": len(lat),
        "rate_target": rate,
        "events_per_s": round(len(lat) / wall, 1),
        "latency_ms_p50": round(percentile(lat, 0.5), 1),
        "latency_ms_p99": round(percentile(lat, 0.99), 1),
        "latency_ms_max": round(max(lat), 1),
    }


async def drain(bus: EventBus, codec: AvroCodec, db: str, total: int) -> float:
    seen: set[str] = set()
    proc = timed_processor(
        bus, codec, db, "bench-drain", lambda rs: seen.update(r.headers["event_id"] for r in rs)
    )
    await proc.step()
    start = time.perf_counter()
    while len(seen) < total:
        await proc.step()
    wall = time.perf_counter() - start
    await proc.close()
    return round(total / wall, 1)


async def one_bus(
    name: str,
    bus: EventBus,
    registry: SchemaRegistry,
    pg: EmbeddedPostgres,
    events: list[GameEvent],
    rate: float,
) -> dict[str, Any]:
    note(f"{name}: topics")
    await ensure_topics(bus, 6)
    codec = AvroCodec(registry)
    db = fresh_database(pg)
    note(f"{name}: steady at {rate:g}/s")
    figures = await steady(bus, codec, db, events, rate)
    db = fresh_database(pg)
    note(f"{name}: drain")
    figures["drain_events_per_s"] = await drain(bus, codec, db, figures["events"])
    note(f"{name}: done")
    return {"bus": name, **figures}


async def run(args: argparse.Namespace, events: list[GameEvent], root: Path) -> list[dict[str, Any]]:
    from sts.adapters.pg_bus import PostgresEventBus
    from sts.adapters.pg_registry import PostgresSchemaRegistry

    pg = EmbeddedPostgres(root / "pgdata")
    pg.start()
    results = []
    try:
        bus_db = fresh_database(pg)
        bus, registry = PostgresEventBus(bus_db), PostgresSchemaRegistry(bus_db)
        try:
            results.append(await one_bus("postgres", bus, registry, pg, events, args.rate))
        finally:
            await bus.close()
            await registry.close()
        if args.kafka:
            results.append(await kafka(args, pg, events))
    finally:
        pg.stop()
    return results


async def kafka(args: argparse.Namespace, pg: EmbeddedPostgres, events: list[GameEvent]) -> dict[str, Any]:
    from confluent_kafka.admin import AdminClient

    from sts.adapters import kafka_bus
    from sts.adapters.confluent_registry import ConfluentSchemaRegistry
    from sts.adapters.prefixed_bus import PrefixedEventBus

    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    bus = PrefixedEventBus(kafka_bus.from_url(args.kafka), prefix)
    registry = ConfluentSchemaRegistry(args.registry)
    try:
        return await one_bus("kafka", bus, registry, pg, events, args.rate)
    finally:
        await bus.close()
        await registry.close()
        admin = AdminClient({"bootstrap.servers": kafka_bus.parse_url(args.kafka)[0]})
        topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
        for future in admin.delete_topics(topics).values() if topics else []:
            future.result()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recordings", type=Path, default=REPO.parent / "shared" / "data" / "mlb" / "statsapi")
    ap.add_argument("--step", type=int, default=16, help="take every STEP-th state of each game")
    ap.add_argument("--rate", type=float, default=500.0, help="events published per second (steady)")
    ap.add_argument(
        "--kafka",
        default=os.environ.get("STS_TEST_KAFKA_URL", "kafka://127.0.0.1:9092"),
        help="Kafka URL ('' to skip the Kafka bus)",
    )
    ap.add_argument(
        "--registry",
        default=os.environ.get("STS_TEST_SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7"),
    )
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "bus.jsonl")
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))

    events = replay_events(args.recordings, args.step)
    note(f"{len(events)} events derived")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        results = asyncio.run(run(args, events, root))

    print(
        f"{len(events)} events of the recorded games (synthesized states, step {args.step}), "
        f"published at {args.rate:g}/s"
    )
    head = f"{'bus':<9}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'drain events/s':>16}"
    print(head)
    for r in results:
        print(
            f"{r['bus']:<9}{r['events_per_s']:>10}{r['latency_ms_p50']:>9}{r['latency_ms_p99']:>9}"
            f"{r['latency_ms_max']:>9}{r['drain_events_per_s']:>16}"
        )
    line = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "step": args.step,
        "load_average": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "results": results,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with open(args.results, "a") as f:
        f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
