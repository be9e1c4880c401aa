"""What CLI commands share: the database they use, and where the recorded MLB data is by default."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sts.config import Settings
from sts.db import migrate

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_MLB_DATA = REPO_ROOT.parent / "shared" / "data" / "mlb"
"""The recorded MLB data next to a checkout (``../shared/data/mlb``), the default of the commands."""


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The database URL: ``database_url``, or the embedded server (started here and stopped afterwards
    only when it was not already running). Migrated to head."""
    if settings.database_url:
        migrate(settings.database_url)
        yield settings.database_url
        return
    from sts.adapters.embedded_pg import EmbeddedPostgres

    server = EmbeddedPostgres(settings.pgdata)
    was_running = (settings.pgdata / "postmaster.pid").exists()
    url = server.start()
    try:
        migrate(url)
        yield url
    finally:
        if not was_running:
            server.stop()
