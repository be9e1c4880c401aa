"""The embedded event bus and schema registry: a durable event log in PostgreSQL tables.

Revision ID: 0001_event_bus
Revises:

Tables (all written only by :mod:`sts.adapters.pg_bus` and :mod:`sts.adapters.pg_registry`):

- ``bus_topics``            one row per topic: partition count and retention.
- ``bus_partitions``        one "head" row per partition: the next offset to assign (row-locked by a
                            publisher while it assigns dense offsets) and the first offset still kept.
- ``bus_records``           the log itself; ``(topic, partition, offset)`` is dense per partition and
                            ``(topic, event_id)`` is unique, so publishing one event twice stores it once.
- ``bus_group_members``     live members of consumer groups with their last heartbeat.
- ``bus_group_assignments`` which member currently owns which partition (one owner at a time).
- ``bus_group_offsets``     the committed offset (next record to read) per group and partition.
- ``registry_schemas``      schema texts with their global id (same canonical text, same id).
- ``registry_subjects``     subjects with an optional compatibility level of their own.
- ``registry_versions``     the versions of each subject.
- ``registry_config``       the global default compatibility level (one row).
"""

from alembic import op

revision = "0001_event_bus"
down_revision = None
branch_labels = None
depends_on = None

COMPATIBILITY = (
    "'NONE','BACKWARD','BACKWARD_TRANSITIVE','FORWARD','FORWARD_TRANSITIVE','FULL','FULL_TRANSITIVE'"
)


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE bus_topics (
            name         text PRIMARY KEY,
            partitions   integer NOT NULL CHECK (partitions > 0),
            retention_ms bigint CHECK (retention_ms IS NULL OR retention_ms > 0),
            created_at   timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE bus_partitions (
            topic        text NOT NULL REFERENCES bus_topics (name) ON DELETE CASCADE,
            partition    integer NOT NULL CHECK (partition >= 0),
            next_offset  bigint NOT NULL DEFAULT 0,
            start_offset bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (topic, partition)
        );

        CREATE TABLE bus_records (
            topic     text NOT NULL,
            partition integer NOT NULL,
            "offset"  bigint NOT NULL,
            key       text NOT NULL,
            value     bytea NOT NULL,
            headers   jsonb NOT NULL DEFAULT '{}'::jsonb,
            ts        timestamptz NOT NULL,
            event_id  text,
            PRIMARY KEY (topic, partition, "offset"),
            FOREIGN KEY (topic, partition) REFERENCES bus_partitions (topic, partition) ON DELETE CASCADE,
            CONSTRAINT bus_records_event_id_key UNIQUE (topic, event_id)
        );
        CREATE INDEX bus_records_ts_idx ON bus_records (topic, partition, ts);

        CREATE TABLE bus_group_members (
            group_id     text NOT NULL,
            member_id    text NOT NULL,
            topics       text[] NOT NULL,
            joined_at    timestamptz NOT NULL DEFAULT now(),
            heartbeat_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (group_id, member_id)
        );

        CREATE TABLE bus_group_assignments (
            group_id    text NOT NULL,
            topic       text NOT NULL,
            partition   integer NOT NULL,
            member_id   text NOT NULL,
            assigned_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (group_id, topic, partition),
            FOREIGN KEY (group_id, member_id)
                REFERENCES bus_group_members (group_id, member_id) ON DELETE CASCADE
        );

        CREATE TABLE bus_group_offsets (
            group_id         text NOT NULL,
            topic            text NOT NULL,
            partition        integer NOT NULL,
            committed_offset bigint NOT NULL CHECK (committed_offset >= 0),
            updated_at       timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (group_id, topic, partition)
        );
        """
    )
    op.execute(
        f"""
        CREATE TABLE registry_schemas (
            id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            fingerprint text NOT NULL UNIQUE,
            schema_type text NOT NULL DEFAULT 'AVRO',
            schema_text text NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE registry_subjects (
            subject       text PRIMARY KEY,
            compatibility text CHECK (compatibility IN ({COMPATIBILITY})),
            created_at    timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE registry_versions (
            subject    text NOT NULL REFERENCES registry_subjects (subject) ON DELETE CASCADE,
            version    integer NOT NULL CHECK (version > 0),
            schema_id  integer NOT NULL REFERENCES registry_schemas (id),
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (subject, version),
            UNIQUE (subject, schema_id)
        );

        CREATE TABLE registry_config (
            singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            compatibility text NOT NULL CHECK (compatibility IN ({COMPATIBILITY}))
        );
        INSERT INTO registry_config (singleton, compatibility) VALUES (true, 'BACKWARD');
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE registry_config;
        DROP TABLE registry_versions;
        DROP TABLE registry_subjects;
        DROP TABLE registry_schemas;
        DROP TABLE bus_group_offsets;
        DROP TABLE bus_group_assignments;
        DROP TABLE bus_group_members;
        DROP TABLE bus_records;
        DROP TABLE bus_partitions;
        DROP TABLE bus_topics;
        """
    )
