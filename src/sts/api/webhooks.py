"""Webhooks: signed, retried, logged deliveries of bus events to the URLs users register.

Two loops per API process (:class:`Dispatcher`, started by the app's lifespan when the process has a bus):

1. **Matcher**: a member of the consumer group ``webhook_group`` on ``mlb.game-events`` and
   ``mlb.notable-moments``. For every record it finds the active subscriptions whose filter matches
   (event types, gamePks, teams; each empty list means "any") and that existed when the record was
   published, and inserts one row per (subscription, event) into the ``webhook_deliveries`` outbox
   (``ON CONFLICT DO NOTHING``: a record read twice is queued once). The group's offsets are committed only
   after that insert has committed, so nothing is lost if a process dies (at-least-once), and several
   processes share the partitions.
2. **Sender**: claims due deliveries (``FOR UPDATE SKIP LOCKED`` plus a lease in ``locked_until``, so two
   processes never send the same attempt), keeps up to ``webhook_concurrency`` in flight, POSTs them with
   httpx (timeout ``webhook_timeout``, redirects never followed) and records every attempt in
   ``webhook_attempts``:

   - ``2xx``: delivered; the subscription's ``consecutive_failures`` goes back to 0;
   - ``408``, ``429``, ``5xx``, a timeout or a connection error: retried after an exponential backoff with
     jitter (``webhook_backoff_base`` × 2^(attempt-1), capped at ``webhook_backoff_max``, times a random
     factor in [0.5, 1]; a ``Retry-After`` in seconds is honoured within the cap), until
     ``webhook_max_attempts``;
   - any other ``3xx``/``4xx``, or a URL that now resolves to a forbidden address: given up at once;
   - a delivery given up adds 1 to ``consecutive_failures``; at ``webhook_disable_after`` the subscription
     is disabled with the reason (its pending deliveries wait; ``POST …/enable`` resumes them).

Every delivery is ``POST``ed as JSON (:func:`delivery_body`) with the headers ``STS-Webhook-Id`` (the event
id: the same on every retry, deduplicate on it), ``STS-Event-Type``, ``STS-Timestamp`` (unix seconds) and
``STS-Signature: t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` (one ``v1`` per valid
secret during a rotation's grace period). :func:`verify_signature` is the reference verifier.
Secrets are never logged; URLs are logged by host only (their query strings may hold tokens).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import random
import re
import secrets
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import structlog
from psycopg.rows import dict_row

from sts import __version__
from sts.config import Settings
from sts.errors import SchemaError
from sts.events.codec import AvroCodec
from sts.metrics import WEBHOOK_DELIVERIES
from sts.ports import TOPIC_GAME_EVENTS, TOPIC_NOTABLE_MOMENTS, EventBus, Record, Subscription

log = structlog.get_logger(__name__)

SIGNATURE_TOLERANCE = 300  # seconds; the replay window :func:`verify_signature` accepts by default
PING = "ping"
MAX_URL = 2048


# --------------------------------------------------------------------------- signing


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets_: Iterable[str], timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<sig>[,v1=<sig of the previous secret>]``."""
    return ",".join([f"t={timestamp}", *(f"v1={signature(s, timestamp, body)}" for s in secrets_)])


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance: int = SIGNATURE_TOLERANCE,
    now: float | None = None,
) -> bool:
    """True when ``header`` (``STS-Signature``) signs exactly ``body`` with ``secret`` and its timestamp is
    within ``tolerance`` seconds of ``now``. Compare in constant time; reject old timestamps (replays)."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, c) for c in candidates)


# --------------------------------------------------------------------------- URLs


class UnsafeUrl(ValueError):
    """A URL deliveries must not go to."""


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_URLCHAR = r"(?:[A-Za-z0-9\-._~:/?@!$&'()*+,;=]|%[0-9A-Fa-f]{2})"
URL_PATTERN = (
    rf"^https?://(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?(?:[/?]{_URLCHAR}*)?$"
)
URL_RE = re.compile(URL_PATTERN)
"""An absolute http(s) URL with a DNS host name or an IP literal, no credentials and no fragment."""


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return not ip.is_global or ip.is_multicast


def check_url(url: str) -> str:
    """The URL if it is an absolute ``http(s)`` URL without credentials; raises :class:`UnsafeUrl`."""
    if len(url) > MAX_URL:
        raise UnsafeUrl(f"the URL is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as exc:
        raise UnsafeUrl(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("only http:// and https:// URLs can receive webhooks")
    if not parts.hostname:
        raise UnsafeUrl("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("the URL must not contain credentials; authenticate deliveries by their signature")
    if parts.fragment or url.endswith("#"):
        raise UnsafeUrl("the URL must not have a #fragment")
    if not URL_RE.fullmatch(url):
        raise UnsafeUrl(
            "not a valid http(s) URL: a host name or IP address, then an optional path and query of URL"
            " characters (percent-encode the others; IDNA-encode international host names)"
        )
    return url


async def check_destination(url: str, allow_private: bool) -> None:
    """Raise :class:`UnsafeUrl` when ``url``'s host resolves to a loopback, private, link-local or other
    non-global address (unless ``allow_private``). Checked at registration and before every attempt, so a
    name that later resolves inward is refused too."""
    if allow_private:
        return
    host = urlsplit(url).hostname or ""
    try:
        lookup = asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        infos = await asyncio.wait_for(lookup, timeout=5)
    except TimeoutError:
        raise UnsafeUrl(f"the host {host!r} did not resolve within 5 s") from None
    except OSError as exc:
        raise UnsafeUrl(f"the host {host!r} does not resolve: {exc.strerror or exc}") from None
    for info in infos:
        if _forbidden(str(info[4][0])):
            raise UnsafeUrl(f"the host {host!r} resolves to a non-public address; refused")


def host_of(url: str) -> str:
    return urlsplit(url).hostname or "?"


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class Sub:
    id: uuid.UUID
    event_types: frozenset[str]
    game_pks: frozenset[int]
    team_ids: frozenset[int]
    created_ms: int

    def matches(self, event_type: str, game_pk: int | None, teams: Sequence[int], published_ms: int) -> bool:
        if published_ms < self.created_ms:
            return False  # a subscription receives what was published after it was created
        if self.event_types and event_type not in self.event_types:
            return False
        if self.game_pks and game_pk not in self.game_pks:
            return False
        return not self.team_ids or any(t in self.team_ids for t in teams)


def _team_ids(payload: dict[str, Any]) -> list[int]:
    out = []
    for key in ("away_team", "home_team"):
        team = payload.get(key)
        if isinstance(team, dict) and isinstance(team.get("id"), int):
            out.append(team["id"])
    if isinstance(payload.get("team_id"), int):
        out.append(payload["team_id"])
    return out


def delivery_body(
    delivery_id: uuid.UUID | str,
    event_id: str,
    event_type: str,
    game_pk: int | None,
    data: Any,
    created: datetime,
) -> bytes:
    """The JSON body of one delivery."""
    body = {
        "id": event_id,
        "type": event_type,
        "delivery_id": str(delivery_id),
        "game_pk": game_pk,
        "created_at": created.astimezone(UTC).isoformat(),
        "data": data,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode()


# --------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class Attempt:
    outcome: str  # delivered | failed (will retry) | gave_up
    status: int | None
    error: str | None
    duration_ms: float
    retry_in: float | None = None


def backoff(settings: Settings, attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    delay = float(min(settings.webhook_backoff_max, settings.webhook_backoff_base * 2 ** (attempt - 1)))
    delay *= random.uniform(0.5, 1.0)  # jitter, not security
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.webhook_backoff_max))
    return delay


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


async def post(
    client: httpx.AsyncClient,
    settings: Settings,
    url: str,
    signing_secrets: Sequence[str],
    *,
    event_id: str,
    event_type: str,
    body: bytes,
    attempt: int,
    clock: Callable[[], float] = time.time,
) -> tuple[int | None, str | None, float, float | None, bool]:
    """One POST: (status, error, duration ms, Retry-After, retryable)."""
    ts = int(clock())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"STS-Webhooks/{__version__}",
        "STS-Webhook-Id": event_id,
        "STS-Event-Type": event_type,
        "STS-Timestamp": str(ts),
        "STS-Signature": signature_header(signing_secrets, ts, body),
        "STS-Delivery-Attempt": str(attempt),
    }
    started = time.perf_counter()
    try:
        await check_destination(url, settings.webhook_allow_private)
        async with client.stream("POST", url, content=body, headers=headers) as resp:
            status = resp.status_code
            snippet = ""
            if not 200 <= status < 300:
                async for chunk in resp.aiter_bytes():
                    snippet += chunk.decode("utf-8", "replace")
                    if len(snippet) >= 200:
                        break
            ms = (time.perf_counter() - started) * 1000
            if 200 <= status < 300:
                return status, None, ms, None, False
            if 300 <= status < 400:
                where = host_of(resp.headers.get("location", ""))
                return status, f"redirect to {where} not followed: register the final URL", ms, None, False
            retryable = status in (408, 429) or status >= 500
            error = f"HTTP {status}" + (f": {snippet[:200]}" if snippet.strip() else "")
            return status, error, ms, _retry_after(resp.headers.get("retry-after")), retryable
    except UnsafeUrl as exc:
        return None, str(exc), (time.perf_counter() - started) * 1000, None, False
    except httpx.TimeoutException:
        return (
            None,
            f"timeout after {settings.webhook_timeout:g} s",
            (time.perf_counter() - started) * 1000,
            None,
            True,
        )
    except (httpx.InvalidURL, ValueError) as exc:  # a URL httpx cannot send to: permanent
        ms = (time.perf_counter() - started) * 1000
        return None, f"invalid URL: {type(exc).__name__}", ms, None, False
    except httpx.HTTPError as exc:
        return (
            None,
            f"connection error: {type(exc).__name__}",
            (time.perf_counter() - started) * 1000,
            None,
            True,
        )


def new_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=settings.webhook_timeout,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=max(4, settings.webhook_concurrency * 2)),
        trust_env=False,
    )


_CLAIM = """
WITH due AS (
    SELECT d.id FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id
    WHERE d.next_attempt_at <= now() AND (d.locked_until IS NULL OR d.locked_until < now())
      AND s.status = 'active'
    ORDER BY d.next_attempt_at
    LIMIT %(n)s
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d SET locked_until = now() + make_interval(secs => %(lease)s)
FROM due, webhook_subscriptions s
WHERE d.id = due.id AND s.id = d.subscription_id
RETURNING d.id, d.subscription_id, d.event_id, d.event_type, d.game_pk, d.payload, d.created_at, d.attempts,
          s.url, s.secret,
          CASE WHEN s.previous_secret_until > now() THEN s.previous_secret END AS previous_secret
"""


async def record_attempt(
    conn: psycopg.AsyncConnection[Any],
    settings: Settings,
    delivery: dict[str, Any],
    result: tuple[int | None, str | None, float, float | None, bool],
    *,
    ping: bool = False,
) -> Attempt:
    """Store one attempt's result: the attempt row, the delivery's state and, for a given-up or delivered
    event, the subscription's failure count (disabling it at ``webhook_disable_after``)."""
    status, error, ms, retry_after, retryable = result
    n = delivery["attempts"] + 1
    if error is None:
        outcome = "delivered"
    elif retryable and not ping and n < settings.webhook_max_attempts:
        outcome = "failed"
    else:
        outcome = "gave_up"
    retry_in = backoff(settings, n, retry_after) if outcome == "failed" else None
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO webhook_attempts (delivery_id, attempt, status_code, error, duration_ms, outcome)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (delivery["id"], n, status, error, ms, outcome),
        )
        await conn.execute(
            """
            UPDATE webhook_deliveries SET attempts = %(n)s, last_status = %(status)s, last_error = %(error)s,
                last_duration_ms = %(ms)s, locked_until = NULL,
                next_attempt_at = CASE WHEN %(outcome)s = 'failed'
                                       THEN now() + make_interval(secs => %(retry)s) END,
                delivered_at = CASE WHEN %(outcome)s = 'delivered' THEN now() END,
                gave_up_at = CASE WHEN %(outcome)s = 'gave_up' THEN now() END
            WHERE id = %(id)s
            """,
            {"n": n, "status": status, "error": error, "ms": ms, "outcome": outcome, "retry": retry_in or 0,
             "id": delivery["id"]},
        )  # fmt: skip
        if not ping and outcome == "delivered":
            await conn.execute(
                "UPDATE webhook_subscriptions SET consecutive_failures = 0 WHERE id = %s",
                (delivery["subscription_id"],),
            )
        elif not ping and outcome == "gave_up":
            await conn.execute(
                """
                UPDATE webhook_subscriptions SET consecutive_failures = consecutive_failures + 1,
                    status = CASE WHEN consecutive_failures + 1 >= %(limit)s THEN 'disabled' ELSE status END,
                    disabled_at = CASE WHEN consecutive_failures + 1 >= %(limit)s AND status = 'active'
                                       THEN now() ELSE disabled_at END,
                    disabled_reason = CASE WHEN consecutive_failures + 1 >= %(limit)s AND status = 'active'
                        THEN format('%%s deliveries in a row failed (last: %%s)', consecutive_failures + 1,
                                    %(error)s::text)
                        ELSE disabled_reason END
                WHERE id = %(sub)s
                RETURNING status
                """,
                {"limit": settings.webhook_disable_after, "error": error, "sub": delivery["subscription_id"]},
            )
    WEBHOOK_DELIVERIES.labels(outcome).inc()
    log.info(
        "webhook attempt",
        subscription=str(delivery["subscription_id"]),
        delivery=str(delivery["id"]),
        event_type=delivery["event_type"],
        attempt=n,
        outcome=outcome,
        status=status,
        error=error,
    )
    return Attempt(outcome, status, error, ms, retry_in)


