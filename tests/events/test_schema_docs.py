"""The generated schema reference (``docs/events.md``) and the kept schema versions it is built from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sts.cli import _register, app
from sts.errors import SchemaError
from sts.events.codec import AvroCodec
from sts.events.reference import COMMAND, changes, render_reference, type_name
from sts.events.versions import SCHEMAS_DIR, all_schema_versions, field_since, schema_versions
from tests.conftest import REPO

DOCS = REPO / "docs" / "events.md"


def test_docs_events_md_is_up_to_date_with_the_schemas() -> None:
    assert DOCS.is_file(), f"docs/events.md is missing: run `{COMMAND}`"
    assert DOCS.read_text() == render_reference(), f"docs/events.md is out of date: run `{COMMAND}`"


def test_the_reference_lists_every_schema_field_and_version() -> None:
    text = render_reference()
    every = all_schema_versions()
    assert set(every) == {p.stem for p in SCHEMAS_DIR.glob("*.avsc")}
    for name, versions in every.items():
        assert f"\n## {name}\n" in text
        for v in versions:
            assert f"| v{v.version} | `schemas/{v.path.relative_to(SCHEMAS_DIR).as_posix()}` |" in text
        since = field_since(versions)
        for f in versions[-1].raw["fields"]:
            assert f"| `{f['name']}` | {type_name(f['type']).replace('|', chr(92) + '|')} |" in text
            assert since[f["name"]] <= versions[-1].version
    row = next(line for line in text.splitlines() if line.startswith("| `review_is_overturned` |"))
    assert row.startswith(
        "| `review_is_overturned` | null \\| boolean | `null` | v2 | playEvents[].reviewDetails"
    )


def _write(folder: Path, raw: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{raw['name']}.avsc").write_text(json.dumps(raw))


def _record(*fields: dict[str, Any], name: str = "Thing") -> dict[str, Any]:
    return {
        "type": "record",
        "name": name,
        "namespace": "sts.test",
        "doc": "A thing.",
        "fields": list(fields),
    }


LONG = {"name": "a", "type": "long", "doc": "A."}
B = {"name": "b", "type": "string", "doc": "B."}
PART = {"type": "record", "name": "Part", "fields": [{"name": "p", "type": "long"}]}


def test_versions_since_and_changes_from_the_history(tmp_path: Path) -> None:
    history = tmp_path / "history"
    v1 = _record(LONG, B)
    v2 = _record(
        LONG, B, {"name": "c", "type": ["null", "long"], "default": None},
        {"name": "parts", "type": {"type": "array", "items": PART}, "default": []},
    )  # fmt: skip
    part3 = {**PART, "fields": [*PART["fields"], {"name": "q", "type": ["null", "string"], "default": None}]}
    v3 = _record(
        LONG, {"name": "c", "type": ["null", "double"], "default": None},
        {"name": "parts", "type": {"type": "array", "items": part3}, "default": []},
        {"name": "b", "type": "string", "default": "x"},
    )  # fmt: skip
    (history).mkdir(parents=True)
    (history / "Thing.v1.avsc").write_text(json.dumps(v1))
    (history / "Thing.v2.avsc").write_text(json.dumps(v2))
    _write(tmp_path, v3)
    versions = schema_versions("Thing", tmp_path)
    assert [v.version for v in versions] == [1, 2, 3]
    assert field_since(versions) == {"a": 1, "c": 2, "parts": 2, "b": 1}
    assert changes(versions[0], versions[1]) == ["added `c`, `parts`"]
    assert changes(versions[1], versions[2]) == [
        "added `Part.q`",
        '`b`: default — → `"x"`',
        "`c`: null | long → null | double",
    ]
    text = render_reference(tmp_path)
    assert "| [Thing](#thing) | v3 | 4 | A thing. |" in text
    assert "### Thing › Part" in text
    assert "| `q` | null \\| string | `null` | v3 |  |" in text
    assert "| `p` | long | — | v2 |  |" in text


def test_a_broken_history_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, _record(LONG))
    (tmp_path / "history").mkdir()
    (tmp_path / "history" / "Thing.v2.avsc").write_text(json.dumps(_record(LONG)))
    with pytest.raises(SchemaError, match="gaps"):
        schema_versions("Thing", tmp_path)
    (tmp_path / "history" / "Thing.v2.avsc").rename(tmp_path / "history" / "Thing.v1.avsc")
    assert len(schema_versions("Thing", tmp_path)) == 2
    (tmp_path / "history" / "Gone.v1.avsc").write_text(json.dumps(_record(LONG, name="Gone")))
    with pytest.raises(SchemaError, match=r"no current schema Gone\.avsc"):
        all_schema_versions(tmp_path)
    (tmp_path / "history" / "Gone.v1.avsc").unlink()
    (tmp_path / "history" / "Thing-old.avsc").write_text("{}")
    with pytest.raises(SchemaError, match="named"):
        all_schema_versions(tmp_path)
    (tmp_path / "history" / "Thing-old.avsc").unlink()
    (tmp_path / "history" / "Thing.v1.avsc").write_text(json.dumps(_record(LONG, name="Other")))
    with pytest.raises(SchemaError, match="holds record 'Other'"):
        schema_versions("Thing", tmp_path)


def test_a_codec_pins_only_versions_the_repo_has() -> None:
    pinned = AvroCodec(None, versions={"Pitch": 1})  # type: ignore[arg-type]
    assert "review_type" not in pinned.schemas["Pitch"].fields
    assert "review_type" in AvroCodec(None).schemas["Pitch"].fields  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match=r"versions 1\.\.2, not 3"):
        AvroCodec(None, versions={"Pitch": 3})  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="no such schema"):
        AvroCodec(None, versions={"Pitchh": 1})  # type: ignore[arg-type]


def test_the_cli_writes_and_checks_the_reference(tmp_path: Path) -> None:
    _register()
    runner = CliRunner()
    out = tmp_path / "events.md"
    stale = runner.invoke(app, ["schemas", "docs", "--check", "--output", str(out)])
    assert stale.exit_code == 1 and "out of date" in stale.output
    assert not out.exists()  # --check writes nothing
    wrote = runner.invoke(app, ["schemas", "docs", "--output", str(out)])
    assert wrote.exit_code == 0, wrote.output
    assert out.read_text() == render_reference()
    assert runner.invoke(app, ["schemas", "docs", "--check", "--output", str(out)]).exit_code == 0
    listed = runner.invoke(app, ["schemas", "list"])
    assert listed.exit_code == 0 and "v1=history/Pitch.v1.avsc, v2=Pitch.avsc" in listed.output
