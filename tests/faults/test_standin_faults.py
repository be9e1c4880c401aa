"""The stand-in's fault injection, kind by kind, and the client (retries, circuit breaker) against it.

Every test runs the real stand-in (uvicorn on a loopback port, replaying the recorded games) with a
:class:`FaultPlan`; requests go over real HTTP with httpx or :class:`MLBClient`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import typer
from prometheus_client import REGISTRY

from sts.adapters.circuit_breaker import BreakerConfig
from sts.adapters.mlb_client import MLBClient
from sts.cli.standin import standin as standin_command
from sts.errors import CircuitOpen, UpstreamStatusError, UpstreamUnavailable
from sts.services.fetcher import FeedFetcher
from sts.services.ingest import validate
from sts.standin.faults import FAULT_KINDS, FaultInjector, FaultPlan
from sts.standin.server import StandIn

GAME = 744914
FEED = f"/api/v1.1/game/{GAME}/feed/live"
SPEED = 60.0


@pytest.fixture
async def standin(shared_data: Path) -> AsyncIterator[StandIn]:
    """A stand-in 40 virtual minutes into game 744914, no faults yet (tests set ``faults.plan``)."""
    server = StandIn(
        shared_data / "statsapi",
        speed=SPEED,
        start_in=0,
        origin=time.time() - 2400 / SPEED,
        faults=FaultPlan(),
    )
    await server.start()
    yield server
    await server.stop()


def _set(standin: StandIn, **kwargs: object) -> FaultInjector:
    assert standin.faults is not None
    standin.faults.set_plan(FaultPlan(**kwargs))  # type: ignore[arg-type]
    return standin.faults


async def _status(http: httpx.AsyncClient) -> dict[str, object]:
    status: dict[str, object] = (await http.get("/standin/status")).json()
    return status


def _current_timecode(status: dict[str, object]) -> str:
    games = status["games"]
    assert isinstance(games, list)
    return str(next(g["timecode"] for g in games if g["gamePk"] == GAME))


# ---------------------------------------------------------------------- the plan


def test_plan_is_checked_and_parsed() -> None:
    mixed = FaultPlan.parse("mix=0.3", seed=7)
    assert set(mixed.rates) == set(FAULT_KINDS) and sum(mixed.rates.values()) == pytest.approx(0.3)
    assert mixed.seed == 7
    assert FaultPlan.parse("error_503=0.1, timeout=0.05").rates == {"error_503": 0.1, "timeout": 0.05}
    for bad, message in [
        ("error_404=0.1", "unknown fault kind"),
        ("error_500=0.7,stale=0.5", "add up to"),
        ("timeout", "not KIND=RATE"),
        ("timeout=often", "not a number"),
        ("mix=0.2,stale=0.1", "either mix"),
        ("stale=1.5", "between 0 and 1"),
    ]:
        with pytest.raises(ValueError, match=message):
            FaultPlan.parse(bad)


def test_same_seed_same_faults() -> None:
    plan = FaultPlan.mixed(0.5, seed=42)
    a, b, c = (FaultInjector(p, None) for p in (plan, plan, FaultPlan.mixed(0.5, seed=43)))  # type: ignore[arg-type]
    draws = [[i.draw() for _ in range(200)] for i in (a, b, c)]
    assert draws[0] == draws[1] != draws[2]
    assert 70 <= sum(d is not None for d in draws[0]) <= 130  # about half


# ---------------------------------------------------------------------- each kind over HTTP


async def test_5xx_with_and_without_retry_after(standin: StandIn) -> None:
    async with httpx.AsyncClient(base_url=str(standin.base_url)) as http:
        for kind, status in [("error_500", 500), ("error_502", 502), ("error_503", 503)]:
            _set(standin, rates={kind: 1.0})
            r = await http.get(FEED)
            assert r.status_code == status and "retry-after" not in r.headers
            assert "injected by the STS stand-in" in r.json()["message"]
        _set(standin, rates={"error_503_retry_after": 1.0}, retry_after_s=7)
        r = await http.get("/api/v1/schedule")  # every /api/ path, not only feeds
        assert r.status_code == 503 and r.headers["retry-after"] == "7"
        counters = (await _status(http))["faults"]  # /standin/ paths are never faulted
    assert isinstance(counters, dict)
    assert counters["requests"] == 4 and counters["failing"] == 4 and counters["failingShare"] == 1.0
    assert {k: n for k, n in counters["injected"].items() if n} == {
        "error_500": 1, "error_502": 1, "error_503": 1, "error_503_retry_after": 1,
    }  # fmt: skip


async def test_timeout_hangs_longer_than_the_client_waits_and_slow_answers_late(standin: StandIn) -> None:
    async with httpx.AsyncClient(base_url=str(standin.base_url), timeout=0.3) as http:
        _set(standin, rates={"timeout": 1.0}, hang_s=0.8)
        with pytest.raises(httpx.ReadTimeout):
            await http.get(FEED)
        _set(standin, rates={"slow": 1.0}, slow_s=0.15)
        started = time.perf_counter()
        # a slow answer is a whole feed 0.15 s late: the client's 0.3 s could run out while a loaded
        # machine builds it, so this request waits as long as it takes
        r = await http.get(FEED, timeout=30)
        assert r.status_code == 200 and r.json()["gamePk"] == GAME
        assert time.perf_counter() - started >= 0.15
        injected = (await _status(http))["faults"]["injected"]  # type: ignore[index]
    assert injected["timeout"] == 1 and injected["slow"] == 1


async def test_truncated_json_and_dropped_connection(standin: StandIn) -> None:
    async with httpx.AsyncClient(base_url=str(standin.base_url)) as http:
        whole = (await http.get(FEED)).content
        _set(standin, rates={"truncated": 1.0})
        r = await http.get(FEED)
        assert r.status_code == 200 and 0 < len(r.content) < len(whole)
        assert whole.startswith(r.content[:1000])  # the real answer, cut short
        with pytest.raises(json.JSONDecodeError):
            json.loads(r.content)
        _set(standin, rates={"reset": 1.0})
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(FEED)
        _set(standin, rates={})
        injected = (await _status(http))["faults"]["injected"]  # type: ignore[index]
    assert injected["truncated"] == 1 and injected["reset"] == 1


async def test_stale_and_out_of_order_serve_older_states_as_current(standin: StandIn) -> None:
    async with httpx.AsyncClient(base_url=str(standin.base_url)) as http:
        _set(standin, rates={"stale": 1.0}, stale_steps=2)
        stale = [(await http.get(FEED)).json()["metaData"]["timeStamp"] for _ in range(3)]
        _set(standin, rates={"out_of_order": 1.0}, seed=3)
        shuffled = [(await http.get(FEED)).json()["metaData"]["timeStamp"] for _ in range(6)]
        # an explicit timecode is answered normally
        explicit = (await http.get(FEED, params={"timecode": stale[0]})).json()["metaData"]["timeStamp"]
        # diffPatch: the end moves to an older state (an empty list, a patch, or the older full feed)
        start = stale[0]
        patch = (await http.get(f"{FEED}/diffPatch", params={"startTimecode": start})).json()
        _set(standin, rates={})
        after = _current_timecode(await _status(http))
    assert all(tc < after for tc in stale) and explicit == stale[0]
    assert all(tc < after for tc in shuffled) and len(set(shuffled)) > 1
    if isinstance(patch, dict):
        assert patch["metaData"]["timeStamp"] < after
    else:
        assert isinstance(patch, list)


# ---------------------------------------------------------------------- the client against it


class VirtualTime:
    """The client's clock and sleep: sleeping moves the clock, no real waiting."""

    def __init__(self) -> None:
        self.now = datetime(2026, 4, 1, 18, 0, tzinfo=UTC)
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


