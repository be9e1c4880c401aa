"""Benchmark (must show, issue 5): bytes downloaded and requests per game, incremental fetching
(``feed/live/diffPatch`` on the last state) versus full-feed polling, same replay, same run.

One stand-in replays the recorded games (``../shared/data/mlb/statsapi`` by default) on a scaled
clock. Two whole pipelines run at the same time against it, with the same scheduler settings (so the
same cadence), each on embedded backends of its own (one embedded PostgreSQL, a database each; a file
object store each; the PostgreSQL event log): one with ``fetch_mode="incremental"``, one with
``fetch_mode="full"``. Bytes are measured at the stand-in: an ASGI layer adds up the response bodies
it sends, per pipeline (told apart by User-Agent) and per endpoint: ``feed/live``, ``diffPatch``,
``timestamps`` (all three are "feed bytes"; every request counts, fallbacks included), plus the
schedule and other calls shown apart. The fetchers' own counters are printed beside them as a check,
and the two databases' table checksums are compared (the runs must store the same game model).

Prints the per-game table and the totals, and appends one JSON line to ``bench/results/fetch.jsonl``.
Target: incremental feed bytes <= 10% of full-feed polling's.

    uv run --frozen python bench/bench_fetch.py [--games N] [--speed 60] [--poll 10]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import structlog

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from _common import git_commit  # noqa: E402

from sts.adapters.embedded_pg import EmbeddedPostgres  # noqa: E402
from sts.adapters.mlb_client import MLBClient  # noqa: E402
from sts.bootstrap import Backends, open_backends  # noqa: E402
from sts.config import Settings  # noqa: E402
from sts.db.queries import table_checksums  # noqa: E402
from sts.recordings import scan_recordings  # noqa: E402
from sts.services.pipeline import Pipeline  # noqa: E402
from sts.services.scheduler import SchedulerConfig  # noqa: E402
from sts.standin.server import StandIn  # noqa: E402

MODES = ("incremental", "full")
FEED_KINDS = ("feed", "diffPatch", "timestamps")
_GAME_PATH = re.compile(r"^/api/v1(?:\.1)?/game/(\d+)/(feed/live(?:/diffPatch|/timestamps)?)/?$")
_KIND = {"feed/live": "feed", "feed/live/diffPatch": "diffPatch", "feed/live/timestamps": "timestamps"}
# observation-only columns and tables, as in tests/e2e/test_demo.py
AUDIT_ONLY = ("processed_events",)
OBSERVED_ONLY = {
    "game_status_history": ("first_timecode",),
    "processed_events": ("processed_at",),
    "derived_box_lines": ("derived_at",),
    "box_quality": ("checked_at",),
    "stat_constants": ("loaded_at",),
    "park_factors": ("loaded_at",),
}


class ByteCounter:
    """ASGI layer over the stand-in: response body bytes and requests per (client, game, kind)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.bytes: dict[tuple[str, int, str], int] = defaultdict(int)
        self.requests: dict[tuple[str, int, str], int] = defaultdict(int)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        agent = dict(scope.get("headers") or []).get(b"user-agent", b"").decode()
        client = next((m for m in MODES if agent.endswith(f"bench-{m}")), "other")
        match = _GAME_PATH.match(scope["path"])
        game, kind = (int(match.group(1)), _KIND[match.group(2)]) if match else (0, scope["path"])
        key = (client, game, kind)
        self.requests[key] += 1

        async def counting(message: Any) -> None:
            if message["type"] == "http.response.body":
                self.bytes[key] += len(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, counting)


async def checksums(url: str) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await conn.execute("SET TimeZone = 'UTC'")
        return await table_checksums(conn, exclude_tables=AUDIT_ONLY, exclude_columns=OBSERVED_ONLY)


