"""API keys: who may call the API, with which scopes and rate-limit tier.

Revision ID: 0008_api_keys
Revises: 0007_dead_letters

A key is shown once, at creation, as ``sts_<key_id>_<secret>``; the table keeps only ``key_id`` (the
lookup handle, not secret), a short display ``prefix`` and ``hash`` = HMAC-SHA256(pepper, full key)
(:mod:`sts.api.keys`). A revoked key keeps its row (``revoked_at`` set) so that lists and audits still
name it; it never authenticates again. ``last_used_at`` is refreshed at most once per key-cache period.
"""

from alembic import op

revision = "0008_api_keys"
down_revision = "0007_dead_letters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE api_keys (
            key_id        text PRIMARY KEY,
            name          text NOT NULL,
            prefix        text NOT NULL,
            hash          bytea NOT NULL,
            scopes        text[] NOT NULL
                          CHECK (scopes <@ ARRAY['read', 'stream', 'export', 'admin']::text[]),
            tier          text NOT NULL DEFAULT 'default',
            created_at    timestamptz NOT NULL DEFAULT now(),
            revoked_at    timestamptz,
            last_used_at  timestamptz
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS api_keys;")
