"""Writing game events into the normalized tables of migration ``0002_normalized``.

:func:`write_events` is the whole contract: it applies a sequence of :class:`GameEvent` (in bus order)
inside the caller's transaction, and is idempotent:

- events whose id is already in ``processed_events`` are skipped (so a redelivered or replayed event
  changes nothing, not even transiently);
- events derived from a snapshot OLDER than the newest one applied for their game (their timecode is
  below ``games.latest_timecode``) are stale and skipped (not even recorded). Ingestion only
  publishes snapshots in timecode order, so only replays and re-ingestions produce them;
- every write is an upsert ``ON CONFLICT … DO UPDATE … WHERE <row differs>``, so a row whose content
  is unchanged is not rewritten (its ``xmin`` stays), and the same facts reached through a different
  sequence of snapshots give the same rows;
- rows depend only on facts (natural keys, content), never on when they were applied, except
  ``plays.revised_timecode`` (after a revision), ``processed_events.processed_at`` and
  ``game_status_history.first_timecode``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from sts.db.normalized_columns import (
    BOX_COLS,
    BOX_MAIN,
    CREDIT_COLS,
    GAME_INFO_COLS,
    INNING_COLS,
    PE_COLS,
    PERSON_COLS,
    PLAY_COLS,
    RUNNER_COLS,
    SUB_COLS,
    TEAM_BOX_COLS,
    TEAM_COLS,
    VENUE_COLS,
)
from sts.events.model import GameEvent


def _upsert_sql(
    table: str, cols: Sequence[tuple[str, str]], nkey: int, *, extra_set: str = "", extra_where: str = ""
) -> str:
    """INSERT … ON CONFLICT (key) DO UPDATE SET (cols) = ROW(EXCLUDED…) WHERE (cols) differ."""
    names = [c for c, _ in cols]
    values = ", ".join(f"%s::{cast}" if cast else "%s" for _, cast in cols)
    rest = names[nkey:]
    target = ", ".join(f"{c}" for c in rest)
    excluded = ", ".join(f"EXCLUDED.{c}" for c in rest)
    current = ", ".join(f"t.{c}" for c in rest)
    return (
        f"INSERT INTO {table} AS t ({', '.join(names)}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(names[:nkey])}) DO UPDATE SET ({target}) = ROW({excluded}){extra_set} "
        f"WHERE ROW({current}) IS DISTINCT FROM ROW({excluded}){extra_where}"
    )


# reference rows: only a description from a game at least as recent replaces the stored one
_NEWER = (
    " AND (coalesce(EXCLUDED.source_date, '-infinity'::date), coalesce(EXCLUDED.source_game_pk, 0))"
    " >= (coalesce(t.source_date, '-infinity'::date), coalesce(t.source_game_pk, 0))"
)


def _source_key(row: tuple[Any, ...]) -> tuple[str, int]:
    return (row[-2] or "", row[-1] or 0)


def as_row(cols: Sequence[tuple[str, str]], rec: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(rec.get(c) for c, _ in cols)


def to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


@dataclass
class _Rows:
    """Rows gathered from a batch of events, by table and key (the later event wins)."""

    venues: dict[Any, tuple[Any, ...]] = field(default_factory=dict)
    teams: dict[Any, tuple[Any, ...]] = field(default_factory=dict)
    people: dict[Any, tuple[Any, ...]] = field(default_factory=dict)
    games: dict[Any, tuple[Any, ...]] = field(default_factory=dict)
    plays: dict[Any, tuple[Any, ...]] = field(default_factory=dict)
    play_events: dict[Any, tuple[Any, ...]] = field(default_factory=dict)
    runners: dict[Any, tuple[Any, ...]] = field(default_factory=dict)
    credits: dict[Any, tuple[Any, ...]] = field(default_factory=dict)
    subs: dict[Any, tuple[Any, ...]] = field(default_factory=dict)
    play_shapes: dict[Any, tuple[list[int], list[int]]] = field(default_factory=dict)
    play_versions: dict[Any, tuple[int, str | None]] = field(default_factory=dict)
    status: dict[int, dict[str, Any]] = field(default_factory=dict)
    history: dict[Any, tuple[Any, ...]] = field(default_factory=dict)
    scores: dict[int, dict[str, Any]] = field(default_factory=dict)
    finals: dict[int, dict[str, Any]] = field(default_factory=dict)
    revisions: list[dict[str, Any]] = field(default_factory=list)  # PlayRevised, in bus order
    timecodes: dict[int, str] = field(default_factory=dict)
    processed: list[tuple[Any, ...]] = field(default_factory=list)

    def add(self, ev: GameEvent) -> None:
        p, pk = ev.payload, ev.game_pk
        tc = p.get("timecode")
        if tc and (pk not in self.timecodes or tc > self.timecodes[pk]):
            self.timecodes[pk] = tc
        self.timecodes.setdefault(pk, "")
        self.processed.append((ev.event_id, pk, ev.event_type, tc))
        handler = getattr(self, f"_on_{ev.event_type}", None)
        if handler is not None:  # unknown event types are recorded as processed and otherwise ignored
            handler(pk, p, ev.event_id)

    @staticmethod
    def _keep_newest(rows: dict[Any, tuple[Any, ...]], key: Any, row: tuple[Any, ...]) -> None:
        old = rows.get(key)
        if old is None or _source_key(row) >= _source_key(old):
            rows[key] = row

    def _on_GameInfo(self, pk: int, p: dict[str, Any], _id: str) -> None:
        venue, away, home = p.get("venue"), p.get("away_team"), p.get("home_team")
        source = {"source_date": p.get("official_date"), "source_game_pk": pk}
        if venue:
            self._keep_newest(self.venues, venue["venue_id"], as_row(VENUE_COLS, {**venue, **source}))
        for team in (away, home):
            if team:
                self._keep_newest(self.teams, team["team_id"], as_row(TEAM_COLS, {**team, **source}))
        for person in p.get("players") or []:
            self._keep_newest(self.people, person["person_id"], as_row(PERSON_COLS, {**person, **source}))
        rec = {
            **p,
            "game_pk": pk,
            "away_team_id": away and away["team_id"],
            "home_team_id": home and home["team_id"],
            "venue_id": venue and venue["venue_id"],
            "info_extra": p.get("extra"),
        }
        self.games[pk] = as_row(GAME_INFO_COLS, rec)

    def _pitch_row(self, pk: int, abi: int, pos: dict[str, Any], rec: dict[str, Any]) -> None:
        row = {**rec, "game_pk": pk, "at_bat_index": abi, "inning": pos.get("inning")}
        row["half_inning"] = pos.get("half_inning")
        self.play_events[(pk, abi, rec["event_index"])] = as_row(PE_COLS, row)

    def _on_Pitch(self, pk: int, p: dict[str, Any], _id: str) -> None:
        self._pitch_row(pk, p["at_bat_index"], p, p)

    def _on_PlayCompleted(self, pk: int, p: dict[str, Any], event_id: str) -> None:
        abi = p["at_bat_index"]
        self.plays[(pk, abi)] = as_row(PLAY_COLS, {**p, "game_pk": pk, "content_hash": event_id})
        seen = self.play_versions.get((pk, abi), (0, None))[0]
        self.play_versions[(pk, abi)] = (seen + 1, p.get("timecode"))
        for rec in p.get("play_events") or []:
            self._pitch_row(pk, abi, p, rec)
        credit_counts: list[int] = []
        for r in p.get("runners") or []:
            ri = r["runner_index"]
            self.runners[(pk, abi, ri)] = as_row(RUNNER_COLS, {**r, "game_pk": pk, "at_bat_index": abi})
            credits = r.get("credits") or []
            for ci, c in enumerate(credits):
                row = {**c, "game_pk": pk, "at_bat_index": abi, "runner_index": ri, "credit_index": ci}
                self.credits[(pk, abi, ri, ci)] = as_row(CREDIT_COLS, row)
            credit_counts.extend([0] * (ri + 1 - len(credit_counts)))
            credit_counts[ri] = len(credits)
        indexes = [e["event_index"] for e in p.get("play_events") or []]
        self.play_shapes[(pk, abi)] = (indexes, credit_counts)

    def _on_Substitution(self, pk: int, p: dict[str, Any], _id: str) -> None:
        self.subs[(pk, p["at_bat_index"], p["event_index"])] = as_row(SUB_COLS, {**p, "game_pk": pk})

    def _on_ScoreChanged(self, pk: int, p: dict[str, Any], _id: str) -> None:
        best = self.scores.get(pk)
        if best is None or p["at_bat_index"] >= best["at_bat_index"]:
            self.scores[pk] = p

    def _on_GameStatusChanged(self, pk: int, p: dict[str, Any], _id: str) -> None:
        self.status[pk] = p
        key = tuple(p.get(k) or "" for k in ("abstract_state", "coded_state", "detailed_state"))
        old = self.history.get((pk, *key))
        tc = p.get("timecode")
        if old is not None and old[-1] is not None and (tc is None or old[-1] < tc):
            tc = old[-1]
        self.history[(pk, *key)] = (pk, *key, p.get("status_code"), tc)

    def _on_GameFinal(self, pk: int, p: dict[str, Any], _id: str) -> None:
        self.finals[pk] = p

    def _on_PlayRevised(self, pk: int, p: dict[str, Any], event_id: str) -> None:
        from sts.db.corrections import revision_row

        self.revisions.append(revision_row(pk, p, event_id))


def _in_key_order(rows: dict[Any, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    # one lock order for every writer: two processors sharing rows (people, teams) cannot deadlock
    return [rows[k] for k in sorted(rows)]


async def execute_many(cur: psycopg.AsyncCursor[Any], sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
    rows = list(rows)
    if rows:
        await cur.executemany(sql, rows)


async def write_events(conn: psycopg.AsyncConnection[Any], events: Sequence[GameEvent]) -> int:
    """Apply ``events`` (in order) within the current transaction of ``conn``; return how many were
    new (not already in ``processed_events``). See the module docstring for the guarantees."""
    from sts.db.corrections import write_revisions  # play_revisions (PlayRevised), migration 0005
    from sts.db.normalized_final import write_finals  # the GameFinal half lives in its own module

    if not events:
        return 0
    ids = list(dict.fromkeys(e.event_id for e in events))
    async with conn.cursor() as cur:
        await cur.execute(
            "SELECT event_id::text FROM processed_events WHERE event_id = ANY(%s::uuid[])", (ids,)
        )
        done = {r[0] for r in await cur.fetchall()}
        await cur.execute(
            "SELECT game_pk, latest_timecode FROM games WHERE game_pk = ANY(%s::bigint[])",
            (list({e.game_pk for e in events}),),
        )
        latest = {pk: tc for pk, tc in await cur.fetchall() if tc}
        rows = _Rows()
        for ev in events:
            if ev.event_id in done:
                continue
            done.add(ev.event_id)
            tc = ev.payload.get("timecode")
            if tc and ev.game_pk in latest and tc < latest[ev.game_pk]:
                # derived from a snapshot older than one already applied (a replay, a re-ingestion):
                # old news never overwrites newer rows, and leaves no trace (a re-run changes no row)
                continue
            rows.add(ev)
        if not rows.processed:
            return 0
        for table, cols, ref in (
            ("venues", VENUE_COLS, rows.venues),
            ("teams", TEAM_COLS, rows.teams),
            ("people", PERSON_COLS, rows.people),
        ):
            await execute_many(cur, _upsert_sql(table, cols, 1, extra_where=_NEWER), _in_key_order(ref))
        await execute_many(cur, _upsert_sql("games", GAME_INFO_COLS, 1), _in_key_order(rows.games))
        await execute_many(
            cur,
            "INSERT INTO games (game_pk) VALUES (%s) ON CONFLICT DO NOTHING",
            [(pk,) for pk in rows.timecodes if pk not in rows.games],
        )
        play_sql = _upsert_sql("plays", PLAY_COLS, 2, extra_set=", revision = t.revision + 1").replace(
            "WHERE ROW(", "WHERE t.content_hash IS DISTINCT FROM EXCLUDED.content_hash AND ROW(", 1
        )
        await execute_many(cur, play_sql, _in_key_order(rows.plays))
        # Every PlayCompleted applied to an existing play is a revision (same content = same id =
        # skipped). The upsert counted one; versions superseded within this batch count too, so the
        # revision does not depend on how events were batched.
        await execute_many(
            cur,
            "UPDATE plays SET revision = revision + %s, revised_timecode = %s "
            "WHERE game_pk = %s AND at_bat_index = %s AND revision + %s > 1 "
            "AND (%s > 0 OR revised_timecode IS DISTINCT FROM %s)",
            [
                (n - 1, tc, pk, abi, n - 1, n - 1, tc)
                for (pk, abi), (n, tc) in sorted(rows.play_versions.items())
            ],
        )
        await execute_many(cur, _upsert_sql("play_events", PE_COLS, 3), _in_key_order(rows.play_events))
        await execute_many(cur, _upsert_sql("runners", RUNNER_COLS, 3), _in_key_order(rows.runners))
        await execute_many(cur, _upsert_sql("fielding_credits", CREDIT_COLS, 4), _in_key_order(rows.credits))
        shapes = [(pk, abi, ev, len(cc), cc) for (pk, abi), (ev, cc) in rows.play_shapes.items()]
        # a completed play states its whole content: drop children a revision no longer has
        await execute_many(
            cur,
            "DELETE FROM play_events WHERE game_pk = %s AND at_bat_index = %s"
            " AND event_index <> ALL(%s::int[])",
            [s[:3] for s in shapes],
        )
        await execute_many(
            cur,
            "DELETE FROM runners WHERE game_pk = %s AND at_bat_index = %s AND runner_index >= %s",
            [(s[0], s[1], s[3]) for s in shapes],
        )
        await execute_many(
            cur,
            "DELETE FROM fielding_credits WHERE game_pk = %s AND at_bat_index = %s"
            " AND credit_index >= coalesce((%s::int[])[runner_index + 1], 0)",
            [(s[0], s[1], s[4]) for s in shapes],
        )
        await execute_many(cur, _upsert_sql("substitutions", SUB_COLS, 3), _in_key_order(rows.subs))
        await execute_many(
            cur,
            "INSERT INTO game_status_history AS h VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (game_pk, abstract_state, coded_state, detailed_state) DO UPDATE SET "
            "first_timecode = LEAST(h.first_timecode, EXCLUDED.first_timecode), "
            "status_code = coalesce(h.status_code, EXCLUDED.status_code) "
            "WHERE h.first_timecode IS DISTINCT FROM LEAST(h.first_timecode, EXCLUDED.first_timecode) "
            "OR h.status_code IS NULL AND EXCLUDED.status_code IS NOT NULL",
            _in_key_order(rows.history),
        )
        status_cols = ("abstract_state", "coded_state", "detailed_state", "status_code")
        await execute_many(
            cur,
            "UPDATE games SET (abstract_state, coded_state, detailed_state, status_code) = (%s, %s, %s, %s) "
            "WHERE game_pk = %s AND (abstract_state, coded_state, detailed_state, status_code) "
            "IS DISTINCT FROM (%s, %s, %s, %s)",
            [(*(v := [s.get(k) for k in status_cols]), pk, *v) for pk, s in rows.status.items()],
        )
        await execute_many(
            cur,
            "UPDATE games SET (away_score, home_score, score_at_bat_index) = (%s, %s, %s) "
            "WHERE game_pk = %s AND NOT is_final AND coalesce(score_at_bat_index, -1) <= %s "
            "AND (away_score, home_score, score_at_bat_index) IS DISTINCT FROM (%s, %s, %s)",
            [
                (s["away_score"], s["home_score"], s["at_bat_index"], pk, s["at_bat_index"],
                 s["away_score"], s["home_score"], s["at_bat_index"])
                for pk, s in rows.scores.items()
            ],
        )  # fmt: skip
        await write_finals(cur, rows.finals)
        await write_revisions(cur, rows.revisions)
        await execute_many(
            cur,
            "UPDATE games SET latest_timecode = %s WHERE game_pk = %s AND coalesce(latest_timecode, '') < %s",
            [(tc, pk, tc) for pk, tc in rows.timecodes.items() if tc],
        )
        await execute_many(
            cur,
            "INSERT INTO processed_events (event_id, game_pk, event_type, timecode) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            rows.processed,
        )
    return len(rows.processed)


def box_row(pk: int, line: dict[str, Any]) -> tuple[Any, ...]:
    """The ``box_lines`` row of a ``BoxLine`` record."""
    rec = {**line, "game_pk": pk}
    for col, (group, stat) in BOX_MAIN.items():
        value = (line.get(group) or {}).get(stat)
        rec[col] = value if col == "innings_pitched" or isinstance(value, int) else None
    for group in ("batting", "pitching", "fielding"):
        rec[group] = to_json(line.get(group) or {})
    return as_row(BOX_COLS, rec)


BOX_UPSERT = _upsert_sql("box_lines", BOX_COLS, 2)
TEAM_BOX_UPSERT = _upsert_sql("team_box_lines", TEAM_BOX_COLS, 2)
INNING_UPSERT = _upsert_sql("linescore_innings", INNING_COLS, 2)
