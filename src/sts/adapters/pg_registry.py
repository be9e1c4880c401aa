"""The embedded schema registry: Confluent-style subjects, versions and global ids in PostgreSQL.

Tables of migration 0001 (``registry_*``). Rules, as in the Confluent registry:

- Ids are global: the same schema (after canonicalisation: parsed and re-serialised as compact JSON
  with sorted keys) has the same id under every subject.
- Registering a schema a subject already has returns its id and adds no version.
- A new version must satisfy the subject's compatibility level (else the global default,
  ``BACKWARD`` unless changed): ``NONE``; ``BACKWARD`` (the new schema reads data written with the
  latest version); ``FORWARD`` (the latest version reads data written with the new one); ``FULL``
  (both); the ``*_TRANSITIVE`` variants check every earlier version, not just the latest.

The check follows the Avro schema-resolution rules (:func:`reader_problems`): a reader field the writer
lacks needs a default; writer fields the reader lacks are ignored; types must match or be promotable
(int→long→float→double, string↔bytes); every writer union branch must be readable; enum symbols the
reader lacks need a reader default; named types must keep their name (or list it as an alias).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import fastavro
import psycopg
from psycopg_pool import AsyncConnectionPool

from sts.errors import BackendError, SchemaError

LEVELS = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)
P = ParamSpec("P")
T = TypeVar("T")
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
_PROMOTIONS = {  # (writer, reader)
    ("int", "long"),
    ("int", "float"),
    ("int", "double"),
    ("long", "float"),
    ("long", "double"),
    ("float", "double"),
    ("string", "bytes"),
    ("bytes", "string"),
}


def canonical(schema: str) -> str:
    """The registry's canonical text of ``schema``; raises :class:`SchemaError` if it is not Avro."""
    try:
        parsed = json.loads(schema)
        fastavro.parse_schema(parsed)
    except (ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException) as exc:
        raise SchemaError(f"not a valid Avro schema: {exc}") from exc
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"))


def _parse(schema: str) -> tuple[Any, dict[str, Any]]:
    named: dict[str, Any] = {}
    return fastavro.parse_schema(json.loads(schema), named_schemas=named), named


def _resolve(s: Any, named: dict[str, Any]) -> Any:
    if isinstance(s, str):
        return named.get(s, s)
    if isinstance(s, dict) and s.get("type") in _PRIMITIVES:
        return s["type"]  # a logical type: resolution works on the underlying type
    return s