async def test_client_retries_through_faults_and_honours_retry_after(standin: StandIn) -> None:
    vt = VirtualTime()
    _set(
        standin, rates={"error_503_retry_after": 0.3, "error_502": 0.2, "reset": 0.1}, seed=1, retry_after_s=9
    )
    async with MLBClient(str(standin.base_url), retries=8, sleep=vt.sleep, clock=vt, breaker=None) as mlb:
        feeds = [await mlb.feed_live(GAME) for _ in range(10)]
    assert all(f.ok and f.game_pk == GAME for f in feeds)
    counters = standin.faults.snapshot()  # type: ignore[union-attr]
    assert counters["requests"] == 10 + counters["failing"] and counters["failing"] >= 3
    assert vt.slept.count(9.0) == counters["injected"]["error_503_retry_after"] > 0


async def test_circuit_opens_on_a_failing_host_then_closes_after_a_successful_trial(standin: StandIn) -> None:
    vt = VirtualTime()
    config = BreakerConfig(threshold=4, cooldown=60.0)
    injector = _set(standin, rates={"error_500": 1.0})
    async with MLBClient(str(standin.base_url), retries=2, sleep=vt.sleep, clock=vt, breaker=config) as mlb:
        host = f"127.0.0.1:{httpx.URL(str(standin.base_url)).port}"
        with pytest.raises(UpstreamStatusError):
            await mlb.feed_live(GAME)  # 3 attempts, 3 failures: still closed
        with pytest.raises(CircuitOpen) as err:
            await mlb.feed_live(GAME)  # the 4th failure opens it; the 5th attempt is not sent
        assert injector.requests == 4
        assert isinstance(err.value, UpstreamUnavailable) and isinstance(
            err.value.__cause__, UpstreamStatusError
        )
        assert f"circuit open for host {host} (4 consecutive failures)" in str(err.value)
        with pytest.raises(CircuitOpen, match=r"retry after (59|60)\.\ds"):
            await mlb.schedule()  # every endpoint of the host, without a request
        assert injector.requests == 4
        state = REGISTRY.get_sample_value("sts_upstream_circuit_state", {"host": host})
        assert state == 2

        vt.now += timedelta(seconds=60)  # cool-down over; the trial fails: open again
        with pytest.raises(CircuitOpen, match="trial request failed"):
            await mlb.feed_live(GAME)
        assert injector.requests == 5

        _set(standin, rates={})  # the host recovers
        vt.now += timedelta(seconds=60)
        feed = await mlb.feed_live(GAME)
        assert feed.ok and injector.requests == 6
        assert REGISTRY.get_sample_value("sts_upstream_circuit_state", {"host": host}) == 0
        transitions = {
            s: REGISTRY.get_sample_value("sts_upstream_circuit_transitions_total", {"host": host, "state": s})
            for s in ("open", "half_open", "closed")
        }
    assert transitions == {"open": 2, "half_open": 2, "closed": 1}


