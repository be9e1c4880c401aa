"""The ``sts`` command line. Each command group lives in its own module and is registered here."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="STS, the MLB Statistics Tracking System.")


def _register() -> None:
    # one import per command module; each module adds its commands to ``app``
    from sts.cli import commands  # noqa: F401


def main() -> None:
    _register()
    app()
