"""Benchmark: the disaster-recovery drill on the production profile, timed (``docs/backup.md``).

The drill of ``tests/ops/test_dr_drill.py``: a live replay of ``--games`` through the real pipeline on
the PostgreSQL 15 server, Kafka + Apicurio and SeaweedFS S3 (names under a prefix of their own); a
backup (``sts backup``, to a folder or ``--to s3``) mid-game; the games finish; the database is dropped
and the Kafka topics and consumer groups deleted; ``sts restore`` into a new database, then
``sts rebuild``; the checksums must equal the original's (else the run fails and nothing is recorded).

Recorded (one JSON line appended to ``bench/results/dr.jsonl``):

- ``backup_s``, ``restore_s``, ``rebuild_s``: wall-clock seconds of each command (a process of its own:
  Python start-up included), ``pg_restore_s`` the dump's restore alone, ``rto_s`` restore + rebuild;
- the recovery point: ``snapshots_after_backup`` and ``events_after_backup`` (what the restored dump
  lacked), ``tables_differing`` (tables whose checksum after the rebuild differs from the original's;
  the run stops before recording unless it is 0: nothing fetched before the disaster is lost; see
  docs/backup.md for the RPO this gives);
- ``dump_bytes``, ``games``, ``speed``, load average and commit.

    STS_S3_ACCESS_KEY=sts STS_S3_SECRET_KEY=sts-secret-key \\
        uv run --frozen --all-extras python bench/bench_dr.py [--games 717055,747175] [--speed 300] [--to s3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import structlog

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))  # for tests.ops.backup_live (the drill's steps, shared with the test)

from _common import git_commit  # noqa: E402
from tests.contract.test_database import DEFAULT_SERVER_URL  # noqa: E402
from tests.e2e.test_profiles import delete_topics, production_settings  # noqa: E402
from tests.ops.backup_live import (  # noqa: E402
    checksums,
    cli,
    delete_groups,
    drop_database,
    new_database_url,
    run_live,
    s3_backup_location,
    settings_env,
)

from sts.bootstrap import make_store, open_backends  # noqa: E402
from sts.ports import BUCKET_LIVE  # noqa: E402

RESULTS = REPO / "bench" / "results" / "dr.jsonl"
SHARED = Path(os.environ.get("STS_SHARED_DIR", REPO.parent / "shared")) / "data" / "mlb"


def _create_database(server_url: str) -> str:
    url = new_database_url(server_url)
    admin = urlunsplit(urlsplit(server_url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{urlsplit(url).path.lstrip("/")}"')
    return url


def _ok(proc: Any, what: str) -> dict[str, Any]:
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


async def drill(games: list[int], speed: float, to: str, work: Path) -> dict[str, Any]:
    server = os.environ.get("STS_TEST_PG_URL", DEFAULT_SERVER_URL)
    prefix = f"drb-{uuid.uuid4().hex[:8]}"
    url = _create_database(server)
    settings = production_settings(work / "data", url, prefix)
    env = settings_env(settings)
    location = s3_backup_location(f"{prefix}-backups") if to == "s3" else str(work / "backups")
    created: list[str] = [url]
    backends = await open_backends(settings)
    try:

        async def back_up() -> tuple[Any, float]:
            return await asyncio.to_thread(cli, env, "backup", "--to", location, "--json")

        live = await run_live(backends, SHARED, games, speed=speed, after_plays=15, during=back_up)
        proc, backup_s = live.during
        backup = _ok(proc, "sts backup")
        original = await checksums(url, exclude_tables=("backups",))
        snapshots = len([o async for o in backends.store.list(BUCKET_LIVE)])
        await backends.aclose()
        drop_database(url)
        delete_topics(f"{prefix}.")
        delete_groups(f"{prefix}.")

        target = new_database_url(server)
        created.append(target)
        restored_env = {**env, "STS_DATABASE_URL": target}
        bid = backup["backup_id"]
        where = location.replace("?", f"/{bid}?", 1) if "?" in location else f"{location}/{bid}"
        proc, restore_s = cli(restored_env, "restore", "--from", where, "--json")
        report = _ok(proc, "sts restore")["restore"]
        proc, rebuild_s = cli(restored_env, "rebuild", "--json")
        rebuild = _ok(proc, "sts rebuild")["rebuild"]
        after = await checksums(target, exclude_tables=("backups",))
        differing = sorted(t for t in original if after.get(t) != original[t])
        if differing:
            raise SystemExit(f"checksums differ after restore + rebuild: {differing}")
        load = os.getloadavg()[0]
        return {
            "bench": "dr",
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": git_commit(),
            "cpus": os.cpu_count(),
            "load_average": round(load, 2),
            "games": len(games),
            "game_pks": games,
            "speed": speed,
            "to": to,
            "dump_bytes": backup["dump_bytes"],
            "backup_s": round(backup_s, 2),
            "restore_s": round(restore_s, 2),
            "pg_restore_s": report["database"]["restored_seconds"],
            "rebuild_s": round(rebuild_s, 2),
            "rto_s": round(restore_s + rebuild_s, 2),
            "snapshots": snapshots,
            "snapshots_after_backup": snapshots - backup["objects"][BUCKET_LIVE],
            "events_after_backup": rebuild["applied"],
            "rebuild_snapshots_read": rebuild["read"],
            "tables_differing": len(differing),
        }
    finally:
        with contextlib.suppress(Exception):
            await backends.aclose()
        store = make_store(settings)
        with contextlib.suppress(Exception):
            await store.purge_buckets()  # type: ignore[attr-defined]
        if to == "s3":
            with contextlib.suppress(Exception):
                await asyncio.to_thread(store._purge_sync, f"{prefix}-backups")  # type: ignore[attr-defined]
        await store.close()
        delete_topics(f"{prefix}.")
        with contextlib.suppress(Exception):
            delete_groups(f"{prefix}.")
        for db in created:
            drop_database(db)


def main() -> None:
    parser = argparse.ArgumentParser(description="The DR drill on the production profile, timed.")
    parser.add_argument("--games", default="747175", help="comma-separated gamePks (recorded)")
    parser.add_argument("--speed", type=float, default=300.0, help="stand-in clock speed")
    parser.add_argument("--to", choices=("folder", "s3"), default="folder", help="backup location kind")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    games = [int(g) for g in args.games.split(",") if g.strip()]
    with tempfile.TemporaryDirectory(prefix="sts-bench-dr-") as tmp:
        result = asyncio.run(drill(games, args.speed, args.to, Path(tmp)))
    print(
        f"DR drill, {len(games)} game(s), backup to {args.to}: backup {result['backup_s']} s, "
        f"restore {result['restore_s']} s (pg_restore {result['pg_restore_s']} s), "
        f"rebuild {result['rebuild_s']} s "
        f"-> RTO {result['rto_s']} s; {result['snapshots_after_backup']} snapshots and "
        f"{result['events_after_backup']} events after the backup, all recovered "
        f"({result['tables_differing']} tables differ); "
        f"load average {result['load_average']}"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
