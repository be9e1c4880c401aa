"""The alert rules, scrape config and Alertmanager config in deploy/prometheus are valid, every rule is
unit-tested (firing and not firing) by ``promtool test rules``, and they only name metrics STS declares."""

from __future__ import annotations

import re
import subprocess

import yaml
from prometheus_client import REGISTRY

import sts.metrics  # noqa: F401 (declares every metric)
from tests.ops.prom_tools import PROM_DIR, RULES, tool


def run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def test_promtool_checks_the_rules() -> None:
    out = run(tool("promtool"), "check", "rules", *map(str, sorted((PROM_DIR / "rules").glob("*.yml"))))
    assert "SUCCESS" in out


def test_promtool_unit_tests_pass() -> None:
    tests = sorted((PROM_DIR / "tests").glob("*.yml"))
    assert tests
    out = run(tool("promtool"), "test", "rules", *map(str, tests))
    assert "SUCCESS" in out and "FAILED" not in out


def test_every_rule_has_a_unit_test_that_fires_it_and_one_that_does_not() -> None:
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in (PROM_DIR / "tests").glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {r["alert"] for r in rules}
    assert names - fired == set(), "rules never shown firing"
    assert names - quiet == set(), "rules never shown quiet"
    for r in rules:
        assert {"severity", "service"} <= set(r.get("labels", {})), r["alert"]
        assert {"summary", "description"} <= set(r.get("annotations", {})), r["alert"]
        assert r["labels"]["severity"] in ("critical", "warning"), r["alert"]


def test_the_rules_only_name_metrics_sts_declares() -> None:
    declared = {
        name for collector in REGISTRY._collector_to_names for name in REGISTRY._collector_to_names[collector]
    }
    exprs = [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    used = {m for e in exprs for m in re.findall(r"\b(sts_[a-z0-9_]+)", e)}
    assert used, exprs
    assert used - declared == set()


def test_promtool_checks_the_scrape_config() -> None:
    out = run(tool("promtool"), "check", "config", str(PROM_DIR / "prometheus.yml"))
    assert "is valid prometheus config file syntax" in out


def test_amtool_checks_the_alertmanager_config() -> None:
    out = run(tool("amtool"), "check-config", str(PROM_DIR / "alertmanager.yml"))
    assert "SUCCESS" in out
    config = yaml.safe_load((PROM_DIR / "alertmanager.yml").read_text())
    [receiver] = config["receivers"]
    assert receiver["webhook_configs"][0]["url"].endswith("/v1/alerts/webhook")
