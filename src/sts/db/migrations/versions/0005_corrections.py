"""Corrections: play revisions and their history.

Revision ID: 0005_corrections
Revises: 0004_box_lines_source

Placeholder reserved for issue 5 (corrections); filled in by that work.
"""

from alembic import op  # noqa: F401

revision = "0005_corrections"
down_revision = "0004_box_lines_source"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
