"""The ports: what STS needs from each backend, as small protocols.

Only :mod:`sts.bootstrap` names concrete adapters; everything else takes these protocols. Every
adapter of a port passes the same contract tests (``tests/contract/``).

Buckets (object store)
    ``mlb-live``        every raw snapshot as fetched, key ``{gamePk}/{timecode}.json``
    ``mlb-current``     latest validated snapshot per game, key ``{gamePk}.json``
    ``mlb-historical``  final games by season, key ``{season}/{gamePk}.json``

Topics (event bus)
    ``mlb.game-events``        all game events, key = gamePk (so order per game holds)
    ``mlb.game-events.dlq``    events a consumer could not handle, with the error (one topic for every
                               consumer group: each entry names its group; state in ``dead_letters``)
    ``mlb.snapshots.dlq``      snapshots ingestion rejected, with the reason and the payload
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

BUCKET_LIVE = "mlb-live"
BUCKET_CURRENT = "mlb-current"
BUCKET_HISTORICAL = "mlb-historical"
BUCKETS = (BUCKET_LIVE, BUCKET_CURRENT, BUCKET_HISTORICAL)

TOPIC_GAME_EVENTS = "mlb.game-events"
TOPIC_GAME_EVENTS_DLQ = "mlb.game-events.dlq"
TOPIC_SNAPSHOTS_DLQ = "mlb.snapshots.dlq"
TOPIC_NOTABLE_MOMENTS = "mlb.notable-moments"


# --------------------------------------------------------------------------- object store


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    last_modified: datetime
    version_id: str | None = None
    etag: str | None = None  # the server's digest of the bytes (S3's ETag), when the store has one


@runtime_checkable
class ObjectStore(Protocol):
    """A bucketed blob store.

    Contract:
    - ``put`` is atomic: a reader sees either the previous object or the whole new one, never a part.
      Putting an existing key overwrites it (stores that keep versions keep the old one as a version).
    - ``get`` of a missing key raises :class:`sts.errors.ObjectNotFound`.
    - ``list`` yields every object whose key starts with ``prefix``, in key order.
    - ``ensure_buckets`` creates the three STS buckets if they are missing (idempotent).
    - Failures of the backend raise :class:`sts.errors.BackendError`.
    """

    async def ensure_buckets(self) -> None: ...

    async def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/json",
        metadata: Mapping[str, str] | None = None,
    ) -> None: ...

    async def get(self, bucket: str, key: str) -> bytes: ...

    async def exists(self, bucket: str, key: str) -> bool: ...

    def list(self, bucket: str, prefix: str = "") -> AsyncIterator[ObjectInfo]: ...

    async def delete(self, bucket: str, key: str) -> None: ...

    async def ready(self) -> None:
        """Raise if the store cannot serve requests now (used by ``/ready``)."""
        ...

    async def close(self) -> None: ...


# --------------------------------------------------------------------------- event bus


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 6
    retention_ms: int | None = None  # None: keep forever


@dataclass(frozen=True)
class Message:
    """What a producer hands the bus. ``value`` is already serialized (Confluent wire format)."""

    topic: str
    key: str
    value: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    timestamp_ms: int | None = None  # None: the bus stamps it


@dataclass(frozen=True)
class Record:
    """What a consumer receives: a message with its place in the log."""

    topic: str
    partition: int
    offset: int
    key: str
    value: bytes
    headers: Mapping[str, str]
    timestamp_ms: int


@runtime_checkable
class Subscription(Protocol):
    """One consumer of a consumer group.

    Contract:
    - Records of one partition arrive in offset order; a key always maps to the same partition.
    - Delivery is at-least-once: a record is delivered again (to this or another member of the group)
      until an offset past it has been committed.
    - ``commit`` stores, per partition, the offset after the last of ``records``.
    - When several members share a group, each partition is read by exactly one member at a time.
    """

    async def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]: ...  # noqa: ASYNC109 (the wait is part of the contract)

    async def commit(self, records: Sequence[Record]) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class EventBus(Protocol):
    """A partitioned, durable, replayable log of messages.

    Contract:
    - ``publish`` returns once every message is durably stored; messages with the same key keep their
      order; the partition is chosen from the key alone (stable hash), so one game stays in one partition.
    - Messages survive restarts and can be read again from any offset or time with ``read``.
    - ``subscribe`` joins a consumer group; a new group starts at the earliest offset.
    - ``lag`` is, per partition, the number of records after the group's committed offset.
    - ``tail`` follows the log from given offsets (or its end) without a group, as live streams need.
    """

    async def create_topic(self, spec: TopicSpec) -> None: ...

    async def publish(self, messages: Sequence[Message]) -> None: ...

    async def subscribe(self, group: str, topics: Sequence[str]) -> Subscription: ...

    async def set_committed(self, group: str, topic: str, offsets: Mapping[int, int]) -> None:
        """Set ``group``'s committed offset (the next record it reads) of each partition of ``topic``
        named in ``offsets``; other partitions keep theirs. Used by ``sts restore`` to place consumer
        groups on restored or recreated topics. The group must have no live member (else
        :class:`sts.errors.BusError`): stop its consumers first."""
        ...

    def read(
        self,
        topic: str,
        *,
        from_offsets: Mapping[int, int] | None = None,
        from_time: datetime | None = None,
        to_time: datetime | None = None,
    ) -> AsyncIterator[Record]:
        """Replay ``topic`` outside any group, partition by partition, from the given offsets or time
        (default: the beginning) up to the end as it is now (or ``to_time``)."""
        ...

    async def lag(self, group: str, topic: str) -> dict[int, int]: ...

    async def end_offsets(self, topic: str) -> dict[int, int]:
        """Per partition of ``topic``, the offset after its last record now (where ``tail`` would start)."""
        ...

    def tail(self, topic: str, *, from_offsets: Mapping[int, int] | None = None) -> AsyncIterator[Record]:
        """Follow ``topic`` outside any group, forever: every record of every partition from
        ``from_offsets[p]`` (partitions missing from it: from their end as of the call), then each new
        record soon after it is published. Records of one partition arrive in offset order, each once.
        Nothing is committed; closing the iterator (``aclose``) releases what it holds."""
        ...

    async def ready(self) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class SchemaRegistry(Protocol):
    """A Confluent-compatible schema registry (ids are global, subjects have versions).

    Contract:
    - ``register`` returns the id of the schema under the subject, registering a new version when the
      schema is new, and raises :class:`sts.errors.SchemaError` when the subject's compatibility
      rule refuses it.
    - ``get_schema`` returns the schema text of an id.
    """

    async def register(self, subject: str, schema: str) -> int: ...

    async def get_schema(self, schema_id: int) -> str: ...

    async def versions(self, subject: str) -> list[tuple[int, int]]:
        """``(version, schema id)`` of every version of ``subject``, oldest first (``[]``: no such
        subject). Used by ``sts backup`` to record what the registry holds."""
        ...

    async def set_compatibility(self, level: str, subject: str | None = None) -> None: ...

    async def ready(self) -> None:
        """Raise if the registry cannot serve requests now (used by ``/ready``)."""
        ...

    async def close(self) -> None: ...
