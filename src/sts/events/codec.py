"""Avro encoding of :class:`GameEvent` in the Confluent wire format, for any bus and registry.

Wire format of one value: ``0x00`` (magic byte), the writer schema's registry id as 4 bytes
big-endian, then the record in Avro binary (no container, no schema).

Schemas come from a folder of ``*.avsc`` files, each one self-contained record whose name is the
file stem (``PlayCompleted.avsc`` holds record ``PlayCompleted``). A schema is registered on first
use under the subject ``{topic}-{namespace}.{name}`` (Confluent's TopicRecordNameStrategy, so one
topic carries many event types) and its id is cached. Decoding fetches the writer schema by id
(cached) and reads with this codec's own schema of the same record (Avro schema resolution: old
readers ignore new fields, new readers fill defaults), or with the writer schema when this codec
does not know that record.

A codec may be pinned to an earlier version of some records (``versions={"Pitch": 1}``, taken from
``schemas/history``, see :mod:`sts.events.versions`): it then writes and reads those records as a
producer or consumer that has not been upgraded yet would.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import fastavro
from fastavro.validation import ValidationError

from sts.errors import SchemaError
from sts.events.model import GameEvent
from sts.events.versions import SCHEMAS_DIR, schema_version
from sts.ports import Message, SchemaRegistry

MAGIC = 0


class _Schema:
    """One record schema: its full name, its registered text and its parsed form."""

    def __init__(self, raw: dict[str, Any]) -> None:
        name = str(raw["name"])
        namespace = raw.get("namespace")
        if "." in name:
            namespace, _, name = name.rpartition(".")
        self.name = name
        self.fullname = f"{namespace}.{name}" if namespace else name
        self.text = json.dumps(raw)
        self.parsed = fastavro.parse_schema(raw)
        self.fields = {str(f["name"]) for f in raw.get("fields", [])}


def load_schemas(folder: Path) -> dict[str, _Schema]:
    """Every ``*.avsc`` record schema of ``folder``, by record name (without namespace)."""
    schemas: dict[str, _Schema] = {}
    for path in sorted(folder.glob("*.avsc")):
        try:
            raw = json.loads(path.read_text())
            if not isinstance(raw, dict) or raw.get("type") != "record":
                raise SchemaError(f"{path.name}: not an Avro record schema")
            schema = _Schema(raw)
        except (ValueError, KeyError, fastavro.schema.SchemaParseException) as exc:
            raise SchemaError(f"{path.name}: not a valid Avro schema: {exc}") from exc
        if schema.name != path.stem:
            raise SchemaError(f"{path.name}: holds record {schema.name!r}; the file must be named after it")
        schemas[schema.name] = schema
    return schemas


class AvroCodec:
    """Encodes and decodes :class:`GameEvent` values; bus-agnostic, works with any registry.

    ``encode`` validates the payload against the schema of ``event.event_type`` first and raises
    :class:`sts.errors.SchemaError` naming the offending field; ``decode`` raises
    :class:`sts.errors.SchemaError` for anything that is not a readable event.
    """

    def __init__(
        self,
        registry: SchemaRegistry,
        schemas_dir: Path = SCHEMAS_DIR,
        *,
        versions: Mapping[str, int] | None = None,
    ) -> None:
        self.registry = registry
        self.schemas = load_schemas(schemas_dir)
        for name, version in (versions or {}).items():
            if name not in self.schemas:
                raise SchemaError(f"cannot pin {name!r} to version {version}: no such schema")
            try:
                self.schemas[name] = _Schema(schema_version(name, version, schemas_dir).raw)
            except (ValueError, KeyError, fastavro.schema.SchemaParseException) as exc:
                raise SchemaError(f"{name} version {version} is not a valid Avro schema: {exc}") from exc
        self._ids: dict[str, int] = {}  # subject → id
        self._writers: dict[int, _Schema] = {}  # id → writer schema

    @property
    def event_types(self) -> list[str]:
        return sorted(self.schemas)

    def subject(self, topic: str, event_type: str) -> str:
        return f"{topic}-{self._schema(event_type).fullname}"

    def _schema(self, event_type: str) -> _Schema:
        try:
            return self.schemas[event_type]
        except KeyError:
            raise SchemaError(f"no Avro schema for event type {event_type!r}") from None

    async def schema_id(self, topic: str, event_type: str) -> int:
        """The registry id of ``event_type``'s schema under its subject for ``topic`` (registers it)."""
        subject = self.subject(topic, event_type)
        if subject not in self._ids:
            schema = self._schema(event_type)
            self._ids[subject] = await self.registry.register(subject, schema.text)
            self._writers.setdefault(self._ids[subject], schema)
        return self._ids[subject]

    def validate(self, event: GameEvent) -> None:
        """Raise :class:`SchemaError` unless ``event`` matches its schema exactly (no missing, mistyped
        or unknown fields) and its ``event_id``/``game_pk`` equal the payload's."""
        schema = self._schema(event.event_type)
        unknown = sorted(set(event.payload) - schema.fields)
        if unknown:  # fastavro would silently drop them
            raise SchemaError(f"{event.event_type} event has fields its schema does not know: {unknown}")
        try:
            fastavro.validate(event.payload, schema.parsed, raise_errors=True)
        except ValidationError as exc:
            fields = "; ".join(str(e) for e in exc.errors) or str(exc)
            raise SchemaError(f"{event.event_type} event does not match its schema: {fields}") from exc
        if event.payload.get("event_id") != event.event_id or event.payload.get("game_pk") != event.game_pk:
            raise SchemaError(f"{event.event_type} event: event_id/game_pk differ from the payload's fields")

    async def encode(self, topic: str, event: GameEvent) -> bytes:
        """``event`` in the Confluent wire format, with its schema registered for ``topic``."""
        schema = self._schema(event.event_type)
        if not set(event.payload) <= schema.fields:
            self.validate(event)  # raises: fastavro would silently drop unknown fields
        schema_id = await self.schema_id(topic, event.event_type)
        buf = io.BytesIO()
        buf.write(bytes([MAGIC]) + schema_id.to_bytes(4, "big"))
        try:
            # strict: a missing field without a default raises, so the write validates the record;
            # fastavro.validate is only run to explain a failure (it is slow on wide unions)
            fastavro.schemaless_writer(buf, schema.parsed, event.payload, strict=True)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            self.validate(event)
            raise SchemaError(f"{event.event_type} event could not be written: {exc}") from exc
        if event.payload.get("event_id") != event.event_id or event.payload.get("game_pk") != event.game_pk:
            raise SchemaError(f"{event.event_type} event: event_id/game_pk differ from the payload's fields")
        return buf.getvalue()

    async def message(self, topic: str, event: GameEvent) -> Message:
        """The bus message of ``event``: key ``str(game_pk)``, headers ``event_id`` and ``event_type``."""
        value = await self.encode(topic, event)
        headers = {"event_id": event.event_id, "event_type": event.event_type}
        return Message(topic=topic, key=str(event.game_pk), value=value, headers=headers)

    async def _writer(self, schema_id: int) -> _Schema:
        if schema_id not in self._writers:
            text = await self.registry.get_schema(schema_id)
            try:
                self._writers[schema_id] = _Schema(json.loads(text))
            except (ValueError, KeyError, fastavro.schema.SchemaParseException) as exc:
                raise SchemaError(f"schema {schema_id} from the registry is not valid Avro: {exc}") from exc
        return self._writers[schema_id]

    async def decode(self, data: bytes) -> GameEvent:
        """The event in ``data`` (Confluent wire format), read with this codec's schema when it has one."""
        if len(data) < 5 or data[0] != MAGIC:
            raise SchemaError("not a Confluent wire-format Avro value (magic byte 0 + 4-byte schema id)")
        writer = await self._writer(int.from_bytes(data[1:5], "big"))
        reader = self.schemas.get(writer.name)
        if reader is not None and reader.fullname != writer.fullname:
            reader = None
        try:
            record = fastavro.schemaless_reader(
                io.BytesIO(data[5:]), writer.parsed, reader.parsed if reader else None
            )
        except Exception as exc:  # fastavro raises many types for corrupt data or unresolvable schemas
            raise SchemaError(f"cannot decode a {writer.name} value: {type(exc).__name__}: {exc}") from exc
        if not isinstance(record, dict) or "event_id" not in record or "game_pk" not in record:
            raise SchemaError(f"a {writer.name} value has no event_id/game_pk fields")
        return GameEvent(writer.name, str(record["event_id"]), int(record["game_pk"]), record)
