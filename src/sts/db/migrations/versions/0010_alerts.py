"""Alerts: what Alertmanager told STS's receiver (POST /v1/alerts/webhook; docs/monitoring.md).

Revision ID: 0010_alerts
Revises: 0009_webhooks

One row per occurrence of an alert: Alertmanager identifies an alert by its ``fingerprint`` (a hash of
its labels) and an occurrence by its ``starts_at``, and notifies it again and again (``repeat_interval``,
then once ``resolved``). A repeat updates the row instead of adding one: ``status`` moves from
``firing`` to ``resolved`` (never back: a late repeat of an older ``firing`` notification does not undo
a resolution), ``ends_at`` is set when resolved, ``notifications`` counts the payloads that carried it,
``last_received_at`` is the latest. ``alertname`` and ``severity`` are copied out of ``labels`` to
filter on. ``received_at`` is when STS first heard of it (the delay from ``starts_at`` shows the
alerting latency).
"""

from alembic import op

revision = "0010_alerts"
down_revision = "0009_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE alerts (
            id                bigserial PRIMARY KEY,
            fingerprint       text NOT NULL,
            starts_at         timestamptz NOT NULL,
            status            text NOT NULL CHECK (status IN ('firing', 'resolved')),
            alertname         text NOT NULL DEFAULT '',
            severity          text,
            labels            jsonb NOT NULL DEFAULT '{}'::jsonb,
            annotations       jsonb NOT NULL DEFAULT '{}'::jsonb,
            ends_at           timestamptz,
            generator_url     text,
            receiver          text,
            group_key         text,
            notifications     integer NOT NULL DEFAULT 1,
            received_at       timestamptz NOT NULL DEFAULT now(),
            last_received_at  timestamptz NOT NULL DEFAULT now(),
            UNIQUE (fingerprint, starts_at)
        );
        CREATE INDEX alerts_received_idx ON alerts (received_at DESC, id DESC);
        CREATE INDEX alerts_firing_idx ON alerts (alertname) WHERE status = 'firing';
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS alerts;")
