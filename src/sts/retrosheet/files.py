"""Reading Retrosheet, Chadwick and Lahman files: the only I/O of :mod:`sts.retrosheet`.

Retrosheet files are ASCII/Latin-1 with CRLF line ends; they are read as Latin-1 so that no byte fails.
"""

from __future__ import annotations

from pathlib import Path

from sts.retrosheet.crosswalk import Crosswalk, parse_register
from sts.retrosheet.events import Game, parse_events
from sts.retrosheet.season import LahmanTeam, parse_lahman_teams

REGISTER = Path("register") / "chadwick_register_mlb_2015plus_subset.csv"
LAHMAN_TEAMS = Path("databank") / "Teams.csv"


def read_text(path: Path) -> str:
    return path.read_text(encoding="latin-1")


def event_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix.upper() in (".EVA", ".EVN"))


def load_games(path: Path) -> list[Game]:
    """Every game in an event file, or in every event file of a directory."""
    files = event_files(path) if path.is_dir() else [path]
    return [g for f in files for g in parse_events(read_text(f))]


def find_data_root(start: Path) -> Path | None:
    """The ``data/mlb`` folder above ``start`` (holding ``register/`` and ``databank/``), if any."""
    for parent in [start, *start.parents]:
        if (parent / REGISTER).is_file():
            return parent
    return None


def load_crosswalk(path: Path | None) -> Crosswalk:
    """The register at ``path``; an empty crosswalk (every id kept as Retrosheet's) without one."""
    return parse_register(read_text(path)) if path is not None and path.is_file() else Crosswalk({})


def load_lahman_teams(path: Path, year: int) -> list[LahmanTeam]:
    return parse_lahman_teams(read_text(path), year)
