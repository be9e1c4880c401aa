"""Replay and rebuild: the database again, from the bus or from the raw snapshots.

Both feed events to the same apply functions as the live consumers (:func:`live_consumers`), in the
order the live run applied them for each game, so they produce the same rows; both are idempotent, so
running them into a database that already holds the rows changes nothing.

- :func:`replay` re-reads ``mlb.game-events`` with :meth:`sts.ports.EventBus.read` (outside any
  consumer group: no offset of a live consumer moves) between two :class:`Position` s.
- :func:`rebuild` needs no bus: it lists ``mlb-live/{gamePk}/{timecode}.json``, validates each
  snapshot as ingestion does (:func:`sts.services.ingest.validate`), derives the events of each one
  against the previous valid snapshot of its game (:func:`sts.events.derive.derive_events`) and applies
  them. It does not publish them: the bus already holds them (their ids are deterministic), and a
  rebuild must work when the bus is down or gone.

Positions (``--from`` / ``--to``)
    ``0``                  offset 0 of every partition (the beginning; ``--from 0`` replays everything)
    ``N``                  offset N of every partition
    ``P:N[,P:N...]``       only the partitions named, each from (``--from``) or up to (``--to``) its offset;
                           with ``--from``, partitions not named are not read at all;
                           with ``--to``, partitions not named are read to their end
    ``2026-11-26T17:00:00Z`` an ISO-8601 time (no zone = UTC): records the bus stamped at or after it
                           (``--from``) or before it (``--to``)
    ``--to`` is exclusive: ``[from, to)``. Without ``--to``, every partition is read to its end as it is
    when the replay reaches it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import psycopg
import structlog

from sts.config import Settings
from sts.errors import SnapshotRejected
from sts.events.derive import derive_events
from sts.events.model import GameEvent
from sts.moments.baselines import LahmanFeedBaselines
from sts.moments.consumer import GROUP as MOMENTS_GROUP
from sts.moments.consumer import moments_apply
from sts.moments.rules import RuleSettings
from sts.ports import BUCKET_LIVE, TOPIC_GAME_EVENTS, EventBus, Message, ObjectStore, Record
from sts.services.ingest import validate
from sts.services.processor import Apply, Codec, apply_events
from sts.services.stats_updater import GROUP as STATS_GROUP
from sts.services.stats_updater import season_apply

log = structlog.get_logger(__name__)

PROCESSOR_GROUP = "processor"
Progress = Callable[[str], None]


def live_consumers(settings: Settings, store: ObjectStore) -> dict[str, Apply]:
    """The apply function of every consumer group the live pipeline runs, in the order replay and
    rebuild call them (``tests/replay/test_replay_rebuild.py`` checks the groups against
    :class:`sts.services.pipeline.Pipeline`: a new consumer of the pipeline belongs here too).

    Consumers that publish what they find (``moments`` publishes new notable moments) store it but do
    not publish it again: the bus already has it from the live run (deterministic ids), and a rebuild
    must not need the bus. What they would have published is counted in :attr:`Unpublished.count`."""
    rules = RuleSettings.from_settings(settings)
    sink = Unpublished()
    moments = moments_apply(cast(EventBus, sink), sink, rules, LahmanFeedBaselines(store))
    return {PROCESSOR_GROUP: apply_events, STATS_GROUP: season_apply(store), MOMENTS_GROUP: moments}


class Unpublished:
    """Where the messages of a replayed consumer go instead of the bus: counted, never sent (so no
    schema registry is needed either; ``message`` does not encode)."""

    def __init__(self) -> None:
        self.count = 0

    async def message(self, topic: str, event: GameEvent) -> Message:
        return Message(topic=topic, key=str(event.game_pk), value=b"", headers={"event_id": event.event_id})

    async def decode(self, data: bytes) -> GameEvent:
        raise NotImplementedError("replayed consumers only publish")

    async def publish(self, messages: Sequence[Message]) -> None:
        self.count += len(messages)


# --------------------------------------------------------------------------- positions


@dataclass(frozen=True)
class Position:
    """Where a replay starts or ends: one offset for every partition, offsets of some partitions,
    or a time. Parse the command-line form with :func:`parse_position`."""

    every: int | None = None
    offsets: dict[int, int] | None = None
    time: datetime | None = None

    def __str__(self) -> str:
        if self.time is not None:
            return self.time.isoformat()
        if self.offsets is not None:
            return ",".join(f"{p}:{o}" for p, o in sorted(self.offsets.items()))
        return f"offset {self.every} of every partition"


_PARTITION_OFFSET = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


def parse_position(text: str) -> Position:
    """``N``, ``P:N,P:N…`` or an ISO-8601 time (see the module doc); ``ValueError`` with the reason."""
    value = text.strip()
    if not value:
        raise ValueError("empty position: give an offset (0 = the beginning), P:N,... or an ISO time")
    if value.isdigit():
        return Position(every=int(value))
    if ":" in value and all(_PARTITION_OFFSET.match(part) for part in value.split(",")):
        offsets: dict[int, int] = {}
        for part in value.split(","):
            m = _PARTITION_OFFSET.match(part)
            assert m is not None
            partition, offset = int(m.group(1)), int(m.group(2))
            if partition in offsets:
                raise ValueError(f"{text!r}: partition {partition} is named twice")
            offsets[partition] = offset
        return Position(offsets=offsets)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an offset (N, or P:N,... per partition) nor an ISO-8601 time "
            "(e.g. 2026-11-26T17:00:00Z)"
        ) from None
    return Position(time=when if when.tzinfo is not None else when.replace(tzinfo=UTC))


# --------------------------------------------------------------------------- summaries


@dataclass
class Summary:
    """What a replay or a rebuild did. ``applied``: events new to the processor's tables;
    ``skipped``: events that were already applied (or, in a rebuild, snapshots that were not valid);
    ``failed``: records or snapshots that could not be applied, with the reason."""

    read: int = 0
    applied: int = 0
    skipped: int = 0
    events: int = 0
    by_consumer: dict[str, int] = field(default_factory=dict)
    partitions: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # first, last, count
    games: set[int] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return len(self.failures)

    def to_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "events": self.events,
            "applied": self.applied,
            "skipped": self.skipped,
            "failed": self.failed,
            "by_consumer": self.by_consumer,
            "partitions": {
                str(p): {"first": first, "last": last, "records": n}
                for p, (first, last, n) in sorted(self.partitions.items())
            },
            "games": sorted(self.games),
            "rejected": self.rejected,
            "failures": self.failures,
            "seconds": round(self.seconds, 3),
        }


class _Applier:
    """Applies batches of events to the target through every consumer's apply, each on a connection
    of its own (as the live consumers have). A batch that fails is applied event by event, so one bad
    event is reported and skipped instead of stopping the run."""

    def __init__(self, target_url: str, consumers: dict[str, Apply], summary: Summary) -> None:
        self.target_url = target_url
        self.consumers = consumers
        self.summary = summary
        self._conns: dict[str, psycopg.AsyncConnection[Any]] = {}

    async def open(self) -> None:
        for name in self.consumers:
            self._conns[name] = await psycopg.AsyncConnection.connect(self.target_url)

    async def close(self) -> None:
        for conn in self._conns.values():
            await conn.close()
        self._conns.clear()

    async def apply(self, events: Sequence[GameEvent], where: Sequence[str]) -> None:
        """Apply ``events`` (``where[i]`` names the origin of ``events[i]`` in failure reports)."""
        if not events:
            return
        self.summary.events += len(events)
        for name, fn in self.consumers.items():
            conn = self._conns[name]
            try:
                done = await fn(conn, events)
            except (psycopg.OperationalError, psycopg.InterfaceError):
                raise  # the target database, not the events: stop
            except Exception:
                await conn.rollback()
                done = 0
                for event, origin in zip(events, where, strict=True):
                    try:
                        done += await fn(conn, [event])
                    except (psycopg.OperationalError, psycopg.InterfaceError):
                        raise
                    except Exception as exc:
                        await conn.rollback()
                        what = f"{origin} ({event.event_type} {event.event_id})"
                        self.summary.failures.append(f"{what}: {name}: {type(exc).__name__}: {exc}")
            self.summary.by_consumer[name] = self.summary.by_consumer.get(name, 0) + done
            if name == PROCESSOR_GROUP:
                self.summary.applied += done


# --------------------------------------------------------------------------- replay


async def replay(
    bus: EventBus,
    codec: Codec,
    target_url: str,
    consumers: dict[str, Apply],
    *,
    start: Position,
    end: Position | None = None,
    batch_size: int = 500,
    progress: Progress | None = None,
    progress_every: int = 1000,
) -> Summary:
    """Re-read ``mlb.game-events`` from ``start`` up to ``end`` (exclusive; default: the end) and apply
    every record to ``target_url`` through ``consumers``. Records of one partition (so of one game) are
    applied in offset order. A record that cannot be decoded or applied is listed in
    :attr:`Summary.failures` and skipped; the target database becoming unreachable raises."""
    summary = Summary()
    started = time.perf_counter()
    only = set(start.offsets) if start.offsets is not None else None
    # partitions not named in ``P:N,...`` start past any end, so the bus does not read them at all
    from_offsets = _Offsets(start.offsets or {}, _PAST_THE_END if only is not None else start.every or 0)
    to_offsets: _Offsets | None = None
    if end is not None and (end.offsets is not None or end.every is not None):
        to_offsets = _Offsets(end.offsets or {}, end.every)
    applier = _Applier(target_url, consumers, summary)
    await applier.open()
    batch: list[Record] = []

    async def flush() -> None:
        events: list[GameEvent] = []
        where: list[str] = []
        for record in batch:
            origin = f"partition {record.partition} offset {record.offset}"
            try:
                event = await codec.decode(record.value)
            except Exception as exc:  # a record no consumer could read: reported, not applied
                summary.failures.append(f"{origin}: cannot decode: {type(exc).__name__}: {exc}")
                continue
            events.append(event)
            where.append(origin)
            summary.games.add(event.game_pk)
        await applier.apply(events, where)
        summary.skipped = summary.events - summary.applied
        batch.clear()

    try:
        async for record in bus.read(
            TOPIC_GAME_EVENTS,
            from_offsets=from_offsets,
            from_time=start.time,
            to_time=end.time if end is not None else None,
        ):
            if only is not None and record.partition not in only:
                continue
            if record.offset < from_offsets.get(record.partition, 0):
                continue  # the bus honours the start already; this keeps the window exact anyway
            limit = to_offsets.get(record.partition) if to_offsets is not None else None
            if limit is not None and record.offset >= limit:
                continue
            first, _, count = summary.partitions.get(record.partition, (record.offset, 0, 0))
            if count == 0 and progress is not None:
                progress(f"partition {record.partition}: from offset {record.offset}")
            summary.partitions[record.partition] = (first, record.offset, count + 1)
            summary.read += 1
            batch.append(record)
            if len(batch) >= batch_size:
                await flush()
            if progress is not None and summary.read % progress_every == 0:
                progress(f"{summary.read} records read, {summary.applied} applied")
        await flush()
    finally:
        await applier.close()
    summary.skipped = summary.events - summary.applied
    summary.seconds = time.perf_counter() - started
    log.info("replay done", **{k: v for k, v in summary.to_dict().items() if k != "failures"})
    return summary


_PAST_THE_END = 1 << 62


class _Offsets(Mapping[int, int]):
    """Offsets by partition: ``named`` ones, and ``default`` for every other partition (``None``: no
    offset). The bus adapters look partitions up with ``get``, so partitions they alone know (the
    topic's count) get the default too."""

    def __init__(self, named: Mapping[int, int], default: int | None) -> None:
        self.named = dict(named)
        self.default = default

    def __getitem__(self, partition: int) -> int:
        if partition in self.named:
            return self.named[partition]
        if self.default is None:
            raise KeyError(partition)
        return self.default

    def __iter__(self) -> Iterator[int]:
        return iter(self.named)

    def __len__(self) -> int:
        return len(self.named)

    def __bool__(self) -> bool:
        return bool(self.named) or self.default is not None


# --------------------------------------------------------------------------- rebuild


def _snapshot_key(key: str) -> tuple[int, str] | None:
    """``(gamePk, timecode)`` of an ``mlb-live`` key ``{gamePk}/{timecode}.json``, else ``None``."""
    pk, sep, name = key.partition("/")
    if not sep or not pk.isdigit() or not name.endswith(".json") or "/" in name:
        return None
    return int(pk), name[: -len(".json")]


async def rebuild(
    store: ObjectStore,
    target_url: str,
    consumers: dict[str, Apply],
    *,
    games: Sequence[int] | None = None,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> Summary:
    """Rebuild ``target_url`` from the raw snapshots in ``mlb-live`` (all games, or ``games``): for each
    game, its snapshots in timecode order are validated, their events derived against the previous
    valid snapshot and applied through ``consumers``. Invalid snapshots are counted in
    :attr:`Summary.rejected` (by reason) and skipped, as ingestion would have; the bus is not used."""
    summary = Summary()
    started = time.perf_counter()
    wanted = set(games) if games else None
    by_game: dict[int, list[str]] = {}
    async for info in store.list(BUCKET_LIVE):
        parsed = _snapshot_key(info.key)
        if parsed is None:
            summary.failures.append(f"{BUCKET_LIVE}/{info.key}: not a {{gamePk}}/{{timecode}}.json key")
            continue
        pk, timecode = parsed
        if wanted is None or pk in wanted:
            by_game.setdefault(pk, []).append(timecode)
    for pk in sorted(wanted - set(by_game)) if wanted else ():
        summary.failures.append(f"game {pk}: no snapshot in {BUCKET_LIVE}")
    applier = _Applier(target_url, consumers, summary)
    await applier.open()
    try:
        for pk in sorted(by_game):
            timecodes = sorted(by_game[pk])
            if progress is not None:
                progress(f"game {pk}: {len(timecodes)} snapshots")
            await _rebuild_game(store, pk, timecodes, applier, summary, batch_size)
    finally:
        await applier.close()
    summary.skipped = summary.events - summary.applied
    summary.seconds = time.perf_counter() - started
    log.info("rebuild done", **{k: v for k, v in summary.to_dict().items() if k != "failures"})
    return summary


async def _rebuild_game(
    store: ObjectStore, pk: int, timecodes: list[str], applier: _Applier, summary: Summary, batch_size: int
) -> None:
    previous: dict[str, Any] | None = None
    last: str | None = None
    events: list[GameEvent] = []
    where: list[str] = []
    for timecode in timecodes:
        key = f"{pk}/{timecode}.json"
        raw = await store.get(BUCKET_LIVE, key)
        summary.read += 1
        try:
            doc = validate(pk, raw, last)
        except SnapshotRejected as rej:
            summary.rejected[rej.reason] = summary.rejected.get(rej.reason, 0) + 1
            log.warning("snapshot skipped", key=key, reason=rej.reason, detail=rej.detail)
            continue
        current = str(doc["metaData"]["timeStamp"])
        if current == last:
            continue  # the same state stored twice: ingestion would not derive it again
        derived = derive_events(previous, doc)
        events += derived
        where += [f"{BUCKET_LIVE}/{key}"] * len(derived)
        summary.games.add(pk)
        previous, last = doc, current
        if len(events) >= batch_size:
            await applier.apply(events, where)
            events, where = [], []
    await applier.apply(events, where)


def dumps(summary: Summary) -> str:
    return json.dumps(summary.to_dict(), indent=2)
