"""The operator dashboard: ``GET /dashboard`` (a page, no key needed: it holds no data) and
``GET /dashboard/data`` (the charts' series, ``admin`` scope).

Each :class:`Panel` is one chart, defined twice: as PromQL, used when the ``prometheus_url`` setting is set
(``query_range`` on that Prometheus, proxied here so the browser needs no CORS and sees every STS process),
and as a :class:`Local` rule over this process's own registry, sampled every
``dashboard_sample_seconds`` into a ring buffer (``dashboard_samples`` samples) when it is not.
Local rules compute what the PromQL computes (per-second rates between samples, sums by label,
histogram quantiles by Prometheus' interpolation), over this one process.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from prometheus_client import REGISTRY

from sts.api.auth import Principal, require
from sts.api.errors import ApiError
from sts.config import Settings

Labels = tuple[tuple[str, str], ...]
Where = Callable[[dict[str, str]], bool]


@dataclass(frozen=True)
class Local:
    """How to compute a panel from registry samples: ``kind`` is ``rate`` (per-second increase of a
    counter), ``gauge`` (its value), ``ratio`` (rate of ``metric`` where ``where`` / rate of ``metric``),
    ``quantile`` (``q`` of a histogram's increase) or ``mean`` (a histogram's sum/count increase)."""

    kind: str
    metric: str
    by: tuple[str, ...] = ()
    where: Where | None = None
    q: float = 0.99


@dataclass(frozen=True)
class Panel:
    id: str
    title: str
    unit: str  # "s", "/s", "ratio", "" (a count)
    promql: str  # "{w}" stands for the rate window
    local: Local
    help: str = ""


def _status_5xx(labels: dict[str, str]) -> bool:
    return labels.get("status", "").startswith("5")


def _upstream_error(labels: dict[str, str]) -> bool:
    return not labels.get("status", "").startswith("2")


def _hit(labels: dict[str, str]) -> bool:
    return labels.get("result") == "hit"


PANELS: tuple[Panel, ...] = (
    Panel(
        "freshness", "Live games: seconds since the last new timecode", "s",
        "max by (game_pk) (sts_game_seconds_since_update)",
        Local("gauge", "sts_game_seconds_since_update", ("game_pk",)),
        "a line that keeps climbing is a live game that stopped updating",
    ),
    Panel(
        "upstream_rate", "MLB API requests per second, by status", "/s",
        "sum by (status) (rate(sts_upstream_requests_total[{w}]))",
        Local("rate", "sts_upstream_requests_total", ("status",)),
    ),
    Panel(
        "upstream_errors", "MLB API errors per second (non-2xx), by endpoint", "/s",
        'sum by (endpoint) (rate(sts_upstream_requests_total{{status!~"2.."}}[{w}]))',
        Local("rate", "sts_upstream_requests_total", ("endpoint",), _upstream_error),
    ),
    Panel(
        "events_published", "Events published per second, by topic", "/s",
        "sum by (topic) (rate(sts_events_published_total[{w}]))",
        Local("rate", "sts_events_published_total", ("topic",)),
    ),
    Panel(
        "events_consumed", "Events consumed per second, by group", "/s",
        "sum by (group) (rate(sts_events_consumed_total[{w}]))",
        Local("rate", "sts_events_consumed_total", ("group",)),
    ),
    Panel(
        "consumer_lag", "Consumer lag (records), by group", "",
        "sum by (group) (sts_consumer_lag)",
        Local("gauge", "sts_consumer_lag", ("group",)),
    ),
    Panel(
        "dlq_depth", "Dead letters pending, by topic", "",
        "sum by (topic) (sts_dead_letters_pending)",
        Local("gauge", "sts_dead_letters_pending", ("topic",)),
    ),
    Panel(
        "processing_latency", "Snapshot fetched → rows committed, p99", "s",
        "histogram_quantile(0.99, sum by (le, group) (rate(sts_snapshot_to_rows_seconds_bucket[{w}])))",
        Local("quantile", "sts_snapshot_to_rows_seconds", ("group",)),
    ),
    Panel(
        "api_rate", "API requests per second, by status", "/s",
        "sum by (status) (rate(sts_api_requests_total[{w}]))",
        Local("rate", "sts_api_requests_total", ("status",)),
    ),
    Panel(
        "api_errors", "API 5xx answers per second, by route", "/s",
        'sum by (route) (rate(sts_api_requests_total{{status=~"5.."}}[{w}]))',
        Local("rate", "sts_api_requests_total", ("route",), _status_5xx),
    ),
    Panel(
        "api_latency", "API latency p99", "s",
        "histogram_quantile(0.99, sum by (le) (rate(sts_api_request_seconds_bucket[{w}])))",
        Local("quantile", "sts_api_request_seconds"),
    ),
    Panel(
        "cache_hit_ratio", "API cache hit ratio", "ratio",
        'sum(rate(sts_api_cache_lookups_total{{result="hit"}}[{w}]))'
        " / sum(rate(sts_api_cache_lookups_total[{w}]))",
        Local("ratio", "sts_api_cache_lookups_total", where=_hit),
    ),
    Panel(
        "rate_limited", "Rate-limit rejections (429) per second, by tier", "/s",
        "sum by (tier) (rate(sts_api_rate_limited_total[{w}]))",
        Local("rate", "sts_api_rate_limited_total", ("tier",)),
    ),
    Panel(
        "db_pool", "Database pool connections, by pool and state", "",
        "sum by (pool, state) (sts_db_pool_connections)",
        Local("gauge", "sts_db_pool_connections", ("pool", "state")),
    ),
    Panel(
        "log_dropped", "Log lines dropped before VictoriaLogs, per second", "/s",
        "sum by (reason) (rate(sts_log_lines_dropped_total[{w}]))",
        Local("rate", "sts_log_lines_dropped_total", ("reason",)),
    ),
)  # fmt: skip

# family names as the registry reports them (a counter's family has no _total)
_FAMILIES = {p.local.metric.removesuffix("_total") for p in PANELS}


_GRAFANA_UNITS = {"s": "s", "/s": "reqps", "ratio": "percentunit", "": "short"}


def grafana_dashboard() -> dict[str, Any]:
    """The same panels as a Grafana dashboard (``deploy/grafana/sts.json`` is this, written out), for
    users who run Grafana against their Prometheus. Regenerate with ``python -m sts.api.dashboard``."""
    panels = []
    for i, p in enumerate(PANELS):
        legend = " ".join("{{" + label + "}}" for label in p.local.by) or p.title
        panels.append(
            {
                "id": i + 1,
                "type": "timeseries",
                "title": p.title,
                "description": p.help,
                "gridPos": {"x": (i % 3) * 8, "y": (i // 3) * 8, "w": 8, "h": 8},
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "targets": [
                    {"refId": "A", "expr": p.promql.format(w="$__rate_interval"), "legendFormat": legend}
                ],
                "fieldConfig": {"defaults": {"unit": _GRAFANA_UNITS[p.unit]}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
            }
        )
    return {
        "title": "STS operations",
        "uid": "sts-operations",
        "tags": ["sts"],
        "schemaVersion": 39,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}
            ]
        },
        "panels": panels,
    }


# ---------------------------------------------------------------------- local samples


@dataclass
class Sample:
    t: float
    values: dict[tuple[str, Labels], float] = field(default_factory=dict)


def take_sample(registry: Any = REGISTRY, now: float | None = None) -> Sample:
    """The current value of every series the panels read (counters, gauges, histogram parts)."""
    sample = Sample(time.time() if now is None else now)
    for family in registry.collect():
        if family.name not in _FAMILIES:
            continue
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            sample.values[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return sample


class Sampler:
    """A ring buffer of samples of this process's registry, filled by a daemon thread."""

    def __init__(self, interval: float, size: int) -> None:
        self.interval = interval
        self.samples: deque[Sample] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()  # cuts a wait short (stop, or a shorter interval)
        self._thread: threading.Thread | None = None

    def sample_now(self) -> None:
        s = take_sample()
        with self._lock:
            self.samples.append(s)

    def snapshot(self) -> list[Sample]:
        with self._lock:
            return list(self.samples)

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="sts-dashboard-sampler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def set_interval(self, seconds: float) -> None:
        if seconds < self.interval:
            self.interval = seconds
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # a collector failing once must not end the sampling
                self.sample_now()
            self._wake.wait(self.interval)
            self._wake.clear()


