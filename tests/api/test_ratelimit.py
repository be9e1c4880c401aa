"""Rate limits (sts.api.ratelimit): token buckets in the process and in Redis, over HTTP, across processes.

- one behavioural suite runs against both bucket backends (in-process, Redis);
- over HTTP: 429 after the burst with ``Retry-After`` and the ``RateLimit-*`` headers (also on the
  answers that got through), refill, the metric;
- Redis down: the in-process buckets take over (still limiting), counted and flagged;
- two ``sts serve`` processes on one database: with Redis they share one bucket per key (the total
  accepted stays within burst + rate x elapsed), without it each allows its own burst.

Redis: ``STS_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``, ``deploy/local/redis.sh``); tests
needing it skip when it does not answer, and fail instead with ``STS_REQUIRE_REDIS=1`` (CI).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import Depends
from prometheus_client import REGISTRY
from starlette.responses import Response

from sts.adapters.embedded_pg import EmbeddedPostgres
from sts.api import keys
from sts.api.app import create_app
from sts.api.auth import require
from sts.api.context import ApiContext
from sts.api.ratelimit import Buckets, MemoryBuckets, RateLimiter, RedisBuckets, Tier
from sts.config import Settings
from sts.db import migrate
from sts.http.health import serve
from tests.conftest import _fresh_database

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("STS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_or_skip() -> str:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        client.ping()
        client.close()
    except (redis.exceptions.RedisError, OSError) as exc:
        message = f"Redis does not answer at {REDIS_URL} ({exc}); start it with deploy/local/redis.sh start"
        if os.environ.get("STS_REQUIRE_REDIS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return REDIS_URL


@pytest.fixture
def redis_url() -> str:
    return _redis_or_skip()


def _prefix() -> str:
    return f"sts:rl:test-{uuid.uuid4().hex[:10]}:"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def buckets(request: pytest.FixtureRequest) -> AsyncIterator[Buckets]:
    if request.param == "memory":
        yield MemoryBuckets()
        return
    b = RedisBuckets(_redis_or_skip(), _prefix())
    try:
        yield b
    finally:
        await b.aclose()


async def test_burst_then_refused_then_refill(buckets: Buckets) -> None:
    # These buckets refill on a real clock (Redis's TIME for Redis): the exact counts below hold while
    # each group of takes lasts less than one token's refill, 1 / rate = 0.5 s (five Redis round trips
    # normally take a few milliseconds; a loaded machine may stall far longer than the 0.1 s a faster
    # rate would allow).
    tier = Tier("t", rate=2, burst=4)
    got = [await buckets.take("k", tier) for _ in range(4)]
    assert all(d.allowed for d in got)
    assert [int(d.headers()["RateLimit-Remaining"]) for d in got] == [3, 2, 1, 0]
    refused = await buckets.take("k", tier)
    assert not refused.allowed
    h = refused.headers()
    assert h["RateLimit-Limit"] == "4" and h["RateLimit-Remaining"] == "0" and h["Retry-After"] == "1"
    assert h["RateLimit-Reset"] == "2"  # 4 - (less than 1) tokens at 2/s
    assert "Retry-After" not in got[0].headers()
    await asyncio.sleep(1.25)  # >= 2.5 tokens back, never more than the burst
    again = [await buckets.take("k", tier) for _ in range(6)]
    allowed = sum(d.allowed for d in again)
    assert 2 <= allowed <= 4, allowed


async def test_buckets_are_per_key_and_per_tier(buckets: Buckets) -> None:
    # a token every 20 s: nothing refills during the test, however slowly its 23 takes go
    small = Tier("small", rate=0.05, burst=1)
    other = Tier("other", rate=0.05, burst=1)
    assert (await buckets.take("a", small)).allowed
    assert not (await buckets.take("a", small)).allowed
    assert (await buckets.take("b", small)).allowed  # another key
    assert (await buckets.take("a", other)).allowed  # the same key in another tier
    # a refused request takes nothing: the bucket is not driven below zero
    for _ in range(20):
        assert not (await buckets.take("a", small)).allowed
    assert (await buckets.take("a", small)).tokens >= 0


async def test_memory_refill_is_exact_on_its_clock() -> None:
    now = [100.0]
    b = MemoryBuckets(clock=lambda: now[0])
    tier = Tier("t", rate=2, burst=3)
    assert [(await b.take("k", tier)).allowed for _ in range(4)] == [True, True, True, False]
    now[0] += 0.49
    assert not (await b.take("k", tier)).allowed
    now[0] += 0.02  # 0.51 s: one token
    assert (await b.take("k", tier)).allowed
    assert not (await b.take("k", tier)).allowed
    now[0] += 3600  # refills to the burst, no further
    assert [(await b.take("k", tier)).allowed for _ in range(4)] == [True, True, True, False]


async def test_memory_buckets_are_bounded() -> None:
    b = MemoryBuckets(max_buckets=100)
    tier = Tier("t", rate=1, burst=1)
    for i in range(1000):
        await b.take(f"addr:{i}", tier)
    assert len(b._buckets) == 100


async def test_redis_down_fails_over_to_in_process_buckets() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    b = RedisBuckets(f"redis://127.0.0.1:{dead}/0", _prefix(), timeout=0.2)
    before = REGISTRY.get_sample_value("sts_api_rate_limit_fallbacks_total") or 0.0
    try:
        tier = Tier("t", rate=0.01, burst=3)  # no refill to speak of during the test
        started = time.perf_counter()
        decisions = [await b.take("k", tier) for _ in range(5)]
        assert time.perf_counter() - started < 2  # a dead store is not waited for on every request
        assert [d.allowed for d in decisions] == [True, True, True, False, False]  # still limiting
    finally:
        await b.aclose()
    after = REGISTRY.get_sample_value("sts_api_rate_limit_fallbacks_total") or 0.0
    assert after - before == 5
    assert REGISTRY.get_sample_value("sts_backend_ready", {"backend": "redis"}) == 0.0


# ------------------------------------------------------------------ over HTTP, one process


@pytest.fixture(scope="module")
def rl_db(pg_server: EmbeddedPostgres) -> Iterator[str]:
    databases = _fresh_database(pg_server)
    url = next(databases)
    migrate(url)
    yield url
    next(databases, None)


async def _key(url: str, scopes: list[str], tier: str = "default") -> keys.NewKey:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await keys.create_key(conn, "rate test", scopes, tier)


@contextlib.asynccontextmanager
async def _served(url: str, buckets: Buckets | None = None, **overrides: Any) -> AsyncIterator[str]:
    settings = Settings(database_url=url, **overrides)
    ctx = ApiContext(settings, url)
    if buckets is not None:  # the limiter the app would build, on these buckets
        ctx.extras["ratelimiter"] = RateLimiter(settings, buckets)
    app = create_app(ctx)

    async def plain(_: Any = Depends(require("read"))) -> Response:  # noqa: B008
        return Response(b"ok", media_type="text/plain")  # a route that returns a Response itself

    app.add_api_route("/v1/probe/plain", plain, methods=["GET"])
    server, _ = await serve(app, "127.0.0.1", 0)
    async with server:
        yield server.url


async def test_http_429_headers_refill_and_metric(rl_db: str) -> None:
    tiers = {"default": {"rate": 2, "burst": 5}, "public": {"rate": 1, "burst": 1}, "unlimited": None}
    key = await _key(rl_db, ["read"])
    free = await _key(rl_db, ["admin"], tier="unlimited")
    before = REGISTRY.get_sample_value("sts_api_rate_limited_total", {"tier": "default"}) or 0.0
    # the in-process buckets on a clock of the test's: what is counted here is the HTTP side (headers,
    # 429, refill, metric), so the requests' own durations must not refill tokens (on a loaded machine
    # nine requests can take longer than the 0.5 s one token takes at 2/s); the buckets on the real
    # clock are tested above
    now = [1000.0]
    async with (
        _served(rl_db, MemoryBuckets(clock=lambda: now[0]), api_rate_tiers=tiers) as base,
        httpx.AsyncClient(base_url=base, headers={"X-API-Key": key.secret}) as http,
    ):
        remaining = []
        for _ in range(5):
            r = await http.get("/v1/probe/plain")
            assert r.status_code == 200 and r.text == "ok"
            assert r.headers["ratelimit-limit"] == "5" and r.headers["ratelimit-policy"] == "5;w=3"
            assert "retry-after" not in r.headers
            remaining.append(int(r.headers["ratelimit-remaining"]))
        assert remaining == [4, 3, 2, 1, 0]

        r = await http.get("/v1/probe/plain")
        assert r.status_code == 429
        err = r.json()["error"]
        assert err["code"] == "rate_limited" and err["status"] == 429 and "try again" in err["message"]
        assert r.headers["retry-after"] == "1" and r.headers["ratelimit-remaining"] == "0"
        assert r.headers["ratelimit-reset"] == "3"  # 5 tokens at 2/s
        assert len(r.headers.get_list("ratelimit-limit")) == 1  # the middleware does not repeat them
        # JSON routes (here the admin list needs admin: 403 comes before the bucket, so no token taken)
        assert (await http.get("/v1/admin/keys")).status_code == 403

        now[0] += 0.6  # one token back at 2/s (and 0.2 of the next)
        assert (await http.get("/v1/probe/plain")).status_code == 200
        assert (await http.get("/v1/probe/plain")).status_code == 429
        now[0] += 0.5  # 0.2 + 1.0: the next one
        assert (await http.get("/v1/probe/plain")).status_code == 200

        # a tier this process does not define counts as default (its own bucket)
        odd = await _key(rl_db, ["read"], tier="platinum")
        r = await http.get("/v1/probe/plain", headers={"X-API-Key": odd.secret})
        assert r.status_code == 200 and r.headers["ratelimit-limit"] == "5"
        assert r.headers["ratelimit-remaining"] == "4"

        # the unlimited tier: no bucket, no headers
        for _ in range(20):
            r = await http.get("/v1/admin/keys", headers={"X-API-Key": free.secret})
            assert r.status_code == 200 and "ratelimit-limit" not in r.headers
    after = REGISTRY.get_sample_value("sts_api_rate_limited_total", {"tier": "default"}) or 0.0
    assert after - before == 2


@pytest.mark.parametrize(
    "tiers",
    [{"default": {"rate": 0, "burst": 5}}, {"default": {"rate": 1}}, {"default": {"rate": 1, "burst": 0.5}}],
)
async def test_bad_tiers_fail_the_start(rl_db: str, tiers: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="rate tier 'default'"):
        RateLimiter(Settings(database_url=rl_db, api_rate_tiers=tiers))
    app = create_app(ApiContext(Settings(database_url=rl_db, api_rate_tiers=tiers), rl_db))
    with pytest.raises(RuntimeError, match="failed to start"):
        await serve(app, "127.0.0.1", 0)


# ------------------------------------------------------------------ two `sts serve` processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Served:
    """An ``sts serve`` subprocess on a port of its choosing (``--port 0``: a port picked here and passed
    on could be taken by another process before the server binds it)."""

    def __init__(self, url: str, data_dir: Path, **env: str) -> None:
        environ = {
            **os.environ,
            "STS_DATABASE_URL": url,
            "STS_DATA_DIR": str(data_dir),
            "STS_API_HOST": "127.0.0.1",
            "STS_LOG_FORMAT": "json",
            **env,
        }
        self.log_path = data_dir / f"serve-{uuid.uuid4().hex[:8]}.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sts", "serve", "--port", "0"],
                env=environ,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 90) -> str:
        """The server's base URL, once it answers (it prints ``<base>/v1`` when it listens)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"sts serve exited {self.proc.returncode}: {self.log_path.read_text()}")
            listening = re.search(r"^(http://\S+)/v1$", self.log_path.read_text(), re.MULTILINE)
            if listening is not None:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{listening.group(1)}/health", timeout=1).status_code == 200:
                        return listening.group(1)
            assert time.monotonic() < deadline, f"sts serve did not answer within {timeout} s"
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def _sts_serve_all(specs: list[tuple[str, Path, dict[str, str]]]) -> Iterator[list[str]]:
    """Start one ``sts serve`` per spec (database URL, data dir, environment) at once; their base URLs."""
    procs: list[_Served] = []
    try:
        for url, data_dir, env in specs:
            procs.append(_Served(url, data_dir, **env))
        yield [p.wait_ready() for p in procs]
    finally:
        for p in procs:
            p.stop()


