"""Read-back queries over the normalized tables (``0002_normalized``), for the CLI, the API and tests.

Every function takes an open psycopg connection and only reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

# Tables of other subsystems (event bus, registry, Alembic, dead-letter state): never part of the game model.
_FOREIGN_PREFIXES = ("bus_", "registry_", "alembic_", "dead_letter")
VOLATILE_COLUMNS: dict[str, tuple[str, ...]] = {"processed_events": ("processed_at",)}
"""Columns that record when a row was written rather than a fact; left out of checksums by default."""


async def table_checksums(
    conn: psycopg.AsyncConnection[Any],
    *,
    exclude_tables: Iterable[str] = (),
    exclude_columns: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, str]:
    """``{table: md5 of all its rows}`` for every table of the public schema except the event bus,
    registry and Alembic tables and ``exclude_tables``. Columns in ``exclude_columns`` (default
    :data:`VOLATILE_COLUMNS`) are left out. Equal checksums mean equal contents, whatever the
    physical row order."""
    skip_cols = VOLATILE_COLUMNS if exclude_columns is None else exclude_columns
    skip_tables = set(exclude_tables)
    cur = await conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_type = 'BASE TABLE' ORDER BY table_name"
    )
    tables = [
        r[0]
        for r in await cur.fetchall()
        if not r[0].startswith(_FOREIGN_PREFIXES) and r[0] not in skip_tables
    ]
    out: dict[str, str] = {}
    for table in tables:
        row_expr: sql.Composable = sql.SQL("to_jsonb(t)")
        for col in skip_cols.get(table, ()):
            row_expr = sql.SQL("{} - {}").format(row_expr, sql.Literal(col))
        query = sql.SQL(
            "SELECT coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), 'empty') "
            "FROM (SELECT {} AS r FROM {} t) s"
        ).format(row_expr, sql.Identifier(table))
        cur = await conn.execute(query)
        row = await cur.fetchone()
        out[table] = str(row[0]) if row else "empty"
    return out


async def list_games(conn: psycopg.AsyncConnection[Any]) -> list[dict[str, Any]]:
    """Every stored game, newest first: date, game_pk, teams, score, status, plays and pitches."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """
        SELECT g.game_pk, g.official_date, g.game_type, g.season,
               coalesce(a.abbreviation, a.name, g.away_team_id::text) AS away,
               coalesce(h.abbreviation, h.name, g.home_team_id::text) AS home,
               g.away_score, g.home_score, g.detailed_state AS status, g.is_final,
               g.innings_played, g.latest_timecode,
               (SELECT count(*) FROM plays p WHERE p.game_pk = g.game_pk) AS plays,
               (SELECT count(*) FROM play_events e WHERE e.game_pk = g.game_pk AND e.is_pitch) AS pitches
        FROM games g
        LEFT JOIN teams a ON a.team_id = g.away_team_id
        LEFT JOIN teams h ON h.team_id = g.home_team_id
        ORDER BY g.official_date DESC NULLS LAST, g.game_pk DESC
        """
    )
    return list(await cur.fetchall())


async def game_detail(conn: psycopg.AsyncConnection[Any], game_pk: int) -> dict[str, Any] | None:
    """One game: its summary, the line score by inning and each team's batting and pitching lines.

    The line score is the official one once the game is final; before that it is computed from the
    completed plays (runs only). ``None`` when the game is not stored.
    """
    games = [g for g in await list_games(conn) if g["game_pk"] == game_pk]
    if not games:
        return None
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT g.*, a.name AS away_name, h.name AS home_name, v.name AS venue_name, "
        "d.winner_id, d.loser_id, d.save_id FROM games g "
        "LEFT JOIN teams a ON a.team_id = g.away_team_id LEFT JOIN teams h ON h.team_id = g.home_team_id "
        "LEFT JOIN venues v ON v.venue_id = g.venue_id LEFT JOIN decisions d ON d.game_pk = g.game_pk "
        "WHERE g.game_pk = %s",
        (game_pk,),
    )
    full = await cur.fetchone() or {}
    game = {**games[0], **{k: full.get(k) for k in ("away_name", "home_name", "venue_name")}}
    for role in ("winner", "loser", "save"):
        game[role] = await _name(conn, full.get(f"{role}_id"))
    await cur.execute(
        "SELECT inning, away_runs, away_hits, away_errors, home_runs, home_hits, home_errors "
        "FROM linescore_innings WHERE game_pk = %s ORDER BY inning",
        (game_pk,),
    )
    innings = list(await cur.fetchall())
    if not innings:
        await cur.execute(
            """
            SELECT inning,
                   sum(runs) FILTER (WHERE half_inning = 'top') AS away_runs,
                   sum(runs) FILTER (WHERE half_inning = 'bottom') AS home_runs
            FROM (SELECT inning, half_inning,
                         (away_score + home_score)
                         - coalesce(lag(away_score + home_score) OVER (ORDER BY at_bat_index), 0) AS runs
                  FROM plays WHERE game_pk = %s AND is_complete) s
            GROUP BY inning ORDER BY inning
            """,
            (game_pk,),
        )
        innings = list(await cur.fetchall())
    await cur.execute(
        """
        SELECT b.side, b.person_id, coalesce(p.boxscore_name, p.full_name, b.person_id::text) AS name,
               b.position, b.batting_order, b.at_bats, b.runs, b.hits, b.home_runs, b.rbi,
               b.base_on_balls, b.strike_outs, b.innings_pitched, b.pitching_outs, b.hits_allowed,
               b.runs_allowed, b.earned_runs, b.walks_allowed, b.strikeouts_pitched, b.pitches_thrown,
               b.batting, b.pitching
        FROM box_lines b LEFT JOIN people p ON p.person_id = b.person_id
        WHERE b.game_pk = %s
        ORDER BY b.side, b.batting_order NULLS LAST, b.person_id
        """,
        (game_pk,),
    )
    lines = list(await cur.fetchall())
    batters = [ln for ln in lines if ln["batting_order"] is not None]
    pitchers = [ln for ln in lines if ln["pitching"]]
    # pitchers in the order they appeared (their first plate appearance faced)
    await cur.execute(
        "SELECT pitcher_id, min(at_bat_index) AS first FROM plays WHERE game_pk = %s GROUP BY pitcher_id",
        (game_pk,),
    )
    first = {r["pitcher_id"]: r["first"] for r in await cur.fetchall()}
    pitchers.sort(key=lambda ln: (ln["side"], first.get(ln["person_id"], 1 << 30), ln["person_id"]))
    # the data-quality record of a final game: our box derived from the plays vs MLB's official box
    await cur.execute(
        "SELECT matched, total, mismatches, checked_at FROM box_quality WHERE game_pk = %s", (game_pk,)
    )
    quality = await cur.fetchone()
    # corrections: plays revised after they happened, oldest first (migration 0005)
    await cur.execute(
        "SELECT r.at_bat_index, r.revision, r.timecode, r.kind, r.changes, p.inning, p.half_inning"
        " FROM play_revisions r LEFT JOIN plays p USING (game_pk, at_bat_index)"
        " WHERE r.game_pk = %s ORDER BY r.timecode, r.at_bat_index, r.revision",
        (game_pk,),
    )
    revisions = list(await cur.fetchall())
    return {"game": game, "innings": innings, "batters": batters, "pitchers": pitchers, "quality": quality,
            "revisions": revisions}  # fmt: skip


async def _name(conn: psycopg.AsyncConnection[Any], person_id: int | None) -> str | None:
    if person_id is None:
        return None
    cur = await conn.execute("SELECT full_name FROM people WHERE person_id = %s", (person_id,))
    row = await cur.fetchone()
    return str(row[0]) if row and row[0] else str(person_id)
