"""The Avro codec: Confluent wire format, validation, schema evolution (against the embedded registry).

The tests write their own tiny schema folders; one test loads the repo's real schemas.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import fastavro
import pytest

from sts.adapters.pg_registry import PostgresSchemaRegistry
from sts.errors import SchemaError
from sts.events.codec import SCHEMAS_DIR, AvroCodec
from sts.events.model import GameEvent

TOPIC = "mlb.game-events"
BASE = [{"name": "event_id", "type": "string"}, {"name": "game_pk", "type": "long"}]
PITCH_V1 = {
    "type": "record",
    "name": "Pitch",
    "namespace": "sts.test",
    "fields": [*BASE, {"name": "speed", "type": "double"}, {"name": "call", "type": "string"}],
}
PITCH_V2 = {  # adds a field with a default, removes none: BACKWARD and FORWARD compatible
    **PITCH_V1,
    "fields": [*PITCH_V1["fields"], {"name": "spin_rate", "type": ["null", "int"], "default": None}],
}
SCORE = {
    "type": "record",
    "name": "ScoreChanged",
    "namespace": "sts.test",
    "fields": [*BASE, {"name": "home", "type": "int"}],
}


def schema_dir(root: Path, name: str, *schemas: dict[str, Any]) -> Path:
    folder = root / name
    folder.mkdir()
    for s in schemas:
        (folder / f"{s['name']}.avsc").write_text(json.dumps(s, indent=2))
    return folder


def pitch(i: int = 1, **extra: Any) -> GameEvent:
    payload = {"event_id": f"ev-{i}", "game_pk": 745123, "speed": 97.5, "call": "S", **extra}
    return GameEvent("Pitch", f"ev-{i}", 745123, payload)


@pytest.fixture
async def registry(migrated_pg_url: str) -> AsyncIterator[PostgresSchemaRegistry]:
    reg = PostgresSchemaRegistry(migrated_pg_url)
    yield reg
    await reg.close()


async def test_round_trip_and_wire_format(registry: PostgresSchemaRegistry, tmp_path: Path) -> None:
    codec = AvroCodec(registry, schema_dir(tmp_path, "v1", PITCH_V1, SCORE))
    assert codec.event_types == ["Pitch", "ScoreChanged"]
    event = pitch()
    data = await codec.encode(TOPIC, event)
    schema_id = await registry.register("mlb.game-events-sts.test.Pitch", json.dumps(PITCH_V1))
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(PITCH_V1), event.payload)
    assert data == b"\x00" + schema_id.to_bytes(4, "big") + body.getvalue()
    assert await codec.decode(data) == event
    # a second codec (another process) decodes it through the registry alone
    assert await AvroCodec(registry, schema_dir(tmp_path, "empty")).decode(data) == event
    assert [v for v, _ in await registry.versions("mlb.game-events-sts.test.Pitch")] == [1]


async def test_subjects_follow_topic_and_record_name(
    registry: PostgresSchemaRegistry, tmp_path: Path
) -> None:
    codec = AvroCodec(registry, schema_dir(tmp_path, "v1", PITCH_V1, SCORE))
    score = GameEvent("ScoreChanged", "s-1", 745123, {"event_id": "s-1", "game_pk": 745123, "home": 3})
    a = await codec.encode(TOPIC, pitch())
    b = await codec.encode(TOPIC, score)
    c = await codec.encode("mlb.other", pitch())
    assert a[1:5] != b[1:5] and a[1:5] == c[1:5]  # one schema, one global id, under two subjects
    assert codec.subject(TOPIC, "ScoreChanged") == "mlb.game-events-sts.test.ScoreChanged"
    assert await registry.versions("mlb.other-sts.test.Pitch") == [(1, int.from_bytes(a[1:5], "big"))]


async def test_message_carries_key_and_headers(registry: PostgresSchemaRegistry, tmp_path: Path) -> None:
    codec = AvroCodec(registry, schema_dir(tmp_path, "v1", PITCH_V1))
    message = await codec.message(TOPIC, pitch(7))
    assert (message.topic, message.key) == (TOPIC, "745123")
    assert message.headers == {"event_id": "ev-7", "event_type": "Pitch"}
    assert (await codec.decode(message.value)).event_id == "ev-7"


async def test_invalid_events_are_refused_with_the_field_named(
    registry: PostgresSchemaRegistry, tmp_path: Path
) -> None:
    codec = AvroCodec(registry, schema_dir(tmp_path, "v1", PITCH_V1))
    with pytest.raises(SchemaError, match="speed"):
        await codec.encode(TOPIC, pitch(speed="fast"))
    bad = pitch()
    del bad.payload["call"]
    with pytest.raises(SchemaError, match="call"):
        await codec.encode(TOPIC, bad)
    with pytest.raises(SchemaError, match="spin_rte"):
        await codec.encode(TOPIC, pitch(spin_rte=2400))  # a typo would otherwise be dropped silently
    with pytest.raises(SchemaError, match="Substitution"):
        await codec.encode(TOPIC, GameEvent("Substitution", "x", 1, {}))
    with pytest.raises(SchemaError, match="event_id/game_pk"):
        await codec.encode(TOPIC, GameEvent("Pitch", "other-id", 745123, pitch().payload))


async def test_garbage_cannot_be_decoded(registry: PostgresSchemaRegistry, tmp_path: Path) -> None:
    codec = AvroCodec(registry, schema_dir(tmp_path, "v1", PITCH_V1))
    data = await codec.encode(TOPIC, pitch())
    for junk in (b"", b"{}", b"\x01" + data[1:], data[:7]):
        with pytest.raises(SchemaError):
            await codec.decode(junk)
    with pytest.raises(SchemaError):
        await codec.decode(b"\x00\x00\x01\x00\x00" + data[5:])  # an id the registry never gave


async def test_schema_evolution_both_ways(registry: PostgresSchemaRegistry, tmp_path: Path) -> None:
    old = AvroCodec(registry, schema_dir(tmp_path, "v1", PITCH_V1))
    new = AvroCodec(registry, schema_dir(tmp_path, "v2", PITCH_V2))
    from_old = await old.encode(TOPIC, pitch(1))
    from_new = await new.encode(TOPIC, pitch(2, spin_rate=2400))
    assert from_old[1:5] != from_new[1:5]  # v2 became a new version of the subject
    # new reader, old writer: the added field takes its default
    assert (await new.decode(from_old)).payload == {**pitch(1).payload, "spin_rate": None}
    # old reader, new writer: the unknown field is skipped
    assert (await old.decode(from_new)).payload == pitch(2).payload
    assert [v for v, _ in await registry.versions("mlb.game-events-sts.test.Pitch")] == [1, 2]


async def test_an_incompatible_schema_is_refused_at_first_use(
    registry: PostgresSchemaRegistry, tmp_path: Path
) -> None:
    await AvroCodec(registry, schema_dir(tmp_path, "v1", PITCH_V1)).encode(TOPIC, pitch())
    breaking = {**PITCH_V1, "fields": [*PITCH_V1["fields"], {"name": "zone", "type": "int"}]}
    codec = AvroCodec(registry, schema_dir(tmp_path, "bad", breaking))
    with pytest.raises(SchemaError, match="zone"):
        await codec.encode(TOPIC, pitch(zone=5))


def test_schema_files_must_be_records_named_after_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "Wrong.avsc").write_text(json.dumps(PITCH_V1))
    with pytest.raises(SchemaError, match="named after"):
        AvroCodec(None, folder)  # type: ignore[arg-type]
    (folder / "Wrong.avsc").write_text('{"type": "enum", "name": "Wrong", "symbols": ["A"]}')
    with pytest.raises(SchemaError, match="record"):
        AvroCodec(None, folder)  # type: ignore[arg-type]


async def test_the_repo_schemas_load(registry: PostgresSchemaRegistry) -> None:
    codec = AvroCodec(registry)
    if not any(SCHEMAS_DIR.glob("*.avsc")):
        pytest.skip("no schemas in the repo yet")
    for event_type in codec.event_types:
        assert await codec.schema_id(TOPIC, event_type) > 0