async def _hammer(bases: list[str], key: str, seconds: float, per_server: int = 4) -> tuple[int, int, float]:
    """Requests from ``per_server`` workers per server for ``seconds``: (accepted, refused, elapsed)."""
    counts = {"ok": 0, "limited": 0, "other": 0}
    started = time.monotonic()
    stop_at = started + seconds

    async def worker(http: httpx.AsyncClient) -> None:
        while time.monotonic() < stop_at:
            r = await http.get("/v1/admin/keys", params={"limit": 1})
            if r.status_code == 200:
                counts["ok"] += 1
            elif r.status_code == 429:
                counts["limited"] += 1
            else:
                counts["other"] += 1

    clients = [
        httpx.AsyncClient(base_url=b, headers={"Authorization": f"Bearer {key}"}, timeout=10) for b in bases
    ]
    try:
        await asyncio.gather(*(worker(c) for c in clients for _ in range(per_server)))
    finally:
        for c in clients:
            await c.aclose()
    elapsed = time.monotonic() - started
    assert counts["other"] == 0, counts
    return counts["ok"], counts["limited"], elapsed


@pytest.mark.redis
@pytest.mark.slow
async def test_limit_holds_across_two_processes_sharing_redis(
    redis_url: str, rl_db: str, tmp_path: Path
) -> None:
    rate, burst = 4.0, 15
    tiers = f'{{"default": {{"rate": {rate}, "burst": {burst}}}, "public": null, "unlimited": null}}'
    shared = await _key(rl_db, ["admin"])
    local = await _key(rl_db, ["admin"])
    env = {"STS_API_RATE_TIERS": tiers, "STS_API_KEY_CACHE_SECONDS": "30"}
    redis_env = {**env, "STS_REDIS_URL": redis_url, "STS_API_RATE_LIMIT_PREFIX": _prefix()}
    # four processes on one database, started together: two sharing Redis, two with in-process buckets
    specs = [(rl_db, tmp_path, redis_env)] * 2 + [(rl_db, tmp_path, env)] * 2
    with _sts_serve_all(specs) as bases:
        ok, limited, elapsed = await _hammer(bases[:2], shared.secret, seconds=3.0)
        bound = burst + rate * elapsed
        print(f"redis: accepted {ok}, refused {limited} in {elapsed:.2f} s; bound {bound:.1f}")
        assert limited > 0
        assert burst <= ok <= bound + 2, (ok, bound)

        # without Redis each process has its own bucket: together they let two bursts through
        ok_local, limited_local, elapsed_local = await _hammer(bases[2:], local.secret, seconds=3.0)
        print(f"in-process: accepted {ok_local}, refused {limited_local} in {elapsed_local:.2f} s")
        assert limited_local > 0
        assert ok_local >= 2 * burst
        assert ok_local > burst + rate * elapsed_local + 2  # what one shared bucket would have refused
        assert ok_local <= 2 * (burst + rate * elapsed_local) + 2


