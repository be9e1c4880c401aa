"""``derived_box_lines.source``: which play-by-play a derived game line came from.

Revision ID: 0004_box_lines_source
Revises: 0003_season_stats

``statsapi`` (MLB's live feeds, the default, so existing rows keep their meaning) or ``retrosheet``
(event files, :mod:`sts.services.retrosheet_import`). Season lines are recomputed per source from the
lines of that source only, so the two never mix even for the same season and the same players.
Retrosheet games carry synthetic negative game keys (:func:`sts.services.retrosheet_import.game_key`),
so the primary key (game_pk, person_id) stays unique across sources.
"""

from alembic import op

revision = "0004_box_lines_source"
down_revision = "0003_season_stats"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE derived_box_lines ADD COLUMN source text NOT NULL DEFAULT 'statsapi';\n"
        "CREATE INDEX derived_box_lines_source_idx ON derived_box_lines (source, season);\n"
    )


def downgrade() -> None:
    op.execute(
        "DROP INDEX IF EXISTS derived_box_lines_source_idx;\n"
        "ALTER TABLE derived_box_lines DROP COLUMN IF EXISTS source;\n"
    )
