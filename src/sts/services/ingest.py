"""Ingestion: fetched snapshot → validate → store raw → publish events → update current → historical.

The order is chosen so that a crash at any point loses nothing and doubles nothing:

1. validate (well-formed JSON, the gamePk asked for, required keys, timecode not older than the last
   validated one). A failure is published to ``mlb.snapshots.dlq`` with the reason and the payload;
   nothing stored earlier is touched and ingestion goes on.
2. the raw bytes go to ``mlb-live/{gamePk}/{timecode}.json`` (as fetched).
3. events are derived against the previous validated snapshot and published (deterministic ids:
   publishing them again after a crash is harmless).
4. only then ``mlb-current/{gamePk}.json`` moves forward, so a crash between 2 and 4 re-derives the
   same events on restart; on Final the snapshot is also kept in ``mlb-historical/{season}/{gamePk}.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import structlog

from sts import metrics
from sts.errors import ObjectNotFound, SnapshotRejected
from sts.events.codec import AvroCodec
from sts.events.derive import derive_events
from sts.events.model import GameEvent
from sts.ports import (
    BUCKET_CURRENT,
    BUCKET_HISTORICAL,
    BUCKET_LIVE,
    TOPIC_GAME_EVENTS,
    TOPIC_SNAPSHOTS_DLQ,
    EventBus,
    Message,
    ObjectStore,
)

log = structlog.get_logger(__name__)

FETCHED_AT_HEADER = "fetched_at_ms"
"""Header of every published game event: when its snapshot was fetched (Unix milliseconds, wall clock)."""

REQUIRED_PATHS: tuple[tuple[str, ...], ...] = (
    ("metaData", "timeStamp"),
    ("gameData", "status", "abstractGameState"),
    ("gameData", "teams"),
    ("liveData", "plays", "allPlays"),
    ("liveData", "linescore"),
)


@dataclass(frozen=True)
class Snapshot:
    """One fetched response, before validation."""

    game_pk: int
    raw: bytes
    url: str = ""
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class IngestResult:
    game_pk: int
    outcome: str  # "stored" | "unchanged" | "rejected"
    timecode: str | None = None
    status: str | None = None  # abstractGameState of the stored snapshot
    detailed_state: str | None = None
    events: int = 0
    reason: str | None = None
    suggested_wait: float | None = None
    # liveData.linescore.inningState (Top/Middle/Bottom/End): the scheduler polls slower between innings
    inning_state: str | None = None

    @property
    def is_final(self) -> bool:
        return self.status == "Final"


def _dig(doc: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def validate(game_pk: int, raw: bytes, last_timecode: str | None) -> dict[str, Any]:
    """Parse and check one feed snapshot; return the document or raise :class:`SnapshotRejected`."""
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SnapshotRejected("malformed_json", f"not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise SnapshotRejected("not_a_feed", f"top level is {type(doc).__name__}, not an object")
    got = doc.get("gamePk")
    if got != game_pk:
        raise SnapshotRejected("wrong_game", f"asked for gamePk {game_pk}, got {got!r}")
    missing = [".".join(p) for p in REQUIRED_PATHS if _dig(doc, p) is None]
    if missing:
        raise SnapshotRejected("missing_keys", "missing " + ", ".join(missing))
    timecode = doc["metaData"]["timeStamp"]
    if not isinstance(timecode, str) or len(timecode) < 15:
        raise SnapshotRejected("bad_timecode", f"metaData.timeStamp {timecode!r} is not yyyymmdd_HHMMSS")
    if last_timecode is not None and timecode < last_timecode:
        raise SnapshotRejected(
            "stale_timecode", f"timecode {timecode} is older than the stored {last_timecode}"
        )
    return doc


def _season(doc: dict[str, Any]) -> str:
    season = _dig(doc, ("gameData", "game", "season"))
    if season:
        return str(season)
    date = _dig(doc, ("gameData", "datetime", "officialDate")) or "unknown"
    return str(date)[:4]


class Ingestor:
    """Turns fetched snapshots into stored objects and published events (one instance per process).

    Keeps the last validated snapshot of each game in memory (loaded from ``mlb-current`` on first use)
    so events are derived against it without re-reading the store.
    """

    def __init__(
        self,
        store: ObjectStore,
        bus: EventBus,
        codec: AvroCodec,
        *,
        on_events: Callable[[int, list[GameEvent]], None] | None = None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._codec = codec
        self._last: dict[int, dict[str, Any] | None] = {}
        self._on_events = on_events

    async def _previous(self, game_pk: int) -> dict[str, Any] | None:
        if game_pk not in self._last:
            try:
                raw = await self._store.get(BUCKET_CURRENT, f"{game_pk}.json")
                self._last[game_pk] = json.loads(raw)
            except ObjectNotFound:
                self._last[game_pk] = None
        return self._last[game_pk]

    async def last_timecode(self, game_pk: int) -> str | None:
        prev = await self._previous(game_pk)
        return None if prev is None else str(prev["metaData"]["timeStamp"])

    async def ingest(self, snap: Snapshot) -> IngestResult:
        started = time.perf_counter()
        game_pk = snap.game_pk
        prev = await self._previous(game_pk)
        last_tc = None if prev is None else str(prev["metaData"]["timeStamp"])
        try:
            doc = validate(game_pk, snap.raw, last_tc)
        except SnapshotRejected as rej:
            await self._reject(snap, rej, last_tc)
            return IngestResult(game_pk, "rejected", reason=rej.reason)

        timecode = str(doc["metaData"]["timeStamp"])
        status = str(doc["gameData"]["status"].get("abstractGameState"))
        detailed = doc["gameData"]["status"].get("detailedState")
        wait = _dig(doc, ("metaData", "wait"))
        inning = _dig(doc, ("liveData", "linescore", "inningState"))
        if timecode == last_tc:
            _track_freshness(game_pk, status, detailed, inning, changed=False)
            return IngestResult(
                game_pk, "unchanged", timecode, status, detailed, suggested_wait=wait, inning_state=inning
            )

        meta = {"game_pk": str(game_pk), "timecode": timecode, "source_url": snap.url}
        await self._store.put(BUCKET_LIVE, f"{game_pk}/{timecode}.json", snap.raw, metadata=meta)
        events = derive_events(prev, doc)
        if events:
            # the fetch time rides along so consumers can measure fetch -> rows committed
            fetched = {FETCHED_AT_HEADER: str(int(snap.fetched_at.timestamp() * 1000))}
            messages = [
                replace(m, headers={**m.headers, **fetched})
                for m in [await self._codec.message(TOPIC_GAME_EVENTS, ev) for ev in events]
            ]
            await self._bus.publish(messages)  # the bus adapters count sts_events_published_total
        await self._store.put(BUCKET_CURRENT, f"{game_pk}.json", snap.raw, metadata=meta)
        if status == "Final":
            await self._store.put(
                BUCKET_HISTORICAL, f"{_season(doc)}/{game_pk}.json", snap.raw, metadata=meta
            )
        self._last[game_pk] = doc
        metrics.SNAPSHOTS_STORED.inc()
        _track_freshness(game_pk, status, detailed, inning, changed=True)
        metrics.INGEST_LATENCY.observe(time.perf_counter() - started)
        if self._on_events is not None:
            self._on_events(game_pk, events)
        log.debug("snapshot stored", game_pk=game_pk, timecode=timecode, events=len(events), status=status)
        return IngestResult(
            game_pk,
            "stored",
            timecode,
            status,
            detailed,
            len(events),
            suggested_wait=wait,
            inning_state=inning,
        )

    async def _reject(self, snap: Snapshot, rej: SnapshotRejected, last_tc: str | None) -> None:
        metrics.SNAPSHOTS_REJECTED.labels(rej.reason).inc()
        metrics.DEAD_LETTERS.labels(TOPIC_SNAPSHOTS_DLQ, rej.reason).inc()
        log.warning("snapshot rejected", game_pk=snap.game_pk, reason=rej.reason, detail=rej.detail)
        event_id = _rejection_id(snap, rej)
        payload: dict[str, Any] = {
            "event_id": event_id,
            "game_pk": snap.game_pk,
            "timecode": None,
            "reason": rej.reason,
            "detail": rej.detail,
            "url": snap.url,
            "payload": snap.raw,
            "fetched_at": snap.fetched_at.isoformat(),
        }
        event = GameEvent("SnapshotRejected", event_id, snap.game_pk, payload)
        message: Message = await self._codec.message(TOPIC_SNAPSHOTS_DLQ, event)
        await self._bus.publish([message])


def _phase(detailed: str | None, inning_state: str | None) -> str:
    if detailed and ("Delay" in detailed or "Suspended" in detailed):
        return "delayed"
    return "break" if inning_state in ("Middle", "End") else "play"


def _track_freshness(
    game_pk: int, status: str, detailed: str | None, inning_state: str | None, *, changed: bool
) -> None:
    """Feed ``sts_game_seconds_since_update``: only live games have a series."""
    if status != "Live":
        metrics.GAME_FRESHNESS.forget(game_pk)
    elif changed:
        metrics.GAME_FRESHNESS.changed(game_pk, _phase(detailed, inning_state))
    else:
        metrics.GAME_FRESHNESS.seen(game_pk, _phase(detailed, inning_state))


def _rejection_id(snap: Snapshot, rej: SnapshotRejected) -> str:
    import hashlib
    import uuid

    digest = hashlib.sha256(snap.raw).hexdigest()
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sts:rejected:{snap.game_pk}:{rej.reason}:{digest}"))
