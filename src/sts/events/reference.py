"""The generated reference of every event schema (``docs/events.md``), from the ``*.avsc`` files (pure).

``render_reference()`` reads every schema of ``schemas/`` and its kept versions (``schemas/history``,
see :mod:`sts.events.versions`) and returns Markdown: per schema its versions and what each changed,
then per field (also of the records nested in it) the name, type, default, the version it appeared
in and its doc. ``sts schemas docs`` writes it; a test fails when the committed file differs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sts.events.versions import HISTORY, SCHEMAS_DIR, SchemaVersion, all_schema_versions

COMMAND = "uv run sts schemas docs"
NO_DEFAULT = "—"
SOURCE = "src/sts/events/schemas"


def _short(name: str) -> str:
    return name.rpartition(".")[2]


def type_name(t: Any) -> str:
    """A compact, readable form of an Avro type: ``null | long``, ``array<Runner>``, ``map<string>``."""
    if isinstance(t, str):
        return _short(t)
    if isinstance(t, list):
        return " | ".join(type_name(b) for b in t)
    kind = t.get("type")
    if kind in ("record", "error"):
        return _short(str(t["name"]))
    if kind == "enum":
        return f"enum {_short(str(t['name']))} {{{', '.join(t['symbols'])}}}"
    if kind == "fixed":
        return f"fixed {_short(str(t['name']))}[{t['size']}]"
    if kind == "array":
        return f"array<{type_name(t['items'])}>"
    if kind == "map":
        return f"map<{type_name(t['values'])}>"
    if "logicalType" in t:
        return f"{type_name(kind)} ({t['logicalType']})"
    return type_name(kind)


def nested_records(t: Any) -> Iterator[dict[str, Any]]:
    """The records defined inside type ``t`` (depth first, each once per definition)."""
    if isinstance(t, list):
        for branch in t:
            yield from nested_records(branch)
    elif isinstance(t, dict):
        if t.get("type") in ("record", "error"):
            yield t
            for f in t.get("fields", []):
                yield from nested_records(f["type"])
        elif t.get("type") == "array":
            yield from nested_records(t["items"])
        elif t.get("type") == "map":
            yield from nested_records(t["values"])


def records_of(version: SchemaVersion) -> dict[str, dict[str, Any]]:
    """Every record of a schema version by short name: the schema itself first, then nested ones."""
    out = {version.name: version.raw}
    for f in version.raw.get("fields", []):
        for rec in nested_records(f["type"]):
            out.setdefault(_short(str(rec["name"])), rec)
    return out


def _since(versions: list[SchemaVersion], record: str) -> dict[str, int]:
    """Per field of ``record`` in the newest version: the version since which it has been there."""
    since: dict[str, int] = {}
    for v in versions:
        rec = records_of(v).get(record)
        names = [str(f["name"]) for f in rec["fields"]] if rec else []
        since = {n: since.get(n, v.version) for n in names}
    return since


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(field: dict[str, Any]) -> str:
    if "default" not in field:
        return NO_DEFAULT
    return f"`{json.dumps(field['default'], ensure_ascii=False)}`"


def changes(old: SchemaVersion, new: SchemaVersion) -> list[str]:
    """What ``new`` changed in the top-level and nested records of ``old``, one phrase per change."""
    out: list[str] = []
    old_recs, new_recs = records_of(old), records_of(new)
    for name, rec in new_recs.items():
        if name not in old_recs:
            continue  # a new nested record comes with the field that holds it
        prefix = "" if name == new.name else f"{name}."
        before = {str(f["name"]): f for f in old_recs.get(name, {}).get("fields", [])}
        after = {str(f["name"]): f for f in rec["fields"]}
        added = [f"`{prefix}{n}`" for n in after if n not in before]
        removed = [f"`{prefix}{n}`" for n in before if n not in after]
        if added:
            out.append("added " + ", ".join(added))
        if removed:
            out.append("removed " + ", ".join(removed))
        for n in after.keys() & before.keys():
            was, now = type_name(before[n]["type"]), type_name(after[n]["type"])
            if was != now:
                out.append(f"`{prefix}{n}`: {was} → {now}")
            elif _default(before[n]) != _default(after[n]):
                out.append(f"`{prefix}{n}`: default {_default(before[n])} → {_default(after[n])}")
    if not out:
        out.append("docs only")
    return sorted(out, key=lambda s: (not s.startswith("added"), not s.startswith("removed"), s))


def _field_table(record: dict[str, Any], since: dict[str, int]) -> list[str]:
    lines = ["| field | type | default | since | doc |", "|---|---|---|---|---|"]
    for f in record["fields"]:
        name = str(f["name"])
        row = [
            f"`{name}`",
            _cell(type_name(f["type"])),
            _default(f),
            f"v{since[name]}",
            _cell(f.get("doc", "")),
        ]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _anchor(name: str) -> str:
    return name.lower()


def _schema_section(versions: list[SchemaVersion], root: Path) -> list[str]:
    current = versions[-1]
    raw = current.raw
    namespace = raw.get("namespace")
    fullname = raw["name"] if "." in raw["name"] or not namespace else f"{namespace}.{raw['name']}"
    lines = [
        f"## {current.name}",
        "",
        f"`{fullname}`, version {current.version}. {_cell(raw.get('doc', ''))}",
        "",
    ]
    lines.append("| version | file | changes |")
    lines.append("|---|---|---|")
    for i, v in enumerate(versions):
        what = "first version" if i == 0 else "; ".join(changes(versions[i - 1], v))
        lines.append(f"| v{v.version} | `{v.path.relative_to(root).as_posix()}` | {what} |")
    lines.append("")
    lines += _field_table(raw, _since(versions, current.name))
    for name, rec in list(records_of(current).items())[1:]:
        lines += ["", f"### {current.name} › {name}", "", _cell(rec.get("doc", "")), ""]
        lines += _field_table(rec, _since(versions, name))
    lines.append("")
    return lines


def render_reference(schemas_dir: Path = SCHEMAS_DIR) -> str:
    """The Markdown reference of every schema in ``schemas_dir`` (deterministic: same files, same text)."""
    every = all_schema_versions(schemas_dir)
    root = schemas_dir.parent
    lines = [
        "# Event schemas",
        "",
        f"Generated from the Avro schemas in `{SOURCE}/` by `{COMMAND}`; do not edit by hand.",
        "",
        "Every event on the bus is one of these Avro records in the Confluent wire format (byte 0, the",
        "writer schema's registry id in 4 bytes, the Avro binary record). A schema is registered on first",
        "use under the subject `{topic}-{namespace}.{name}`. The registry enforces BACKWARD compatibility:",
        "a consumer on a new version reads events written with the previous one (fields it adds take",
        "their default), and a change that breaks this (a field without a default, a changed type) is",
        "refused. New fields are also only ever added, optional, so a consumer still on an older version",
        "reads new events too (it skips the fields it does not know).",
        "",
        f"Versions: `{schemas_dir.name}/X.avsc` is the current version of `X`; every earlier one is kept,",
        f"unchanged, as `{schemas_dir.name}/{HISTORY}/X.v<N>.avsc`. To evolve `X`, copy `X.avsc` to the",
        f"next `{HISTORY}/X.v<N>.avsc`, edit `X.avsc`, then regenerate this file. *since* is the version",
        "from which a field has been present; a field without a default (—) is required.",
        "",
        "| schema | version | fields | doc |",
        "|---|---|---|---|",
    ]
    for name, versions in every.items():
        cur = versions[-1]
        doc = _cell(cur.raw.get("doc", ""))
        lines.append(f"| [{name}](#{_anchor(name)}) | v{cur.version} | {len(cur.field_names)} | {doc} |")
    lines.append("")
    for versions in every.values():
        lines += _schema_section(versions, root)
    return "\n".join(lines).rstrip("\n") + "\n"
