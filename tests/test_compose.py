"""``deploy/compose.yaml`` cannot be run here (no container engine), so its configuration is checked
against the code: every STS service's environment must be a valid :class:`sts.config.Settings` whose
backend URLs the composition root accepts and whose hosts are services of the file, with consistent
``depends_on``, credentials and ports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from sts.adapters import kafka_bus, s3_store
from sts.bootstrap import make_store
from sts.config import Settings

COMPOSE = Path(__file__).resolve().parent.parent / "deploy" / "compose.yaml"
ENGINES = ("postgres", "minio", "kafka", "schema-registry")
# the keys the production profile is tested with (tests/e2e/test_profiles.py: production_settings)
PRODUCTION_KEYS = (
    "STS_DATABASE_URL",
    "STS_OBJECT_STORE_URL",
    "STS_S3_ACCESS_KEY",
    "STS_S3_SECRET_KEY",
    "STS_EVENT_BUS_URL",
    "STS_SCHEMA_REGISTRY_URL",
)


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(COMPOSE.read_text())
    return dict(doc["services"])


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def sts_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {name: _env(s) for name, s in services.items() if any(k.startswith("STS_") for k in _env(s))}


def settings_of(env: dict[str, str]) -> Settings:
    """The Settings the service would build from its environment (and nothing else)."""
    unknown = [k for k in env if k.startswith("STS_") and k[4:].lower() not in Settings.model_fields]
    assert not unknown, f"not Settings fields: {unknown}"
    return Settings(**{k[4:].lower(): v for k, v in env.items() if k.startswith("STS_")})


def _depends(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def test_the_engines_and_the_sts_services_are_there(services: dict[str, dict[str, Any]]) -> None:
    assert set(ENGINES) <= set(services)
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["minio"]["image"].startswith("minio/minio")
    assert services["kafka"]["image"].startswith("apache/kafka")
    assert "PLAINTEXT" in _env(services["kafka"])["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    assert "controller" in _env(services["kafka"])["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
    assert "apicurio" in services["schema-registry"]["image"]
    assert len(sts_services(services)) >= 2  # a leader and a standby/processor


def test_every_sts_environment_is_valid_settings_with_the_tested_keys(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    for key in [k for k in os.environ if k.startswith("STS_")]:
        monkeypatch.delenv(key)  # only the file's values count
    for name, env in sts_services(services).items():
        missing = [k for k in PRODUCTION_KEYS if k not in env]
        assert not missing, f"{name}: missing {missing}"
        settings = settings_of(env)
        assert settings.leader_election, f"{name}: replicas need leader election"
        assert urlsplit(settings.database_url).scheme in ("postgresql", "postgres")
        assert urlsplit(settings.event_bus_url).scheme == "kafka"
        kafka_bus.parse_url(settings.event_bus_url)
        assert urlsplit(settings.object_store_url).scheme == "s3"
        s3_store.parse_url(settings.object_store_url, settings)
        make_store(settings)  # the composition root accepts it (no connection is made)
        assert settings.schema_registry_url.endswith("/apis/ccompat/v7")


def test_urls_point_at_services_of_the_file_that_the_sts_services_wait_for(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, env in sts_services(services).items():
        settings = settings_of(env)
        endpoint = parse_qs(urlsplit(settings.object_store_url).query)["endpoint"][0]
        hosts = {
            urlsplit(settings.database_url).hostname: "postgres",
            urlsplit(endpoint).hostname: "minio",
            kafka_bus.parse_url(settings.event_bus_url)[0].split(":")[0]: "kafka",
            urlsplit(settings.schema_registry_url).hostname: "schema-registry",
        }
        assert hosts == {engine: engine for engine in ENGINES}, f"{name}: {hosts}"
        deps = _depends(services[name])
        assert set(ENGINES) <= set(deps), f"{name} does not wait for {set(ENGINES) - set(deps)}"


def test_depends_on_is_consistent(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for dep, condition in _depends(service).items():
            assert dep in services, f"{name} depends on a missing service {dep}"
            assert dep != name
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy: no healthcheck"
            elif condition == "service_completed_successfully":
                assert services[dep].get("restart", "no") == "no", f"{dep} is a one-shot job"
            else:
                assert condition == "service_started", condition
    # no cycles
    seen: dict[str, int] = {}

    def visit(node: str) -> None:
        assert seen.get(node) != 1, f"depends_on cycle through {node}"
        if seen.get(node) == 2:
            return
        seen[node] = 1
        for dep in _depends(services[node]):
            visit(dep)
        seen[node] = 2

    for name in services:
        visit(name)


def test_credentials_and_ports_agree(services: dict[str, dict[str, Any]]) -> None:
    pg, minio = _env(services["postgres"]), _env(services["minio"])
    for name, env in sts_services(services).items():
        settings = settings_of(env)
        db = urlsplit(settings.database_url)
        assert (db.username, db.password, db.path.lstrip("/")) == (
            pg["POSTGRES_USER"],
            pg["POSTGRES_PASSWORD"],
            pg["POSTGRES_DB"],
        )
        assert (settings.s3_access_key, settings.s3_secret_key) == (
            minio["MINIO_ROOT_USER"],
            minio["MINIO_ROOT_PASSWORD"],
        )
        assert settings.http_host == "0.0.0.0" and settings.http_port > 0, f"{name}: health port unreachable"
        published = [str(p).rsplit(":", 1)[-1] for p in services[name].get("ports", [])]
        assert str(settings.http_port) in published, f"{name}: /ready and /metrics port not published"
        check = " ".join(services[name]["healthcheck"]["test"])
        assert f":{settings.http_port}/ready" in check
