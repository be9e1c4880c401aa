"""Settings: environment variables (prefix ``STS_``), optionally a TOML file (``STS_CONFIG_FILE``).

One URL per backend. An empty URL selects the embedded default:

| setting              | env var                  | empty means                                        |
|----------------------|--------------------------|----------------------------------------------------|
| ``database_url``     | ``STS_DATABASE_URL``     | embedded PostgreSQL in ``{data_dir}/pgdata``       |
| ``object_store_url`` | ``STS_OBJECT_STORE_URL`` | ``file://{data_dir}/objects``                      |
| ``event_bus_url``    | ``STS_EVENT_BUS_URL``    | the event log in tables of the database above      |
| ``mlb_api_url``      | ``STS_MLB_API_URL``      | ``https://statsapi.mlb.com``                       |

Environment variables win over the file. Settings are built only in entrypoints and passed down.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from sts.errors import ConfigError

MLB_API_DEFAULT = "https://statsapi.mlb.com"


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the optional file named by ``STS_CONFIG_FILE`` (a flat TOML table, same keys as the fields)."""

    def __init__(self, settings_cls: type[BaseSettings], path: str | None) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        if path:
            p = Path(path)
            if not p.is_file():
                raise ConfigError(f"STS_CONFIG_FILE names {path!r}, which is not a file")
            try:
                data = tomllib.loads(p.read_text())
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
            self._data = dict(data.get("sts", data))

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STS_", extra="ignore")

    config_file: str | None = Field(default=None, description="optional TOML file with these settings")
    data_dir: Path = Field(default=Path(".sts"), description="where the embedded backends keep their data")

    database_url: str = Field(default="", description="PostgreSQL URL; empty = embedded PostgreSQL")
    object_store_url: str = Field(default="", description="file:///dir or s3://?endpoint=…; empty = file")
    event_bus_url: str = Field(default="", description="postgresql://… or kafka://host:port; empty = in DB")
    schema_registry_url: str = Field(default="", description="Confluent-compatible registry (Kafka bus)")
    mlb_api_url: str = Field(default=MLB_API_DEFAULT, description="MLB Stats API base URL")

    s3_access_key: str = Field(default="", description="S3 access key (object store on S3)")
    s3_secret_key: str = Field(default="", description="S3 secret key")
    s3_region: str = Field(default="us-east-1", description="S3 region")
    live_retention_days: int = Field(default=30, description="days mlb-live objects are kept (S3 lifecycle)")
    current_versions_retention_days: int = Field(
        default=7, description="days replaced versions of mlb-current objects are kept (S3 lifecycle)"
    )

    poll_interval_seconds: float = Field(default=10.0, description="fixed poll interval for live games")
    fetch_mode: Literal["incremental", "full"] = Field(
        default="incremental",
        description="live feeds: incremental (diffPatch on the last state, full feed as fallback) or full",
    )
    schedule_interval_seconds: float = Field(default=300.0, description="how often the schedule is polled")
    pregame_lead_seconds: float = Field(default=1800.0, description="start polling a game this long before")
    pregame_interval_seconds: float = Field(default=60.0, description="poll interval: Pre-Game and Warmup")
    delayed_interval_seconds: float = Field(default=120.0, description="poll interval: Delayed, Suspended")
    game_over_interval_seconds: float = Field(default=30.0, description="poll interval: Game Over, not Final")
    inning_break_factor: float = Field(default=3.0, description="live interval multiplier between innings")
    max_live_interval_seconds: float = Field(default=60.0, description="learned cadence never polls slower")
    poll_jitter: float = Field(default=0.1, description="each interval lengthened by up to this fraction")
    correction_window_seconds: float = Field(
        default=86400.0, description="after Final, watch /game/changes this long for revisions (0: never)"
    )
    changes_interval_seconds: float = Field(default=300.0, description="how often /game/changes is polled")
    request_budget_per_second: float = Field(default=2.0, description="MLB API requests/s, all games")
    request_budget_burst: float = Field(default=5.0, description="MLB API requests allowed at once")
    http_timeout_seconds: float = Field(default=10.0, description="MLB API request timeout")
    http_retries: int = Field(default=4, description="retries on timeouts and 5xx")
    partitions: int = Field(default=6, description="partitions of the game-events topic")
    topic_prefix: str = Field(default="", description="prefix of every topic and consumer group name")
    leader_election: bool = Field(
        default=False, description="run the scheduler only while holding the database's leader lock"
    )

    http_host: str = Field(default="127.0.0.1", description="health/metrics server address")
    http_port: int = Field(default=0, description="health/metrics server port (0 = any free port)")
    log_format: Literal["auto", "json", "console"] = Field(default="auto", description="log rendering")
    log_level: str = Field(default="INFO", description="log level")

    # notable moments (sts.moments; docs/moments.md). Lists from the environment are JSON: [90, 100]
    moments_disabled_rules: list[str] = Field(default=[], description="notable-moment rules switched off")
    moments_no_hitter_after_inning: int = Field(default=6, description="no-hitter watch from this inning on")
    moments_cycle_watch_hit_types: int = Field(default=3, description="cycle watch at 3 (or 2) hit types")
    moments_late_inning: int = Field(default=9, description="tying / go-ahead runs from this inning on")
    moments_pitch_count_thresholds: list[int] = Field(default=[100], description="pitch counts to report")
    moments_velocity_baseline_pitches: int = Field(default=10, description="baseline: first N of a type")
    moments_velocity_window: int = Field(default=5, description="recent pitches of a type compared with it")
    moments_velocity_drop_mph: float = Field(default=2.5, description="velocity drop (mph) to report")
    moments_velocity_pitch_types: list[str] = Field(default=["FF", "SI", "FC"], description="types watched")
    moments_milestone_home_runs_every: int = Field(default=100, description="career HR milestones")
    moments_milestone_hits_every: int = Field(default=500, description="career hit milestones")

    # REST API (sts serve; docs/api.md)
    api_host: str = Field(default="127.0.0.1", description="address the API listens on")
    api_port: int = Field(default=8600, description="port the API listens on (0 = any free port)")
    api_pool_min: int = Field(default=1, description="database connections the API pool keeps open")
    api_pool_max: int = Field(default=10, description="database connections the API pool may open")

    # API server-side cache (sts.api.caching; docs/api.md)
    api_cache_entries: int = Field(
        default=2048, ge=0, description="bodies the API's server-side cache keeps (0 disables it)"
    )
    api_cache_max_bytes: int = Field(
        default=64 * 1024 * 1024, ge=0, description="total size of the bodies the server-side cache keeps"
    )

    # log shipping and operator dashboard (sts.logship, sts logs, /dashboard; docs/logs.md, docs/dashboard.md)
    vlogs_url: str = Field(
        default="", description="VictoriaLogs URL logs are shipped to and sts logs reads; empty = none"
    )
    prometheus_url: str = Field(
        default="", description="Prometheus URL the dashboard charts from; empty = this process's own samples"
    )
    dashboard_sample_seconds: float = Field(
        default=5.0, gt=0, description="without Prometheus: seconds between samples of this process's metrics"
    )
    dashboard_samples: int = Field(default=720, ge=2, description="without Prometheus: samples kept (ring)")

    # API keys and rate limits (sts.api.auth, sts.api.ratelimit; docs/auth.md)
    api_public_routes: list[str] = Field(
        default=[],
        description='routes open without a key: "read" / "stream" (every route of that scope) or route '
        'templates and prefixes like "/v1/games"; only read and stream routes can be public',
    )
    api_key_pepper: str = Field(
        default="", repr=False, description="server secret mixed into key hashes (HMAC key); empty = none"
    )
    api_key_cache_seconds: float = Field(
        default=5.0, ge=0, description="verified keys are trusted this long (revocations apply within)"
    )
    api_rate_tiers: dict[str, dict[str, float] | None] = Field(
        default={"default": {"rate": 20, "burst": 40}, "public": {"rate": 5, "burst": 10}, "unlimited": None},
        description='token buckets by tier: {"tier": {"rate": per second, "burst": n} or null = unlimited}',
    )
    api_anonymous_tier: str = Field(default="public", description="tier of callers without a key")
    redis_url: str = Field(
        default="", description="redis://host:port/db shared by the API processes; empty = in-process buckets"
    )
    api_rate_limit_prefix: str = Field(default="sts:rl:", description="prefix of the rate-limit Redis keys")

    # webhooks and exports (sts.api.webhooks, sts.exports; docs/webhooks.md, docs/exports.md)
    webhooks_enabled: bool = Field(
        default=True, description="run the webhook dispatcher in API processes with a bus"
    )
    webhook_group: str = Field(default="webhooks", description="consumer group of the webhook dispatcher")
    webhook_timeout: float = Field(default=10.0, description="seconds a receiver has to answer one delivery")
    webhook_max_attempts: int = Field(default=8, description="attempts of one delivery before it is given up")
    webhook_backoff_base: float = Field(
        default=2.0, description="seconds before the first retry (doubles each time)"
    )
    webhook_backoff_max: float = Field(
        default=3600.0, description="longest wait between two attempts (seconds)"
    )
    webhook_disable_after: int = Field(
        default=5, description="deliveries given up in a row after which a subscription is disabled"
    )
    webhook_poll_interval: float = Field(
        default=1.0, description="seconds the sender waits when nothing is due"
    )
    webhook_concurrency: int = Field(default=8, description="deliveries one API process sends at once")
    webhook_allow_private: bool = Field(
        default=False, description="allow webhook URLs that resolve to loopback/private/link-local addresses"
    )
    webhook_secret_grace: float = Field(
        default=86400.0, description="seconds the previous secret still signs deliveries after a rotation"
    )
    export_batch_rows: int = Field(default=5000, description="rows an export fetches and encodes per batch")
    # live streams (SSE / WebSocket, sts.api.hub and routes/stream.py)
    stream_queue_size: int = Field(
        default=1000, description="events a stream client may have waiting before it is dropped as too slow"
    )
    stream_heartbeat_seconds: float = Field(
        default=15.0, description="seconds between keep-alive messages on an idle live stream"
    )
    stream_max_replay: int = Field(
        default=100_000, ge=0, description="records a resume may replay from the bus (older positions: 400)"
    )
    stream_max_clients: int = Field(
        default=5000, ge=0, description="live-stream connections one API process accepts (more: 503)"
    )

    # metrics and alerting (sts.http.targets, routes/alerts.py; docs/monitoring.md)
    metrics_targets_dir: Path | None = Field(
        default=None,
        description="folder where each serving process writes its Prometheus file_sd target; None = none",
    )
    alert_forward_url: str = Field(
        default="", description="URL every Alertmanager payload received by STS is forwarded to; empty = none"
    )
    alert_forward_timeout: float = Field(default=5.0, description="seconds the forward URL has to answer")

    # backups (sts backup, sts restore; docs/backup.md)
    pg_bindir: str = Field(
        default="", description="folder with pg_dump/pg_restore of the server's version; empty = look them up"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        import os

        path = os.environ.get("STS_CONFIG_FILE")
        return (init_settings, env_settings, _TomlFileSource(settings_cls, path))

    # ------------------------------------------------------------------ derived values

    @property
    def uses_embedded_database(self) -> bool:
        return not self.database_url

    @property
    def pgdata(self) -> Path:
        return (self.data_dir / "pgdata").resolve()

    @property
    def resolved_object_store_url(self) -> str:
        return self.object_store_url or f"file://{(self.data_dir / 'objects').resolve()}"
