"""``sts retrosheet box`` / ``sts retrosheet season`` end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

import sts.cli.retrosheet  # noqa: F401  (registers the commands)
from sts.cli import app
from sts.retrosheet import files

runner = CliRunner()


def test_box_compared_with_the_feed(shared_data: Path) -> None:
    args = [
        "retrosheet",
        "box",
        str(shared_data / "retrosheet/2020/2020NYA.EVA"),
        "--game",
        "NYA202008051",
        "--feed",
        str(shared_data / "statsapi/more/feed_live_631220.json"),
    ]
    text = runner.invoke(app, args)
    assert text.exit_code == 1, text.output  # the one batted-ball call differs
    assert "from the feed's plays: 618/626 values match" in text.output
    assert "official box (liveData.boxscore/linescore of the feed): 1557/1565 values match" in text.output
    assert "earned runs vs data,er: 8/8 pitchers match" in text.output
    assert "Brett Gardner            batting.popOuts: feed=0 retrosheet=1" in text.output
    report = json.loads(runner.invoke(app, [*args, "--json"]).output)
    assert report["feed_comparison"]["matched"] == 618
    assert report["unmapped_players"] == [
        "davia003",
        "estrt001",
        "gardb001",
        "hoskr001",
        "mccua001",
        "taucm001",
    ]
    (game,) = report["games"]
    assert [game["teams"][s]["runs"] for s in ("away", "home")] == [11, 7]


def test_box_of_a_whole_file_and_a_missing_game(shared_data: Path) -> None:
    path = str(shared_data / "retrosheet/2022WAS_2.EVN")
    result = runner.invoke(app, ["retrosheet", "box", path, "--json"])
    assert result.exit_code == 0, result.output
    assert [g["game_id"] for g in json.loads(result.output)["games"]] == ["WAS202204070", "WAS202204080"]
    assert runner.invoke(app, ["retrosheet", "box", path, "--game", "XXX"]).exit_code == 2


def test_season_on_one_file(shared_data: Path, tmp_path: Path) -> None:
    shutil.copy(shared_data / "retrosheet/2020/2020NYA.EVA", tmp_path)
    args = [
        "retrosheet",
        "season",
        str(tmp_path),
        "--lahman",
        str(shared_data / files.LAHMAN_TEAMS),
        "--register",
        str(shared_data / files.REGISTER),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Retrosheet 2020: 30 games" in result.output
    assert "differences with Lahman Teams" in result.output
    report = json.loads(runner.invoke(app, [*args, "--json"]).output)
    assert report["teams"]["NYA"]["G"] == 30
    assert report["earned_runs_vs_data_er"]["mismatches"] == []
