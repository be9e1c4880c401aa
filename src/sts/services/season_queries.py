"""The read side of season statistics: a player's season, a team's season, leaderboards.

Choices (documented here once):
  * Source: ``auto`` picks, for the season, the source whose teams played the most games (Lahman's
    complete seasons win over the few games we have followed ourselves); ``--source`` overrides.
  * A player's season is the sum of his rows (teams/stints) of that source. His park factor and his
    league wRC/PA are PA-weighted over those rows (wRC+ of a traded player).
  * Park factor of a team: FanGraphs Basic (5yr)/100 (its nickname found in the team's name), else
    Lahman's BPF/100, else 1.0.
  * League wRC/PA (wRC+ denominator): sum of wRC / sum of PA over the league's non-pitchers
    (:func:`sts.stats.season.is_pitcher`) in that source and season; when the league has under
    ``MIN_LEAGUE_PA`` such PA (a handful of followed games) the Guts R/PA is used instead.
  * Qualifiers: PA >= round(3.1 × G) and outs >= 3 × G, G = the most games among the player's teams
    of the season (``season_teams.games``: Lahman's G, or the final games we derived for the team).
  * Career: counting totals over every season of the source, with the rates that need no constants.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from sts.services.season_stats import pa_split_totals
from sts.stats.constants import Constants, constants_for, park_factors_for, park_team
from sts.stats.season import (
    BATTING_STATS,
    LEADER_STATS,
    PITCHING_STATS,
    batting_pa,
    batting_qualifier,
    batting_rates,
    is_pitcher,
    league_wrc_per_pa,
    lookup_stat,
    pitching_qualifier_outs,
    pitching_rates,
)  # fmt: skip

MIN_LEAGUE_PA = 10_000
Row = dict[str, Any]


@dataclass
class Context:
    source: str
    season: int
    constants: Constants | None
    teams: dict[str, Row] = field(default_factory=dict)  # team -> name, games, league, pf
    league_wrc_pa: dict[str | None, float] = field(default_factory=dict)


async def _rows(conn: psycopg.AsyncConnection[Any], sql: str, args: Any) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, args)
        return list(await cur.fetchall())


async def pick_source(conn: psycopg.AsyncConnection[Any], season: int, source: str = "auto") -> str:
    if source != "auto":
        return source
    rows = await _rows(conn, "SELECT source, max(games) AS g FROM season_teams WHERE season = %s"
                       " GROUP BY source ORDER BY 2 DESC NULLS LAST, 1 LIMIT 1", (season,))  # fmt: skip
    return str(rows[0]["source"]) if rows else "statsapi"


async def context(conn: psycopg.AsyncConnection[Any], source: str, season: int) -> Context:
    """Constants, team park factors and games, league wRC/PA for ``source`` and ``season``."""
    ctx = Context(source, season, await constants_for(conn, season))
    parks = await park_factors_for(conn, season)
    for t in await _rows(conn, "SELECT * FROM season_teams WHERE source = %s AND season = %s",
                         (source, season)):  # fmt: skip
        nick = park_team(t["team_name"], parks)
        pf = parks[nick] if nick else (t["bpf"] / 100 if t["bpf"] else 1.0)
        ctx.teams[t["team"]] = {"name": t["team_name"], "games": t["games"] or 0, "league": t["league"],
                                "pf": pf, "pf_source": "fangraphs" if nick else "lahman-bpf" if t["bpf"]
                                else "none"}  # fmt: skip
    if ctx.constants is None:
        return ctx
    bat = await _rows(
        conn, "SELECT * FROM season_batting WHERE source = %s AND season = %s", (source, season)
    )
    games = await _games(conn, source, season)
    by_league: dict[str | None, list[Row]] = defaultdict(list)
    for r in bat:
        bg, pg = games.get(r["player_key"], (0, 0))
        if not is_pitcher(bg, pg):
            by_league[r["league"]].append(r)
    for lg, rows in by_league.items():
        value = league_wrc_per_pa(rows, ctx.constants)
        enough = sum(batting_pa(r) for r in rows) >= MIN_LEAGUE_PA
        ctx.league_wrc_pa[lg] = value if value and enough else ctx.constants.r_pa
    return ctx


async def _games(conn: psycopg.AsyncConnection[Any], source: str, season: int) -> dict[str, tuple[int, int]]:
    """player_key -> (batting games, pitching games) in the season."""
    rows = await _rows(
        conn,
        "SELECT player_key, sum(bg)::int AS bg, sum(pg)::int AS pg FROM ("
        " SELECT player_key, g AS bg, 0 AS pg FROM season_batting WHERE source = %(s)s AND season = %(y)s"
        " UNION ALL SELECT player_key, 0, g FROM season_pitching WHERE source = %(s)s AND season = %(y)s"
        ") x GROUP BY player_key",
        {"s": source, "y": season},
    )
    return {r["player_key"]: (r["bg"] or 0, r["pg"] or 0) for r in rows}


def _total(rows: list[Row], stats: tuple[str, ...]) -> dict[str, int]:
    return {s: sum(int(r.get(s) or 0) for r in rows) for s in stats}


def _known(d: Mapping[str, float | None]) -> dict[str, float | None]:
    return _clean({k: v for k, v in d.items() if v is not None})


def _clean(d: Mapping[str, float | None]) -> dict[str, float | None]:
    return {k: None if v is None else round(v, 4) for k, v in d.items()}


def batting_season(rows: list[Row], ctx: Context) -> Row:
    """One player's batting season from his rows: counting totals, rates, qualification."""
    line = _total(rows, BATTING_STATS)
    line["pa"] = sum(batting_pa(r) for r in rows)
    pa = line["pa"] or 1
    pf = sum(batting_pa(r) * ctx.teams.get(r["team"], {}).get("pf", 1.0) for r in rows) / pa
    lg_vals = [(batting_pa(r), ctx.league_wrc_pa.get(r["league"])) for r in rows]
    lg = sum(n * v for n, v in lg_vals if v) / pa if all(v for _, v in lg_vals) else None
    g = max((ctx.teams.get(r["team"], {}).get("games", 0) for r in rows), default=0)
    return {"counting": line, "rates": _clean(batting_rates(line, ctx.constants, pf, lg)),
            "park_factor": round(pf, 4), "team_games": g,
            "qualified": g > 0 and line["pa"] >= batting_qualifier(g)}  # fmt: skip


