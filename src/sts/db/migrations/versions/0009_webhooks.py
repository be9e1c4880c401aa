"""Webhooks: subscriptions and a durable outbox of deliveries.

Revision ID: 0009_webhooks
Revises: 0008_api_keys

Written by :mod:`sts.api.webhooks` (the dispatcher) and :mod:`sts.api.routes.webhooks`:

- ``webhook_subscriptions``: one row per registered URL. ``owner_key_id`` is the API key that created it
  (NULL for one made by an operator or on a public deployment); ``secret`` signs the deliveries (shown once
  at creation and on rotation, never logged); after a rotation ``previous_secret`` signs them too until
  ``previous_secret_until``, so receivers can switch without losing deliveries; the filter is three
  arrays, each empty meaning "any":
  ``event_types`` (Avro record names: Pitch, PlayCompleted…), ``game_pks`` and ``team_ids`` (a game
  matches when its home or away team is listed). ``status`` is ``active`` or ``disabled`` (with
  ``disabled_reason``); ``consecutive_failures`` counts deliveries given up in a row (a success resets it).
- ``webhook_deliveries``: the outbox, one row per (subscription, event), so an event read twice from the
  bus (at-least-once) is queued once. ``next_attempt_at`` is when the sender picks it up (NULL once it is
  done: ``delivered_at`` or ``gave_up_at`` set). ``attempts``, ``last_status``, ``last_error`` and
  ``last_duration_ms`` describe the latest attempt; every attempt is also a row of
  ``webhook_attempts``. Test pings are deliveries of event type ``ping``.
"""

from alembic import op

revision = "0009_webhooks"
down_revision = "0008_api_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE webhook_subscriptions (
            id                    uuid PRIMARY KEY,
            owner_key_id          text,
            url                   text NOT NULL,
            secret                text NOT NULL,
            description           text,
            event_types           text[] NOT NULL DEFAULT '{}',
            game_pks              bigint[] NOT NULL DEFAULT '{}',
            team_ids              bigint[] NOT NULL DEFAULT '{}',
            status                text NOT NULL DEFAULT 'active'
                                  CHECK (status IN ('active', 'disabled')),
            disabled_reason       text,
            disabled_at           timestamptz,
            consecutive_failures  integer NOT NULL DEFAULT 0,
            created_at            timestamptz NOT NULL DEFAULT now(),
            previous_secret       text,
            previous_secret_until timestamptz,
            secret_rotated_at     timestamptz
        );
        CREATE INDEX webhook_subscriptions_owner_idx ON webhook_subscriptions (owner_key_id, created_at);
        CREATE TABLE webhook_deliveries (
            id                uuid PRIMARY KEY,
            subscription_id   uuid NOT NULL REFERENCES webhook_subscriptions ON DELETE CASCADE,
            event_id          text NOT NULL,
            event_type        text NOT NULL,
            game_pk           bigint,
            payload           jsonb NOT NULL,
            created_at        timestamptz NOT NULL DEFAULT now(),
            attempts          integer NOT NULL DEFAULT 0,
            next_attempt_at   timestamptz,
            locked_until      timestamptz,
            last_status       integer,
            last_error        text,
            last_duration_ms  double precision,
            delivered_at      timestamptz,
            gave_up_at        timestamptz,
            UNIQUE (subscription_id, event_id)
        );
        CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
            WHERE next_attempt_at IS NOT NULL;
        CREATE INDEX webhook_deliveries_sub_idx ON webhook_deliveries (subscription_id, created_at, id);
        CREATE TABLE webhook_attempts (
            delivery_id   uuid NOT NULL REFERENCES webhook_deliveries ON DELETE CASCADE,
            attempt       integer NOT NULL,
            attempted_at  timestamptz NOT NULL DEFAULT now(),
            status_code   integer,
            error         text,
            duration_ms   double precision NOT NULL,
            outcome       text NOT NULL CHECK (outcome IN ('delivered', 'failed', 'gave_up')),
            PRIMARY KEY (delivery_id, attempt)
        );
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS webhook_attempts; DROP TABLE IF EXISTS webhook_deliveries;"
        " DROP TABLE IF EXISTS webhook_subscriptions;"
    )
