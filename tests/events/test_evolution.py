"""Schema evolution: Pitch v1 → v2 (the review/ABS-challenge fields) under BACKWARD compatibility.

On both stacks — the embedded one (PostgreSQL event log + PostgreSQL registry) and Kafka + Apicurio —
through the real registry, the real bus and the Confluent wire format:

- v1 then v2 register under BACKWARD; a new field without a default, or a changed type, is refused;
- an old consumer (codec pinned to Pitch v1) reads events written with v2 (the new fields skipped),
  a new consumer reads events written with v1 (the new fields take their defaults).

The pitch is real: Shohei Ohtani's hit by pitch of game 746139 (at bat 64), whose call the Rangers
challenged and MLB overturned. The recorded feed has that ``reviewDetails`` on the play; 2026 feeds put
an ABS challenge's ``reviewDetails`` on the pitch itself, so the test moves the real object onto the
pitch (none of our recordings holds a 2026 ABS challenge).
"""

from __future__ import annotations

import copy
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sts.adapters.pg_registry import compatibility_problems
from sts.errors import SchemaError
from sts.events.codec import AvroCodec
from sts.events.derive import PITCH, derive_events
from sts.events.model import GameEvent
from sts.events.versions import SCHEMAS_DIR, all_schema_versions, field_since, schema_versions
from sts.ports import EventBus, Message, Record, SchemaRegistry, Subscription, TopicSpec
from tests.contract.conftest import BACKEND_MARKS, BUS_BACKENDS, REGISTRY_BACKENDS, BusBackend
from tests.events.feeds import load

LIVE_FEED = "feed_live_746139_20240612_042717.json"
REVIEWED_AT_BAT, REVIEWED_PITCH = 64, 3  # the hit by pitch, overturned on review
REVIEW_FIELDS = ("review_type", "review_challenge_team_id", "review_is_overturned", "review_in_progress")
# each stack = (bus backend id, registry backend id), as deployed together
STACKS = {"embedded": ("postgres", "postgres"), "kafka": ("kafka", "kafka")}


def fields_of(version: int) -> list[str]:
    return schema_versions("Pitch")[version - 1].field_names


def reviewed_feed() -> dict[str, Any]:
    """The real feed with the play's real ``reviewDetails`` on the pitch it was about."""
    feed = load(LIVE_FEED)
    play = feed["liveData"]["plays"]["allPlays"][REVIEWED_AT_BAT]
    pitch = play["playEvents"][REVIEWED_PITCH]
    assert pitch["details"]["call"]["code"] == "H" and play["reviewDetails"]["isOverturned"] is True
    pitch["reviewDetails"] = copy.deepcopy(play["reviewDetails"])
    return feed


def pitches(feed: dict[str, Any]) -> dict[tuple[int, int], GameEvent]:
    return {
        (e.payload["at_bat_index"], e.payload["event_index"]): e
        for e in derive_events(None, feed)
        if e.event_type == PITCH
    }


def as_v1(event: GameEvent) -> GameEvent:
    """The event as a producer still on Pitch v1 writes it."""
    v1 = set(fields_of(1))
    return GameEvent(
        event.event_type, event.event_id, event.game_pk, {k: v for k, v in event.payload.items() if k in v1}
    )


# --------------------------------------------------------------------------- the schemas in the repo


def test_pitch_v2_adds_only_optional_review_fields() -> None:
    v1, v2 = schema_versions("Pitch")
    assert (v1.version, v2.version) == (1, 2)
    assert v2.path == SCHEMAS_DIR / "Pitch.avsc"
    assert set(v2.field_names) - set(v1.field_names) == set(REVIEW_FIELDS)
    assert set(v1.field_names) <= set(v2.field_names)
    new = {f["name"]: f for f in v2.raw["fields"] if f["name"] in REVIEW_FIELDS}
    assert all(f["default"] is None and f["type"][0] == "null" for f in new.values())
    since = field_since(schema_versions("Pitch"))
    assert {f: since[f] for f in REVIEW_FIELDS} == dict.fromkeys(REVIEW_FIELDS, 2)
    assert since["event_id"] == since["spin_rate"] == 1


