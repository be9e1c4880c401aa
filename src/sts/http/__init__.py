"""HTTP entrypoints served by STS processes: health, readiness and Prometheus metrics."""

from sts.http.health import RunningServer, health_app, serve

__all__ = ["RunningServer", "health_app", "serve"]
