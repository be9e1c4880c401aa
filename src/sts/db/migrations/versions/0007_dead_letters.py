"""Dead letters.

Revision ID: 0007_dead_letters
Revises: 0006_notable_moments

Placeholder reserved for issue 5 (dead letters); filled in by that work.
"""

from alembic import op  # noqa: F401

revision = "0007_dead_letters"
down_revision = "0006_notable_moments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
