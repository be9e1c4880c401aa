"""Season statistics from our own games: when a game becomes final, derive, check and aggregate it.

:func:`on_game_final` is the whole write path (one transaction):

1. ``derive_box(feed)`` -> ``derived_box_lines`` (one row per player; the game's old rows replaced);
2. ``compare_box`` -> ``box_quality`` (matched / total / every mismatch; official values are never
   replaced by ours nor ours by theirs);
3. ``pa_rows(feed)`` -> ``derived_pa`` (split keys per plate appearance; see :mod:`sts.stats.season`);
4. the ``season_batting`` / ``season_pitching`` / ``season_fielding`` rows (source ``statsapi``) of every
   player in the game and the ``season_teams`` rows of both teams are **recomputed** from all stored
   ``derived_box_lines`` of that season — never incremented — so running it again for the same feed
   (or a corrected feed of the same game) leaves exactly the rows a single run would.

Only regular-season games (``gameData.game.type == "R"``) count in season lines; every final game gets
its derived lines and its quality record. A per-season advisory lock serialises recomputations.

``source`` (default ``statsapi``) names the play-by-play the feed came from. Derived lines are stored
with it and season rows are recomputed from the lines of that source only, so two sources of the same
season (MLB's feeds and Retrosheet's event files, :mod:`sts.services.retrosheet_import`) never mix.
``player_key``/``team_key`` turn the feed's integer person and team ids into the source's keys of the
season tables (``str`` for statsapi: the MLBAM ids). Steps 2 and 3 and the ``player_ids`` rows are
statsapi-only: another source has no official box to compare with, no handedness for the splits (which
are served for statsapi only), and its importer writes its own crosswalk rows.
The read side (players, teams, leaderboards) is :mod:`sts.services.season_queries`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from sts.stats import GameReport, compare_box, derive_box
from sts.stats.box import SIDES
from sts.stats.feed import Feed, get, is_final, player_names
from sts.stats.feed import game_pk as feed_game_pk
from sts.stats.season import (
    BATTING_STATS,
    FROM_MLB_BATTING,
    FROM_MLB_PITCHING,
    LEAGUES,
    PA_STATS,
    PITCHING_STATS,
    pa_rows,
)  # fmt: skip

SOURCE = "statsapi"
_LOCK_KEY = 0x5EA5  # pg_advisory_xact_lock(_LOCK_KEY, season)
_FIELDING = {"gamesStarted": "gs", "putOuts": "po", "assists": "a", "errors": "e", "passedBall": "pb"}


def _game_meta(feed: Feed) -> dict[str, Any]:
    season = (
        get(feed, "gameData", "game", "season")
        or str(get(feed, "gameData", "datetime", "officialDate", default="0"))[:4]
    )
    teams = {s: get(feed, "gameData", "teams", s, default={}) for s in SIDES}
    return {
        "game_pk": feed_game_pk(feed),
        "season": int(season),
        "game_type": get(feed, "gameData", "game", "type"),
        "official_date": get(feed, "gameData", "datetime", "officialDate"),
        "team_id": {s: get(teams[s], "id") for s in SIDES},
        "team_name": {s: get(teams[s], "name") for s in SIDES},
        "league": {s: LEAGUES.get(get(teams[s], "league", "id")) for s in SIDES},
    }


async def on_game_final(
    conn: psycopg.AsyncConnection[Any], feed: Feed, source: str = SOURCE, *,
    player_key: Callable[[int], str] = str, team_key: Callable[[int], str] = str,
) -> GameReport:  # fmt: skip
    """Store a final game's derived box, quality record and PA rows, and recompute the season lines
    (of ``source``) of its players and teams. Idempotent. Returns the comparison report."""
    if not is_final(feed):
        raise ValueError("on_game_final needs a Final feed (gameData.status.abstractGameState)")
    meta = _game_meta(feed)
    pk, season = meta["game_pk"], meta["season"]
    if pk is None:
        raise ValueError("feed has no gamePk")
    box = derive_box(feed)
    official = source == SOURCE
    report = compare_box(feed, box) if official else GameReport(pk)
    names = player_names(feed)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_KEY, season))
        await conn.execute("DELETE FROM derived_box_lines WHERE game_pk = %s", (pk,))
        await conn.execute("DELETE FROM derived_pa WHERE game_pk = %s", (pk,))
        people: list[int] = []
        async with conn.cursor() as cur:
            for side in SIDES:
                opp = "home" if side == "away" else "away"
                for pid, pbox in box.teams[side].players.items():
                    people.append(pid)
                    await cur.execute(
                        "INSERT INTO derived_box_lines (game_pk, person_id, side, season, game_type,"
                        " official_date, team_id, opponent_team_id, league, batting, pitching, fielding,"
                        " appeared, source) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                        (pk, pid, side, season, meta["game_type"], meta["official_date"],
                         meta["team_id"][side], meta["team_id"][opp], meta["league"][side],
                         Jsonb(dict(pbox.batting)), Jsonb(dict(pbox.pitching)),
                         Jsonb(dict(pbox.fielding)), sorted(pbox.present), source),
                    )  # fmt: skip
            if official:
                rows = pa_rows(feed)
                cols = ["game_pk", "season", "game_type", *rows[0].keys()] if rows else []
                await cur.executemany(
                    f"INSERT INTO derived_pa ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
                    [(pk, season, meta["game_type"], *r.values()) for r in rows],
                )
                await cur.execute(
                    "INSERT INTO box_quality (game_pk, matched, total, mismatches, checked_at)"
                    " VALUES (%s,%s,%s,%s, now()) ON CONFLICT (game_pk) DO UPDATE SET"
                    " matched = EXCLUDED.matched, total = EXCLUDED.total,"
                    " mismatches = EXCLUDED.mismatches, checked_at = now()",
                    (pk, report.matched, report.total, Jsonb([asdict(m) for m in report.mismatches])),
                )
                await cur.executemany(
                    # unmatched until a crosswalk import finds him in the Chadwick register
                    "INSERT INTO player_ids (mlbam, full_name, source, unmatched)"
                    " VALUES (%s, %s, 'statsapi', true)"
                    # feeds spell some names differently (accents); among the feed spellings the
                    # greatest (byte order) wins, so the row does not depend on the order games are
                    # applied in (live, replay, rebuild); a name from the register is kept
                    " ON CONFLICT (mlbam) DO UPDATE SET full_name = CASE"
                    " WHEN player_ids.source = 'statsapi' AND player_ids.unmatched"
                    ' THEN GREATEST(player_ids.full_name COLLATE "C", EXCLUDED.full_name COLLATE "C")'
                    " ELSE COALESCE(player_ids.full_name, EXCLUDED.full_name) END",
                    [(pid, names.get(pid)) for pid in people],
                )
        teams = [t for t in meta["team_id"].values() if t is not None]
        await refresh_season(conn, season, people, teams, meta, source, player_key, team_key)
    return report


def _sum(lines: Iterable[Mapping[str, int]], names: Mapping[str, str]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for line in lines:
        for mlb, short in names.items():
            total[short] += int(line.get(mlb) or 0)
    return dict(total)


async def refresh_season(
    conn: psycopg.AsyncConnection[Any], season: int, people: list[int], teams: list[int],
    meta: Mapping[str, Any] | None = None, source: str = SOURCE,
    player_key: Callable[[int], str] = str, team_key: Callable[[int], str] = str,
) -> None:  # fmt: skip
    """Recompute the ``source`` season rows of ``people`` and ``teams`` from that source's
    ``derived_box_lines``."""
    cur = await conn.execute(
        "SELECT person_id, team_id, league, batting, pitching, fielding, appeared FROM derived_box_lines"
        " WHERE source = %s AND season = %s AND game_type = 'R'"
        " AND (person_id = ANY(%s) OR team_id = ANY(%s))",
        (source, season, people, teams),
    )
    by_player: dict[tuple[int, int], list[tuple[Any, ...]]] = defaultdict(list)
    by_team: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in await cur.fetchall():
        by_player[(row[0], row[1])].append(row)
        by_team[row[1]].append(row)
    keys = [player_key(p) for p in people]
    for table in ("season_batting", "season_pitching", "season_fielding"):
        await conn.execute(
            f"DELETE FROM {table} WHERE source = %s AND season = %s AND player_key = ANY(%s)",
            (source, season, keys),
        )
    wanted = set(people)
    for (pid, team), rows in sorted(by_player.items()):
        if pid not in wanted:
            continue
        league = rows[0][2]
        bat = [r[3] for r in rows if "batting" in r[6]]
        pit = [r[4] for r in rows if "pitching" in r[6]]
        fld = [r[5] for r in rows if "fielding" in r[6]]
        base = (source, player_key(pid), season, team_key(team), 1, league)
        if bat:
            line = _sum(bat, FROM_MLB_BATTING) | {"g": len(bat)}
            await _insert(conn, "season_batting", base, BATTING_STATS, line)
        if pit:
            line = _sum(pit, FROM_MLB_PITCHING) | {"g": len(pit)}
            await _insert(conn, "season_pitching", base, PITCHING_STATS, line)
        if fld:
            line = _sum(fld, _FIELDING) | {"g": len(fld)}
            await _insert(conn, "season_fielding", (*base[:5], "", league),
                          ("g", "gs", "po", "a", "e", "pb"), line)  # fmt: skip
    names = {}
    if meta:
        names = {meta["team_id"][s]: (meta["team_name"][s], meta["league"][s]) for s in SIDES}
    for team in teams:
        trows = by_team.get(team, [])
        games = await conn.execute(
            "SELECT count(DISTINCT game_pk) FROM derived_box_lines WHERE source = %s AND season = %s"
            " AND game_type = 'R' AND team_id = %s", (source, season, team),
        )  # fmt: skip
        n_games = int((await games.fetchone() or [0])[0])
        tbat = _sum((r[3] for r in trows), FROM_MLB_BATTING)
        tpit = _sum((r[4] for r in trows), FROM_MLB_PITCHING)
        name, league = names.get(team, (None, trows[0][2] if trows else None))
        await conn.execute(
            "INSERT INTO season_teams (source, season, team, team_name, league, games, w, l, batting,"
            " pitching) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (source, season, team) DO UPDATE"
            " SET team_name = COALESCE(EXCLUDED.team_name, season_teams.team_name),"
            " league = COALESCE(EXCLUDED.league, season_teams.league), games = EXCLUDED.games,"
            " w = EXCLUDED.w, l = EXCLUDED.l, batting = EXCLUDED.batting, pitching = EXCLUDED.pitching",
            (source, season, team_key(team), name, league, n_games, tpit.get("w", 0), tpit.get("l", 0),
             Jsonb(tbat), Jsonb(tpit)),
        )  # fmt: skip


async def _insert(
    conn: psycopg.AsyncConnection[Any], table: str, base: tuple[Any, ...], stats: Iterable[str],
    line: Mapping[str, int],
) -> None:  # fmt: skip
    stats = list(stats)
    head = ["source", "player_key", "season", "team", "stint"]
    head += ["pos", "league"] if table == "season_fielding" else ["league"]
    cols = head + stats
    await conn.execute(
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
        (*base, *(line.get(s, 0) for s in stats)),
    )


async def pa_split_totals(
    conn: psycopg.AsyncConnection[Any], season: int, *, person_id: int | None = None,
    team_id: int | None = None, role: str = "batter",
) -> dict[str, dict[str, dict[str, int]]]:  # fmt: skip
    """Splits of a player's (``person_id``) or a team's (``team_id``) season from ``derived_pa``
    (regular season): for batters by pitcher hand ("vs LHP"/"vs RHP"), for pitchers by batter hand
    ("vs LHB"/"vs RHB"); both by home/away, RISP and month. Each split maps to its summed PA counts
    (:data:`PA_STATS`). A team's batters/pitchers are found through ``derived_box_lines``."""
    who = "batter_id" if role == "batter" else "pitcher_id"
    if person_id is not None:
        where, arg = f"{who} = %s", person_id
    elif team_id is not None:
        where = (f"EXISTS (SELECT 1 FROM derived_box_lines d WHERE d.game_pk = p.game_pk"
                 f" AND d.person_id = p.{who} AND d.team_id = %s)")  # fmt: skip
        arg = team_id
    else:
        raise ValueError("pa_split_totals needs person_id or team_id")
    hand = "pitch_hand" if role == "batter" else "bat_side"
    vs = "P" if role == "batter" else "B"
    home = "batter_home" if role == "batter" else "NOT batter_home"
    sums = ", ".join(f"sum({s})::int AS {s}" for s in PA_STATS)
    keys = {
        "hand": f"'vs ' || COALESCE({hand}, '?') || 'H{vs}'",
        "home_away": f"CASE WHEN {home} THEN 'home' ELSE 'away' END",
        "risp": "CASE WHEN risp THEN 'RISP' ELSE 'not RISP' END",
        "month": "lpad(month::text, 2, '0')",
    }
    out: dict[str, dict[str, dict[str, int]]] = {}
    for name, expr in keys.items():
        cur = await conn.execute(
            f"SELECT {expr} AS k, {sums} FROM derived_pa p WHERE {where} AND season = %s"
            f" AND game_type = 'R' GROUP BY 1 ORDER BY 1",
            (arg, season),
        )
        cols = [d.name for d in cur.description or []]
        out[name] = {row[0]: dict(zip(cols[1:], row[1:], strict=True)) for row in await cur.fetchall()}
    return out
