"""Writing ``PlayRevised`` events into ``play_revisions`` (migration ``0005_corrections``).

Called by :func:`sts.db.normalized.write_events` in the same transaction, after the plays are written
(the revised content arrives in the ``PlayCompleted`` published just before the ``PlayRevised``).
Idempotent: ``event_id`` is unique, so a redelivered or replayed event adds no second row; the
revision number is the play's next one at the time of insertion, so a rebuild applying the same
events in bus order numbers them the same way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

_INSERT = (
    "INSERT INTO play_revisions (game_pk, at_bat_index, revision, timecode, kind, changes, event_id,"
    " play_event_id) SELECT %(pk)s, %(abi)s, coalesce(max(revision), 0) + 1, %(tc)s, %(kind)s, %(changes)s,"
    " %(id)s::uuid, %(play)s::uuid FROM play_revisions WHERE game_pk = %(pk)s AND at_bat_index = %(abi)s"
    " ON CONFLICT (event_id) DO NOTHING"
)


def _value(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def revision_row(game_pk: int, payload: dict[str, Any], event_id: str) -> dict[str, Any]:
    """The parameters of one ``play_revisions`` insert from a ``PlayRevised`` payload."""
    changes = [
        {"field": c["field"], "old": _value(c.get("old")), "new": _value(c.get("new"))}
        for c in payload.get("changes") or []
    ]
    return {
        "pk": game_pk,
        "abi": payload["at_bat_index"],
        "tc": payload.get("timecode"),
        "kind": payload.get("kind"),
        "changes": Jsonb(changes),
        "id": event_id,
        "play": payload.get("play_event_id"),
    }


async def write_revisions(cur: psycopg.AsyncCursor[Any], rows: Sequence[dict[str, Any]]) -> None:
    """Insert the revisions (in bus order), skipping those already stored."""
    for row in rows:  # one by one: each numbers itself after the previous ones of the same play
        await cur.execute(_INSERT, row)