async def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    recordings = scan_recordings(args.recordings)
    pks = sorted(recordings.games)[: args.games] if args.games else sorted(recordings.games)
    recordings = dataclasses.replace(recordings, games={pk: recordings.games[pk] for pk in pks})
    config = SchedulerConfig(poll_interval=args.poll, schedule_interval=300, pregame_lead=1800)

    pg = EmbeddedPostgres(root / "pgdata")
    pg.start()
    urls = {}
    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        for mode in MODES:
            conn.execute(f'CREATE DATABASE "bench_{mode}"')
            urls[mode] = pg.url(f"bench_{mode}")
    standin = StandIn(recordings, speed=args.speed, start_in=args.start_in)
    counter = ByteCounter(standin.http.app)
    standin.http.app = counter  # type: ignore[assignment]
    base = await standin.start()
    backends: dict[str, Backends] = {}
    pipelines: dict[str, Pipeline] = {}
    try:
        for mode in MODES:
            settings = Settings(
                data_dir=root / mode,
                database_url=urls[mode],
                object_store_url=f"file://{root / mode / 'objects'}",
            )
            backends[mode] = await open_backends(settings)

        async def replay(mode: str) -> None:
            agent = f"STS bench-{mode}"
            async with MLBClient(base, timeout=30, retries=3, user_agent=agent) as client:
                pipelines[mode] = Pipeline(backends[mode], client, standin.clock, config, fetch_mode=mode)  # type: ignore[arg-type]
                await pipelines[mode].run(asyncio.Event(), until_done=True)

        t0 = time.perf_counter()
        await asyncio.gather(*(replay(m) for m in MODES))
        wall = time.perf_counter() - t0
        sums = {mode: await checksums(urls[mode]) for mode in MODES}
    finally:
        for b in backends.values():
            await b.aclose()
        await standin.stop()
        pg.stop()

    figures: dict[str, Any] = {"games": len(pks), "wall_s": round(wall, 1)}
    per_game: dict[str, dict[str, Any]] = {}
    for pk in pks:
        row: dict[str, Any] = {}
        for mode in MODES:
            row[mode] = {
                "requests": {k: counter.requests.get((mode, pk, k), 0) for k in FEED_KINDS},
                "bytes": {k: counter.bytes.get((mode, pk, k), 0) for k in FEED_KINDS},
            }
        per_game[str(pk)] = row
    for mode in MODES:
        feed_bytes = sum(v for (c, g, k), v in counter.bytes.items() if c == mode and k in FEED_KINDS)
        feed_requests = sum(v for (c, g, k), v in counter.requests.items() if c == mode and k in FEED_KINDS)
        other_bytes = sum(v for (c, g, k), v in counter.bytes.items() if c == mode and k not in FEED_KINDS)
        other_requests = sum(
            v for (c, g, k), v in counter.requests.items() if c == mode and k not in FEED_KINDS
        )
        p = pipelines[mode]
        figures[mode] = {
            "feed_requests": feed_requests,
            "feed_bytes": feed_bytes,
            "feed_requests_per_game": round(feed_requests / len(pks), 1),
            "feed_megabytes_per_game": round(feed_bytes / len(pks) / 1e6, 3),
            "other_requests": other_requests,
            "other_bytes": other_bytes,
            "snapshots_stored": p.stats.snapshots_stored,
            "snapshots_rejected": p.stats.snapshots_rejected,
            "fetcher": {
                "requests": p.fetcher.stats.requests,
                "bytes": p.fetcher.stats.bytes,
                "fallbacks": p.fetcher.stats.fallbacks,
                "fetches": p.fetcher.stats.fetches,
                "patched": p.fetcher.stats.patched,
                "unchanged": p.fetcher.stats.unchanged,
            },
        }
    inc, full = figures["incremental"], figures["full"]
    figures["bytes_ratio"] = round(inc["feed_bytes"] / full["feed_bytes"], 4)
    inc_per_poll = inc["feed_bytes"] / max(1, inc["fetcher"]["fetches"])
    full_per_poll = full["feed_bytes"] / max(1, full["fetcher"]["fetches"])
    figures["bytes_per_poll_ratio"] = round(inc_per_poll / full_per_poll, 4)
    figures["checksums_equal"] = sums["incremental"] == sums["full"] and len(sums["full"]) >= 8
    figures["per_game"] = per_game
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recordings", type=Path, default=REPO.parent / "shared" / "data" / "mlb" / "statsapi")
    ap.add_argument("--games", type=int, default=0, help="replay only the first N games (0: all)")
    ap.add_argument("--speed", type=float, default=60.0, help="virtual seconds per real second")
    ap.add_argument("--poll", type=float, default=10.0, help="poll interval of live games (virtual s)")
    ap.add_argument("--start-in", type=float, default=300.0, help="virtual s before the first pitch")
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "fetch.jsonl")
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        figures = asyncio.run(run(args, root))

    print(f"{figures['games']} games, speed {args.speed}, poll {args.poll} s, wall {figures['wall_s']} s")
    print(f"{'game':>8} {'mode':>12} {'feed':>6} {'diffPatch':>9} {'tstamps':>7} {'MB':>9}")
    for pk, row in figures["per_game"].items():
        for mode in MODES:
            r, b = row[mode]["requests"], row[mode]["bytes"]
            print(f"{pk:>8} {mode:>12} {r['feed']:>6} {r['diffPatch']:>9} {r['timestamps']:>7} "
                  f"{sum(b.values()) / 1e6:>9.3f}")  # fmt: skip
    for mode in MODES:
        f = figures[mode]
        print(f"{mode:>12}: {f['feed_requests']} feed requests ({f['feed_requests_per_game']}/game), "
              f"{f['feed_bytes'] / 1e6:.2f} MB ({f['feed_megabytes_per_game']} MB/game); "
              f"stored {f['snapshots_stored']}, rejected {f['snapshots_rejected']}; "
              f"fetcher {f['fetcher']}")  # fmt: skip
    print(f"incremental / full feed bytes: {figures['bytes_ratio']:.2%} (target <= 10%), "
          f"per poll {figures['bytes_per_poll_ratio']:.2%}; "
          f"same table checksums: {figures['checksums_equal']}")  # fmt: skip

    args.results.parent.mkdir(parents=True, exist_ok=True)
    line = {"bench": "fetch", "at": datetime.now(UTC).isoformat(), "commit": git_commit(short=True),
            "speed": args.speed, "poll_interval": args.poll, "start_in": args.start_in,
            **figures}  # fmt: skip
    with open(args.results, "a") as f:
        f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
