"""Dead letters: the state of every entry of the dead-letter topics.

Revision ID: 0007_dead_letters
Revises: 0006_notable_moments

The dead-letter topics (``mlb.game-events.dlq``, ``mlb.snapshots.dlq``) are append-only: an entry
cannot be removed from Kafka cheaply, and it cannot be marked "retried" there either. So the bus
keeps the entries as they were written and this table keeps what happened to them since
(:mod:`sts.services.dlq` indexes the topics into it):

- ``dead_letters``: one row per entry, keyed by the entry's deterministic id (a record dead-lettered
  twice by the same group is one entry). ``status`` is ``pending`` (waiting for a fix),
  ``retried`` (applied again successfully; retrying it again does nothing) or ``purged`` (dropped on
  purpose; its payload is cleared, the row stays as a tombstone so indexing never brings it back).
  ``attempts`` are the consumer's attempts before giving up, ``retries`` the retries since,
  ``last_error`` the error of the latest failed retry.
- ``dead_letter_offsets``: per dead-letter topic and partition, the next offset to index.
"""

from alembic import op

revision = "0007_dead_letters"
down_revision = "0006_notable_moments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE dead_letters (
            id                  text PRIMARY KEY,
            topic               text NOT NULL,
            dlq_partition       integer NOT NULL,
            dlq_offset          bigint NOT NULL,
            kind                text NOT NULL CHECK (kind IN ('event', 'snapshot', 'unreadable')),
            consumer_group      text NOT NULL,
            game_pk             bigint,
            original_topic      text,
            original_partition  integer,
            original_offset     bigint,
            original_key        text,
            source_url          text,
            payload             bytea,
            headers             jsonb NOT NULL DEFAULT '{}'::jsonb,
            reason              text,
            error               text NOT NULL,
            stack               text,
            attempts            integer NOT NULL DEFAULT 0,
            failed_at           timestamptz NOT NULL,
            status              text NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'retried', 'purged')),
            retries             integer NOT NULL DEFAULT 0,
            last_error          text,
            last_retry_at       timestamptz,
            resolved_at         timestamptz,
            indexed_at          timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX dead_letters_pending_idx ON dead_letters (topic, consumer_group, failed_at)
            WHERE status = 'pending';
        CREATE TABLE dead_letter_offsets (
            topic        text NOT NULL,
            partition    integer NOT NULL,
            next_offset  bigint NOT NULL,
            PRIMARY KEY (topic, partition)
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS dead_letter_offsets; DROP TABLE IF EXISTS dead_letters;")
