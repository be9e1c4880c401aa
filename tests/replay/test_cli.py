"""``sts replay`` and ``sts rebuild`` as commands: real processes on both bus backends, and the
argument errors (exit code 2, a message naming the problem) before any backend is opened."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
import structlog
from typer.testing import CliRunner

from sts.adapters.embedded_pg import EmbeddedPostgres
from sts.cli import _register, app
from sts.db import migrate
from tests.replay.conftest import GAMES, LiveRun, checksums

UNREACHABLE = "postgresql://sts@127.0.0.1:1/nowhere"


def sts(live: LiveRun, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STS_")}
    env.update(live.env)
    return subprocess.run(
        [sys.executable, "-m", "sts", *args], env=env, capture_output=True, text=True, timeout=300
    )


def _fresh(live: LiveRun) -> str:
    url = live.new_database()
    migrate(url)
    return url


@pytest.mark.slow
async def test_sts_replay_into_a_fresh_database_gives_the_live_rows(live: LiveRun) -> None:
    target = live.new_database()  # not migrated: --into migrates it first
    proc = sts(live, "replay", "--from", "0", "--into", target, "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary: dict[str, Any] = json.loads(proc.stdout)["replay"]
    assert summary["failed"] == 0 and summary["read"] > 100 and summary["games"] == list(GAMES)
    assert re.search(r"partition \d+: from offset 0", proc.stderr)  # progress goes to stderr
    assert await checksums(target) == await checksums(live.database_url)


@pytest.mark.slow
async def test_sts_rebuild_into_a_fresh_database_gives_the_live_rows(live: LiveRun) -> None:
    target = live.new_database()
    args = [a for pk in GAMES for a in ("--game", str(pk))]
    proc = sts(live, "rebuild", "--into", target, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{len(GAMES)} games" in proc.stdout and "0 failed" in proc.stdout, proc.stdout
    assert await checksums(target) == await checksums(live.database_url)


@pytest.mark.slow
async def test_sts_rebuild_of_a_game_that_was_never_stored_exits_1(live: LiveRun) -> None:
    proc = sts(live, "rebuild", "--into", _fresh(live), "--game", "1")
    assert proc.returncode == 1
    assert "FAILED game 1: no snapshot in mlb-live" in proc.stdout


# ----------------------------------------------------------------------------- argument errors


def invoke(*args: str) -> Any:
    """Run the command in this process; the commands configure structlog on the runner's stderr,
    which is closed afterwards, so the configuration is put back."""
    _register()
    saved = structlog.get_config()
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        structlog.configure(**saved)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "yesterday"], "--from: 'yesterday' is neither an offset"),
        (["--from", "0", "--to", "3:"], "--to: '3:' is neither an offset"),
        (["--from", "1:5,1:7"], "partition 1 is named twice"),
        (["--from", ""], "--from: empty position"),
        (["--from", "-4"], "is neither an offset"),
    ],
)
def test_a_bad_position_exits_2_naming_it(args: list[str], message: str) -> None:
    result = invoke("replay", *args)
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize("command", [["replay", "--from", "0"], ["rebuild"]])
def test_an_unreachable_into_exits_2_naming_it(command: list[str]) -> None:
    result = invoke(*command, "--into", UNREACHABLE)
    assert result.exit_code == 2
    assert "--into: cannot connect to postgresql://sts@127.0.0.1/nowhere" in result.output
    assert "connection" in result.output.lower()


@pytest.mark.parametrize("command", [["replay", "--from", "0"], ["rebuild"]])
def test_an_into_that_is_not_postgresql_exits_2(command: list[str]) -> None:
    result = invoke(*command, "--into", "file:///tmp/x")
    assert result.exit_code == 2
    assert "is not a postgresql:// URL" in result.output


@pytest.mark.slow
def test_replay_and_rebuild_leave_a_running_embedded_server_running(tmp_path: Path) -> None:
    """On the embedded default, a server already running (a live ``sts run`` in the same data dir) is
    used and left running; an empty bus and store give an empty, successful run."""
    tmp_path.chmod(0o755)
    server = EmbeddedPostgres(tmp_path / "data" / "pgdata")
    url = server.start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STS_")}
        env.update(STS_DATA_DIR=str(tmp_path / "data"), STS_OBJECT_STORE_URL=f"file://{tmp_path / 'objects'}")
        for args in (["replay", "--from", "0", "--json"], ["rebuild", "--json"]):
            proc = subprocess.run(
                [sys.executable, "-m", "sts", *args], env=env, capture_output=True, text=True, timeout=300
            )
            assert proc.returncode == 0, proc.stderr[-3000:]
            assert json.loads(proc.stdout)[args[0]]["read"] == 0
            with psycopg.connect(url, connect_timeout=5) as conn:  # still up
                assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop()
