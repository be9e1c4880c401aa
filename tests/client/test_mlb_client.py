"""MLBClient against a real local HTTP server serving the recorded Stats API responses."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from datetime import UTC, date, datetime

import pytest
from prometheus_client import REGISTRY

from sts.adapters.mlb_client import MLBClient
from sts.errors import UpstreamDataError, UpstreamStatusError, UpstreamUnavailable
from tests.client.conftest import SleepRecorder
from tests.client.fake_mlb import FakeMLB


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_feed_live_returns_exact_bytes_and_parsed_json(fake: FakeMLB, client: MLBClient) -> None:
    recorded = fake.recorded("feed_live_744914.json")
    before = _metric("sts_upstream_requests_total", endpoint="feed_live", status="200")
    bytes_before = _metric("sts_upstream_bytes_total", endpoint="feed_live")

    feed = await client.feed_live(744914)

    assert feed.status == 200 and feed.ok and feed.parse_error is None
    assert feed.body == recorded == feed.raw  # exactly as served (gzip on the wire, decoded)
    assert feed.data == json.loads(recorded)
    assert feed.json()["gamePk"] == 744914 == feed.game_pk
    assert feed.url.endswith("/api/v1.1/game/744914/feed/live")
    assert feed.fetched_at.tzinfo is not None
    [seen] = fake.requests
    assert seen.path == "/api/v1.1/game/744914/feed/live"
    assert seen.headers["user-agent"].startswith("STS/")
    assert "gzip" in seen.headers["accept-encoding"]
    assert _metric("sts_upstream_requests_total", endpoint="feed_live", status="200") == before + 1
    assert _metric("sts_upstream_bytes_total", endpoint="feed_live") == bytes_before + len(recorded)


async def test_metadata_wait_and_timestamp_are_surfaced(fake: FakeMLB, client: MLBClient) -> None:
    feed = await client.feed_live(746139, timecode="20240612_041248")
    assert fake.requests[0].query == {"timecode": "20240612_041248"}
    assert feed.suggested_wait == 10.0
    assert feed.timecode == "20240612_041248"
    assert feed.data["liveData"]["plays"]["allPlays"]


async def test_unknown_fields_and_missing_optional_fields_are_fine(fake: FakeMLB, client: MLBClient) -> None:
    doc = json.loads(fake.recorded("feed_live_744914.json"))
    del doc["metaData"]  # old games may lack it
    doc["absChallenges"] = {"home": {"remaining": 2}, "away": {"remaining": 1}}  # a 2026-style addition
    doc["liveData"]["plays"]["allPlays"][0]["about"]["newFieldFrom2030"] = [1, {"x": None}]
    body = json.dumps(doc).encode()
    fake.serve_body("/api/v1.1/game/744914/feed/live", body)

    feed = await client.feed_live(744914)

    assert feed.ok and feed.body == body
    assert feed.suggested_wait is None and feed.timecode is None
    assert feed.data["absChallenges"]["home"]["remaining"] == 2


async def test_truncated_json_is_returned_as_data_with_the_parse_error(
    fake: FakeMLB, client: MLBClient, sleeps: SleepRecorder
) -> None:
    recorded = fake.recorded("feed_live_744914.json")
    fake.truncate_next(1)

    feed = await client.feed_live(744914)

    assert feed.status == 200 and not feed.ok
    assert feed.body == recorded[: len(recorded) // 2]
    assert feed.data is None and feed.parse_error and "JSONDecodeError" in feed.parse_error
    assert feed.suggested_wait is None
    with pytest.raises(UpstreamDataError, match="not JSON"):
        feed.json()
    assert len(fake.requests) == 1 and sleeps.delays == []  # a bad body is data, not a retry


async def test_retries_5xx_then_succeeds(fake: FakeMLB, client: MLBClient, sleeps: SleepRecorder) -> None:
    retries_before = _metric("sts_upstream_retries_total", endpoint="feed_live")
    fake.fail_next(2, status=503)
    fake.fail_next(1, status=500)

    feed = await client.feed_live(744914)

    assert feed.ok and len(fake.requests) == 4
    assert sleeps.delays == [0.25, 0.5, 1.0]  # rand() = 0.5 times 0.5 * 2**n
    assert _metric("sts_upstream_retries_total", endpoint="feed_live") == retries_before + 3
    assert _metric("sts_upstream_requests_total", endpoint="feed_live", status="503") >= 2


async def test_gives_up_after_retries_with_status_error(fake: FakeMLB, client: MLBClient) -> None:
    fake.fail_next(10, status=502)
    with pytest.raises(UpstreamStatusError) as err:
        await client.feed_live(744914)
    assert err.value.status == 502 and "injected 502" in str(err.value)
    assert len(fake.requests) == 4  # 1 + retries


async def test_no_retry_on_404(fake: FakeMLB, client: MLBClient, sleeps: SleepRecorder) -> None:
    with pytest.raises(UpstreamStatusError) as err:
        await client.feed_live(1)
    assert err.value.status == 404 and "Object not found" in str(err.value)
    assert len(fake.requests) == 1 and sleeps.delays == []


async def test_retry_after_is_honoured_on_429(
    fake: FakeMLB, client: MLBClient, sleeps: SleepRecorder
) -> None:
    fake.fail_next(1, status=429, retry_after="7")
    fake.fail_next(1, status=429)  # no header: ordinary backoff
    fake.fail_next(1, status=429, retry_after="86400")  # capped at retry_after_max
    assert (await client.teams())["teams"]
    assert sleeps.delays == [7.0, 0.5, 120.0]


async def test_timeouts_are_retried_then_reported(
    fake: FakeMLB, base_url: str, sleeps: SleepRecorder
) -> None:
    # The second attempt of the first call must be answered within the timeout: 1 s for a linescore of a
    # few kB (0.2 s was within reach of a loaded machine's stalls). A hang must outlast the timeout by
    # more than any stall, or the answer is read before the late timer fires: 2 s more.
    async with MLBClient(base_url, timeout=1.0, retries=1, sleep=sleeps, rand=lambda: 0.0) as c:
        fake.hang_next(1, seconds=3.0)
        assert (await c.linescore(744914))["innings"]
        assert len(fake.requests) == 2

        fake.hang_next(2, seconds=3.0)
        with pytest.raises(UpstreamUnavailable, match="timed out on all 2 attempts") as err:
            await c.linescore(744914)
        assert "/api/v1/game/744914/linescore" in str(err.value)
        assert err.value.__cause__ is not None


async def test_dropped_connection_is_retried_then_reported(fake: FakeMLB, client: MLBClient) -> None:
    fake.close_next(1)
    assert (await client.feed_live(744914)).ok
    fake.close_next(4)
    with pytest.raises(UpstreamUnavailable, match="failed on all 4 attempts"):
        await client.feed_live(744914)


async def test_backoff_grows_exponentially_with_full_jitter(fake: FakeMLB, base_url: str) -> None:
    top, jittered = SleepRecorder(), SleepRecorder()
    # no circuit breaker here: its default (open after 5 consecutive failures) would cut the 6th retry
    kwargs = {"retries": 6, "backoff_base": 0.1, "backoff_max": 2.0, "breaker": None}
    async with MLBClient(base_url, sleep=top, rand=lambda: 1.0, **kwargs) as c:  # type: ignore[arg-type]
        fake.fail_next(6, status=500)
        await c.teams()
    assert top.delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 2.0])
    async with MLBClient(base_url, sleep=jittered, rand=random.Random(7).random, **kwargs) as c:  # type: ignore[arg-type]
        fake.fail_next(6, status=500)
        await c.teams()
    assert all(0 <= d <= cap for d, cap in zip(jittered.delays, top.delays, strict=True))
    assert len(set(jittered.delays)) == 6  # jittered, not fixed


async def test_unreachable_host_fails_fast_with_a_clear_message() -> None:
    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = SleepRecorder()
    started = time.monotonic()
    async with MLBClient(f"http://127.0.0.1:{port}", timeout=1.0, retries=2, sleep=sleeps) as c:
        with pytest.raises(
            UpstreamUnavailable, match=r"127\.0\.0\.1 is unreachable from this machine"
        ) as err:
            await c.schedule()
    assert time.monotonic() - started < 2
    assert len(sleeps.delays) == 2
    assert "STS_MLB_API_URL" in str(err.value) and "ConnectError" in str(err.value)


async def test_other_endpoints_use_the_stats_api_paths(fake: FakeMLB, client: MLBClient) -> None:
    sched = await client.schedule(date(2024, 7, 1))
    assert sched == json.loads(fake.recorded("schedule_2024-07-01.json"))
    team = await client.schedule(date(2024, 7, 1), team_id=141)
    assert team["dates"][0]["games"][0]["gamePk"] == 744914
    assert (await client.boxscore(744914))["teams"]["home"]
    assert (await client.people([660271]))["people"][0]["id"] == 660271
    assert len((await client.teams(season=2026))["teams"]) == 30
    changes = await client.game_changes(datetime(2024, 7, 1, 12, 30))
    assert changes["dates"]
    assert await client.feed_timestamps(746139) == ["20240612_041248", "20240612_042717"]

    patch = await client.diff_patch(746139, "20240612_041248", "20240612_041302")
    assert patch.body == fake.recorded("diffPatch_746139_20240612_041248_to_041302.json")
    assert patch.shape == "patches" and patch.data[0]["diff"]

    queries = {s.path: s.query for s in fake.requests}
    assert queries["/api/v1/schedule"] == {"sportId": "1", "date": "2024-07-01", "teamId": "141"}
    assert queries["/api/v1/people"] == {"personIds": "660271"}
    assert queries["/api/v1/teams"] == {"sportId": "1", "season": "2026"}
    assert queries["/api/v1/game/changes"] == {"updatedSince": "2024-07-01T12:30:00Z", "sportId": "1"}
    assert queries["/api/v1.1/game/746139/feed/live/diffPatch"] == {
        "startTimecode": "20240612_041248",
        "endTimecode": "20240612_041302",
    }
    assert "/api/v1/game/744914/boxscore" in queries


async def test_schedule_range_and_argument_checks(fake: FakeMLB, client: MLBClient) -> None:
    with pytest.raises(ValueError, match="either date or start/end"):
        await client.schedule(date(2024, 7, 1), start=date(2024, 7, 1))
    with pytest.raises(UpstreamStatusError):  # not recorded: the fake answers 404
        await client.schedule(start=date(2024, 7, 1), end=date(2024, 7, 2))
    assert fake.requests[0].query == {"sportId": "1", "startDate": "2024-07-01", "endDate": "2024-07-02"}


async def test_dict_endpoints_raise_data_error_on_garbage(fake: FakeMLB, client: MLBClient) -> None:
    fake.serve_body("/api/v1/teams", b"<html>maintenance</html>")
    with pytest.raises(UpstreamDataError, match="not JSON"):
        await client.teams()
    fake.serve_body("/api/v1/teams", b"[1, 2]")
    with pytest.raises(UpstreamDataError, match="expected a JSON object"):
        await client.teams()


async def test_fetched_at_uses_the_injected_clock(base_url: str) -> None:
    when = datetime(2024, 6, 12, 4, 12, 48, tzinfo=UTC)
    async with MLBClient(base_url, clock=lambda: when) as c:
        assert (await c.feed_live(746139, "20240612_041248")).fetched_at == when


async def test_diff_patch_shapes_and_target_timecode(fake: FakeMLB, client: MLBClient) -> None:
    patch = await client.diff_patch(746139, "20240612_041248", "20240612_041302")
    assert patch.shape == "patches" and patch.timecode == "20240612_041302"
    assert patch.suggested_wait is None

    path = "/api/v1.1/game/746139/feed/live/diffPatch"
    fake.serve_body(path, fake.recorded("feed_live_746139_20240612_042717.json"))  # start too old
    full = await client.diff_patch(746139, "20240612_000000")
    assert full.shape == "full_feed" and full.timecode == "20240612_042717"
    assert full.suggested_wait == 10.0
    assert fake.requests[-1].query == {"startTimecode": "20240612_000000"}

    fake.serve_body(path, b"[]")
    assert (await client.diff_patch(746139, "20240612_042717")).shape == "empty"
    fake.truncate_next(1)
    fake.serve_body(path, fake.recorded("diffPatch_746139_20240612_042717_to_042758.json"))
    broken = await client.diff_patch(746139, "20240612_042717")
    assert broken.shape == "unknown" and broken.parse_error and broken.timecode is None


async def test_requests_in_flight_are_capped(fake: FakeMLB, base_url: str) -> None:
    # the fake server outlives tests: a hang an earlier test's client gave up on (its timeout tests) may
    # still be sleeping there, and would count as in flight here
    for _ in range(200):
        if fake.in_flight == 0:
            break
        await asyncio.sleep(0.05)
    assert fake.in_flight == 0, "an earlier test's request is still hanging on the fake server"
    fake.max_in_flight = 0
    # each answer is held 0.5 s at the server, so the second slot's request is there while the first
    # one is held even when a loaded machine starts it a few hundred ms later (0.05 s was not)
    async with MLBClient(base_url, timeout=5, retries=0, max_concurrency=2) as c:
        fake.hang_next(5, seconds=0.5)
        results = await asyncio.gather(*(c.linescore(744914) for _ in range(5)))
    assert len(results) == 5 and fake.max_in_flight == 2
