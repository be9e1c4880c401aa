"""Command modules are imported here so that they register on :data:`sts.cli.app`."""

from __future__ import annotations

from sts.cli import standin  # noqa: F401
from sts.cli import verify  # noqa: F401
from sts.cli import demo  # noqa: F401
from sts.cli import games  # noqa: F401
from sts.cli import stats  # noqa: F401
from sts.cli import retrosheet  # noqa: F401
