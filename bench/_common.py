"""What the benchmark scripts share: percentiles and the commit their results belong to.

The scripts run as ``python bench/<name>.py``, so this folder is on ``sys.path`` and they import
``from _common import …``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def percentile(values: Sequence[float], q: float) -> float:
    """The value at quantile ``q`` (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))]


def git_commit(short: bool = False) -> str:
    """The checked-out commit, so a result line says which code it measured ("unknown" outside git)."""
    args = ["git", "rev-parse", *(["--short"] if short else []), "HEAD"]
    try:
        return subprocess.run(args, cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