@contextlib.contextmanager
def _private_redis(port: int, tmp: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A throwaway redis-server of this test's own on ``port`` (no persistence)."""
    proc = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=port, socket_connect_timeout=0.5).ping()
                break
            except redis.exceptions.RedisError:
                assert time.monotonic() < deadline, "the private redis-server did not start"
                time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.redis
async def test_redis_outage_and_recovery(tmp_path: Path) -> None:
    import shutil

    if shutil.which("redis-server") is None:
        if os.environ.get("STS_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is not installed (deploy/local/redis.sh start installs it)")
        pytest.skip("redis-server is not installed")
    port = _free_port()
    tier = Tier("t", rate=0.01, burst=3)  # no refill to speak of during the test
    b = RedisBuckets(f"redis://127.0.0.1:{port}/0", _prefix(), timeout=0.3)
    try:
        with _private_redis(port, tmp_path):
            assert [(await b.take("k", tier)).allowed for _ in range(2)] == [True, True]
            assert REGISTRY.get_sample_value("sts_backend_ready", {"backend": "redis"}) == 1.0
        # Redis is gone: the in-process bucket decides (fresh: the burst again), flagged and counted
        before = REGISTRY.get_sample_value("sts_api_rate_limit_fallbacks_total") or 0.0
        assert [(await b.take("k", tier)).allowed for _ in range(4)] == [True, True, True, False]
        assert REGISTRY.get_sample_value("sts_backend_ready", {"backend": "redis"}) == 0.0
        assert (REGISTRY.get_sample_value("sts_api_rate_limit_fallbacks_total") or 0.0) - before == 4
        with _private_redis(port, tmp_path):  # back (empty: nothing was persisted)
            await asyncio.sleep(RedisBuckets.RETRY_SECONDS + 0.1)
            assert [(await b.take("k", tier)).allowed for _ in range(4)] == [True, True, True, False]
            assert REGISTRY.get_sample_value("sts_backend_ready", {"backend": "redis"}) == 1.0
            import redis

            stored = redis.Redis(port=port).hgetall(f"{b._prefix}t:k")
            assert float(stored[b"tokens"]) < 1  # the decisions were Redis's again
    finally:
        await b.aclose()
