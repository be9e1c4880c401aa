"""Benchmark (must show, issue 5): a 15-game slate replayed together through the whole pipeline with the
adaptive scheduler, on the embedded profile (embedded PostgreSQL, file object store, PostgreSQL event log).

The stand-in replays the recorded games and, to fill the slate, clones of them under other gamePks with
first pitches ``--shift`` virtual seconds apart (``StandIn(slate=15)``), on a scaled clock the pipeline
shares. Measured:

(a) requests, counted at the stand-in (every request it received, stamped with the virtual time of its
    arrival): the most requests in any sliding window of W virtual seconds, for W = 1 s, the bucket's
    period (burst / rate: the time it takes to refill), 10 s and 60 s, against what the token bucket
    allows in W (``burst + rate * W``), and the peak rate over each window;
(b) lag: for every state change the stand-in served while the game was followed (its timeline's state
    times, mapped to the replay clock), the virtual time from the change becoming served to the
    ingestion of the first snapshot that contains it (whose events are published before ingestion
    returns), p50/p99, beside the poll interval that was in force for that game then (the scheduler's
    planned interval after its previous poll), overall and for the in-play states only.

Prints a summary and appends one JSON line to ``bench/results/slate.jsonl``.

    uv run --frozen python bench/bench_slate.py [--games 15] [--speed 15] [--poll 30] [--rate 1 --burst 5]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
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

from sts.adapters.mlb_client import MLBClient  # noqa: E402
from sts.bootstrap import open_backends  # noqa: E402
from sts.config import Settings  # noqa: E402
from sts.services.ingest import IngestResult  # noqa: E402
from sts.services.pipeline import Pipeline  # noqa: E402
from sts.services.scheduler import SchedulerConfig  # noqa: E402
from sts.standin.server import StandIn  # noqa: E402


def max_in_window(times: list[float], window: float) -> int:
    """The most of ``times`` (sorted) in any half-open window ``[x, x + window)``."""
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


async def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    config = SchedulerConfig(
        poll_interval=args.poll,
        schedule_interval=300,
        pregame_lead=1800,
        pregame_interval=60,
        jitter=0.1,
        budget_rate=args.rate,
        budget_burst=args.burst,
        correction_window=0,
    )
    standin = StandIn(
        args.recordings, speed=args.speed, start_in=args.start_in, slate=args.games, slate_shift=args.shift
    )
    base = await standin.start()
    clock = standin.clock
    backends = await open_backends(Settings(data_dir=root))  # the embedded profile
    seen: list[tuple[int, str, float, float | None]] = []  # (game, timecode, virtual time, interval in force)
    pipeline: Pipeline | None = None

    def on_result(result: IngestResult) -> None:
        if result.outcome == "stored" and result.timecode and pipeline is not None:
            st = pipeline.scheduler.games.get(result.game_pk)
            in_force = None if st is None else st.interval  # planned after the previous poll
            seen.append((result.game_pk, result.timecode, clock.now_epoch(), in_force))

    t0 = time.perf_counter()
    try:
        async with MLBClient(base, timeout=30, retries=3) as client:
            pipeline = Pipeline(backends, client, clock, config, on_result=on_result)
            stop = asyncio.Event()
            task = asyncio.create_task(pipeline.run(stop, until_done=True))
            if args.duration:
                done, _ = await asyncio.wait({task}, timeout=args.duration / args.speed)
                if not done:
                    stop.set()
            await task
        wall = time.perf_counter() - t0
        games_final = sum(1 for g in pipeline.scheduler.games.values() if g.done)
        budget = pipeline.budget.describe() if hasattr(pipeline.budget, "describe") else {}
        stats = pipeline.stats
    finally:
        await backends.aclose()
        await standin.stop()

    # (a) requests at the stand-in
    times = sorted(t for t, path in standin.http.requests if path.startswith("/api/"))
    period = args.burst / args.rate
    windows: dict[str, Any] = {}
    for w in sorted({1.0, period, 10.0, 60.0}):
        peak = max_in_window(times, w)
        allowed = args.burst + args.rate * w
        windows[f"{w:g}s"] = {"peak_requests": peak, "allowed": round(allowed, 2),
                              "peak_rate_per_s": round(peak / w, 3), "within": peak <= allowed}  # fmt: skip
    span = times[-1] - times[0] if len(times) > 1 else 0.0

    # (b) lag from served change to ingestion (events published), split at the arrival of the request
    # that fetched it: the poll part (scheduling: up to one interval, plus any budget wait) and the
    # processing part (request, patch, validation, storage, publication), which runs in real time and so
    # weighs ``speed`` times more in virtual seconds than it would on a live day
    arrivals: dict[int, list[float]] = {}
    for t, path in standin.http.requests:
        parts = path.split("/")
        if len(parts) > 4 and parts[3] == "game" and parts[4].isdigit():
            arrivals.setdefault(int(parts[4]), []).append(t)
    lags: list[float] = []
    live_lags: list[float] = []
    poll_parts: list[float] = []
    processing_real_ms: list[float] = []
    ratios: list[float] = []
    total_ratios: list[float] = []
    intervals: list[float] = []
    over = 0
    by_game: dict[int, list[tuple[int, float, float | None]]] = {}
    for pk, tc, at, interval in seen:
        game = standin.replay.games[pk]
        by_game.setdefault(pk, []).append((game.timeline.timecodes.index(tc), at, interval))
    for pk, stored in by_game.items():
        game = standin.replay.games[pk]
        tl = game.timeline
        stored.sort()
        indexes = [i for i, _, _ in stored]
        # the states after the first one stored became served while the game was followed
        for i in range(stored[0][0] + 1, stored[-1][0] + 1):
            served = game.replay_first_pitch + (tl.times[i] - tl.first_pitch)
            k = bisect.bisect_left(indexes, i)  # the first stored snapshot that contains state i
            _, at, interval = stored[k]
            lag = max(0.0, at - served)
            lags.append(lag)
            if tl.states[i].phase == "live":
                live_lags.append(lag)
            reqs = arrivals.get(pk, [])
            r = bisect.bisect_right(reqs, at) - 1
            fetched = reqs[r] if r >= 0 else at
            poll_part = max(0.0, fetched - served)
            poll_parts.append(poll_part)
            processing_real_ms.append((at - fetched) / args.speed * 1000)
            if interval:
                ratios.append(poll_part / interval)
                total_ratios.append(lag / interval)
                intervals.append(interval)
                over += poll_part > interval
    figures: dict[str, Any] = {
        "games": len(standin.replay.games),
        "clones": len(standin.replay.clone_of),
        "games_final": games_final,
        "speed": args.speed,
        "poll_interval": args.poll,
        "budget": {"rate_per_s": args.rate, "burst": args.burst, "period_s": period, **budget},
        "wall_s": round(wall, 1),
        "virtual_s": round(wall * args.speed),
        "requests": len(times),
        "requests_per_s_mean": round(len(times) / span, 3) if span else None,
        "windows": windows,
        "budget_never_exceeded": all(w["within"] for w in windows.values()),
        "feed_requests_per_game": round(
            sum(len(v) for v in arrivals.values()) / max(1, len(standin.replay.games)), 1
        ),
        "snapshots_stored": stats.snapshots_stored,
        "events_published": stats.events_published,
        "changes_measured": len(lags),
    }
    if lags:
        figures["lag_s"] = {"p50": round(percentile(lags, 0.5), 1), "p99": round(percentile(lags, 0.99), 1),
                            "max": round(max(lags), 1)}  # fmt: skip
    if live_lags:
        figures["lag_in_play_s"] = {"p50": round(percentile(live_lags, 0.5), 1),
                                    "p99": round(percentile(live_lags, 0.99), 1)}  # fmt: skip
    if poll_parts:
        figures["lag_poll_part_s"] = {"p50": round(percentile(poll_parts, 0.5), 1),
                                      "p99": round(percentile(poll_parts, 0.99), 1)}  # fmt: skip
        figures["processing_real_ms"] = {"p50": round(percentile(processing_real_ms, 0.5)),
                                         "p99": round(percentile(processing_real_ms, 0.99))}  # fmt: skip
    if intervals:
        figures["interval_in_force_s"] = {"p50": round(percentile(intervals, 0.5), 1),
                                          "p99": round(percentile(intervals, 0.99), 1)}  # fmt: skip
        figures["lag_over_interval"] = {"p50": round(percentile(total_ratios, 0.5), 3),
                                        "p99": round(percentile(total_ratios, 0.99), 3)}  # fmt: skip
    if ratios:
        figures["poll_part_over_interval"] = {
            "p50": round(percentile(ratios, 0.5), 3),
            "p99": round(percentile(ratios, 0.99), 3),
            "share_within_one_interval": round(1 - over / len(ratios), 4),
        }
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recordings", type=Path, default=REPO.parent / "shared" / "data" / "mlb" / "statsapi")
    ap.add_argument("--games", type=int, default=15, help="games on the slate (recorded + clones)")
    ap.add_argument("--speed", type=float, default=15.0, help="virtual seconds per real second")
    ap.add_argument("--poll", type=float, default=30.0, help="live poll interval floor (virtual s)")
    ap.add_argument("--rate", type=float, default=1.0, help="request budget: requests per virtual second")
    ap.add_argument("--burst", type=float, default=5.0, help="request budget: burst")
    ap.add_argument("--start-in", type=float, default=300.0, help="virtual s before the first pitch")
    ap.add_argument("--shift", type=float, default=30.0, help="virtual s between a clone's first pitches")
    ap.add_argument(
        "--duration", type=float, default=0.0, help="stop after this many virtual s (0: all Final)"
    )
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "slate.jsonl")
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # warnings and up
    with tempfile.TemporaryDirectory(prefix="sts-bench-slate-") as tmp:
        figures = asyncio.run(run(args, Path(tmp)))
    line = {
        "bench": "slate",
        "at": datetime.now(UTC).isoformat(),
        "commit": git_commit(short=True),
        **figures,
    }
    print(json.dumps(line, indent=2))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with args.results.open("a") as f:
        f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
