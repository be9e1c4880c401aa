"""Every version of every event schema, as kept in the repo (pure, no I/O beyond reading the files).

The current version of record ``X`` is ``schemas/X.avsc``. Its earlier versions are kept, unchanged, as
``schemas/history/X.v1.avsc``, ``X.v2.avsc``…; the current one is the version after the newest of
them (version 1 when there is no history). Evolving a schema therefore means: copy ``X.avsc`` to
``history/X.v<N>.avsc`` (N = its current version), then edit ``X.avsc`` — under BACKWARD
compatibility (new fields optional with a default), which the registry enforces on first use.

Used by the codec (a consumer or producer pinned to an older version) and by the generated schema
reference (``sts schemas docs``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sts.errors import SchemaError

SCHEMAS_DIR = Path(__file__).parent / "schemas"
HISTORY = "history"
_HISTORY_NAME = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.avsc$")


@dataclass(frozen=True)
class SchemaVersion:
    """One version of a record schema: its record name, version number, JSON form and file."""

    name: str
    version: int
    raw: dict[str, Any]
    path: Path

    @property
    def field_names(self) -> list[str]:
        return [str(f["name"]) for f in self.raw.get("fields", [])]


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text())
    except ValueError as exc:
        raise SchemaError(f"{path.name}: not JSON: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("type") != "record":
        raise SchemaError(f"{path.name}: not an Avro record schema")
    return raw


def _record_name(raw: dict[str, Any]) -> str:
    return str(raw.get("name", "")).rpartition(".")[2]


def schema_versions(name: str, schemas_dir: Path = SCHEMAS_DIR) -> list[SchemaVersion]:
    """Every version of record ``name``, oldest first, the current one (``name.avsc``) last.

    Raises :class:`SchemaError` when the current file is missing, a history file holds another
    record, or the history has a gap (v1, v3 without v2).
    """
    current_path = schemas_dir / f"{name}.avsc"
    if not current_path.is_file():
        raise SchemaError(f"no schema file {name}.avsc")
    history: dict[int, Path] = {}
    for path in (schemas_dir / HISTORY).glob(f"{name}.v*.avsc"):
        m = _HISTORY_NAME.match(path.name)
        if m is not None and m["name"] == name:
            history[int(m["version"])] = path
    if sorted(history) != list(range(1, len(history) + 1)):
        raise SchemaError(f"{name}: history versions {sorted(history)} are not 1..n without gaps")
    out: list[SchemaVersion] = []
    for version, path in [*sorted(history.items()), (len(history) + 1, current_path)]:
        raw = _read(path)
        if _record_name(raw) != name:
            raise SchemaError(f"{path.name}: holds record {_record_name(raw)!r}, not {name!r}")
        out.append(SchemaVersion(name, version, raw, path))
    return out


def all_schema_versions(schemas_dir: Path = SCHEMAS_DIR) -> dict[str, list[SchemaVersion]]:
    """:func:`schema_versions` of every ``*.avsc`` of ``schemas_dir``, by record name (sorted).

    A history file whose record has no current schema is an error (a schema is never deleted)."""
    names = sorted(p.stem for p in schemas_dir.glob("*.avsc"))
    for path in sorted((schemas_dir / HISTORY).glob("*.avsc")):
        m = _HISTORY_NAME.match(path.name)
        if m is None:
            raise SchemaError(f"{HISTORY}/{path.name}: history files are named <Record>.v<N>.avsc")
        if m["name"] not in names:
            raise SchemaError(f"{HISTORY}/{path.name}: no current schema {m['name']}.avsc")
    return {name: schema_versions(name, schemas_dir) for name in names}


def schema_version(name: str, version: int, schemas_dir: Path = SCHEMAS_DIR) -> SchemaVersion:
    """Version ``version`` of record ``name``; :class:`SchemaError` if the repo does not have it."""
    versions = schema_versions(name, schemas_dir)
    if not 1 <= version <= len(versions):
        raise SchemaError(f"{name} has versions 1..{len(versions)}, not {version}")
    return versions[version - 1]


def field_since(versions: list[SchemaVersion]) -> dict[str, int]:
    """For each field of the newest version: the version from which it has been present without a
    break (a field dropped and added again counts from when it came back)."""
    since: dict[str, int] = {}
    for v in versions:
        since = {f: since.get(f, v.version) for f in v.field_names}
    return since