async def send_delivery(
    conn: psycopg.AsyncConnection[Any],
    client: httpx.AsyncClient,
    settings: Settings,
    delivery: dict[str, Any],
    *,
    ping: bool = False,
    clock: Callable[[], float] = time.time,
    lock: asyncio.Lock | None = None,
) -> Attempt:
    """Make one attempt of ``delivery`` (a row of :data:`_CLAIM`) and record it (under ``lock`` when the
    connection is shared by concurrent sends)."""
    body = delivery_body(
        delivery["id"], delivery["event_id"], delivery["event_type"], delivery["game_pk"],
        delivery["payload"], delivery["created_at"],
    )  # fmt: skip
    signing = [delivery["secret"]] + (
        [delivery["previous_secret"]] if delivery.get("previous_secret") else []
    )
    result = await post(
        client, settings, delivery["url"], signing, event_id=delivery["event_id"],
        event_type=delivery["event_type"], body=body, attempt=delivery["attempts"] + 1, clock=clock,
    )  # fmt: skip
    if lock is None:
        return await record_attempt(conn, settings, delivery, result, ping=ping)
    async with lock:
        return await record_attempt(conn, settings, delivery, result, ping=ping)


# --------------------------------------------------------------------------- the dispatcher


class Dispatcher:
    """The matcher and the sender of one API process (see the module docstring)."""

    def __init__(self, settings: Settings, database_url: str, bus: EventBus, codec: AvroCodec) -> None:
        self.settings = settings
        self.database_url = database_url
        self.bus = bus
        self.codec = codec
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._teams: dict[int, list[int]] = {}
        self.wake = asyncio.Event()  # set when new deliveries were queued, so the sender looks now

    async def start(self) -> None:
        self._stop.clear()
        self._tasks = [
            asyncio.create_task(self._forever(self._match_loop, "matcher"), name="webhooks-matcher"),
            asyncio.create_task(self._forever(self._send_loop, "sender"), name="webhooks-sender"),
        ]

    async def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    async def _forever(self, loop: Callable[[], Any], name: str) -> None:
        while not self._stop.is_set():
            try:
                await loop()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a backend outage: log, pause, start over
                log.warning("webhook loop failed, restarting", loop=name, error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=1.0)

    # ------------------------------------------------------------------ matcher

    async def _match_loop(self) -> None:
        sub: Subscription = await self.bus.subscribe(
            self.settings.webhook_group, [TOPIC_GAME_EVENTS, TOPIC_NOTABLE_MOMENTS]
        )
        try:
            async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn:
                while not self._stop.is_set():
                    records = await sub.poll(500, timeout=self.settings.webhook_poll_interval)
                    if not records:
                        continue
                    queued = await self.match(conn, records)
                    await sub.commit(records)
                    if queued:
                        self.wake.set()
        finally:
            await sub.close()

    async def _game_teams(self, conn: psycopg.AsyncConnection[Any], game_pks: set[int]) -> None:
        missing = [pk for pk in game_pks if pk not in self._teams]
        if not missing:
            return
        cur = await conn.execute(
            "SELECT game_pk, away_team_id, home_team_id FROM games WHERE game_pk = ANY(%s)", (missing,)
        )
        for pk, away, home in await cur.fetchall():
            if away is not None and home is not None:
                self._teams[pk] = [away, home]

    async def match(self, conn: psycopg.AsyncConnection[Any], records: Sequence[Record]) -> int:
        """Queue the deliveries of ``records``; return how many rows were new."""
        cur = await conn.execute(
            "SELECT id, event_types, game_pks, team_ids, created_at FROM webhook_subscriptions"
            " WHERE status = 'active'"
        )
        subs = [
            Sub(r[0], frozenset(r[1]), frozenset(r[2]), frozenset(r[3]), int(r[4].timestamp() * 1000))
            for r in await cur.fetchall()
        ]
        if not subs:
            return 0
        events = []
        for record in records:
            try:
                event = await self.codec.decode(record.value)
            except SchemaError as exc:  # the processor dead-letters it; nothing to deliver
                log.warning("webhooks skip an unreadable record", topic=record.topic, offset=record.offset,
                            error=str(exc))  # fmt: skip
                continue
            if event.event_type == "GameInfo":
                teams = _team_ids(event.payload)
                if len(teams) == 2:
                    self._teams[event.game_pk] = teams
            events.append((record, event))
        if any(s.team_ids for s in subs):
            await self._game_teams(conn, {e.game_pk for _, e in events})
        rows = []
        for record, event in events:
            teams = self._teams.get(event.game_pk, []) + _team_ids(event.payload)
            for s in subs:
                if s.matches(event.event_type, event.game_pk, teams, record.timestamp_ms):
                    payload = json.dumps(event.payload, default=str, ensure_ascii=False)
                    rows.append(
                        (uuid.uuid4(), s.id, event.event_id, event.event_type, event.game_pk, payload)
                    )
        if not rows:
            return 0
        async with conn.cursor() as c:
            await c.executemany(
                "INSERT INTO webhook_deliveries (id, subscription_id, event_id, event_type, game_pk, payload,"
                " next_attempt_at) VALUES (%s, %s, %s, %s, %s, %s::jsonb, now())"
                " ON CONFLICT (subscription_id, event_id) DO NOTHING",
                rows,
            )
        return len(rows)

    # ------------------------------------------------------------------ sender

    async def _send_loop(self) -> None:
        """Keep up to ``webhook_concurrency`` sends in flight: claim as many due deliveries as there are
        free slots, start them, and claim again when one finishes, when the matcher queued new ones, or
        after ``webhook_poll_interval`` (retries coming due). A slow endpoint holds one slot, not the loop."""
        s = self.settings
        lease = s.webhook_timeout * 2 + 5
        inflight: set[asyncio.Task[None]] = set()
        async with (
            await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn,
            new_client(s) as client,
        ):
            conn.row_factory = dict_row  # type: ignore[assignment]
            lock = asyncio.Lock()  # the connection is shared by the claims and the concurrent sends
            try:
                while not self._stop.is_set():
                    self.wake.clear()
                    free = s.webhook_concurrency - len(inflight)
                    due: list[dict[str, Any]] = []
                    if free > 0:
                        async with lock:
                            cur = await conn.cursor(row_factory=dict_row).execute(
                                _CLAIM, {"n": free, "lease": lease}
                            )
                            due = await cur.fetchall()
                    for d in due:
                        task = asyncio.create_task(self._send(conn, lock, client, d))
                        inflight.add(task)
                        task.add_done_callback(inflight.discard)
                    waiter = asyncio.create_task(self.wake.wait())
                    try:
                        await asyncio.wait(
                            {waiter, *inflight},
                            timeout=s.webhook_poll_interval,
                            return_when=asyncio.FIRST_COMPLETED,
                        )
                    finally:
                        waiter.cancel()
            finally:
                if inflight:  # let the sends in flight finish briefly; the others' leases expire and retry
                    _, pending = await asyncio.wait(inflight, timeout=2)
                    for task in pending:
                        task.cancel()

    async def _send(
        self,
        conn: psycopg.AsyncConnection[Any],
        lock: asyncio.Lock,
        client: httpx.AsyncClient,
        d: dict[str, Any],
    ) -> None:
        try:
            await send_delivery(conn, client, self.settings, d, lock=lock)
        except (psycopg.Error, OSError) as exc:  # the attempt is made again when its lease expires
            log.warning("webhook attempt not recorded", delivery=str(d["id"]), error=str(exc))


def get_dispatcher(ctx: Any) -> Dispatcher | None:
    """The process's dispatcher (``None`` without a bus or with ``webhooks_enabled`` off)."""
    found: Dispatcher | None = ctx.extras.get("webhooks")
    if found is None and ctx.bus is not None and ctx.codec is not None and ctx.settings.webhooks_enabled:
        found = ctx.extras["webhooks"] = Dispatcher(ctx.settings, ctx.database_url, ctx.bus, ctx.codec)
    return found
