"""``sts standin``: the summary it prints, and a clear message without recordings."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from sts.cli.standin import standin, summary
from sts.recordings import Recordings


def test_summary_lists_games_and_reasons(recordings: Recordings) -> None:
    text = "\n".join(summary(recordings))
    assert "games replayed (8)" in text
    assert "744914  2024-07-01  Houston Astros @ Toronto Blue Jays" in text
    assert "746139  no final feed recorded" in text


def test_missing_recordings_folder_asks_for_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exc:
        standin(recordings=tmp_path / "nowhere")
    assert exc.value.exit_code == 2
    assert "--recordings" in capsys.readouterr().err