_sampler: Sampler | None = None
_sampler_lock = threading.Lock()


def get_sampler(settings: Settings) -> Sampler:
    """The process's sampler (one per process: the registry is per process), started on first use."""
    global _sampler
    with _sampler_lock:
        if _sampler is None:
            _sampler = Sampler(settings.dashboard_sample_seconds, settings.dashboard_samples)
        else:
            _sampler.set_interval(settings.dashboard_sample_seconds)
        _sampler.start()
        return _sampler


def _group(values: dict[tuple[str, Labels], float], name: str, by: tuple[str, ...], where: Where | None,
           extra: tuple[str, ...] = ()) -> dict[Labels, float]:  # fmt: skip
    out: dict[Labels, float] = {}
    for (n, labels), v in values.items():
        if n != name:
            continue
        d = dict(labels)
        if where is not None and not where(d):
            continue
        key = tuple((k, d.get(k, "")) for k in (*by, *extra))
        out[key] = out.get(key, 0.0) + v
    return out


def _delta(a: dict[Labels, float], b: dict[Labels, float]) -> dict[Labels, float]:
    # a counter that went down was reset (a restart): count from zero, as Prometheus' rate() does
    return {k: (v - a.get(k, 0.0) if v >= a.get(k, 0.0) else v) for k, v in b.items()}


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' interpolation over cumulative ``(le, count)`` buckets; None without observations."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return prev_le
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return prev_le