async def test_timeouts_are_retried_then_reported(standin: StandIn) -> None:
    vt = VirtualTime()
    _set(standin, rates={"timeout": 1.0}, hang_s=0.6)
    async with MLBClient(str(standin.base_url), timeout=0.2, retries=1, sleep=vt.sleep, clock=vt) as mlb:
        with pytest.raises(UpstreamUnavailable, match="timed out on all 2 attempts"):
            await mlb.feed_live(GAME)
    assert standin.faults.injected["timeout"] == 2  # type: ignore[union-attr]


# ---------------------------------------------------------------------- incremental fetching against it


async def test_fetcher_survives_truncated_and_stale_diffpatch_answers(standin: StandIn) -> None:
    """A cut diffPatch body and an older state served as the answer to diffPatch both end in a full
    fetch of the current feed; no snapshot handed to ingestion goes back in time."""
    vt = VirtualTime()
    async with MLBClient(str(standin.base_url), retries=0, sleep=vt.sleep, clock=vt) as mlb:
        fetcher = FeedFetcher(mlb)
        last = validate(GAME, (await fetcher.fetch(GAME)).raw, None)["metaData"]["timeStamp"]
        for kind in ("truncated", "stale", "truncated", "stale"):
            _set(standin, rates={kind: 1.0}, stale_steps=3, paths=("/diffPatch",))
            snap = await fetcher.fetch(GAME)
            _set(standin, rates={})
            doc = validate(GAME, snap.raw, last)  # raises if older than what came before
            assert "diffPatch" not in snap.url  # the current feed, fetched whole
            last = doc["metaData"]["timeStamp"]
    injected = standin.faults.snapshot()["injected"]  # type: ignore[union-attr]
    assert injected["truncated"] == 2 and injected["stale"] == 2
    fallbacks = fetcher.stats.fallbacks
    assert fallbacks["bad_response"] == 2  # the cut bodies
    # an older full feed answered to diffPatch: refused as not moving forward
    assert fallbacks["full_feed"] == 2 and fallbacks["timecode_not_forward"] == 2, fallbacks


def test_cli_refuses_a_bad_fault_spec(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exc:
        standin_command(faults="error_500=0.5,bogus=0.1")
    assert exc.value.exit_code == 2
    assert "--faults: unknown fault kind(s) bogus; known: error_500" in capsys.readouterr().err
