"""Command modules are imported here so that they register on :data:`sts.cli.app`."""

from __future__ import annotations
