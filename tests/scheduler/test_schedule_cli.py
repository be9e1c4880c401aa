"""``sts schedule --api`` (a plan from the stand-in's schedule) and the health server's ``/schedule`` route.
(``sts schedule --url`` on a running pipeline is in ``test_pipeline_slate.py``.)"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from sts.cli import app
from sts.cli import commands as _commands  # noqa: F401  (registers every command)
from sts.http.health import health_app, serve
from sts.standin.server import StandIn

runner = CliRunner()


async def test_schedule_api_plans_every_game_of_the_standin(shared_data: Path) -> None:
    # first pitches 4 h and 4 h + 7 x 30 min away: all far, each followed from 30 min before its start
    standin = StandIn(shared_data / "statsapi", speed=1, start_in=4 * 3600, stagger=1800)
    base = await standin.start()
    try:
        result = await asyncio.to_thread(runner.invoke, app, ["schedule", "--api", base, "--json"])
        table = await asyncio.to_thread(runner.invoke, app, ["schedule", "--api", base])
    finally:
        await standin.stop()
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    games = shown["games"]
    assert sorted(g["gamePk"] for g in games) == sorted(standin.replay.games)
    assert {g["state"] for g in games} == {"far"}
    for g in games:
        start = g["start"]
        assert g["nextPoll"] < start  # followed before the first pitch
        assert "followed from 30m before" in g["reason"] and start[11:19] in g["reason"]
    assert table.exit_code == 0 and "far" in table.stdout and str(games[0]["gamePk"]) in table.stdout


def test_schedule_needs_exactly_one_source() -> None:
    result = runner.invoke(app, ["schedule"])
    assert result.exit_code == 2
    unreachable = runner.invoke(app, ["schedule", "--url", "http://127.0.0.1:9"])
    assert unreachable.exit_code == 2 and "cannot read the schedule" in unreachable.output


async def test_health_schedule_route() -> None:
    shown: list[dict[str, Any]] = []
    server, port = await serve(health_app({}, schedule=lambda: shown[0] if shown else None))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            missing = await http.get("/schedule")
            assert missing.status_code == 404 and "no scheduler" in missing.json()["error"]
            shown.append({"now": "2026-07-01T23:00:00Z", "games": [{"gamePk": 1, "state": "live"}]})
            found = await http.get("/schedule")
            assert found.status_code == 200 and found.json() == shown[0]
            no_provider_server, other = await serve(health_app({}))
            try:
                none = await http.get(f"http://127.0.0.1:{other}/schedule")
                assert none.status_code == 404
            finally:
                await no_provider_server.stop()
    finally:
        await server.stop()
