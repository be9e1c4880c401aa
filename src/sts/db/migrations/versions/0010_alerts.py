"""Placeholder (reserved; filled in by the change that needs it).

Revision ID: 0010_alerts
Revises: 0009_webhooks
"""

revision = "0010_alerts"
down_revision = "0009_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
