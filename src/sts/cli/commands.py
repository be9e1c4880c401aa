"""Command modules are imported here so that they register on :data:`sts.cli.app`."""

from __future__ import annotations

from sts.cli import (
    backup,  # noqa: F401
    demo,  # noqa: F401
    dlq,  # noqa: F401
    export,  # noqa: F401
    games,  # noqa: F401
    keys,  # noqa: F401
    logs,  # noqa: F401
    moments,  # noqa: F401
    replay,  # noqa: F401
    retrosheet,  # noqa: F401
    schedule,  # noqa: F401
    schemas,  # noqa: F401
    serve,  # noqa: F401
    standin,  # noqa: F401
    stats,  # noqa: F401
    verify,  # noqa: F401
    webhooks,  # noqa: F401
)
