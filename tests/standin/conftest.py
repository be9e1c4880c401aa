"""Fixtures of the stand-in tests: the real recordings, scanned once, and their timelines."""

from __future__ import annotations

from pathlib import Path

import pytest

from sts.recordings import Recordings, scan_recordings
from sts.standin.timeline import GameTimeline

FINAL_GAMES = {717055, 718263, 718322, 718594, 744914, 747175, 631220, 746215}


@pytest.fixture(scope="session")
def statsapi(shared_data: Path) -> Path:
    return shared_data / "statsapi"


@pytest.fixture(scope="session")
def recordings(statsapi: Path) -> Recordings:
    return scan_recordings(statsapi)


@pytest.fixture(scope="session")
def timelines(recordings: Recordings) -> dict[int, GameTimeline]:
    return {pk: GameTimeline(game.feed) for pk, game in recordings.games.items()}