def _kind(s: Any) -> str:
    if isinstance(s, str):
        return s
    if isinstance(s, list):
        return "union"
    return str(s["type"])


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def reader_problems(
    reader: Any,
    writer: Any,
    rnamed: dict[str, Any],
    wnamed: dict[str, Any],
    path: str = "",
    seen: set[tuple[str, str]] | None = None,
) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader`` (empty: it can).

    Both are schemas parsed by :func:`fastavro.parse_schema` with their named types in ``*named``.
    """
    seen = set() if seen is None else seen
    r, w = _resolve(reader, rnamed), _resolve(writer, wnamed)
    rk, wk = _kind(r), _kind(w)
    where = path or "<root>"
    if wk == "union":
        return [p for branch in w for p in reader_problems(reader, branch, rnamed, wnamed, path, seen)]
    if rk == "union":
        if any(not reader_problems(b, writer, rnamed, wnamed, path, seen) for b in r):
            return []
        return [f"{where}: no branch of the reader's union can read the writer's {wk}"]
    if rk in _PRIMITIVES or wk in _PRIMITIVES:
        if rk == wk or (wk, rk) in _PROMOTIONS:
            return []
        return [f"{where}: type changed from {wk} to {rk}"]
    if rk != wk:
        return [f"{where}: type changed from {wk} to {rk}"]
    if rk in ("record", "enum", "fixed"):
        rname, wname = r["name"], w["name"]
        aliases = {_short(a) for a in r.get("aliases", [])}
        if _short(rname) != _short(wname) and _short(wname) not in aliases:
            return [f"{where}: {rk} {wname} was renamed to {rname}"]
    if rk == "record":
        if (r["name"], w["name"]) in seen:
            return []
        seen.add((r["name"], w["name"]))
        wfields = {f["name"]: f for f in w["fields"]}
        problems: list[str] = []
        for f in r["fields"]:
            here = f"{path}.{f['name']}" if path else f["name"]
            match = next((wfields[n] for n in [f["name"], *f.get("aliases", [])] if n in wfields), None)
            if match is None:
                if "default" not in f:
                    problems.append(f"{here}: field added without a default")
            else:
                problems += reader_problems(f["type"], match["type"], rnamed, wnamed, here, seen)
        return problems
    if rk == "enum":
        missing = sorted(set(w["symbols"]) - set(r["symbols"]))
        if missing and "default" not in r:
            return [f"{where}: enum symbols {missing} removed without an enum default"]
        return []
    if rk == "array":
        return reader_problems(r["items"], w["items"], rnamed, wnamed, f"{path}[]", seen)
    if rk == "map":
        return reader_problems(r["values"], w["values"], rnamed, wnamed, f"{path}{{}}", seen)
    if rk == "fixed" and r["size"] != w["size"]:
        return [f"{where}: fixed size changed from {w['size']} to {r['size']}"]
    return []


def compatibility_problems(level: str, new: str, old: str) -> list[str]:
    """Why schema ``new`` may not follow ``old`` under ``level`` (empty: it may)."""
    if level == "NONE":
        return []
    (n, nn), (o, on) = _parse(new), _parse(old)
    problems: list[str] = []
    if level.startswith(("BACKWARD", "FULL")):
        problems += [f"new schema cannot read old data: {p}" for p in reader_problems(n, o, nn, on)]
    if level.startswith(("FORWARD", "FULL")):
        problems += [f"old schema cannot read new data: {p}" for p in reader_problems(o, n, on, nn)]
    return problems


def _db_errors(fn: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Database failures leave the registry as :class:`sts.errors.BackendError`."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except psycopg.Error as exc:
            raise BackendError(f"schema registry: {fn.__name__} failed: {exc}") from exc

    return wrapper


class PostgresSchemaRegistry:
    """An :class:`sts.ports.SchemaRegistry` in the PostgreSQL database at ``url`` (migrated to 0001)."""

    def __init__(self, url: str, *, pool_size: int = 4) -> None:
        self._pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            open=False,
            name="sts-registry",
            check=AsyncConnectionPool.check_connection,
            timeout=10.0,
        )
        self._opened = False
        self._open_lock = asyncio.Lock()
        self._by_id: dict[int, str] = {}

    async def _connection_pool(self) -> AsyncConnectionPool:
        if not self._opened:
            async with self._open_lock:
                if not self._opened:
                    await self._pool.open(wait=True, timeout=30)
                    self._opened = True
        return self._pool

    @_db_errors
    async def register(self, subject: str, schema: str) -> int:
        """The id of ``schema`` under ``subject``, adding a version if it is new and compatible."""
        text = canonical(schema)
        fingerprint = hashlib.sha256(text.encode()).hexdigest()
        pool = await self._connection_pool()
        async with pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('sts_registry:' || %s))", (subject,))
            row = await (
                await conn.execute(
                    "SELECT s.id FROM registry_versions v JOIN registry_schemas s ON s.id = v.schema_id "
                    "WHERE v.subject = %s AND s.fingerprint = %s",
                    (subject, fingerprint),
                )
            ).fetchone()
            if row is not None:
                return int(row[0])
            level = await self._level(conn, subject)
            olds = await (
                await conn.execute(
                    "SELECT v.version, s.schema_text FROM registry_versions v "
                    "JOIN registry_schemas s ON s.id = v.schema_id "
                    "WHERE v.subject = %s ORDER BY v.version DESC",
                    (subject,),
                )
            ).fetchall()
            for version, old in olds if level.endswith("_TRANSITIVE") else olds[:1]:
                problems = compatibility_problems(level.removesuffix("_TRANSITIVE"), text, old)
                if problems:
                    raise SchemaError(
                        f"schema refused for subject {subject!r}: not {level} compatible with version "
                        f"{version}: " + "; ".join(problems)
                    )
            await conn.execute(
                "INSERT INTO registry_schemas (fingerprint, schema_text) VALUES (%s, %s) "
                "ON CONFLICT (fingerprint) DO NOTHING",
                (fingerprint, text),
            )
            row = await (
                await conn.execute("SELECT id FROM registry_schemas WHERE fingerprint = %s", (fingerprint,))
            ).fetchone()
            assert row is not None
            schema_id = int(row[0])
            await conn.execute(
                "INSERT INTO registry_subjects (subject) VALUES (%s) ON CONFLICT DO NOTHING", (subject,)
            )
            await conn.execute(
                "INSERT INTO registry_versions (subject, version, schema_id) "
                "SELECT %s, COALESCE(max(version), 0) + 1, %s FROM registry_versions WHERE subject = %s",
                (subject, schema_id, subject),
            )
        self._by_id[schema_id] = text
        return schema_id

    async def _level(self, conn: psycopg.AsyncConnection[Any], subject: str | None) -> str:
        row = await (
            await conn.execute(
                "SELECT COALESCE((SELECT compatibility FROM registry_subjects WHERE subject = %s), "
                "(SELECT compatibility FROM registry_config))",
                (subject,),
            )
        ).fetchone()
        assert row is not None
        return str(row[0])

    @_db_errors
    async def get_schema(self, schema_id: int) -> str:
        """The (canonical) schema text of ``schema_id``; :class:`SchemaError` if there is none."""
        if schema_id not in self._by_id:
            pool = await self._connection_pool()
            async with pool.connection() as conn:
                row = await (
                    await conn.execute("SELECT schema_text FROM registry_schemas WHERE id = %s", (schema_id,))
                ).fetchone()
            if row is None:
                raise SchemaError(f"the schema registry has no schema with id {schema_id}")
            self._by_id[schema_id] = row[0]
        return self._by_id[schema_id]

    @_db_errors
    async def versions(self, subject: str) -> list[tuple[int, int]]:
        """``(version, schema id)`` of every version of ``subject``, oldest first."""
        pool = await self._connection_pool()
        async with pool.connection() as conn:
            rows = await (
                await conn.execute(
                    "SELECT version, schema_id FROM registry_versions WHERE subject = %s ORDER BY version",
                    (subject,),
                )
            ).fetchall()
        return [(int(v), int(i)) for v, i in rows]

    @_db_errors
    async def set_compatibility(self, level: str, subject: str | None = None) -> None:
        """Set the level of ``subject``, or the global default when ``subject`` is None."""
        level = level.upper()
        if level not in LEVELS:
            raise SchemaError(f"unknown compatibility level {level!r} (one of {', '.join(LEVELS)})")
        pool = await self._connection_pool()
        async with pool.connection() as conn, conn.transaction():
            if subject is None:
                await conn.execute("UPDATE registry_config SET compatibility = %s", (level,))
            else:
                await conn.execute(
                    "INSERT INTO registry_subjects (subject, compatibility) VALUES (%s, %s) "
                    "ON CONFLICT (subject) DO UPDATE SET compatibility = EXCLUDED.compatibility",
                    (subject, level),
                )

    @_db_errors
    async def get_compatibility(self, subject: str | None = None) -> str:
        """The level that applies to ``subject`` (its own, else the global default)."""
        pool = await self._connection_pool()
        async with pool.connection() as conn:
            return await self._level(conn, subject)

    @_db_errors
    async def ready(self) -> None:
        pool = await self._connection_pool()
        async with pool.connection(timeout=5) as conn:
            await conn.execute("SELECT 1 FROM registry_config")

    async def close(self) -> None:
        if self._opened:
            await self._pool.close()
            self._opened = False
