"""Season statistics and data quality in the pipeline: a consumer of ``mlb.game-events``.

For every ``GameFinal`` event it reads the final snapshot the event was derived from (the raw bytes in
``mlb-live/{gamePk}/{timecode}.json``, stored before the event was published) and hands it to
:func:`sts.services.season_stats.on_game_final`: our box derived from the plays, its comparison with
MLB's official box (kept in ``box_quality``, mismatches counted in metrics, never overwritten either
way) and the recomputed season lines. Other events are skipped. It is a :class:`Processor` with its
own consumer group (``season-stats``), so it shares the batching, retries and dead letters.
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

log = structlog.get_logger(__name__)

GROUP = "season-stats"


def season_apply(store: ObjectStore) -> Any:
    async def apply(conn: psycopg.AsyncConnection[Any], events: Sequence[GameEvent]) -> int:
        done = 0
        for event in events:
            if event.event_type != "GameFinal":
                continue
            timecode = event.payload.get("timecode")
            raw = await store.get(BUCKET_LIVE, f"{event.game_pk}/{timecode}.json")
            report = await on_game_final(conn, json.loads(raw))
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
