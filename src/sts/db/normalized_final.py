"""Writing ``GameFinal`` events: final score, line score, decisions and official box lines.

Part of :func:`sts.db.normalized.write_events` (same transaction, same guarantees). A GameFinal states
the whole final record of a game, so rows it no longer lists (a box line removed by a scorer's
change, an inning) are deleted.
"""

from __future__ import annotations

from typing import Any

import psycopg

from sts.db import normalized as N
from sts.db import normalized_columns as C


async def write_finals(cur: psycopg.AsyncCursor[Any], finals: dict[int, dict[str, Any]]) -> None:
    """Apply the last ``GameFinal`` payload of each game in ``finals`` (game_pk → payload)."""
    if not finals:
        return
    games: list[tuple[Any, ...]] = []
    innings: list[tuple[Any, ...]] = []
    teams: list[tuple[Any, ...]] = []
    boxes: list[tuple[Any, ...]] = []
    decisions: list[tuple[Any, ...]] = []
    drop_innings: list[tuple[Any, ...]] = []
    drop_boxes: list[tuple[Any, ...]] = []
    for pk, p in finals.items():
        values = (p.get("away_score"), p.get("home_score"), p.get("innings_played"), p.get("extra"))
        games.append((*values, pk, *values))
        for inn in p.get("innings") or []:
            innings.append(N.as_row(C.INNING_COLS, {**inn, "game_pk": pk, "inning": inn["num"]}))
        drop_innings.append((pk, [inn["num"] for inn in p.get("innings") or []]))
        for t in p.get("team_lines") or []:
            rec = {**t, "game_pk": pk}
            for group in ("batting", "pitching", "fielding"):
                rec[group] = N.to_json(t.get(group) or {})
            teams.append(N.as_row(C.TEAM_BOX_COLS, rec))
        lines = p.get("box_lines") or []
        boxes.extend(N.box_row(pk, line) for line in lines)
        drop_boxes.append((pk, [line["person_id"] for line in lines]))
        decisions.append((pk, p.get("winner_id"), p.get("loser_id"), p.get("save_id")))
    await N.execute_many(
        cur,
        "UPDATE games SET (away_score, home_score, innings_played, is_final, final_extra) "
        "= (%s, %s, %s, true, %s::jsonb) WHERE game_pk = %s AND "
        "(away_score, home_score, innings_played, is_final, final_extra) "
        "IS DISTINCT FROM (%s, %s, %s, true, %s::jsonb)",
        games,
    )
    await N.execute_many(cur, N.INNING_UPSERT, innings)
    await N.execute_many(
        cur, "DELETE FROM linescore_innings WHERE game_pk = %s AND inning <> ALL(%s::int[])", drop_innings
    )
    await N.execute_many(cur, N.TEAM_BOX_UPSERT, teams)
    await N.execute_many(cur, N.BOX_UPSERT, boxes)
    await N.execute_many(
        cur, "DELETE FROM box_lines WHERE game_pk = %s AND person_id <> ALL(%s::bigint[])", drop_boxes
    )
    await N.execute_many(
        cur,
        "INSERT INTO decisions AS t VALUES (%s, %s, %s, %s) ON CONFLICT (game_pk) DO UPDATE SET "
        "(winner_id, loser_id, save_id) = ROW(EXCLUDED.winner_id, EXCLUDED.loser_id, EXCLUDED.save_id) "
        "WHERE ROW(t.winner_id, t.loser_id, t.save_id) "
        "IS DISTINCT FROM ROW(EXCLUDED.winner_id, EXCLUDED.loser_id, EXCLUDED.save_id)",
        decisions,
    )
