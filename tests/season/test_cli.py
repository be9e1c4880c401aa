"""``sts stats …`` end to end against a real database (``STS_DATABASE_URL``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

import sts.cli.stats  # noqa: F401  (registers the commands)
from sts.cli import app

runner = CliRunner()


def _run(url: str, *args: str) -> Any:
    return runner.invoke(app, ["stats", *args], env={"STS_DATABASE_URL": url})


def test_import_lahman_prints_unmatched(pg_url: str, shared_data: Path) -> None:
    result = _run(pg_url, "import-lahman", "--seasons", "2024", "--data", str(shared_data))
    assert result.exit_code == 0, result.output
    assert "300 team rows" not in result.output and "30 team rows" in result.output
    unmatched = re.search(r"unmatched: (\d+)", result.output)
    assert unmatched and int(unmatched.group(1)) > 0
    assert "constants versions added: 155" in result.output
    # the Lahman player, by MLBAM id and by Lahman id, with every rate
    by_id = json.loads(_run(pg_url, "player", "592450", "--season", "2024", "--json").output)
    by_lahman = json.loads(_run(pg_url, "player", "judgeaa01", "--season", "2024", "--json").output)
    assert by_id == by_lahman
    rates = by_id["batting"]["rates"]
    assert set(rates) == {"AVG", "OBP", "SLG", "OPS", "ISO", "BABIP", "K%", "BB%", "wOBA", "wRAA", "wRC",
                          "wRC+"} and all(v is not None for v in rates.values())  # fmt: skip
    pitcher = json.loads(_run(pg_url, "player", "Chris Sale", "--season", "2024", "--json").output)
    assert set(pitcher["pitching"]["rates"]) >= {"ERA", "WHIP", "FIP", "K/9", "BB/9", "HR/9", "K-BB%", "LOB%"}
    assert pitcher["pitching"]["qualified"]
    ambiguous = _run(pg_url, "player", "Rodrig", "--season", "2024")
    assert ambiguous.exit_code == 2 and "matches" in ambiguous.output
    board = _run(pg_url, "leaders", "FIP", "--season", "2024", "--limit", "3")
    assert board.exit_code == 0 and "Chris Sale" in board.output and "162 IP" in board.output
    team = json.loads(_run(pg_url, "team", "Yankees", "--season", "2024", "--json").output)
    assert team["team"] == "NYA" and team["park_factor"] == 0.99


def test_add_games_then_player_with_splits(pg_url: str, shared_data: Path) -> None:
    feed = str(shared_data / "statsapi/feed_live_744914.json")
    result = _run(pg_url, "add-games", feed)
    assert result.exit_code == 0, result.output
    assert "744914: 1371/1371 values match, 0 mismatch(es)" in result.output
    player = _run(pg_url, "player", "Bo Bichette", "--season", "2024")
    assert player.exit_code == 0, player.output
    assert "source=statsapi" in player.output and "splits" in player.output
    unknown = _run(pg_url, "leaders", "XYZ", "--season", "2024")
    assert unknown.exit_code == 1 and "unknown stat" in unknown.output
