"""Placeholder (reserved; filled in by the change that needs it).

Revision ID: 0008_api_keys
Revises: 0007_dead_letters
"""

revision = "0008_api_keys"
down_revision = "0007_dead_letters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
