"""Season constants (FanGraphs Guts wOBA/FIP) and park factors: parse, store versioned, read back.

Contract of the stored tables (migration ``0003_season_stats``): a load never changes a stored row. For
each season (and team, for park factors) the numbers are compared with the latest stored version; equal
numbers are a no-op, different numbers are inserted as version + 1. Readers always use the latest
version (the ``*_latest`` views).

Park factors are keyed by FanGraphs' team nickname ("Red Sox"); :func:`park_team` maps any full team
name (Lahman "Los Angeles Angels of Anaheim", MLB "Arizona Diamondbacks") onto it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

GUTS_SOURCE = "fangraphs-guts"
PARK_SOURCE = "fangraphs-park-factors"

_GUTS_COLUMNS = {
    "wOBA": "woba", "wOBAScale": "woba_scale", "wBB": "w_bb", "wHBP": "w_hbp", "w1B": "w_1b",
    "w2B": "w_2b", "w3B": "w_3b", "wHR": "w_hr", "runSB": "run_sb", "runCS": "run_cs", "R/PA": "r_pa",
    "R/W": "r_w", "cFIP": "c_fip",
}  # fmt: skip
_PARK_COLUMNS = {
    "Basic (5yr)": "basic", "3yr": "three_yr", "1yr": "one_yr", "1B": "f_1b", "2B": "f_2b", "3B": "f_3b",
    "HR": "f_hr", "SO": "f_so", "BB": "f_bb", "GB": "f_gb", "FB": "f_fb", "LD": "f_ld", "IFFB": "f_iffb",
    "FIP": "f_fip",
}  # fmt: skip


@dataclass(frozen=True)
class Constants:
    """One season's FanGraphs Guts row (league wOBA, scale, linear weights, R/PA, R/W, cFIP)."""

    season: int
    woba: float
    woba_scale: float
    w_bb: float
    w_hbp: float
    w_1b: float
    w_2b: float
    w_3b: float
    w_hr: float
    run_sb: float
    run_cs: float
    r_pa: float
    r_w: float
    c_fip: float


_NUMBERS = [f.name for f in fields(Constants) if f.name != "season"]


def read_guts(path: Path) -> list[Constants]:
    """Parse FanGraphs' "wOBA and FIP constants" CSV (``Season,wOBA,wOBAScale,…,cFIP``)."""
    with path.open(newline="") as fh:
        return [
            Constants(
                season=int(row["Season"]),
                **{_GUTS_COLUMNS[k]: float(v) for k, v in row.items() if k in _GUTS_COLUMNS},
            )
            for row in csv.DictReader(fh)
        ]


def read_park_factors(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Parse FanGraphs park-factor CSVs (``Season,Team,Basic (5yr),3yr,…,FIP``): one dict per row."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                rec: dict[str, Any] = {"season": int(row["Season"]), "team": row["Team"]}
                rec.update({col: int(row[k]) if row.get(k) else None for k, col in _PARK_COLUMNS.items()})
                rows.append(rec)
    return rows


async def store_constants(
    conn: psycopg.AsyncConnection[Any], rows: Iterable[Constants], source: str = GUTS_SOURCE
) -> int:
    """Store each season's constants as a new version when they differ from the latest. Returns the
    number of versions added."""
    added = 0
    async with conn.cursor(row_factory=dict_row) as cur:
        for c in rows:
            await cur.execute("SELECT * FROM stat_constants_latest WHERE season = %s", (c.season,))
            latest = await cur.fetchone()
            if latest and all(abs(latest[n] - getattr(c, n)) < 1e-12 for n in _NUMBERS):
                continue
            version = latest["version"] + 1 if latest else 1
            values = asdict(c)
            cols = ["season", "version", "source", *_NUMBERS]
            await cur.execute(
                f"INSERT INTO stat_constants ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
                [c.season, version, source, *(values[n] for n in _NUMBERS)],
            )
            added += 1
    return added


async def store_park_factors(
    conn: psycopg.AsyncConnection[Any], rows: Iterable[Mapping[str, Any]], source: str = PARK_SOURCE
) -> int:
    """Store park factors, versioned per (season, team) like :func:`store_constants`."""
    cols = list(_PARK_COLUMNS.values())
    added = 0
    async with conn.cursor(row_factory=dict_row) as cur:
        for row in rows:
            await cur.execute(
                "SELECT * FROM park_factors_latest WHERE season = %s AND team = %s",
                (row["season"], row["team"]),
            )
            latest = await cur.fetchone()
            if latest and all(latest[c] == row[c] for c in cols):
                continue
            version = latest["version"] + 1 if latest else 1
            names = ["season", "team", "version", "source", *cols]
            await cur.execute(
                f"INSERT INTO park_factors ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})",
                [row["season"], row["team"], version, source, *(row[c] for c in cols)],
            )
            added += 1
    return added


def read_reference(reference_dir: Path) -> tuple[list[Constants], list[dict[str, Any]]]:
    """Parse ``fangraphs_guts_woba_fip_constants.csv`` and every ``fangraphs_park_factors_*.csv``."""
    guts = read_guts(reference_dir / "fangraphs_guts_woba_fip_constants.csv")
    return guts, read_park_factors(sorted(reference_dir.glob("fangraphs_park_factors_*.csv")))


async def load_reference(
    conn: psycopg.AsyncConnection[Any], reference: tuple[list[Constants], list[dict[str, Any]]]
) -> tuple[int, int]:
    """Store parsed reference data (:func:`read_reference`). Returns (constant versions added,
    park-factor versions added)."""
    consts = await store_constants(conn, reference[0])
    parks = await store_park_factors(conn, reference[1])
    return consts, parks


async def constants_for(conn: psycopg.AsyncConnection[Any], season: int) -> Constants | None:
    """The latest stored constants of ``season`` (None when none were loaded)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM stat_constants_latest WHERE season = %s", (season,))
        row = await cur.fetchone()
    if row is None:
        return None
    return Constants(season=season, **{n: float(row[n]) for n in _NUMBERS})


async def park_factors_for(conn: psycopg.AsyncConnection[Any], season: int) -> dict[str, float]:
    """FanGraphs nickname -> Basic (5yr) / 100 for ``season`` (latest versions; empty when not loaded)."""
    async with conn.cursor() as cur:
        await cur.execute("SELECT team, basic FROM park_factors_latest WHERE season = %s", (season,))
        return {team: basic / 100 for team, basic in await cur.fetchall()}


def park_team(full_name: str | None, nicknames: Iterable[str]) -> str | None:
    """The FanGraphs nickname contained in ``full_name`` (longest match wins), or None."""
    if not full_name:
        return None
    hits = [n for n in nicknames if n.lower() in full_name.lower()]
    return max(hits, key=len) if hits else None
