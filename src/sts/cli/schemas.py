"""``sts schemas``: the event schemas and their versions.

- ``sts schemas list``: every schema with its current version and the files of all its versions.
- ``sts schemas docs [--output docs/events.md] [--check]``: write the generated reference
  (:mod:`sts.events.reference`); with ``--check``, write nothing and exit 1 when the file is out of date.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sts.cli import app
from sts.errors import SchemaError
from sts.events.reference import COMMAND, render_reference
from sts.events.versions import SCHEMAS_DIR, all_schema_versions

schemas_app = typer.Typer(no_args_is_help=True, help="The Avro event schemas, their versions and reference.")
app.add_typer(schemas_app, name="schemas")

DEFAULT_OUTPUT = Path("docs/events.md")


@schemas_app.command("list")
def list_schemas() -> None:
    """Every event schema: current version and the file of each version."""
    try:
        every = all_schema_versions()
    except SchemaError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for name, versions in every.items():
        files = ", ".join(f"v{v.version}={v.path.relative_to(SCHEMAS_DIR).as_posix()}" for v in versions)
        typer.echo(f"{name:<20} v{versions[-1].version}  {files}")


@schemas_app.command("docs")
def docs(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Markdown file to write (from the repository root).")
    ] = DEFAULT_OUTPUT,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 when the file differs from the schemas.")
    ] = False,
) -> None:
    """Generate the reference of every event schema (fields, types, defaults, versions)."""
    try:
        text = render_reference()
    except SchemaError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if check:
        current = output.read_text() if output.is_file() else None
        if current != text:
            typer.echo(f"{output} is out of date with the schemas: run `{COMMAND}`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{output} is up to date")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    typer.echo(f"wrote {output} ({text.count(chr(10))} lines)")