def local_series(panel: Panel, samples: list[Sample]) -> list[dict[str, Any]]:
    """The panel's series over consecutive samples: ``[{"labels": {...}, "points": [[t, v], ...]}]``."""
    rule = panel.local
    series: dict[Labels, list[list[float]]] = {}

    def add(key: Labels, t: float, v: float | None) -> None:
        if v is not None and math.isfinite(v):
            series.setdefault(key, []).append([round(t, 3), v])

    if rule.kind == "gauge":
        for s in samples:
            for key, v in _group(s.values, rule.metric, rule.by, rule.where).items():
                add(key, s.t, v)
    for a, b in itertools.pairwise(samples):
        dt = b.t - a.t
        if rule.kind == "gauge" or dt <= 0:
            continue

        def inc(
            name: str,
            by: tuple[str, ...],
            where: Where | None,
            extra: tuple[str, ...] = (),
            a: Sample = a,
            b: Sample = b,
        ) -> dict[Labels, float]:
            return _delta(_group(a.values, name, by, where, extra), _group(b.values, name, by, where, extra))

        if rule.kind == "rate":
            for key, v in inc(rule.metric, rule.by, rule.where).items():
                add(key, b.t, v / dt)
        elif rule.kind == "ratio":
            den = sum(inc(rule.metric, (), None).values())
            if den > 0:
                add((), b.t, sum(inc(rule.metric, (), rule.where).values()) / den)
        elif rule.kind == "mean":
            total = inc(rule.metric + "_sum", rule.by, None)
            for key, c in inc(rule.metric + "_count", rule.by, None).items():
                add(key, b.t, total.get(key, 0.0) / c if c > 0 else None)
        elif rule.kind == "quantile":
            per: dict[Labels, list[tuple[float, float]]] = {}
            for key, v in inc(rule.metric + "_bucket", rule.by, None, ("le",)).items():
                per.setdefault(key[:-1], []).append((float(key[-1][1]), v))
            for key, buckets in per.items():
                add(key, b.t, histogram_quantile(rule.q, buckets))
    return [{"labels": dict(k), "points": pts} for k, pts in sorted(series.items())]


