"""Benchmark: milliseconds per game to derive a box score from the plays, and to derive and verify it
against the official box, over every recorded final feed.

    .venv/bin/python bench/bench_boxscore.py [--reps 20]

Prints p50/p95 per phase and appends one JSON line to ``bench/results/boxscore.jsonl``
(timestamp, git commit, figures). The shared data folder is ``../shared`` next to the repository, or
``$STS_SHARED_DIR``. JSON parsing is not timed (the feeds are loaded once).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import git_commit, percentile

from sts.stats import compare_box, derive_box
from sts.stats.feed import is_final, unwrap

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("STS_SHARED_DIR", REPO.parent / "shared"))
STATSAPI = SHARED / "data" / "mlb" / "statsapi"
RESULTS = REPO / "bench" / "results" / "boxscore.jsonl"


def final_feeds() -> dict[str, Any]:
    feeds: dict[str, Any] = {}
    for path in sorted(STATSAPI.rglob("feed_live_*.json")):
        feed = unwrap(json.loads(path.read_text()))
        if feed is not None and is_final(feed):
            feeds[str(path.relative_to(STATSAPI))] = feed
    return feeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20, help="repetitions over all games (default 20)")
    args = parser.parse_args()
    feeds = final_feeds()
    if not feeds:
        raise SystemExit(f"no final feeds under {STATSAPI} (set STS_SHARED_DIR)")
    derive_ms: list[float] = []
    verify_ms: list[float] = []
    values = matched = 0
    for _ in range(args.reps):
        for feed in feeds.values():
            t0 = time.perf_counter()
            box = derive_box(feed)
            t1 = time.perf_counter()
            report = compare_box(feed, box)
            t2 = time.perf_counter()
            derive_ms.append((t1 - t0) * 1000)
            verify_ms.append((t2 - t0) * 1000)
            values, matched = values + report.total, matched + report.matched
    figures = {
        "games": len(feeds),
        "reps": args.reps,
        "derive_ms_p50": round(statistics.median(derive_ms), 3),
        "derive_ms_p95": round(percentile(derive_ms, 0.95), 3),
        "derive_and_verify_ms_p50": round(statistics.median(verify_ms), 3),
        "derive_and_verify_ms_p95": round(percentile(verify_ms, 0.95), 3),
        "values_per_game": values // (len(feeds) * args.reps),
        "matched_fraction": round(matched / values, 6),
    }
    record = {
        "bench": "boxscore",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        **figures,
    }
    print(f"{len(feeds)} games x {args.reps} reps")
    print(
        f"derive            p50 {figures['derive_ms_p50']:.2f} ms/game"
        f"   p95 {figures['derive_ms_p95']:.2f} ms/game"
    )
    print(
        f"derive + verify   p50 {figures['derive_and_verify_ms_p50']:.2f} ms/game"
        f"   p95 {figures['derive_and_verify_ms_p95']:.2f} ms/game"
    )
    print(f"values compared per game {figures['values_per_game']}, matched {figures['matched_fraction']:.4%}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    print(f"appended to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
