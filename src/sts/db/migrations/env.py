"""Alembic environment: migrations are plain SQL (``op.execute``), run online against the given URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config


def run() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set by sts.db.migrate"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        # one advisory lock so that two processes starting together do not migrate twice
        connection.exec_driver_sql("SELECT pg_advisory_lock(727001)")
        try:
            context.configure(connection=connection, transaction_per_migration=True)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            connection.exec_driver_sql("SELECT pg_advisory_unlock(727001)")
            connection.commit()
    engine.dispose()


run()
