"""Benchmark: milliseconds per game to parse a Retrosheet game, convert it to GUMBO-shaped plays and
derive its box score through the engine, over the whole 2020 season (898 games).

    .venv/bin/python bench/bench_retrosheet.py [--reps 1]

Each game's own event-file text is parsed inside the timed region (files are read from disk once,
before timing). Prints p50/p95 per phase and the season total, and appends one JSON line to
``bench/results/retrosheet.jsonl``. The shared data folder is ``../shared`` next to the repository, or
``$STS_SHARED_DIR``.
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

from _common import git_commit, percentile

from sts.retrosheet import files
from sts.retrosheet.convert import convert_game
from sts.retrosheet.events import parse_events
from sts.stats import derive_box

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("STS_SHARED_DIR", REPO.parent / "shared"))
MLB = SHARED / "data" / "mlb"
SEASON = MLB / "retrosheet" / "2020"
RESULTS = REPO / "bench" / "results" / "retrosheet.jsonl"


def game_texts() -> list[str]:
    """Each game's own lines (``id`` record to the next), so parsing can be timed per game."""
    out: list[str] = []
    for path in files.event_files(SEASON):
        chunk: list[str] = []
        for line in files.read_text(path).splitlines(keepends=True):
            if line.startswith("id,") and chunk:
                out.append("".join(chunk))
                chunk = []
            chunk.append(line)
        if chunk:
            out.append("".join(chunk))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1, help="passes over the season (default 1)")
    args = parser.parse_args()
    texts = game_texts()
    if not texts:
        raise SystemExit(f"no event files under {SEASON} (set STS_SHARED_DIR)")
    crosswalk = files.load_crosswalk(MLB / files.REGISTER)
    phases: dict[str, list[float]] = {"parse": [], "convert": [], "derive": [], "total": []}
    season_s: list[float] = []
    for _ in range(args.reps):
        start = time.perf_counter()
        for text in texts:
            t0 = time.perf_counter()
            (game,) = parse_events(text)
            t1 = time.perf_counter()
            converted = convert_game(game, crosswalk)
            t2 = time.perf_counter()
            derive_box(converted.feed)
            t3 = time.perf_counter()
            for name, value in (
                ("parse", t1 - t0),
                ("convert", t2 - t1),
                ("derive", t3 - t2),
                ("total", t3 - t0),
            ):
                phases[name].append(value * 1000)
        season_s.append(time.perf_counter() - start)
    figures: dict[str, float | int] = {"games": len(texts), "reps": args.reps}
    for name, values in phases.items():
        figures[f"{name}_ms_p50"] = round(statistics.median(values), 3)
        figures[f"{name}_ms_p95"] = round(percentile(values, 0.95), 3)
    figures["season_total_s"] = round(min(season_s), 3)
    record = {
        "bench": "retrosheet",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        **figures,
    }
    print(f"{len(texts)} Retrosheet games (2020) x {args.reps} pass(es)")
    for name in phases:
        print(
            f"{name:<8} p50 {figures[f'{name}_ms_p50']:7.2f} ms/game"
            f"   p95 {figures[f'{name}_ms_p95']:7.2f} ms/game"
        )
    print(f"season total {figures['season_total_s']:.2f} s (best pass); load average {record['load_avg_1m']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    print(f"appended to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