def pitching_season(rows: list[Row], ctx: Context) -> Row:
    line = _total(rows, PITCHING_STATS)
    g = max((ctx.teams.get(r["team"], {}).get("games", 0) for r in rows), default=0)
    return {"counting": line, "rates": _clean(pitching_rates(line, ctx.constants)), "team_games": g,
            "qualified": g > 0 and line["outs"] >= pitching_qualifier_outs(g)}  # fmt: skip


async def resolve_player(conn: psycopg.AsyncConnection[Any], query: str) -> list[Row]:
    """Crosswalk rows for an MLBAM id (digits), a Lahman id, or a name (case-insensitive substring;
    exact full-name matches first)."""
    q = query.strip()
    if q.isdigit():
        return await _rows(conn, "SELECT * FROM player_ids WHERE mlbam = %s", (int(q),))
    rows = await _rows(conn, "SELECT * FROM player_ids WHERE lahman = %s OR bbref = %s OR retro = %s",
                       (q, q, q))  # fmt: skip
    return rows or await _rows(
        conn, "SELECT * FROM player_ids WHERE full_name ILIKE %s ORDER BY lower(full_name) <> lower(%s),"
        " full_name LIMIT 20", (f"%{q}%", q),
    )  # fmt: skip


#: the crosswalk column holding each source's ``player_key``
KEY_COLUMN = {"lahman": "lahman", "retrosheet": "retro", "statsapi": "mlbam"}


def _key(person: Row, source: str) -> str | None:
    value = person.get(KEY_COLUMN.get(source, "mlbam"))
    return None if value is None else str(value)


