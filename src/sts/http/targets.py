"""Prometheus file-based service discovery: a serving process announces its ``/metrics`` address.

With ``metrics_targets_dir`` set (``STS_METRICS_TARGETS_DIR``), every STS process that serves metrics
(``sts run`` / ``sts demo`` health servers, ``sts serve`` APIs) writes one JSON file there while it runs::

    [{"targets": ["127.0.0.1:41234"], "labels": {"service": "pipeline", "pid": "4242"}}]

and removes it when it stops. Prometheus' ``file_sd_configs`` (deploy/prometheus/prometheus.yml) watches
the folder, so processes on any free port are scraped within seconds of starting. Files are written
atomically (a temporary name, then a rename) so Prometheus never reads half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = ["register_target", "registered_target", "unregister_target"]


def _address(host: str, port: int) -> str:
    if host in ("", "0.0.0.0", "::"):  # listening everywhere: loopback reaches it from this machine
        host = "127.0.0.1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def register_target(
    targets_dir: Path, service: str, host: str, port: int, labels: Mapping[str, str] | None = None
) -> Path:
    """Write the target file of ``service`` listening on ``host:port``; returns its path."""
    targets_dir.mkdir(parents=True, exist_ok=True)
    safe_host = host.replace(":", "_").replace("/", "_") or "any"
    path = targets_dir / f"{service}-{safe_host}-{port}.json"
    group = {
        "targets": [_address(host, port)],
        "labels": {"service": service, "pid": str(os.getpid()), **dict(labels or {})},
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps([group], indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def unregister_target(path: Path) -> None:
    """Remove a target file written by :func:`register_target` (missing is fine)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


@contextlib.contextmanager
def registered_target(
    targets_dir: Path | None, service: str, host: str, port: int, labels: Mapping[str, str] | None = None
) -> Iterator[Path | None]:
    """:func:`register_target` for the ``with`` block; nothing at all when ``targets_dir`` is None."""
    if targets_dir is None:
        yield None
        return
    path = register_target(targets_dir, service, host, port, labels)
    try:
        yield path
    finally:
        unregister_target(path)
