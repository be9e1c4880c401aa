"""Season statistics and data quality in the pipeline: a consumer of ``mlb.game-events``.

For every ``GameFinal`` event it reads the final snapshot the event was derived from (the raw bytes in
``mlb-live/{gamePk}/{timecode}.json``, stored before the event was published) and hands it to
:func:`sts.services.season_stats.on_game_final`: our box derived from the plays, its comparison with
MLB's official box (kept in ``box_quality``, mismatches counted in metrics, never overwritten either
way) and the recomputed season lines. A ``PlayRevised`` of a final game (a correction after the game,
:mod:`sts.events.revisions`) does the same with the snapshot that brought it, so every statistic
that depends on the revised play (derived box, PA rows, quality record, season lines) is recomputed,
even when MLB's box did not change (no new ``GameFinal``). Other events are skipped. It is a
:class:`Processor` with its own consumer group (``season-stats``), so it shares the batching, retries
and dead letters.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import psycopg
import structlog

from sts import metrics
from sts.events.model import GameEvent
from sts.ports import BUCKET_LIVE, EventBus, ObjectStore
from sts.services.processor import Codec, Processor
from sts.services.season_stats import on_game_final
from sts.stats.feed import is_final

log = structlog.get_logger(__name__)

GROUP = "season-stats"


def season_apply(store: ObjectStore) -> Any:
    async def apply(conn: psycopg.AsyncConnection[Any], events: Sequence[GameEvent]) -> int:
        done = 0
        seen: set[tuple[int, Any]] = set()
        for event in events:
            if event.event_type not in ("GameFinal", "PlayRevised"):
                continue
            timecode = event.payload.get("timecode")
            if (event.game_pk, timecode) in seen:
                continue  # a GameFinal and a PlayRevised of the same snapshot: one recomputation
            seen.add((event.game_pk, timecode))
            raw = await store.get(BUCKET_LIVE, f"{event.game_pk}/{timecode}.json")
            feed = json.loads(raw)
            if event.event_type == "PlayRevised" and not is_final(feed):
                continue  # revised while live: the game's GameFinal will count it
            report = await on_game_final(conn, feed)
            await conn.commit()
            metrics.DATA_QUALITY_VALUES.labels("matched").inc(report.matched)
            metrics.DATA_QUALITY_VALUES.labels("mismatched").inc(report.total - report.matched)
            if report.mismatches:
                metrics.DATA_QUALITY_MISMATCHED_GAMES.inc()
                log.warning(
                    "derived box differs from the official one",
                    game_pk=event.game_pk,
                    mismatches=len(report.mismatches),
                    matched=report.matched,
                    total=report.total,
                )
            done += 1
        return done

    return apply


def stats_updater(bus: EventBus, codec: Codec, store: ObjectStore, db_url: str, **options: Any) -> Processor:
    """The season-stats consumer (``run(stop)`` / ``process_available()`` as any :class:`Processor`)."""
    return Processor(bus, codec, db_url, group=GROUP, apply=season_apply(store), **options)
