"""Placeholder (reserved; filled in by the change that needs it).

Revision ID: 0011_backups
Revises: 0010_alerts
"""

revision = "0011_backups"
down_revision = "0010_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
