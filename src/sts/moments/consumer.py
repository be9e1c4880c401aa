"""The notable-moments consumer: group ``moments`` on ``mlb.game-events``.

It is a :class:`sts.services.processor.Processor` with its own apply (batching, retries and dead letters
are shared). Per batch, in ONE transaction:

1. ``GameInfo`` / ``PlayCompleted`` / ``GameFinal`` events update the per-game state: ``moment_games``
   (teams, names, scheduled innings, final flag) and ``moment_plays`` (the compact plays; a revised play
   replaces its row). Other events are skipped.
2. For each game touched, :func:`sts.moments.rules.detect` recomputes the moments from that state.
3. Moments not yet in ``notable_moments`` are published to ``mlb.notable-moments`` (key: gamePk) and
   inserted. Their ids are deterministic (rule + natural key), so a redelivered batch, a restart or a
   replay from offset 0 inserts nothing twice; a crash between publish and commit republishes the same
   ids, which consumers deduplicate.
4. Stored moments of the game that the recomputation no longer finds (a play was revised) are marked
   ``retracted`` (the row stays) and published again with ``retracted`` true under their retraction id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
import structlog
from psycopg.types.json import Jsonb

from sts import metrics
from sts.errors import BackendError
from sts.events.model import GameEvent
from sts.moments.baselines import BaselineSource
from sts.moments.rules import (
    EVENT_TYPE,
    GameContext,
    Moment,
    RuleSettings,
    compact_play,
    detect,
    info_from_game_info,
)
from sts.ports import TOPIC_NOTABLE_MOMENTS, EventBus
from sts.services.processor import Apply, Codec, Processor

log = structlog.get_logger(__name__)

GROUP = "moments"


async def _merge_info(conn: psycopg.AsyncConnection[Any], game_pk: int, info: dict[str, Any]) -> None:
    await conn.execute(
        """
        INSERT INTO moment_games (game_pk, info) VALUES (%s, %s)
        ON CONFLICT (game_pk) DO UPDATE SET info = moment_games.info || EXCLUDED.info
        """,
        (game_pk, Jsonb(info)),
    )


async def _store_play(conn: psycopg.AsyncConnection[Any], game_pk: int, play: dict[str, Any]) -> None:
    await conn.execute(
        """
        INSERT INTO moment_plays (game_pk, at_bat_index, play) VALUES (%s, %s, %s)
        ON CONFLICT (game_pk, at_bat_index) DO UPDATE SET play = EXCLUDED.play
        WHERE moment_plays.play IS DISTINCT FROM EXCLUDED.play
        """,
        (game_pk, play["abi"], Jsonb(play)),
    )


async def load_game(conn: psycopg.AsyncConnection[Any], game_pk: int) -> tuple[dict[str, Any], list[Any]]:
    """The stored state of one game: its info document and its compact plays."""
    cur = await conn.execute("SELECT info FROM moment_games WHERE game_pk = %s", (game_pk,))
    row = await cur.fetchone()
    cur = await conn.execute(
        "SELECT play FROM moment_plays WHERE game_pk = %s ORDER BY at_bat_index", (game_pk,)
    )
    return (row[0] if row else {}), [r[0] for r in await cur.fetchall()]


async def _upsert(conn: psycopg.AsyncConnection[Any], m: Moment) -> bool:
    """Store ``m``; True when it is new (or was retracted and holds again). A known moment whose text
    changed (a player's name arrived with a later GameInfo) is updated in place, so every run ends with
    the same rows."""
    cur = await conn.execute(
        """
        WITH old AS (SELECT retracted FROM notable_moments WHERE event_id = %(id)s)
        INSERT INTO notable_moments AS n (event_id, game_pk, rule, natural_key, at_bat_index, inning,
                                          half_inning, team_id, player_ids, headline, details, retracted)
        VALUES (%(id)s, %(game)s, %(rule)s, %(key)s, %(abi)s, %(inning)s, %(half)s, %(team)s, %(players)s,
                %(headline)s, %(details)s, false)
        ON CONFLICT (event_id) DO UPDATE SET
            at_bat_index = EXCLUDED.at_bat_index, inning = EXCLUDED.inning,
            half_inning = EXCLUDED.half_inning, team_id = EXCLUDED.team_id,
            player_ids = EXCLUDED.player_ids, headline = EXCLUDED.headline, details = EXCLUDED.details,
            retracted = false
        WHERE (n.at_bat_index, n.inning, n.half_inning, n.team_id, n.player_ids, n.headline, n.details,
               n.retracted)
              IS DISTINCT FROM (EXCLUDED.at_bat_index, EXCLUDED.inning, EXCLUDED.half_inning,
                                EXCLUDED.team_id, EXCLUDED.player_ids, EXCLUDED.headline, EXCLUDED.details,
                                false)
        RETURNING (xmax = 0) OR COALESCE((SELECT retracted FROM old), false)
        """,
        {
            "id": m.event_id, "game": m.game_pk, "rule": m.rule, "key": m.key, "abi": m.at_bat_index,
            "inning": m.inning, "half": m.half, "team": m.team_id, "players": list(m.player_ids),
            "headline": m.headline, "details": Jsonb(dict(m.details)),
        },
    )  # fmt: skip
    row = await cur.fetchone()
    return bool(row and row[0])


async def _retract(conn: psycopg.AsyncConnection[Any], game_pk: int, holding: list[str]) -> list[Moment]:
    """Mark the game's moments that no longer hold (not in ``holding``) retracted; return them."""
    cur = await conn.execute(
        """
        UPDATE notable_moments SET retracted = true
        WHERE game_pk = %s AND NOT retracted AND NOT (event_id = ANY(%s))
        RETURNING rule, natural_key, at_bat_index, inning, half_inning, player_ids, team_id, headline, details
        """,
        (game_pk, holding),
    )
    return [
        Moment(rule, game_pk, key, abi, inning, half, tuple(players), team, headline, details)
        for rule, key, abi, inning, half, players, team, headline, details in await cur.fetchall()
    ]


def moments_apply(
    bus: EventBus,
    codec: Codec,
    settings: RuleSettings | None = None,
    baselines: BaselineSource | None = None,
) -> Apply:
    """The apply function of the ``moments`` group (see the module docstring)."""
    rules = settings or RuleSettings()

    async def evaluate(
        conn: psycopg.AsyncConnection[Any], game_pk: int, timecode: str | None
    ) -> list[tuple[Moment, bool]]:
        """Recompute the game's moments; return those to publish, each with ``retracted``."""
        info, plays = await load_game(conn, game_pk)
        if (
            baselines is not None
            and rules.on("career_milestone")
            and "baselines" not in info
            and timecode
            and info.get("season")
        ):
            # any snapshot of the game will do: MLB updates seasonStats and the game line together, so
            # their difference (the season before the game) is the same in every snapshot. The timecode
            # is not stored: two runs that polled at other moments keep the same rows.
            try:
                known, note = await baselines.before_game(conn, game_pk, int(info["season"]), timecode)
            except BackendError as exc:  # the object store is down: not the record's fault, try again later
                log.warning("career baselines unavailable for now", game_pk=game_pk, error=str(exc))
            else:
                info = {**info, "baselines": {str(k): v for k, v in known.items()}, "baselines_note": note}
                await _merge_info(conn, game_pk, {"baselines": info["baselines"], "baselines_note": note})
                log.info("career baselines", game_pk=game_pk, known=len(known), note=note)
        career = {int(k): v for k, v in (info.get("baselines") or {}).items()}
        found = detect(GameContext.from_info(game_pk, info), plays, rules, career)
        new = [(m, False) for m in found if await _upsert(conn, m)]
        gone = await _retract(conn, game_pk, [m.event_id for m in found])
        return new + [(m, True) for m in gone]

    async def apply(conn: psycopg.AsyncConnection[Any], events: Sequence[GameEvent]) -> int:
        async with conn.transaction():
            touched: dict[int, str | None] = {}
            for event in events:
                pk = event.game_pk
                if event.event_type == "GameInfo":
                    await _merge_info(conn, pk, info_from_game_info(event.payload))
                elif event.event_type == "PlayCompleted":
                    await _store_play(conn, pk, compact_play(event.payload))
                elif event.event_type == "GameFinal":
                    await _merge_info(conn, pk, {"final": True})
                else:
                    continue
                touched[pk] = event.payload.get("timecode") or touched.get(pk)
            new: list[tuple[Moment, bool, str | None]] = []
            for pk, timecode in touched.items():
                new += [(m, retracted, timecode) for m, retracted in await evaluate(conn, pk, timecode)]
            if new:
                messages = []
                for m, retracted, tc in new:
                    payload = m.payload(tc, retracted=retracted)
                    event = GameEvent(EVENT_TYPE, payload["event_id"], m.game_pk, payload)
                    messages.append(await codec.message(TOPIC_NOTABLE_MOMENTS, event))
                await bus.publish(messages)
                for m, retracted, _ in new:
                    kind = "retracted" if retracted else "new"
                    metrics.NOTABLE_MOMENTS.labels(m.rule, kind).inc()
                    log.info(f"notable moment ({kind})", game_pk=m.game_pk, rule=m.rule, headline=m.headline)
        return len(new)

    return apply


def moments_consumer(
    bus: EventBus,
    codec: Codec,
    db_url: str,
    settings: RuleSettings | None = None,
    baselines: BaselineSource | None = None,
    **options: Any,
) -> Processor:
    """The notable-moments consumer (``run(stop)`` / ``process_available()`` as any :class:`Processor`)."""
    apply = moments_apply(bus, codec, settings, baselines)
    return Processor(bus, codec, db_url, group=GROUP, apply=apply, **options)
