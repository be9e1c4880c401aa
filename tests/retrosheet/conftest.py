"""Fixtures for the Retrosheet import: the 2020 event files, the register and Lahman in ``../shared``."""

from __future__ import annotations

from pathlib import Path

import pytest

from sts.retrosheet import files
from sts.retrosheet.crosswalk import Crosswalk
from sts.retrosheet.events import Game
from sts.retrosheet.season_import import SeasonImport, import_season


@pytest.fixture(scope="session")
def retro_2020(shared_data: Path) -> Path:
    return shared_data / "retrosheet" / "2020"


@pytest.fixture(scope="session")
def crosswalk(shared_data: Path) -> Crosswalk:
    return files.load_crosswalk(shared_data / files.REGISTER)


@pytest.fixture(scope="session")
def games_2020(retro_2020: Path) -> list[Game]:
    return files.load_games(retro_2020)


@pytest.fixture(scope="session")
def season_2020(games_2020: list[Game], crosswalk: Crosswalk) -> SeasonImport:
    """All 898 games through the engine (about 20-30 s of CPU)."""
    return import_season(games_2020, crosswalk)


def game(games: list[Game], game_id: str) -> Game:
    return next(g for g in games if g.game_id == game_id)