def test_every_kept_version_is_backward_compatible_with_the_one_before() -> None:
    for name, versions in all_schema_versions().items():
        for old, new in itertools.pairwise(versions):
            problems = compatibility_problems("BACKWARD", json.dumps(new.raw), json.dumps(old.raw))
            assert problems == [], f"{name} v{new.version}: {problems}"
            assert new.raw != old.raw, f"{name} v{new.version} is the same as v{old.version}"


def test_the_pitch_event_carries_the_review_of_its_call() -> None:
    plain = pitches(load(LIVE_FEED))
    reviewed = pitches(reviewed_feed())
    assert plain.keys() == reviewed.keys()
    key = (REVIEWED_AT_BAT, REVIEWED_PITCH)
    got = {f: reviewed[key].payload[f] for f in REVIEW_FIELDS}
    assert got == {
        "review_type": "MI",
        "review_challenge_team_id": 119,
        "review_is_overturned": True,
        "review_in_progress": False,
    }
    # every other pitch is unchanged (same id, same payload) and has no review
    for k, event in plain.items():
        assert set(event.payload) == set(fields_of(2))
        assert all(event.payload[f] is None for f in REVIEW_FIELDS)
        if k != key:
            assert reviewed[k] == event
    # a review is a new fact about the pitch: it gets a new id (and so does its outcome)
    assert reviewed[key].event_id != plain[key].event_id
    pending = reviewed_feed()
    details = pending["liveData"]["plays"]["allPlays"][REVIEWED_AT_BAT]["playEvents"][REVIEWED_PITCH]
    details["reviewDetails"].update(inProgress=True, isOverturned=False)
    in_progress = pitches(pending)[key]
    assert in_progress.payload["review_in_progress"] is True
    assert in_progress.event_id not in {reviewed[key].event_id, plain[key].event_id}


# --------------------------------------------------------------------------- on both stacks


@dataclass
class Stack:
    bus: EventBus
    registry: SchemaRegistry
    backend: BusBackend


def _stack_params() -> list[Any]:
    return [
        pytest.param(name, id=name, marks=BACKEND_MARKS.get(bus_id, []))
        for name, (bus_id, _) in STACKS.items()
    ]


