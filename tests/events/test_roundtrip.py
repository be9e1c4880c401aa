"""Every derived event survives the Avro codec unchanged (encode → decode gives the same event)."""

from __future__ import annotations

import hashlib

from sts.events.codec import AvroCodec
from sts.events.derive import derive_events
from sts.events.model import GameEvent
from tests.events.feeds import load


class MemoryRegistry:
    """The smallest schema registry: one id per distinct schema text, no compatibility rules."""

    def __init__(self) -> None:
        self.by_id: dict[int, str] = {}
        self.ids: dict[str, int] = {}

    async def register(self, subject: str, schema: str) -> int:
        key = hashlib.sha256(schema.encode()).hexdigest()
        if key not in self.ids:
            self.ids[key] = len(self.ids) + 1
            self.by_id[self.ids[key]] = schema
        return self.ids[key]

    async def get_schema(self, schema_id: int) -> str:
        return self.by_id[schema_id]

    async def set_compatibility(self, level: str, subject: str | None = None) -> None:
        return None

    async def close(self) -> None:
        return None


async def test_every_event_round_trips_through_the_codec() -> None:
    codec = AvroCodec(MemoryRegistry())
    events = derive_events(None, load("feed_live_718263.json"))
    assert {e.event_type for e in events} <= set(codec.event_types)
    for event in events:
        decoded = await codec.decode(await codec.encode("mlb.game-events", event))
        assert decoded == event, event.event_type


async def test_dead_letter_records_encode() -> None:
    codec = AvroCodec(MemoryRegistry())
    payload = {
        "event_id": "00000000-0000-0000-0000-000000000002", "game_pk": 1, "timecode": None,
        "original_topic": "mlb.game-events", "original_partition": 0, "original_offset": 5,
        "original_key": "1", "original_value": b"\x00bad", "original_timestamp_ms": 1,
        "headers": {"event_type": "Pitch"}, "consumer_group": "processor", "error": "boom",
        "stack": None, "attempts": 3, "failed_at": "2026-01-01T00:00:00+00:00",
    }  # fmt: skip
    dead = GameEvent("DeadLetter", payload["event_id"], 1, payload)
    assert await codec.decode(await codec.encode("mlb.game-events.dlq", dead)) == dead
    rejected = {
        "event_id": "00000000-0000-0000-0000-000000000003", "game_pk": 1, "timecode": "20240101_000000",
        "reason": "not_json", "detail": "…", "url": None, "payload": b"<html>",
        "fetched_at": "2026-01-01T00:00:00+00:00",
    }  # fmt: skip
    event = GameEvent("SnapshotRejected", rejected["event_id"], 1, rejected)
    assert await codec.decode(await codec.encode("mlb.snapshots.dlq", event)) == event
