"""Placeholder (reserved; filled in by the change that needs it).

Revision ID: 0009_webhooks
Revises: 0008_api_keys
"""

revision = "0009_webhooks"
down_revision = "0008_api_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