# ---------------------------------------------------------------------- Prometheus


async def prometheus_series(
    client: httpx.AsyncClient, base: str, panel: Panel, start: float, end: float, step: float
) -> list[dict[str, Any]]:
    window = f"{int(max(60, 4 * step))}s"
    resp = await client.get(
        base.rstrip("/") + "/api/v1/query_range",
        params={"query": panel.promql.format(w=window), "start": start, "end": end, "step": step},
    )
    body = resp.json()
    if resp.status_code != 200 or body.get("status") != "success":
        raise ValueError(body.get("error") or f"HTTP {resp.status_code}")
    out = []
    for r in body["data"]["result"]:
        pts = [[float(t), float(v)] for t, v in r["values"] if math.isfinite(float(v))]
        if pts:
            out.append({"labels": r["metric"], "points": pts})
    return out


# ---------------------------------------------------------------------- routes

router = APIRouter(include_in_schema=False)


def _static(name: str) -> str:
    return resources.files("sts.api").joinpath("static", name).read_text(encoding="utf-8")


@router.get("/dashboard", response_class=HTMLResponse)
async def page() -> HTMLResponse:
    return HTMLResponse(_static("dashboard.html"), headers={"Cache-Control": "no-cache"})


@router.get("/dashboard/dashboard.js")
async def script() -> Response:
    return Response(
        _static("dashboard.js"), media_type="text/javascript", headers={"Cache-Control": "no-cache"}
    )


@router.get("/dashboard/data")
async def data(
    request: Request,
    _: Annotated[Principal, Depends(require("admin"))],
    minutes: Annotated[float, Query(gt=0, le=7 * 24 * 60, description="how far back")] = 60,
    step: Annotated[float | None, Query(gt=0, le=3600, description="seconds between points")] = None,
) -> dict[str, Any]:
    settings: Settings = request.app.state.ctx.settings
    end = time.time()
    start = end - minutes * 60
    panels: list[dict[str, Any]] = []
    if settings.prometheus_url:
        step = step or max(5.0, round(minutes * 60 / 240))
        async with httpx.AsyncClient(timeout=10) as client:
            for p in PANELS:
                entry: dict[str, Any] = {"id": p.id, "title": p.title, "unit": p.unit, "help": p.help}
                try:
                    entry["series"] = await prometheus_series(
                        client, settings.prometheus_url, p, start, end, step
                    )
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    entry["series"], entry["error"] = [], f"Prometheus: {exc}"
                panels.append(entry)
        if all("error" in p for p in panels):
            first = panels[0]["error"]
            raise ApiError(502, f"{settings.prometheus_url} did not answer: {first}", "upstream_unavailable")
        return {"source": "prometheus", "start": start, "end": end, "step": step, "panels": panels}
    sampler = get_sampler(settings)
    samples = [s for s in sampler.snapshot() if s.t >= start]
    if samples:  # the ring holds less than asked for: chart the time it covers
        start = max(start, samples[0].t)
    for p in PANELS:
        panels.append(
            {"id": p.id, "title": p.title, "unit": p.unit, "help": p.help, "series": local_series(p, samples)}
        )
    return {"source": "local", "start": start, "end": end, "step": sampler.interval, "panels": panels}


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the dashboard on ``app``; without Prometheus, start sampling this process's registry."""
    app.include_router(router)
    if not settings.prometheus_url:
        get_sampler(settings)


if __name__ == "__main__":  # python -m sts.api.dashboard > deploy/grafana/sts.json
    import json

    print(json.dumps(grafana_dashboard(), indent=2))