@pytest.fixture(params=_stack_params())
async def stack(request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    bus_id, registry_id = STACKS[request.param]
    async with (
        BUS_BACKENDS[bus_id](request) as backend,
        backend.connect() as bus,
        REGISTRY_BACKENDS[registry_id](request) as registry,
    ):
        yield Stack(bus, registry, backend)


def pitch_text(version: int, change: Any = None) -> str:
    raw = copy.deepcopy(schema_versions("Pitch")[version - 1].raw)
    if change is not None:
        change(raw["fields"])
    return json.dumps(raw)


def _add_required(fields: list[dict[str, Any]]) -> None:
    fields.append({"name": "abs_zone_version", "type": "long", "doc": "no default: breaks old data"})


def _retype_zone(fields: list[dict[str, Any]]) -> None:
    next(f for f in fields if f["name"] == "zone")["type"] = ["null", "string"]


async def test_the_registry_takes_v2_after_v1_and_refuses_incompatible_changes(stack: Stack) -> None:
    subject = f"sts-evolution-{uuid.uuid4().hex[:10]}-sts.events.Pitch"
    await stack.registry.set_compatibility("BACKWARD", subject)
    v1 = await stack.registry.register(subject, pitch_text(1))
    v2 = await stack.registry.register(subject, pitch_text(2))
    assert v1 != v2
    with pytest.raises(SchemaError):  # a new field without a default cannot read v1/v2 data
        await stack.registry.register(subject, pitch_text(2, _add_required))
    with pytest.raises(SchemaError):  # zone: long → string
        await stack.registry.register(subject, pitch_text(2, _retype_zone))
    # the refusals changed nothing: both versions are still there, under the same ids
    assert await stack.registry.register(subject, pitch_text(2)) == v2
    assert await stack.registry.register(subject, pitch_text(1)) == v1
    assert "review_type" in [f["name"] for f in json.loads(await stack.registry.get_schema(v2))["fields"]]


async def _consume(sub: Subscription, n: int, timeout: float = 30.0) -> list[Record]:  # noqa: ASYNC109
    got: list[Record] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        batch = await sub.poll(timeout=0.5)
        got += batch
        if batch:
            await sub.commit(batch)
    return got


async def test_old_and_new_consumers_read_each_others_events_through_the_bus(
    stack: Stack, tmp_path: Path
) -> None:
    topic = stack.backend.topic("mlb.evolution")
    await stack.bus.create_topic(TopicSpec(topic, partitions=2))
    events = pitches(reviewed_feed())
    reviewed = events[(REVIEWED_AT_BAT, REVIEWED_PITCH)]
    others = [e for k, e in sorted(events.items()) if k[0] in (62, 63)]
    assert len(others) >= 4

    old_producer = AvroCodec(stack.registry, versions={"Pitch": 1})
    new_producer = AvroCodec(stack.registry)
    subject = new_producer.subject(topic, PITCH)
    await stack.registry.set_compatibility("BACKWARD", subject)
    # a rolling upgrade: the old producer writes first (registers v1), the new one registers v2 and
    # writes the reviewed pitch, an old producer still running writes again (v1, already registered)
    first, rest = others[:2], others[2:]
    messages: list[Message] = [await old_producer.message(topic, as_v1(e)) for e in first]
    messages.append(await new_producer.message(topic, reviewed))
    messages += [await old_producer.message(topic, as_v1(e)) for e in rest]
    for m in messages:
        await stack.bus.publish([m])
    ids = {m.value[1:5] for m in messages}
    assert all(m.value[0] == 0 for m in messages) and len(ids) == 2  # Confluent wire format, 2 versions
    v1_id = int.from_bytes(messages[0].value[1:5], "big")
    v2_id = int.from_bytes(messages[len(first)].value[1:5], "big")
    assert "review_type" not in await stack.registry.get_schema(v1_id)
    assert "review_type" in await stack.registry.get_schema(v2_id)

    # a writer with a breaking change is refused by the registry at first use (so it publishes nothing)
    (tmp_path / "Pitch.avsc").write_text(pitch_text(2, _retype_zone))
    with pytest.raises(SchemaError):
        await AvroCodec(stack.registry, tmp_path).message(topic, reviewed)

    run = uuid.uuid4().hex[:8]
    old_sub = await stack.bus.subscribe(f"g.old-consumer.{run}", [topic])
    new_sub = await stack.bus.subscribe(f"g.new-consumer.{run}", [topic])
    try:
        old_records = await _consume(old_sub, len(messages))
        new_records = await _consume(new_sub, len(messages))
    finally:
        await old_sub.close()
        await new_sub.close()
    assert len(old_records) == len(new_records) == len(messages)
    # fresh codecs: the writer schemas come from the registry by the id in each value
    old_consumer = AvroCodec(stack.registry, versions={"Pitch": 1})
    new_consumer = AvroCodec(stack.registry)
    old_read = {e.event_id: e for e in [await old_consumer.decode(r.value) for r in old_records]}
    new_read = {e.event_id: e for e in [await new_consumer.decode(r.value) for r in new_records]}

    # old consumer, v2 event: exactly the v1 fields, the review fields skipped
    assert old_read[reviewed.event_id] == as_v1(reviewed)
    assert list(old_read[reviewed.event_id].payload) == fields_of(1)
    # new consumer, v2 event: everything, review included
    assert new_read[reviewed.event_id] == reviewed
    assert new_read[reviewed.event_id].payload["review_is_overturned"] is True
    for event in others:
        # old consumer, v1 event: as written
        assert old_read[event.event_id] == as_v1(event)
        # new consumer, v1 event: v2's fields, the review fields filled with their default (null)
        got = new_read[event.event_id]
        assert set(got.payload) == set(fields_of(2))
        assert got == event and all(got.payload[f] is None for f in REVIEW_FIELDS)
