"""End to end: ``sts demo`` over every recorded final game, on the embedded default.

Each test runs the real command in a subprocess (embedded PostgreSQL, file object store, PostgreSQL
event log, the stand-in replaying the recordings) and checks what it stored against the recorded
final feeds, which are MLB's own numbers.

Rows compared by checksum are the game model. Two things are left out, because they record what STS
*observed* rather than game facts, and so legitimately depend on when polls happened to land:
``game_status_history.first_timecode`` (the first snapshot in which a status was seen) and the
``processed_events`` audit table (a run that polls at other moments sees other status transitions).
The wall-clock columns saying when a row was written (``derived_at``, ``checked_at``, ``loaded_at``)
are left out too.

``game_status_history`` is compared apart (:func:`status_history`): which *pre-game* statuses a run saw
is an observation too. The demo's stand-in puts the first pitch 1800 replay seconds (6 real seconds at
this speed) after its origin, Warmup starts 1200 replay seconds before it (so Pre-Game is over 2 real
seconds after the origin, Warmup 4 seconds later), and the pipeline's first poll comes only after the
stand-in has started and the embedded PostgreSQL is up: a first run that has to initialise its database
on a loaded machine may poll first after the first pitch and see no pre-game status, a rerun on the
initialised database sees Warmup. So pre-game rows (Scheduled, Pre-Game, and Warmup, whose abstract state
is Live) need only be statuses of the pre-game timeline, while every other status (In Progress, Final)
must be the same.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sts.adapters.embedded_pg import EmbeddedPostgres
from sts.db.queries import table_checksums
from sts.standin.synth import STATUS

pytestmark = pytest.mark.slow

SPEED = "300"
# processed_events: the audit of what was applied; api_keys: each demo run creates (and prints) a
# first API key, an access credential of that run, not a fact about the games
AUDIT_ONLY = ("processed_events", "api_keys")
OBSERVED_ONLY = {
    "game_status_history": ("first_timecode",),
    "processed_events": ("processed_at",),
    # wall-clock times at which a row was written, not facts about the game
    "derived_box_lines": ("derived_at",),
    "box_quality": ("checked_at",),
    "stat_constants": ("loaded_at",),
    "park_factors": ("loaded_at",),
}


def _final_feeds(statsapi: Path) -> dict[int, dict[str, Any]]:
    feeds: dict[int, dict[str, Any]] = {}
    for path in statsapi.rglob("*.json"):
        try:
            doc = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        doc = doc.get("response", doc) if isinstance(doc, dict) else doc
        if (
            isinstance(doc, dict)
            and "liveData" in doc
            and "gameData" in doc
            and doc["gameData"]["status"].get("abstractGameState") == "Final"
        ):
            feeds[int(doc["gamePk"])] = doc
    return feeds


def _expected(feed: dict[str, Any]) -> dict[str, Any]:
    ls = feed["liveData"]["linescore"]
    plays = feed["liveData"]["plays"]["allPlays"]
    return {
        "gamePk": feed["gamePk"],
        "away": feed["gameData"]["teams"]["away"]["abbreviation"],
        "home": feed["gameData"]["teams"]["home"]["abbreviation"],
        "awayRuns": ls["teams"]["away"]["runs"],
        "homeRuns": ls["teams"]["home"]["runs"],
        "innings": len(ls["innings"]),
        "plays": len(plays),
        "pitches": sum(1 for p in plays for e in p.get("playEvents", []) if e.get("isPitch")),
        "status": "Final",
    }


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STS_")}
    env.update({"STS_DATA_DIR": str(data_dir), **extra})
    return env


def _demo_cmd(statsapi: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sts",
        "demo",
        "--recordings",
        str(statsapi),
        "--speed",
        SPEED,
        "--until-done",
        "--json",
        *args,
    ]


def run_demo(statsapi: Path, data_dir: Path, *args: str, **env: str) -> tuple[list[dict[str, Any]], str]:
    proc = subprocess.run(
        _demo_cmd(statsapi, *args), env=_env(data_dir, **env), capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout), proc.stderr


StatusRows = set[tuple[Any, ...]]
# the stand-in's statuses before the first pitch, as (abstract, coded, detailed state, status code):
# Scheduled and Pre-Game (Preview), and Warmup, whose abstract state is Live
PRE_GAME_STATUSES = {
    (s["abstractGameState"], s["codedGameState"], s["detailedState"], s["statusCode"])
    for phase, s in STATUS.items()
    if phase != "live"
}
PRE_GAME = {s[2] for s in PRE_GAME_STATUSES}


async def status_history(conn: psycopg.AsyncConnection[Any]) -> tuple[StatusRows, StatusRows]:
    """``(pre-game rows, the other rows)`` of ``game_status_history``, without ``first_timecode``
    (rows are ``(game_pk, abstract_state, coded_state, detailed_state, status_code)``); a row is
    pre-game by its detailed state (Warmup is of abstract state Live)."""
    cur = await conn.execute(
        "SELECT game_pk, abstract_state, coded_state, detailed_state, status_code FROM game_status_history"
    )
    rows = set(await cur.fetchall())
    pre = {r for r in rows if r[3] in PRE_GAME}
    return pre, rows - pre


def checksums(
    data_dir: Path, exclude_tables: tuple[str, ...] = ()
) -> tuple[dict[str, str], StatusRows, StatusRows]:
    """Per-table checksums without ``game_status_history``, and that table split by :func:`status_history`."""
    pg = EmbeddedPostgres(data_dir / "pgdata")
    url = pg.start()

    async def read() -> tuple[dict[str, str], StatusRows, StatusRows]:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            sums = await table_checksums(
                conn, exclude_tables=(*exclude_tables, "game_status_history"), exclude_columns=OBSERVED_ONLY
            )
            return (sums, *await status_history(conn))

    try:
        return asyncio.run(read())
    finally:
        pg.stop()


def assert_played_statuses(played: StatusRows, pre: StatusRows, games: list[int]) -> None:
    """Every game was seen In Progress and Final; every pre-game row is a status of the stand-in's
    pre-game timeline (all four columns)."""
    for status in ("In Progress", "Final"):
        assert sorted(r[0] for r in played if r[3] == status) == sorted(games), (status, played)
    assert {r[1:] for r in pre} <= PRE_GAME_STATUSES, pre


@pytest.fixture(scope="module")
def statsapi(shared_data: Path) -> Path:
    return shared_data / "statsapi"


@pytest.fixture(scope="module")
def clean_run(statsapi: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    data_dir = tmp_path_factory.mktemp("clean")
    data_dir.chmod(0o755)
    rows, stderr = run_demo(statsapi, data_dir)
    assert "rejected 0" in stderr, stderr[-2000:]
    return data_dir, rows


def test_every_recorded_final_game_matches_the_official_record(
    clean_run: tuple[Path, list[dict[str, Any]]], statsapi: Path
) -> None:
    _, rows = clean_run
    expected = [_expected(f) for _, f in sorted(_final_feeds(statsapi).items())]
    assert len(expected) == 8  # the eight final games in the recordings (746139 has no final feed)
    assert rows == expected


def test_running_the_same_demo_twice_changes_no_row(
    clean_run: tuple[Path, list[dict[str, Any]]], statsapi: Path, tmp_path: Path
) -> None:
    """The second run re-ingests every game from scratch (a new object store, a new replay) into the
    same database and event log: every snapshot is fetched, stored, derived and published again.
    Status observations of the second run carry other timecodes, so they are new events: the audit
    table ``processed_events`` records them (as stale where they are older than what is applied), but
    no row of the game model changes."""
    data_dir, rows = clean_run
    before, pre_before, played_before = checksums(data_dir, AUDIT_ONLY)
    again, stderr = run_demo(
        statsapi, data_dir, "--fresh", STS_OBJECT_STORE_URL=f"file://{tmp_path / 'objects-2'}"
    )
    assert again == rows
    stored = int(stderr.split("snapshots stored ")[1].split(",")[0])
    assert stored >= 8 * 5, stderr[-2000:]  # really re-ingested: several snapshots of every game
    after, pre_after, played_after = checksums(data_dir, AUDIT_ONLY)
    assert after == before
    # the statuses of the game: the same; a pre-game status the rerun saw and the first run did not
    # (see the module's doc) is added, none is removed
    assert played_after == played_before
    assert_played_statuses(played_after, pre_after, [r["gamePk"] for r in rows])
    assert pre_before <= pre_after


def test_killed_mid_replay_and_restarted_finishes_with_the_same_rows(
    clean_run: tuple[Path, list[dict[str, Any]]], statsapi: Path, tmp_path: Path
) -> None:
    clean_dir, clean_rows = clean_run
    data_dir = tmp_path / "killed"
    data_dir.mkdir()
    data_dir.chmod(0o755)
    proc = subprocess.Popen(
        _demo_cmd(statsapi), env=_env(data_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    live = data_dir / "objects" / "mlb-live"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if live.is_dir() and sum(1 for _ in live.rglob("*.json")) >= 30:
            break
        assert proc.poll() is None, "the demo ended before it could be killed"
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    stored_before_kill = sum(1 for _ in live.rglob("*.json"))
    assert stored_before_kill >= 30

    rows, _ = run_demo(statsapi, data_dir)  # resumes the same replay from the data dir
    assert rows == clean_rows
    sums, pre, played = checksums(data_dir, AUDIT_ONLY)
    clean_sums, clean_pre, clean_played = checksums(clean_dir, AUDIT_ONLY)
    assert sums == clean_sums
    assert played == clean_played  # pre-game statuses are observations (see the module's doc)
    assert_played_statuses(played, pre | clean_pre, [r["gamePk"] for r in rows])
