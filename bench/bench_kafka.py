"""Benchmark: the Kafka event bus on the local broker (``deploy/local/kafka.sh``).

Publishes ``--messages`` messages of ``--size`` bytes (default 10,000 x 1 KB, random bytes, keys spread
over 15 games as on a busy evening) to a new topic of 6 partitions, in publish calls of ``--batch``
messages (each call waits for every acknowledgement, ``acks=all``); then consumes them all with one group
member (committing every batch) and replays the topic with ``read``. Prints messages/s for each and
appends one JSON line to ``bench/results/kafka.jsonl``.

    uv run --frozen --all-extras python bench/bench_kafka.py [--messages 10000] [--size 1024]
        [--batch 500] [--url kafka://127.0.0.1:9092]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sts.adapters.kafka_bus import from_url
from sts.ports import Message, TopicSpec

RESULTS = Path(__file__).resolve().parent / "results" / "kafka.jsonl"


async def bench(url: str, messages: int, size: int, batch: int) -> dict[str, Any]:
    bus = from_url(url)
    topic = f"bench.{uuid.uuid4().hex[:8]}"
    try:
        await bus.create_topic(TopicSpec(topic, partitions=6, retention_ms=3_600_000))
        await bus.publish([Message(topic, "warm-up", b"x")])  # the idempotent producer's id: ~0.5 s
        payload = os.urandom(size)
        msgs = [
            Message(topic, str(745000 + i % 15), payload, {"event_id": f"ev-{i}", "event_type": "Bench"})
            for i in range(messages)
        ]
        t0 = time.perf_counter()
        for i in range(0, messages, batch):
            await bus.publish(msgs[i : i + batch])
        publish_s = time.perf_counter() - t0

        sub = await bus.subscribe(f"bench-{uuid.uuid4().hex[:8]}", [topic])
        got = 0
        t0 = time.perf_counter()
        while got < messages + 1:
            records = await sub.poll(max_records=1000, timeout=1.0)
            got += len(records)
            await sub.commit(records)
        consume_s = time.perf_counter() - t0
        await sub.close()

        t0 = time.perf_counter()
        replayed = sum([1 async for _ in bus.read(topic)])
        read_s = time.perf_counter() - t0
        assert replayed == messages + 1, replayed
    finally:
        await bus.close()
    return {
        "publish_msgs_per_s": round(messages / publish_s),
        "publish_mb_per_s": round(messages * size / publish_s / 1e6, 1),
        "consume_msgs_per_s": round(messages / consume_s),
        "read_msgs_per_s": round(messages / read_s),
        "publish_s": round(publish_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--url", default=os.environ.get("STS_TEST_KAFKA_URL", "kafka://127.0.0.1:9092"))
    args = parser.parse_args()
    result = asyncio.run(bench(args.url, args.messages, args.size, args.batch))
    line = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "messages": args.messages,
        "size": args.size,
        "batch": args.batch,
        **result,
    }
    print(json.dumps(line))
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
