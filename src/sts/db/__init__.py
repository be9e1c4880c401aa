"""Database access: migrations (Alembic) and connections (psycopg 3)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

MIGRATIONS = Path(__file__).parent / "migrations"


def sqlalchemy_url(url: str) -> str:
    """``postgresql://…`` → ``postgresql+psycopg://…`` (the driver Alembic uses)."""
    scheme, _, rest = url.partition("://")
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return url


def describe(url: str) -> str:
    """A URL without its password, for logs."""
    parts = urlsplit(url)
    host = parts.hostname or (parts.query.split("host=")[-1] if "host=" in parts.query else "socket")
    return f"{parts.scheme}://{parts.username or ''}@{host}{parts.path}"


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    command.upgrade(cfg, revision)
