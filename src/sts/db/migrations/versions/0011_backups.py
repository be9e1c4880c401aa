"""Backups: one row per ``sts backup`` run.

Revision ID: 0011_backups
Revises: 0010_alerts

``backups`` records every backup taken of this deployment (:mod:`sts.services.backup`): its id (also
the name of its folder under the backup location), where it went, when it started and finished, its
size in bytes, its status (``running``, ``succeeded``, ``failed``) and its manifest (the same JSON as
the ``manifest.json`` written beside the dump; an error message when it failed). The newest
``succeeded`` row gives the ``sts_backup_last_success_timestamp_seconds`` gauge.

The row of the backup being taken is written before the dump starts and updated after it, so the dump
itself holds a ``running`` row for its own backup: a restore marks that row ``succeeded`` from the
manifest it restored, and any other row still ``running`` in the dump (a backup taken at the same
time) ``unknown``: how it ended is not in this database; its location says.
"""

from alembic import op

revision = "0011_backups"
down_revision = "0010_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE backups (
            id           text PRIMARY KEY,
            location     text NOT NULL,
            started_at   timestamptz NOT NULL,
            finished_at  timestamptz,
            size_bytes   bigint,
            status       text NOT NULL DEFAULT 'running'
                         CHECK (status IN ('running', 'succeeded', 'failed', 'unknown')),
            error        text,
            manifest     jsonb
        );
        CREATE INDEX backups_succeeded_idx ON backups (finished_at DESC) WHERE status = 'succeeded';
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS backups;")
