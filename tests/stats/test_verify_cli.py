"""``sts verify boxscore`` end to end on the recorded feeds."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import sts.cli.verify  # noqa: F401  (registers the command)
from sts.cli import app

runner = CliRunner()


def test_matching_feed_exits_zero(shared_data: Path) -> None:
    result = runner.invoke(app, ["verify", "boxscore", str(shared_data / "statsapi/feed_live_717055.json")])
    assert result.exit_code == 0, result.output
    assert "OK  717055  1552/1552 values match" in result.output


def test_mismatch_exits_one_and_names_player_stat_and_values(shared_data: Path, tmp_path: Path) -> None:
    """An official value changed in a copy of a real feed is found, named, and fails the run."""
    feed = json.loads((shared_data / "statsapi/feed_live_744914.json").read_text())
    line = feed["liveData"]["boxscore"]["teams"]["away"]["players"]["ID676801"]["stats"]["batting"]
    line["hits"] += 1
    path = tmp_path / "feed_live_744914.json"
    path.write_text(json.dumps(feed))
    result = runner.invoke(app, ["verify", "boxscore", str(path)])
    assert result.exit_code == 1
    assert "Chas McCormick (676801)" in result.output
    assert f"batting.hits: ours={line['hits'] - 1} official={line['hits']}" in result.output


def test_undetermined_values_are_listed_and_do_not_fail(shared_data: Path) -> None:
    result = runner.invoke(app, ["verify", "boxscore", str(shared_data / "statsapi/feed_live_744914.json")])
    assert result.exit_code == 0, result.output
    assert "not derivable from the plays: 1 official values" in result.output
    assert "Chas McCormick (676801)" in result.output
    assert "fielding.gamesStarted: ours=None official=1" in result.output


def test_directory_json_report(shared_data: Path) -> None:
    result = runner.invoke(app, ["verify", "boxscore", str(shared_data / "statsapi"), "--json"])
    body = json.loads(result.output)
    games = {g["game_pk"]: g for g in body["games"]}
    # every final feed, recursively (recorded/, more/, converted_from_js/); live feeds are skipped
    assert set(games) == {717055, 718263, 718322, 718594, 744914, 747175, 631220, 746215}
    assert all(g["matched"] + len(g["mismatches"]) == g["total"] for g in games.values())
    assert games[747175]["file"].endswith("recorded/feed_live_747175.stub.json")
    assert result.exit_code == (0 if body["ok"] else 1)


def test_explicit_non_final_feed_is_an_error(shared_data: Path) -> None:
    live = shared_data / "statsapi/feed_live_746139_20240612_041248.json"
    result = runner.invoke(app, ["verify", "boxscore", str(live)])
    assert result.exit_code == 1
    assert "not a final live feed" in result.output
