"""Notable moments.

Revision ID: 0006_notable_moments
Revises: 0005_corrections

Placeholder reserved for issue 5 (notable moments); filled in by that work.
"""

from alembic import op  # noqa: F401

revision = "0006_notable_moments"
down_revision = "0005_corrections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
