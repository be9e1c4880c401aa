"""The foundation: settings and the embedded database."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from sts.config import Settings
from sts.errors import ConfigError


def test_settings_defaults_select_embedded_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("STS_DATABASE_URL", "STS_OBJECT_STORE_URL", "STS_EVENT_BUS_URL", "STS_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert s.uses_embedded_database
    assert s.resolved_object_store_url.startswith("file://")
    assert s.mlb_api_url == "https://statsapi.mlb.com"


def test_settings_file_and_env_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "sts.toml"
    cfg.write_text('[sts]\nmlb_api_url = "http://127.0.0.1:1"\npoll_interval_seconds = 3\n')
    monkeypatch.setenv("STS_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("STS_POLL_INTERVAL_SECONDS", "7")
    s = Settings()
    assert s.mlb_api_url == "http://127.0.0.1:1"
    assert s.poll_interval_seconds == 7  # env wins over the file


def test_settings_missing_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STS_CONFIG_FILE", "/nonexistent/sts.toml")
    with pytest.raises(ConfigError, match="not a file"):
        Settings()


def test_embedded_postgres_is_real(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        (version,) = conn.execute("SHOW server_version_num").fetchone()  # type: ignore[misc]
    assert int(version) >= 180000
