"""Benchmark: peak memory (RSS) of an export of one game versus a full season of plays and pitches.

    .venv/bin/python bench/bench_export.py [--formats csv,jsonl,parquet] [--reload]

A full season needs plays and pitches in the database: the 2020 Retrosheet event files (898 games) are
converted to GUMBO-shaped feeds (:mod:`sts.retrosheet.convert`), turned into events
(:func:`sts.events.derive.derive_events`) and written by the normalized write path
(:func:`sts.db.normalized.write_events`), the same as a live game's events. The database is an embedded
PostgreSQL under ``.cache/bench-export/`` (git-ignored), loaded once and reused (``--reload`` starts over).

Each export runs in a child process of its own (``--child``) that streams the file to a byte counter, so
its ``ru_maxrss`` is that export's peak and nothing else's. A child that connects but exports nothing gives
the floor. For contrast, one child exports the season's pitches the naive way (``fetchall`` then one
table) to show what streaming saves. Prints a table and appends one JSON line to
``bench/results/export.jsonl``. The shared data folder is ``../shared`` next to the repository, or
``$STS_SHARED_DIR``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import git_commit

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("STS_SHARED_DIR", REPO.parent / "shared"))
MLB = SHARED / "data" / "mlb"
SEASON = MLB / "retrosheet" / "2020"
CACHE = REPO / ".cache" / "bench-export"
RESULTS = REPO / "bench" / "results" / "export.jsonl"
ONE_GAME = "NYA202007310"  # a Retrosheet game id of the season (Yankees at home)
MONTH = {"date_from": "2020-08-01", "date_to": "2020-08-31"}


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --------------------------------------------------------------------------- the child: one export


async def _child(url: str, dataset: str, fmt: str, scope: dict[str, Any], naive: bool) -> dict[str, Any]:
    import psycopg

    from sts import exports

    before = _rss_mib()
    started = time.perf_counter()
    written = 0
    async with await psycopg.AsyncConnection.connect(url) as conn:
        if dataset == "none":
            await conn.execute("SELECT 1")
        elif naive:  # what streaming avoids: every row in memory, then one table
            import pyarrow as pa
            import pyarrow.parquet as pq

            ds = exports.dataset(dataset)
            sql, params = exports.query(ds, _filters(scope))
            rows = await (await conn.execute(sql, params)).fetchall()
            schema = ds.arrow_schema()
            cols = list(zip(*rows, strict=True))
            arrays = [pa.array(c, type=f.type) for c, f in zip(cols, schema, strict=True)]
            table = pa.Table.from_arrays(arrays, schema=schema)
            buf = io.BytesIO()
            pq.write_table(table, buf, compression="zstd")
            written = buf.tell()
        else:
            f = _filters(scope)
            async for chunk in exports.stream_export(conn, dataset, fmt, f):
                written += len(chunk)
    return {"bytes": written, "seconds": time.perf_counter() - started, "rss_start_mib": before,
            "peak_rss_mib": _rss_mib()}  # fmt: skip


def _filters(scope: dict[str, Any]) -> Any:
    from datetime import date

    from sts import exports

    dates = {k: date.fromisoformat(v) for k, v in scope.items() if k.startswith("date_")}
    return exports.Filters(game_pk=scope.get("game_pk"), **dates)


def run_child(url: str, dataset: str, fmt: str, scope: dict[str, Any], naive: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", url, dataset, fmt, json.dumps(scope), "1" if naive else "0"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# --------------------------------------------------------------------------- loading the season


async def load_season(url: str) -> int:
    import psycopg

    from sts.db.normalized import write_events
    from sts.events.derive import derive_events
    from sts.retrosheet import files
    from sts.retrosheet.convert import convert_game
    from sts.services.retrosheet_import import game_feed

    crosswalk = files.load_crosswalk(MLB / files.REGISTER)
    n = 0
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for path in files.event_files(SEASON):
            for game in files.load_games(path):
                feed = game_feed(game, convert_game(game, crosswalk).feed, {})
                async with conn.transaction():
                    await write_events(conn, derive_events(None, feed))
                n += 1
            print(f"  loaded {n} games", file=sys.stderr)
    return n


_MONTH_SQL = f"official_date BETWEEN '{MONTH['date_from']}' AND '{MONTH['date_to']}'"


async def counts(url: str, game_pk: int) -> dict[str, int]:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url) as conn:
        out = {}
        for name, sql in (
            ("games", "SELECT count(*) FROM games"),
            ("plays", "SELECT count(*) FROM plays"),
            ("pitches", "SELECT count(*) FROM play_events WHERE is_pitch"),
            ("game_plays", f"SELECT count(*) FROM plays WHERE game_pk = {game_pk}"),
            ("game_pitches", f"SELECT count(*) FROM play_events WHERE is_pitch AND game_pk = {game_pk}"),
            ("month_plays", f"SELECT count(*) FROM plays JOIN games USING (game_pk) WHERE {_MONTH_SQL}"),
            (
                "month_pitches",
                "SELECT count(*) FROM play_events JOIN games USING (game_pk)"
                f" WHERE is_pitch AND {_MONTH_SQL}",
            ),
        ):
            row = await (await conn.execute(sql)).fetchone()
            out[name] = int(row[0]) if row else 0
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default="csv,jsonl,parquet")
    parser.add_argument("--reload", action="store_true", help="drop the cached database and load again")
    parser.add_argument("--child", nargs=5, metavar=("URL", "DATASET", "FORMAT", "SCOPE", "NAIVE"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.child:
        url, dataset, fmt, scope, naive = args.child
        result = asyncio.run(_child(url, dataset, fmt, json.loads(scope), naive == "1"))
        print(json.dumps(result))
        return

    import shutil

    from sts.adapters.embedded_pg import EmbeddedPostgres
    from sts.db import migrate
    from sts.services.retrosheet_import import game_key

    if not SEASON.is_dir():
        raise SystemExit(f"no event files under {SEASON} (set STS_SHARED_DIR)")
    if args.reload and CACHE.exists():
        shutil.rmtree(CACHE)
    CACHE.mkdir(parents=True, exist_ok=True)
    server = EmbeddedPostgres(CACHE / "pgdata")
    url = server.start()
    try:
        migrate(url)
        game_pk = game_key(ONE_GAME)
        n = asyncio.run(counts(url, game_pk))
        if n["games"] < 800:
            t = time.perf_counter()
            asyncio.run(load_season(url))
            print(f"season loaded in {time.perf_counter() - t:.0f} s", file=sys.stderr)
            n = asyncio.run(counts(url, game_pk))
        floor = run_child(url, "none", "csv", {})
        scopes = {"game": {"game_pk": game_pk}, "month": MONTH, "season": {}}
        runs = []
        for dataset in ("plays", "pitches"):
            for fmt in args.formats.split(","):
                for scope, filters in scopes.items():
                    r = run_child(url, dataset, fmt, filters)
                    rows = n[f"{scope}_{dataset}"] if scope != "season" else n[dataset]
                    runs.append({"dataset": dataset, "format": fmt, "scope": scope, "rows": rows, **r})
        naive = run_child(url, "pitches", "parquet", {}, naive=True)
        naive.update(dataset="pitches", format="parquet", scope="season", rows=n["pitches"], naive=True)
    finally:
        server.stop()

    print(f"floor (connected, nothing exported): peak RSS {floor['peak_rss_mib']:.1f} MiB")
    print(f"{'dataset':8} {'format':8} {'scope':15} {'rows':>8} {'MB out':>8} {'s':>6} {'peak RSS MiB':>13}")
    for r in [*runs, naive]:
        label = r["scope"] + (" (naive)" if r.get("naive") else "")
        print(f"{r['dataset']:8} {r['format']:8} {label:15} {r['rows']:>8} {r['bytes'] / 1e6:>8.1f} "
              f"{r['seconds']:>6.1f} {r['peak_rss_mib']:>13.1f}")  # fmt: skip

    def peak(d: str, f: str, scope: str) -> float:
        return float(
            next(r for r in runs if (r["dataset"], r["format"], r["scope"]) == (d, f, scope))["peak_rss_mib"]
        )

    fmts = args.formats.split(",")
    growth = {
        f"{d}/{f}": round(peak(d, f, "season") - peak(d, f, "game"), 1)
        for d in ("plays", "pitches")
        for f in fmts
    }
    plateau = {
        f"{d}/{f}": round(peak(d, f, "season") - peak(d, f, "month"), 1)
        for d in ("plays", "pitches")
        for f in fmts
    }
    print("peak RSS, season minus one game (MiB):", growth)
    print("peak RSS, season minus one month (MiB):", plateau)
    line = {
        "bench": "export",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "season": 2020,
        "games": n["games"],
        "one_game": ONE_GAME,
        "batch_rows": 5000,
        "floor_rss_mib": round(floor["peak_rss_mib"], 1),
        "runs": [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()} for r in runs],
        "naive_pitches_parquet_season_rss_mib": round(naive["peak_rss_mib"], 1),
        "rss_growth_season_vs_game_mib": growth,
        "rss_growth_season_vs_month_mib": plateau,
        "month": MONTH,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(line) + "\n")
    print(f"appended to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
