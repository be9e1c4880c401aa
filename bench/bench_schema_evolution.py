"""What Pitch v2 costs: bytes per event and decode time across versions, on every recorded final game.

Every Pitch event derived from the recorded final feeds (``../shared/data/mlb``) is written in Avro
binary with Pitch v1 (``schemas/history/Pitch.v1.avsc``, the review fields left out) and with v2, then
read back four ways: same version (v1→v1, v2→v2), an old consumer (written v2, read with v1) and a
new consumer (written v1, read with v2: defaults filled). No registry or bus: this measures the Avro
part only. Run: ``uv run python bench/bench_schema_evolution.py [--repeat N]``; appends one JSON line to
``bench/results/schema_evolution.jsonl``.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

import fastavro
from _common import REPO, git_commit

sys.path.insert(0, str(REPO))  # for tests.events.feeds (the recorded feeds' names and loader)

from tests.events.feeds import FINAL_FEEDS, load

from sts.events.derive import PITCH, derive_events
from sts.events.versions import schema_versions


def encode(schema: Any, record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, record, strict=True)
    return buf.getvalue()


def timed_decode(values: list[bytes], writer: Any, reader: Any, repeat: int) -> float:
    """Microseconds per decoded value (best of ``repeat`` passes)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for v in values:
            fastavro.schemaless_reader(io.BytesIO(v), writer, reader)
        best = min(best, time.perf_counter() - t0)
    return best / len(values) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    v1_raw, v2_raw = (v.raw for v in schema_versions("Pitch"))
    v1, v2 = fastavro.parse_schema(v1_raw), fastavro.parse_schema(v2_raw)
    v1_fields = {f["name"] for f in v1_raw["fields"]}
    payloads = [
        e.payload for name in FINAL_FEEDS for e in derive_events(None, load(name)) if e.event_type == PITCH
    ]
    as_v1 = [encode(v1, {k: v for k, v in p.items() if k in v1_fields}) for p in payloads]
    as_v2 = [encode(v2, p) for p in payloads]
    n, b1, b2 = len(payloads), sum(map(len, as_v1)), sum(map(len, as_v2))
    print(f"commit {git_commit(short=True)}: {len(FINAL_FEEDS)} recorded final games, {n} Pitch events")
    print(f"bytes: v1 {b1} ({b1 / n:.1f}/event), v2 {b2} ({b2 / n:.1f}/event), +{(b2 - b1) / n:.1f} B/event")
    runs = []
    for label, values, writer, reader in (
        ("v1 -> v1", as_v1, v1, None),
        ("v2 -> v2", as_v2, v2, None),
        ("v2 -> v1 (old consumer)", as_v2, v2, v1),
        ("v1 -> v2 (new consumer)", as_v1, v1, v2),
    ):
        micros = timed_decode(values, writer, reader, args.repeat)
        print(f"decode {label:<24} {micros:6.1f} µs/event")
        runs.append({"case": label, "decode_us": round(micros, 2)})
    line = {
        "bench": "schema_evolution",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "games": len(FINAL_FEEDS),
        "events": n,
        "v1_bytes_per_event": round(b1 / n, 2),
        "v2_bytes_per_event": round(b2 / n, 2),
        "runs": runs,
    }
    with (REPO / "bench" / "results" / "schema_evolution.jsonl").open("a") as f:
        f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
    sys.exit(0)
