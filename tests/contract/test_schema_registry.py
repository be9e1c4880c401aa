"""One behavioural suite for every :class:`sts.ports.SchemaRegistry` backend (see ``conftest.py``),
then the embedded registry's own rules (canonical text, compatibility checker)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sts.adapters.pg_registry import PostgresSchemaRegistry, compatibility_problems
from sts.errors import SchemaError
from sts.ports import SchemaRegistry


def record(*fields: dict[str, Any], name: str = "Pitch") -> str:
    base = [{"name": "event_id", "type": "string"}, {"name": "game_pk", "type": "long"}]
    return json.dumps(
        {"type": "record", "name": name, "namespace": "sts.test", "fields": base + list(fields)}
    )


V1 = record({"name": "speed", "type": "float"})
V2 = record({"name": "speed", "type": "float"}, {"name": "spin", "type": ["null", "int"], "default": None})


async def test_the_same_schema_has_the_same_id(registry: SchemaRegistry, subject: str) -> None:
    first = await registry.register(subject, V1)
    assert await registry.register(subject, V1) == first
    assert await registry.register(subject.replace("-value", "-other"), V1) == first  # ids are global
    assert json.loads(await registry.get_schema(first)) == json.loads(V1)


async def test_a_new_version_gets_a_new_id(registry: SchemaRegistry, subject: str) -> None:
    v1 = await registry.register(subject, V1)
    v2 = await registry.register(subject, V2)
    assert v1 != v2
    assert await registry.register(subject, V1) == v1  # an earlier version keeps its id
    assert json.loads(await registry.get_schema(v2)) == json.loads(V2)


async def test_backward_accepts_a_field_with_a_default_and_removed_fields(
    registry: SchemaRegistry, subject: str
) -> None:
    await registry.set_compatibility("BACKWARD", subject)
    await registry.register(subject, V1)
    await registry.register(subject, V2)
    await registry.register(subject, record({"name": "spin", "type": ["null", "int"], "default": None}))


async def test_backward_refuses_a_field_without_default(registry: SchemaRegistry, subject: str) -> None:
    await registry.set_compatibility("BACKWARD", subject)
    await registry.register(subject, V1)
    with pytest.raises(SchemaError):
        await registry.register(
            subject, record({"name": "speed", "type": "float"}, {"name": "x", "type": "int"})
        )
    with pytest.raises(SchemaError):
        await registry.register(subject, record({"name": "speed", "type": "string"}))  # type change


async def test_compatibility_none_accepts_anything(registry: SchemaRegistry, subject: str) -> None:
    await registry.set_compatibility("NONE", subject)
    await registry.register(subject, V1)
    await registry.register(subject, record({"name": "speed", "type": "string"}))


async def test_unknown_id_and_bad_schema(registry: SchemaRegistry, subject: str) -> None:
    with pytest.raises(SchemaError):
        await registry.get_schema(987654)
    with pytest.raises(SchemaError):
        await registry.register(subject, '{"type": "recrod", "name": "X", "fields": []}')
    with pytest.raises(SchemaError):
        await registry.register(subject, "not json")


# --------------------------------------------------------------------------- embedded registry only


@pytest.fixture
async def pg_registry(migrated_pg_url: str) -> Any:
    reg = PostgresSchemaRegistry(migrated_pg_url)
    yield reg
    await reg.close()


async def test_pg_levels_default_and_messages(pg_registry: PostgresSchemaRegistry) -> None:
    assert await pg_registry.get_compatibility() == "BACKWARD"
    assert await pg_registry.get_compatibility("s-value") == "BACKWARD"
    await pg_registry.register("s-value", V1)
    bad = record({"name": "speed", "type": "float"}, {"name": "pitch_type", "type": "string"})
    with pytest.raises(SchemaError, match=r"pitch_type: field added without a default") as info:
        await pg_registry.register("s-value", bad)
    assert "s-value" in str(info.value) and "version 1" in str(info.value)
    await pg_registry.set_compatibility("FULL")
    assert await pg_registry.get_compatibility("s-value") == "FULL"
    with pytest.raises(SchemaError, match="old schema cannot read new data"):
        await pg_registry.register("s-value", record())  # drops `speed`, which V1 needs (no default)
    await pg_registry.set_compatibility("none", "s-value")
    await pg_registry.register("s-value", bad)
    assert [v for v, _ in await pg_registry.versions("s-value")] == [1, 2]
    with pytest.raises(SchemaError, match="unknown compatibility level"):
        await pg_registry.set_compatibility("SIDEWAYS")
    await pg_registry.ready()


async def test_pg_canonical_text_gives_the_same_id(pg_registry: PostgresSchemaRegistry) -> None:
    spaced = json.dumps(json.loads(V1), indent=4)
    reordered = json.dumps(dict(reversed(list(json.loads(V1).items()))))
    a = await pg_registry.register("a-value", V1)
    assert await pg_registry.register("b-value", spaced) == a
    assert await pg_registry.register("c-value", reordered) == a
    assert await pg_registry.versions("a-value") == [(1, a)]


async def test_pg_transitive_checks_every_version(pg_registry: PostgresSchemaRegistry) -> None:
    await pg_registry.set_compatibility("BACKWARD_TRANSITIVE", "t-value")
    await pg_registry.register("t-value", V1)
    await pg_registry.register("t-value", record())  # drop `speed`: fine backward
    # re-adding `speed` as a string is compatible with the latest version but not with version 1
    with pytest.raises(SchemaError, match="version 1"):
        await pg_registry.register(
            "t-value", record({"name": "speed", "type": ["null", "string"], "default": None})
        )


@pytest.mark.parametrize(
    ("old", "new", "ok"),
    [
        ("int", "long", True),  # promotion
        ("long", "int", False),
        ("float", "double", True),
        ("string", "bytes", True),
        ("string", ["null", "string"], True),  # widened to a union
        (["null", "string"], "string", False),  # null can no longer be read
        (["null", "int"], ["null", "long"], True),
        ({"type": "array", "items": "int"}, {"type": "array", "items": "long"}, True),
        ({"type": "map", "values": "string"}, {"type": "map", "values": "int"}, False),
        (
            {"type": "enum", "name": "Hand", "symbols": ["L", "R"]},
            {"type": "enum", "name": "Hand", "symbols": ["L"]},
            False,
        ),
        (
            {"type": "enum", "name": "Hand", "symbols": ["L", "R", "S"]},
            {"type": "enum", "name": "Hand", "symbols": ["L", "R"], "default": "L"},
            True,
        ),
        (
            {"type": "enum", "name": "Hand", "symbols": ["L"]},
            {"type": "enum", "name": "Side", "symbols": ["L"]},
            False,
        ),
        (
            {"type": "record", "name": "In", "fields": [{"name": "a", "type": "int"}]},
            {
                "type": "record",
                "name": "In",
                "fields": [{"name": "a", "type": "int"}, {"name": "b", "type": "int"}],
            },
            False,
        ),
        ({"type": "fixed", "name": "F", "size": 4}, {"type": "fixed", "name": "F", "size": 8}, False),
        ({"type": "int", "logicalType": "date"}, "int", True),
    ],
)
def test_backward_rules(old: Any, new: Any, ok: bool) -> None:
    problems = compatibility_problems(
        "BACKWARD", record({"name": "f", "type": new}), record({"name": "f", "type": old})
    )
    assert (problems == []) is ok, problems