async def player_season(
    conn: psycopg.AsyncConnection[Any], person: Row, season: int, source: str = "auto"
) -> Row:
    """Counting stats, every rate, qualification, fielding, splits (our games) and career of one
    crosswalk row ``person`` (from :func:`resolve_player`)."""
    src = await pick_source(conn, season, source)
    key = _key(person, src)
    ctx = await context(conn, src, season)
    out: Row = {"player": {k: person.get(k) for k in ("full_name", "mlbam", "lahman", "retro", "bbref",
                                                      "fangraphs", "unmatched")},
                "season": season, "source": src, "teams": [], "batting": None, "pitching": None,
                "fielding": [], "splits": None, "career": None}  # fmt: skip
    if key is None:
        return out
    args = (src, season, key)
    where = "WHERE source = %s AND season = %s AND player_key = %s ORDER BY stint"
    bat = await _rows(conn, f"SELECT * FROM season_batting {where}", args)
    pit = await _rows(conn, f"SELECT * FROM season_pitching {where}", args)
    fld = await _rows(conn, f"SELECT * FROM season_fielding {where}", args)
    out["teams"] = sorted({r["team"] for r in bat + pit + fld})
    out["team_names"] = {t: ctx.teams.get(t, {}).get("name") for t in out["teams"]}
    if bat:
        out["batting"] = batting_season(bat, ctx)
    if pit:
        out["pitching"] = pitching_season(pit, ctx)
    out["fielding"] = [{k: r[k] for k in ("team", "pos", "g", "gs", "inn_outs", "po", "a", "e", "dp", "pb")}
                       for r in fld]  # fmt: skip
    if src == "statsapi":
        out["splits"] = {}
        for role, group in (("batter", "batting"), ("pitcher", "pitching")):
            if out[group]:
                splits = await pa_split_totals(conn, season, person_id=int(key), role=role)
                out["splits"][group] = _split_rates(splits, ctx)
    out["career"] = await _career(conn, src, key)
    return out


def _split_rates(splits: Mapping[str, Mapping[str, Row]], ctx: Context) -> Row:
    """Each split's counts with the rates that PA-level counts support."""
    keep = ("AVG", "OBP", "SLG", "OPS", "wOBA", "K%", "BB%")

    def rates(v: Row) -> dict[str, float | None]:
        return _clean({n: x for n, x in batting_rates(v, ctx.constants).items() if n in keep})

    return {kind: {k: {"counting": v, "rates": rates(v)} for k, v in d.items()}
            for kind, d in splits.items()}  # fmt: skip


async def _career(conn: psycopg.AsyncConnection[Any], source: str, key: str) -> Row:
    where = "WHERE source = %s AND player_key = %s"
    bat = await _rows(conn, f"SELECT * FROM season_batting {where}", (source, key))
    pit = await _rows(conn, f"SELECT * FROM season_pitching {where}", (source, key))
    seasons = sorted({r["season"] for r in bat + pit})
    out: Row = {"seasons": seasons}
    if bat:
        line = _total(bat, BATTING_STATS) | {"pa": sum(batting_pa(r) for r in bat)}
        out["batting"] = {"counting": line, "rates": _known(batting_rates(line, None))}
    if pit:
        line = _total(pit, PITCHING_STATS)
        out["pitching"] = {"counting": line, "rates": _known(pitching_rates(line, None))}
    return out


