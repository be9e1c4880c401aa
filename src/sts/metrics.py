"""Every Prometheus metric STS exports, declared once here with stable names and units.

Other modules import the metric objects from this module; none declares its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

# -- upstream (MLB Stats API / stand-in)
POLLS = Counter("sts_polls_total", "Polls of the MLB API by kind (schedule, feed)", ["kind"])
UPSTREAM_REQUESTS = Counter(
    "sts_upstream_requests_total",
    "HTTP requests to the MLB API by endpoint and status",
    ["endpoint", "status"],
)
UPSTREAM_LATENCY = Histogram(
    "sts_upstream_request_seconds",
    "Latency of MLB API requests (seconds), by endpoint",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
UPSTREAM_BYTES = Counter(
    "sts_upstream_bytes_total", "Bytes fetched from the MLB API, by endpoint", ["endpoint"]
)
UPSTREAM_RETRIES = Counter(
    "sts_upstream_retries_total", "Retried MLB API requests, by endpoint", ["endpoint"]
)
UPSTREAM_CIRCUIT_STATE = Gauge(
    "sts_upstream_circuit_state", "Circuit breaker per MLB API host: 0 closed, 1 half-open, 2 open", ["host"]
)
UPSTREAM_CIRCUIT_TRANSITIONS = Counter(
    "sts_upstream_circuit_transitions_total",
    "Circuit breaker transitions, by host and new state",
    ["host", "state"],
)
UPSTREAM_CIRCUIT_REJECTED = Counter(
    "sts_upstream_circuit_rejected_total", "Requests not sent because the host's circuit was open", ["host"]
)
FETCH_BYTES = Counter(
    "sts_fetch_bytes_total",
    "Bytes of live-feed responses received by the feed fetcher, by request kind (full, patch, timestamps)",
    ["kind"],
)
FETCH_REQUESTS = Counter(
    "sts_fetch_requests_total", "Live-feed requests made by the feed fetcher, by kind", ["kind"]
)
FETCH_FALLBACKS = Counter(
    "sts_fetch_fallbacks_total", "Incremental fetches answered by a full feed instead, by reason", ["reason"]
)

# -- ingestion
SNAPSHOTS_STORED = Counter("sts_snapshots_stored_total", "Validated snapshots stored in mlb-live")
SNAPSHOTS_REJECTED = Counter("sts_snapshots_rejected_total", "Snapshots rejected by validation", ["reason"])
INGEST_LATENCY = Histogram(
    "sts_ingest_seconds",
    "Time to validate, store and publish one snapshot (seconds)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
GAMES_TRACKED = Gauge("sts_games_tracked", "Games the scheduler is following, by state", ["state"])
BUDGET_WAITS = Counter("sts_request_budget_waits_total", "MLB API requests that waited for a budget token")
BUDGET_WAIT_SECONDS = Counter(
    "sts_request_budget_wait_seconds_total", "Clock seconds MLB API requests spent waiting for a budget token"
)

# -- event bus
EVENTS_PUBLISHED = Counter(
    "sts_events_published_total", "Events published, by topic and type", ["topic", "type"]
)
EVENTS_CONSUMED = Counter(
    "sts_events_consumed_total", "Events handled by a consumer group, by topic", ["group", "topic"]
)
CONSUMER_LAG = Gauge("sts_consumer_lag", "Records not yet committed by a consumer group", ["group", "topic"])
DEAD_LETTERS = Counter(
    "sts_dead_letters_total", "Messages written to a dead-letter topic", ["topic", "reason"]
)
DEAD_LETTERS_PENDING = Gauge(
    "sts_dead_letters_pending",
    "Dead-letter entries waiting for a retry or a purge (depth), by dead-letter topic and group",
    ["topic", "group"],
)
DEAD_LETTER_OLDEST_AGE = Gauge(
    "sts_dead_letter_oldest_pending_age_seconds",
    "Age of the oldest pending dead-letter entry (seconds since it failed), by topic and group",
    ["topic", "group"],
)

# -- processor
PROCESS_LATENCY = Histogram(
    "sts_process_seconds",
    "Time to apply one batch of events to the database (seconds)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

# -- operations (issue 7: freshness, end-to-end latency; docs/monitoring.md)
SNAPSHOT_TO_ROWS = Histogram(
    "sts_snapshot_to_rows_seconds",
    "Wall-clock seconds from the fetch of a snapshot to the commit of the rows derived from it, by group",
    ["group"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)


class GameFreshness:
    """``sts_game_seconds_since_update{game_pk,phase}``: wall-clock seconds since the last NEW timecode
    of each live game, computed at scrape time (so it keeps growing when nothing arrives at all).

    ``phase`` is ``play`` (the game is being played), ``break`` (between half-innings) or ``delayed``
    (a delay or suspension), so the alert rules can allow each its own silence. A game enters with its
    first live snapshot (or its first live poll after a restart) and leaves when it is Final (or no longer
    live): a series exists only while the game is live. Thread-safe; ``clock`` gives Unix seconds."""

    name = "sts_game_seconds_since_update"
    documentation = "Wall-clock seconds since the last new timecode of a live game, by game and phase"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._games: dict[int, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def changed(self, game_pk: int, phase: str) -> None:
        """A new timecode of a live game was stored now."""
        with self._lock:
            self._games[game_pk] = (self._clock(), phase)

    def seen(self, game_pk: int, phase: str) -> None:
        """A live game was polled and had not changed: track it from now if it was not tracked yet."""
        with self._lock:
            since = self._games.get(game_pk, (self._clock(), phase))[0]
            self._games[game_pk] = (since, phase)

    def forget(self, game_pk: int) -> None:
        """The game is no longer live (Final, postponed…): drop its series."""
        with self._lock:
            self._games.pop(game_pk, None)

    def tracked(self) -> dict[int, tuple[float, str]]:
        with self._lock:
            return dict(self._games)

    def describe(self) -> list[Metric]:
        return [GaugeMetricFamily(self.name, self.documentation, labels=["game_pk", "phase"])]

    def collect(self) -> list[Metric]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=["game_pk", "phase"])
        now = self._clock()
        for game_pk, (since, phase) in sorted(self.tracked().items()):
            family.add_metric([str(game_pk), phase], max(0.0, now - since))
        return [family]


GAME_FRESHNESS = GameFreshness()
REGISTRY.register(GAME_FRESHNESS)
ALERTS_RECEIVED = Counter(
    "sts_alerts_received_total",
    "Alerts received from Alertmanager by the STS receiver (one per alert per notification), by status",
    ["status"],
)
ALERT_FORWARDS = Counter(
    "sts_alert_forwards_total",
    "Alertmanager payloads forwarded to alert_forward_url, by outcome (delivered, failed)",
    ["outcome"],
)

# -- backends
BACKEND_READY = Gauge("sts_backend_ready", "1 when the backend answered its readiness check", ["backend"])

# -- data quality (our box score vs MLB's official one)
DATA_QUALITY_VALUES = Counter(
    "sts_data_quality_values_total",
    "Box-score values compared with the official box, by outcome",
    ["outcome"],
)
DATA_QUALITY_MISMATCHED_GAMES = Counter(
    "sts_data_quality_mismatched_games_total", "Final games whose derived box differs from the official one"
)

# -- notable moments (sts.moments)
NOTABLE_MOMENTS = Counter(
    "sts_notable_moments_total",
    "Notable moments published, by rule and kind (new, retracted)",
    ["rule", "kind"],
)

# -- REST API, streams and webhooks (sts.api)
API_REQUESTS = Counter(
    "sts_api_requests_total",
    "API requests answered, by route template, method and status code",
    ["route", "method", "status"],
)
API_LATENCY = Histogram(
    "sts_api_request_seconds",
    "Time to answer an API request (seconds), by route template and method",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
API_RATE_LIMITED = Counter(
    "sts_api_rate_limited_total", "API requests refused with 429 by the rate limiter, by tier", ["tier"]
)
API_RATE_LIMIT_FALLBACKS = Counter(
    "sts_api_rate_limit_fallbacks_total",
    "Rate-limit decisions taken by the in-process buckets because the shared store (Redis) failed",
)
API_AUTH_FAILURES = Counter(
    "sts_api_auth_failures_total",
    "API requests refused for authentication or authorization, by reason",
    ["reason"],
)
API_CACHE_LOOKUPS = Counter(
    "sts_api_cache_lookups_total",
    "Server-side API cache lookups, by result (hit, miss); hit ratio = hit / (hit + miss)",
    ["result"],
)
API_CACHE_INVALIDATIONS = Counter(
    "sts_api_cache_invalidations_total", "Server-side API cache entries dropped because an event arrived"
)
DB_POOL_CONNECTIONS = Gauge(
    "sts_db_pool_connections",
    "Database connections of a pool, by pool and state (in_use, idle, max)",
    ["pool", "state"],
)
DB_POOL_WAITING = Gauge(
    "sts_db_pool_waiting", "Requests waiting for a database connection, by pool", ["pool"]
)
STREAM_CLIENTS = Gauge(
    "sts_stream_clients", "Connected live-stream clients, by transport (sse, websocket)", ["transport"]
)
STREAM_EVENTS_SENT = Counter(
    "sts_stream_events_sent_total", "Events sent to live-stream clients, by transport", ["transport"]
)
WEBHOOK_DELIVERIES = Counter(
    "sts_webhook_deliveries_total",
    "Webhook delivery attempts, by outcome (delivered, failed, gave_up)",
    ["outcome"],
)
EXPORT_ROWS = Counter(
    "sts_export_rows_total", "Rows written by exports, by dataset and format", ["dataset", "format"]
)

# -- backups (sts backup; docs/backup.md)
BACKUP_LAST_SUCCESS = Gauge(
    "sts_backup_last_success_timestamp_seconds",
    "Unix time at which the newest successful backup finished (0: none recorded)",
)

# -- log shipping to VictoriaLogs (sts.logship; docs/logs.md)
LOG_LINES_SHIPPED = Counter("sts_log_lines_shipped_total", "Log lines accepted by VictoriaLogs")
LOG_LINES_DROPPED = Counter(
    "sts_log_lines_dropped_total",
    "Log lines dropped before reaching VictoriaLogs, by reason (queue_full, shutdown)",
    ["reason"],
)
LOG_SHIP_FAILURES = Counter(
    "sts_log_ship_failures_total", "Batches of log lines VictoriaLogs did not accept (retried later)"
)
