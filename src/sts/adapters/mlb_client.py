"""Async client for the MLB Stats API (or the STS stand-in, which serves the same paths).

Contract:

- Every method issues ``GET {base_url}{path}`` with the exact Stats API path; the base URL is the only
  thing that differs between MLB and the stand-in.
- Timeouts, connection errors, HTTP 5xx and 429 are retried up to ``retries`` times with exponential
  backoff and full jitter (``delay = rand() * min(backoff_max, backoff_base * 2**n)``); a 429 or 503
  carrying ``Retry-After`` waits that long instead (capped at ``retry_after_max``). Other 4xx are not
  retried. ``sleep`` and ``rand`` are injectable so tests and the scheduler's scaled clock drive them.
- Errors (all from :mod:`sts.errors`): :class:`UpstreamUnavailable` when no HTTP answer came back after
  every attempt (message names the URL and the last cause; chained with ``from``),
  :class:`UpstreamStatusError` for a non-2xx answer that is final (4xx at once, 5xx/429 after retries).
- The feed methods never raise on a bad body: a 2xx whose body is not JSON comes back as a
  :class:`FetchedFeed`/:class:`Fetched` with ``parse_error`` set and the bytes kept, so ingestion can
  dead-letter the payload. The plain-dict methods (``schedule``, ``boxscore``…) raise
  :class:`UpstreamDataError` instead, as their callers have nothing to dead-letter.
- Parsing is tolerant: unknown fields are kept, missing optional ones are not an error. The client
  checks nothing about the structure beyond "is JSON" (and "is an object" for the dict methods).
- A circuit breaker per host (:mod:`sts.adapters.circuit_breaker`) is asked before every attempt:
  after repeated timeouts/connection errors/5xx/429 it opens and calls raise :class:`CircuitOpen`
  (an :class:`UpstreamUnavailable`) at once until a trial request after the cool-down succeeds.
- Metrics: ``sts_upstream_requests_total{endpoint,status}`` per attempt (status is the HTTP code or
  ``timeout``/``connect_error``/``transport_error``), latency and bytes per endpoint, and a retry count.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any, Protocol, Self

import httpx

from sts import __version__ as _sts_version
from sts.adapters.circuit_breaker import BreakerConfig, CircuitBreaker, Permit
from sts.config import MLB_API_DEFAULT
from sts.domain.feed_meta import DiffShape, diff_shape, meta_timestamp, meta_wait, patch_timestamp
from sts.errors import CircuitOpen, UpstreamDataError, UpstreamStatusError, UpstreamUnavailable
from sts.metrics import UPSTREAM_BYTES, UPSTREAM_LATENCY, UPSTREAM_REQUESTS, UPSTREAM_RETRIES

USER_AGENT = f"STS/{_sts_version} (MLB Statistics Tracking System; python-httpx/{httpx.__version__})"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504}) | frozenset(range(505, 600))
DEFAULT_BREAKER = BreakerConfig()
_THREAD_PARSE_BYTES = 256 * 1024  # parse bigger bodies off the event loop (a full feed is 1-3 MB)

SleepFn = Callable[[float], Awaitable[None]]
RandFn = Callable[[], float]
ClockFn = Callable[[], datetime]


@dataclass(frozen=True)
class Fetched:
    """One successful (2xx) response, kept whole.

    ``body`` is the response body exactly as received (after HTTP content decoding, e.g. gzip),
    suitable for storing as the raw snapshot. ``data`` is the parsed JSON, or ``None`` with
    ``parse_error`` set when the body is not valid JSON (never raised: the caller dead-letters it).
    """

    url: str
    status: int
    body: bytes
    fetched_at: datetime
    data: Any
    parse_error: str | None
    elapsed_s: float

    @property
    def raw(self) -> bytes:
        """Alias of ``body``: the bytes to store as the raw snapshot."""
        return self.body

    @property
    def ok(self) -> bool:
        """True when the body parsed as JSON."""
        return self.parse_error is None

    def json(self) -> Any:
        """The parsed JSON; raises :class:`UpstreamDataError` if the body did not parse."""
        if self.parse_error is not None:
            raise UpstreamDataError(f"{self.url}: body is not JSON: {self.parse_error}")
        return self.data


@dataclass(frozen=True)
class FetchedFeed(Fetched):
    """A live-feed response. ``suggested_wait`` is ``metaData.wait`` (seconds) and ``timecode`` is
    ``metaData.timeStamp``, each ``None`` when absent. Pollers must not poll faster than
    ``suggested_wait``."""

    game_pk: int
    suggested_wait: float | None
    timecode: str | None


@dataclass(frozen=True)
class FetchedPatch(Fetched):
    """A ``diffPatch`` response; ``shape`` tells a patch list from an empty list or a full feed."""

    game_pk: int
    start_timecode: str
    end_timecode: str | None

    @property
    def shape(self) -> DiffShape:
        return diff_shape(self.data) if self.ok else "unknown"

    @property
    def timecode(self) -> str | None:
        """The timecode the response brings the feed to (from the patches or the full feed), if any."""
        return patch_timestamp(self.data) if self.ok else None

    @property
    def suggested_wait(self) -> float | None:
        """``metaData.wait`` when the server answered with a full feed (patch lists carry none)."""
        return meta_wait(self.data) if self.ok else None


def _parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or ``None``."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _parse_json(body: bytes) -> tuple[Any, str | None]:
    try:
        return json.loads(body), None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        return None, f"{type(exc).__name__}: {exc}"


class RequestGate(Protocol):
    """What the client asks before each request it sends: ``await acquire()`` returns when it may go."""

    async def acquire(self) -> None: ...


class MLBClient:
    """Async MLB Stats API client; use as ``async with MLBClient(url) as mlb: ...``.

    Parameters: ``timeout`` is the read/write/pool timeout per attempt (seconds) and ``connect_timeout``
    the connect timeout (defaults to ``min(timeout, 5)``); ``retries`` is the number of extra attempts.
    At most ``max_concurrency`` requests are in flight at once (MLB publishes no rate limit; be polite).
    ``client`` lets the composition root share an :class:`httpx.AsyncClient` (the caller then owns it).
    ``budget`` (settable later as :attr:`budget`): a request gate, e.g. the scheduler's token bucket,
    awaited before every attempt.
    ``breaker``: when the circuit breaker of a host opens (:mod:`sts.adapters.circuit_breaker`; one
    per host, cooling down on ``clock``); ``None`` turns it off. While a host's circuit is open every
    call raises :class:`~sts.errors.CircuitOpen` at once, without sending a request.
    """

    def __init__(
        self,
        base_url: str = MLB_API_DEFAULT,
        timeout: float = 10.0,
        retries: int = 4,
        *,
        connect_timeout: float | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        retry_after_max: float = 120.0,
        sleep: SleepFn = asyncio.sleep,
        rand: RandFn = random.random,
        clock: ClockFn | None = None,
        user_agent: str = USER_AGENT,
        max_concurrency: int = 8,
        client: httpx.AsyncClient | None = None,
        budget: RequestGate | None = None,
        breaker: BreakerConfig | None = DEFAULT_BREAKER,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self._in_flight = asyncio.Semaphore(max_concurrency)
        # every attempt (retries included) first takes a token here (sts.services.budget.RequestBudget)
        self.budget = budget
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self._sleep = sleep
        self._rand = rand
        self._clock: ClockFn = clock or (lambda: datetime.now(UTC))
        self._breaker_config = breaker
        self._breakers: dict[str, CircuitBreaker] = {}  # per host; cool-downs on ``clock``
        self._owns_client = client is None
        connect = min(timeout, 5.0) if connect_timeout is None else connect_timeout
        self._http = client or httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=connect),
            headers={"User-Agent": user_agent, "Accept": "application/json", "Accept-Encoding": "gzip"},
            follow_redirects=True,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._http.aclose()

    # ------------------------------------------------------------------ endpoints

    async def schedule(
        self,
        date: date | None = None,
        start: date | None = None,
        end: date | None = None,
        sport_id: int = 1,
        *,
        team_id: int | None = None,
        hydrate: str | None = None,
    ) -> dict[str, Any]:
        """``/api/v1/schedule`` for one ``date`` or a ``start``..``end`` range (neither: server's today)."""
        if date is not None and (start is not None or end is not None):
            raise ValueError("give either date or start/end, not both")
        params: dict[str, str] = {"sportId": str(sport_id)}
        if date is not None:
            params["date"] = date.isoformat()
        if start is not None:
            params["startDate"] = start.isoformat()
        if end is not None:
            params["endDate"] = end.isoformat()
        if team_id is not None:
            params["teamId"] = str(team_id)
        if hydrate:
            params["hydrate"] = hydrate
        return await self._get_object("schedule", "/api/v1/schedule", params)

    async def feed_live(self, game_pk: int, timecode: str | None = None) -> FetchedFeed:
        """``/api/v1.1/game/{pk}/feed/live`` (as of ``timecode`` when given). Never raises on a bad body."""
        params = {"timecode": timecode} if timecode else None
        f = await self._fetch("feed_live", f"/api/v1.1/game/{int(game_pk)}/feed/live", params)
        return FetchedFeed(
            **_fields(f),
            game_pk=int(game_pk),
            suggested_wait=meta_wait(f.data),
            timecode=meta_timestamp(f.data),
        )

    async def feed_timestamps(self, game_pk: int) -> list[str]:
        """``/api/v1.1/game/{pk}/feed/live/timestamps``: every timecode of the game, in server order."""
        f = await self._fetch("feed_timestamps", f"/api/v1.1/game/{int(game_pk)}/feed/live/timestamps")
        data = f.json()
        if not isinstance(data, list) or not all(isinstance(t, str) for t in data):
            raise UpstreamDataError(f"{f.url}: expected a JSON array of timecodes, got {type(data).__name__}")
        return data

    async def diff_patch(
        self, game_pk: int, start_timecode: str, end_timecode: str | None = None
    ) -> FetchedPatch:
        """``/api/v1.1/game/{pk}/feed/live/diffPatch``. Never raises on a bad body; see ``shape``."""
        params = {"startTimecode": start_timecode}
        if end_timecode:
            params["endTimecode"] = end_timecode
        f = await self._fetch("diff_patch", f"/api/v1.1/game/{int(game_pk)}/feed/live/diffPatch", params)
        return FetchedPatch(
            **_fields(f), game_pk=int(game_pk), start_timecode=start_timecode, end_timecode=end_timecode
        )

    async def game_changes(self, updated_since: datetime, sport_id: int = 1) -> dict[str, Any]:
        """``/api/v1/game/changes?updatedSince=…``: games modified since a time (naive = UTC)."""
        if updated_since.tzinfo is None:
            updated_since = updated_since.replace(tzinfo=UTC)
        since = updated_since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        params = {"updatedSince": since, "sportId": str(sport_id)}
        return await self._get_object("game_changes", "/api/v1/game/changes", params)

    async def boxscore(self, game_pk: int) -> dict[str, Any]:
        """``/api/v1/game/{pk}/boxscore``."""
        return await self._get_object("boxscore", f"/api/v1/game/{int(game_pk)}/boxscore")

    async def linescore(self, game_pk: int) -> dict[str, Any]:
        """``/api/v1/game/{pk}/linescore``."""
        return await self._get_object("linescore", f"/api/v1/game/{int(game_pk)}/linescore")

    async def people(self, ids: Iterable[int]) -> dict[str, Any]:
        """``/api/v1/people?personIds=…`` for one or more MLBAM ids."""
        id_list = ",".join(str(int(i)) for i in ids)
        if not id_list:
            raise ValueError("people() needs at least one id")
        return await self._get_object("people", "/api/v1/people", {"personIds": id_list})

    async def teams(self, season: int | None = None, sport_id: int = 1) -> dict[str, Any]:
        """``/api/v1/teams?sportId=…[&season=…]``."""
        params = {"sportId": str(sport_id)}
        if season is not None:
            params["season"] = str(season)
        return await self._get_object("teams", "/api/v1/teams", params)

    # ------------------------------------------------------------------ transport

    async def _get_object(
        self, endpoint: str, path: str, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        f = await self._fetch(endpoint, path, params)
        data = f.json()
        if not isinstance(data, dict):
            raise UpstreamDataError(f"{f.url}: expected a JSON object, got {type(data).__name__}")
        return data

    def backoff(self, retry: int) -> float:
        """Full-jitter delay before retry ``retry`` (0-based): ``rand() * min(max, base * 2**retry)``."""
        cap: float = min(self.backoff_max, self.backoff_base * 2.0**retry)
        return self._rand() * cap

    async def _fetch(self, endpoint: str, path: str, params: Mapping[str, str] | None = None) -> Fetched:
        """GET with retries; returns the 2xx response (body parsed, parse errors kept) or raises."""
        request = self._http.build_request("GET", path, params=params)
        url = str(request.url)
        breaker = self.breaker_for(request.url)
        last_exc: httpx.RequestError | None = None
        last_status: tuple[int, str] | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                UPSTREAM_RETRIES.labels(endpoint).inc()
            retry_after: float | None = None
            permit = self._permit(breaker, last_exc, last_status, url)
            started = time.perf_counter()
            try:
                if self.budget is not None:
                    await self.budget.acquire()
                async with self._in_flight:
                    started = time.perf_counter()  # latency excludes waiting for a slot
                    response = await self._http.send(request)
            except httpx.RequestError as exc:
                if breaker is not None and permit is not None:
                    breaker.record(permit, ok=False)
                elapsed = time.perf_counter() - started
                UPSTREAM_LATENCY.labels(endpoint).observe(elapsed)
                UPSTREAM_REQUESTS.labels(endpoint, _transport_label(exc)).inc()
                last_exc, last_status = exc, None
            except BaseException:
                if breaker is not None and permit is not None:
                    breaker.abandon(permit)
                raise
            else:
                if breaker is not None and permit is not None:
                    breaker.record(permit, ok=response.status_code not in RETRYABLE_STATUSES)
                elapsed = time.perf_counter() - started
                body = response.content
                UPSTREAM_LATENCY.labels(endpoint).observe(elapsed)
                UPSTREAM_REQUESTS.labels(endpoint, str(response.status_code)).inc()
                UPSTREAM_BYTES.labels(endpoint).inc(len(body))
                status = response.status_code
                if 200 <= status < 300:
                    fetched_at = self._clock()
                    if len(body) > _THREAD_PARSE_BYTES:
                        data, error = await asyncio.to_thread(_parse_json, body)
                    else:
                        data, error = _parse_json(body)
                    return Fetched(url, status, body, fetched_at, data, error, elapsed)
                excerpt = body[:500].decode("utf-8", "replace")
                if status not in RETRYABLE_STATUSES:
                    raise UpstreamStatusError(url, status, excerpt)
                last_exc, last_status = None, (status, excerpt)
                if status in (429, 503):
                    retry_after = _parse_retry_after(response.headers.get("Retry-After"), time.time())
            if attempt == self.retries:
                break
            if retry_after is not None:
                delay = min(retry_after, self.retry_after_max)
            else:
                delay = self.backoff(attempt)
            await self._sleep(delay)
        if last_status is not None:
            raise UpstreamStatusError(url, *last_status)
        assert last_exc is not None
        raise UpstreamUnavailable(self._unavailable_message(url, last_exc)) from last_exc

    def breaker_for(self, url: httpx.URL) -> CircuitBreaker | None:
        """The circuit breaker of ``url``'s host (``host:port``), made on first use; ``None`` if off."""
        if self._breaker_config is None:
            return None
        host = f"{url.host}:{url.port}" if url.port else url.host
        breaker = self._breakers.get(host)
        if breaker is None:
            breaker = CircuitBreaker(host, self._breaker_config, lambda: self._clock().timestamp())
            self._breakers[host] = breaker
        return breaker

    def _permit(
        self,
        breaker: CircuitBreaker | None,
        last_exc: httpx.RequestError | None,
        last_status: tuple[int, str] | None,
        url: str,
    ) -> Permit | None:
        """Leave from the host's breaker for one attempt; :class:`CircuitOpen` (chained to the last
        failure of this call, if any) while it is open."""
        if breaker is None:
            return None
        try:
            return breaker.acquire()
        except CircuitOpen as exc:
            if last_status is not None:
                raise exc from UpstreamStatusError(url, *last_status)
            raise exc from last_exc

    def _unavailable_message(self, url: str, exc: httpx.RequestError) -> str:
        attempts = self.retries + 1
        cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            host = httpx.URL(url).host
            return (
                f"{host} is unreachable from this machine: {cause} ({url}, {attempts} attempts). "
                "Check the network or proxy, or set STS_MLB_API_URL to a reachable server "
                "(e.g. the STS stand-in)."
            )
        if isinstance(exc, httpx.TimeoutException):
            return f"{url} timed out on all {attempts} attempts ({self.timeout}s each): {cause}"
        return f"{url} failed on all {attempts} attempts: {cause}"


def _transport_label(exc: httpx.RequestError) -> str:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return "connect_error"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    return "transport_error"


def _fields(f: Fetched) -> dict[str, Any]:
    return {
        "url": f.url,
        "status": f.status,
        "body": f.body,
        "fetched_at": f.fetched_at,
        "data": f.data,
        "parse_error": f.parse_error,
        "elapsed_s": f.elapsed_s,
    }