async def team_season(
    conn: psycopg.AsyncConnection[Any], team: str, season: int, source: str = "auto"
) -> Row | None:
    """A team's season (code, MLBAM id as text, or part of its name): record, batting and pitching
    totals (sums of its players' rows) with their rates."""
    src = await pick_source(conn, season, source)
    rows = await _rows(
        conn, "SELECT * FROM season_teams WHERE source = %s AND season = %s AND (upper(team) = upper(%s)"
        " OR team_name ILIKE %s) ORDER BY upper(team) <> upper(%s) LIMIT 1",
        (src, season, team, f"%{team}%", team),
    )  # fmt: skip
    if not rows:
        return None
    t = rows[0]
    ctx = await context(conn, src, season)
    # the team's lines are the sums of its players' rows (they carry IBB, SH, HBP allowed and BF, which
    # Lahman's Teams table lacks); the team row is the fallback when no player rows were loaded
    args = (src, season, t["team"])
    where = "WHERE source = %s AND season = %s AND team = %s"
    bat_rows = await _rows(conn, f"SELECT * FROM season_batting {where}", args)
    pit_rows = await _rows(conn, f"SELECT * FROM season_pitching {where}", args)
    bat = _total(bat_rows, BATTING_STATS) if bat_rows else dict(t["batting"])
    pit = _total(pit_rows, PITCHING_STATS) if pit_rows else dict(t["pitching"])
    bat["pa"] = sum(batting_pa(r) for r in bat_rows) if bat_rows else batting_pa(bat)
    bat["g"] = pit["g"] = t["games"]
    info = ctx.teams.get(t["team"], {})
    lg = ctx.league_wrc_pa.get(t["league"])
    bat_rates = batting_rates(bat, ctx.constants, info.get("pf", 1.0), lg)
    splits = None
    if src == "statsapi" and t["team"].isdigit():
        splits = {}
        for group, role in (("batting", "batter"), ("pitching", "pitcher")):
            found = await pa_split_totals(conn, season, team_id=int(t["team"]), role=role)
            splits[group] = _split_rates(found, ctx)
    return {"team": t["team"], "name": t["team_name"], "league": t["league"], "season": season,
            "source": src, "games": t["games"], "w": t["w"], "l": t["l"], "park_factor": info.get("pf"),
            "batting": {"counting": bat, "rates": _clean(bat_rates)},
            "pitching": {"counting": pit, "rates": _clean(pitching_rates(pit, ctx.constants))},
            "splits": splits}  # fmt: skip


async def leaders(
    conn: psycopg.AsyncConnection[Any], stat: str, season: int, limit: int = 10, source: str = "auto"
) -> Row:
    """The leaderboard of ``stat`` (see :data:`sts.stats.season.LEADER_STATS`). Rate stats rank only
    qualified players; counting stats rank everyone."""
    found = lookup_stat(stat)
    if found is None:
        raise ValueError(f"unknown stat {stat!r}; known: {', '.join(LEADER_STATS)}")
    name, spec = found
    src = await pick_source(conn, season, source)
    ctx = await context(conn, src, season)
    table = "season_batting" if spec.group == "batting" else "season_pitching"
    by_player: dict[str, list[Row]] = defaultdict(list)
    for r in await _rows(conn, f"SELECT * FROM {table} WHERE source = %s AND season = %s", (src, season)):
        by_player[r["player_key"]].append(r)
    entries = []
    for key, rows in by_player.items():
        s = batting_season(rows, ctx) if spec.group == "batting" else pitching_season(rows, ctx)
        if spec.rate and not s["qualified"]:
            continue
        value = s["counting"][spec.counting_key] if spec.counting_key else s["rates"].get(name)
        if spec.counting_key == "outs":
            value = round(value / 3, 4)
        if value is not None:
            entries.append({"player_key": key, "teams": sorted({r["team"] for r in rows}), "value": value,
                            "qualified": s["qualified"]})  # fmt: skip
    entries.sort(key=lambda e: (e["value"] if spec.ascending else -e["value"], e["player_key"]))
    entries = entries[:limit]
    col = KEY_COLUMN.get(src, "mlbam")
    keys = [e["player_key"] for e in entries]
    names = {str(r[col]): r["full_name"] for r in await _rows(
        conn, f"SELECT {col}, full_name FROM player_ids WHERE {col}::text = ANY(%s)", (keys,))}  # fmt: skip
    for rank, e in enumerate(entries, 1):
        e.update(rank=rank, name=names.get(e["player_key"]))
    g = max((t["games"] for t in ctx.teams.values()), default=0)
    qualifier = f"{batting_qualifier(g)} PA" if spec.group == "batting" else f"{g} IP"
    return {"stat": name, "season": season, "source": src, "group": spec.group,
            "qualified_only": spec.rate, "qualifier": qualifier if g else None,
            "leaders": entries}  # fmt: skip
