"""Corrections: the history of revised plays.

Revision ID: 0005_corrections
Revises: 0004_box_lines_source

``play_revisions``: one row per ``PlayRevised`` event applied (:mod:`sts.db.corrections`). The play
itself is updated in place in ``plays`` (and its runners, credits, play events) by the new
``PlayCompleted``; this table keeps what it said before:

- ``revision``       1 for the first revision of the play, 2 for the next… (in bus order)
- ``timecode``       the snapshot in which the revision was seen
- ``kind``           scoring_change, review, runner_credits, description, other
- ``changes``        ``[{field, old, new}]``, old and new values as JSON (null when absent)
- ``event_id``       the ``PlayRevised`` event (unique: applying it again adds nothing)
- ``play_event_id``  the ``PlayCompleted`` event that carries the new content
"""

from alembic import op

revision = "0005_corrections"
down_revision = "0004_box_lines_source"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
CREATE TABLE play_revisions (
    game_pk        bigint NOT NULL REFERENCES games ON DELETE CASCADE,
    at_bat_index   integer NOT NULL,
    revision       integer NOT NULL CHECK (revision >= 1),
    timecode       text,
    kind           text,
    changes        jsonb NOT NULL,
    event_id       uuid NOT NULL UNIQUE,
    play_event_id  uuid,
    PRIMARY KEY (game_pk, at_bat_index, revision)
);
"""
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS play_revisions")
