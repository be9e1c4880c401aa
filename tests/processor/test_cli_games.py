"""``sts games`` / ``sts game`` against a real database."""

from __future__ import annotations

import json

import psycopg
import pytest
from typer.testing import CliRunner

from sts.cli import app
from sts.cli import games as _games  # noqa: F401  (registers the commands)
from sts.events.derive import derive_events
from sts.services.processor import apply_events
from tests.events.feeds import load, states


@pytest.fixture
async def stored(migrated_pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    async with await psycopg.AsyncConnection.connect(migrated_pg_url) as conn:
        await apply_events(conn, derive_events(None, load("feed_live_744914.json")))
        await apply_events(conn, derive_events(None, states(load("feed_live_718594.json"), 40)[1]))
    monkeypatch.setenv("STS_DATABASE_URL", migrated_pg_url)
    return migrated_pg_url


def test_games_and_game(stored: str) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["games", "--json"])
    assert result.exit_code == 0, result.output
    games = {g["game_pk"]: g for g in json.loads(result.output)}
    assert games[744914]["plays"] == 68 and games[744914]["pitches"] == 244
    assert (games[744914]["away"], games[744914]["home"], games[744914]["status"]) == ("HOU", "TOR", "Final")
    assert games[718594]["status"] == "In Progress"

    result = runner.invoke(app, ["games"])
    assert result.exit_code == 0 and "HOU @ TOR" in result.output

    result = runner.invoke(app, ["game", "744914", "--json"])
    assert result.exit_code == 0, result.output
    detail = json.loads(result.output)
    assert [i["away_runs"] for i in detail["innings"]] == [0, 0, 0, 0, 1, 0, 0, 0, 2]
    assert detail["pitchers"][0]["name"] == "Brown, H"

    result = runner.invoke(app, ["game", "744914"])
    assert result.exit_code == 0 and "line score" in result.output and "Hader" in result.output
    result = runner.invoke(app, ["game", "718594"])  # in progress: line score from the plays
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["game", "1"])
    assert result.exit_code == 1
