"""Finding Prometheus' tools for the tests: present, or a failure when ``STS_REQUIRE_PROMETHEUS=1`` (CI,
whose .ci/run installs and starts them with deploy/local/{prometheus,alertmanager}.sh), else a skip."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "deploy" / "prometheus"
RULES = PROM_DIR / "rules" / "sts.yml"
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")  # Debian's name first


def tool(*names: str) -> str:
    """The path of the first of ``names`` on PATH; fails (CI) or skips (elsewhere) when none is."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    message = f"{' / '.join(names)} not installed (deploy/local/prometheus.sh / alertmanager.sh install them)"
    if os.environ.get("STS_REQUIRE_PROMETHEUS") == "1":
        pytest.fail(message)
    pytest.skip(message)
