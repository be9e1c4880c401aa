"""Notable moments.

Revision ID: 0006_notable_moments
Revises: 0005_corrections

Tables (written by :mod:`sts.moments.consumer`, consumer group ``moments``):

- ``moment_games``     per game, what the rules know besides the plays: teams, scheduled innings, player
                       names, whether the game is final, and the career baselines used for milestones
                       (``info`` jsonb, see :func:`sts.moments.rules.info_from_game_info`).
- ``moment_plays``     per completed play, the compact form the rules read (:func:`compact_play`); a
                       revised play replaces its row. The per-game state of the rules is these rows:
                       moments are recomputed from them, so a restart or a replay finds the same moments.
- ``notable_moments``  one row per moment, keyed by its deterministic event id (unique per game, rule
                       and natural key); ``retracted`` when a revision of the plays means it no longer
                       holds (kept, never deleted). No wall-clock column: two runs over the same games
                       give the same rows.
"""

from alembic import op

revision = "0006_notable_moments"
down_revision = "0005_corrections"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE moment_games (
    game_pk     bigint PRIMARY KEY,
    info        jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE moment_plays (
    game_pk       bigint NOT NULL,
    at_bat_index  integer NOT NULL,
    play          jsonb NOT NULL,
    PRIMARY KEY (game_pk, at_bat_index)
);

CREATE TABLE notable_moments (
    event_id      text PRIMARY KEY,
    game_pk       bigint NOT NULL,
    rule          text NOT NULL,
    natural_key   text NOT NULL,
    at_bat_index  integer NOT NULL,
    inning        integer,
    half_inning   text NOT NULL,
    team_id       bigint,
    player_ids    bigint[] NOT NULL DEFAULT '{}',
    headline      text NOT NULL,
    details       jsonb NOT NULL DEFAULT '{}',
    retracted     boolean NOT NULL DEFAULT false,
    UNIQUE (game_pk, rule, natural_key)
);
CREATE INDEX notable_moments_game ON notable_moments (game_pk, at_bat_index);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS notable_moments; DROP TABLE IF EXISTS moment_plays;")
    op.execute("DROP TABLE IF EXISTS moment_games;")
