"""The feed fetcher against the stand-in: patches applied, every fallback cause, restart seeding.

Each snapshot the fetcher returns is compared with the stand-in's full feed at the snapshot's own
timecode (``feed/live?timecode=``): the document built from patches must be that feed, whatever the path
taken to it. Fallbacks are provoked on the real server: an old start timecode (the server answers with
the full feed), a moved clock (the server no longer knows our state), a stored state the server never
served, and diffPatch answers altered by :class:`tests.fetch.conftest.PatchTamper`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sts.adapters.file_store import FileObjectStore
from sts.adapters.mlb_client import MLBClient
from sts.ports import BUCKET_CURRENT
from sts.services.fetcher import FeedFetcher, apply_patches, dumps
from sts.services.ingest import Snapshot, validate
from sts.standin.diffpatch import json_diff
from sts.standin.server import StandIn
from tests.fetch.conftest import GAME, advance


def tamper_of(standin: StandIn) -> Any:
    return standin.tamper  # type: ignore[attr-defined]


async def served_at(client: MLBClient, timecode: str) -> dict[str, Any]:
    """The stand-in's own full feed of GAME at ``timecode``."""
    fetched = await client.feed_live(GAME, timecode)
    assert fetched.timecode == timecode
    return fetched.json()  # type: ignore[no-any-return]


async def assert_is_server_state(client: MLBClient, snap: Snapshot, after: str | None = None) -> str:
    """The snapshot passes ingestion's validation and is exactly the server's feed at its timecode."""
    doc = validate(GAME, snap.raw, after)
    timecode = str(doc["metaData"]["timeStamp"])
    assert doc == await served_at(client, timecode)
    return timecode


@pytest.fixture
async def client(standin: StandIn) -> Any:
    assert standin.base_url is not None
    async with MLBClient(standin.base_url, timeout=10, retries=1) as c:
        yield c


async def test_patches_follow_the_game_and_cost_a_fraction_of_full_feeds(
    standin: StandIn, client: MLBClient
) -> None:
    fetcher = FeedFetcher(client)
    first = await fetcher.fetch(GAME)
    last = await assert_is_server_state(client, first)
    assert fetcher.stats.fallbacks == {"no_base": 1}
    for _ in range(12):
        advance(standin, 45)
        snap = await fetcher.fetch(GAME)
        tc = await assert_is_server_state(client, snap, last)
        assert tc >= last
        assert ("diffPatch" in snap.url) and f"startTimecode={last}" in snap.url
        last = tc
    stats = fetcher.stats
    assert stats.requests == {"full": 1, "patch": 12}
    assert stats.fallbacks == {"no_base": 1}
    assert stats.patched >= 8  # 45 s of a live game nearly always brings a pitch
    assert stats.bytes["patch"] < 0.1 * stats.bytes["full"] * 12  # vs. a full feed per poll


async def test_nothing_changed_offers_the_same_state_again(standin: StandIn, client: MLBClient) -> None:
    fetcher = FeedFetcher(client)
    first = await fetcher.fetch(GAME)
    again = await fetcher.fetch(GAME)
    assert again.raw == first.raw
    assert fetcher.stats.unchanged == 1
    assert fetcher.stats.requests == {"full": 1, "patch": 1}
    assert fetcher.stats.bytes["patch"] == 2  # "[]"


async def test_full_feed_answer_to_an_old_start_is_used_without_a_second_download(
    standin: StandIn, client: MLBClient
) -> None:
    fetcher = FeedFetcher(client)
    before = await assert_is_server_state(client, await fetcher.fetch(GAME))
    advance(standin, 1800)  # beyond the stand-in's patch span (MAX_PATCH_SPAN): it sends the feed
    snap = await fetcher.fetch(GAME)
    assert await assert_is_server_state(client, snap, before) > before
    assert fetcher.stats.fallbacks == {"no_base": 1, "full_feed": 1}
    assert fetcher.stats.requests == {"full": 1, "patch": 1}
    advance(standin, 30)  # and patching goes on from the adopted feed
    await assert_is_server_state(client, await fetcher.fetch(GAME))
    assert fetcher.stats.requests == {"full": 1, "patch": 2}


def _with_ops(*ops: dict[str, Any]) -> Any:
    def tamper(real: Any) -> bytes:
        assert isinstance(real, list) and real, "the server's real answer should be a patch list here"
        return dumps([*real[:-1], {"diff": [*real[-1]["diff"], *ops]}])

    return tamper


BAD_ANSWERS = {
    "patch_failed": _with_ops({"op": "remove", "path": "/liveData/plays/allPlays/100000"}),
    "wrong_game": _with_ops({"op": "replace", "path": "/gamePk", "value": 1}),
    "missing_keys": _with_ops({"op": "remove", "path": "/liveData/linescore"}),
    "bad_timecode": _with_ops({"op": "replace", "path": "/metaData/timeStamp", "value": "soon"}),
    "bad_response": lambda real: dumps(real)[:-7],  # cut short: not JSON
}


@pytest.mark.parametrize("reason", sorted(BAD_ANSWERS))
async def test_unusable_patch_falls_back_to_the_full_feed(
    standin: StandIn, client: MLBClient, reason: str
) -> None:
    fetcher = FeedFetcher(client)
    before = await assert_is_server_state(client, await fetcher.fetch(GAME))
    advance(standin, 120)
    tamper_of(standin).plan[GAME] = BAD_ANSWERS[reason]
    snap = await fetcher.fetch(GAME)
    assert tamper_of(standin).served == [GAME]
    assert fetcher.stats.fallbacks == {"no_base": 1, reason: 1}
    assert fetcher.stats.requests == {"full": 2, "patch": 1}
    assert "diffPatch" not in snap.url
    assert await assert_is_server_state(client, snap, before) > before
    assert fetcher.timecode(GAME) == json.loads(snap.raw)["metaData"]["timeStamp"]


async def test_patch_taking_the_timecode_backwards_falls_back(standin: StandIn, client: MLBClient) -> None:
    fetcher = FeedFetcher(client)
    advance(standin, -300)
    older = await served_at(client, (await client.feed_timestamps(GAME))[-1])
    advance(standin, 300)
    now = await assert_is_server_state(client, await fetcher.fetch(GAME))
    assert older["metaData"]["timeStamp"] < now
    current = await served_at(client, now)
    advance(standin, 60)
    # the answer a confused server would give: our state taken back to one five minutes older
    tamper_of(standin).plan[GAME] = lambda real: dumps([{"diff": json_diff(current, older)}])
    snap = await fetcher.fetch(GAME)
    assert fetcher.stats.fallbacks == {"no_base": 1, "timecode_not_forward": 1}
    assert await assert_is_server_state(client, snap, now) >= now


async def test_server_that_no_longer_knows_our_state_is_a_gap(standin: StandIn, client: MLBClient) -> None:
    """The stand-in restarted with an earlier clock: our timecode is in its future (HTTP 404)."""
    fetcher = FeedFetcher(client)
    await fetcher.fetch(GAME)
    advance(standin, -900)
    snap = await fetcher.fetch(GAME)
    assert fetcher.stats.fallbacks == {"no_base": 1, "gap": 1}
    assert fetcher.stats.requests == {"full": 2, "patch": 1}
    await assert_is_server_state(client, snap)


async def test_restart_patches_from_the_state_stored_in_mlb_current(
    standin: StandIn, client: MLBClient, store: FileObjectStore
) -> None:
    timecodes = await client.feed_timestamps(GAME)
    stored = await client.feed_live(GAME, timecodes[-3])
    await store.put(BUCKET_CURRENT, f"{GAME}.json", stored.raw)
    advance(standin, 60)
    fetcher = FeedFetcher(client, store)  # a new process: nothing in memory
    snap = await fetcher.fetch(GAME)
    assert fetcher.stats.fallbacks == {}
    assert fetcher.stats.requests == {"timestamps": 1, "patch": 1}  # the stored state checked once
    assert f"startTimecode={timecodes[-3]}" in snap.url
    last = await assert_is_server_state(client, snap, timecodes[-3])
    advance(standin, 60)
    await assert_is_server_state(client, await fetcher.fetch(GAME), last)
    assert fetcher.stats.requests == {"timestamps": 1, "patch": 2}


async def test_restart_with_a_stored_state_the_server_never_served_is_a_gap(
    standin: StandIn, client: MLBClient, store: FileObjectStore
) -> None:
    timecodes = await client.feed_timestamps(GAME)
    doc = await served_at(client, timecodes[-5])
    # a state of ours whose timecode the server does not have (a second later than its own)
    doc["metaData"]["timeStamp"] = timecodes[-5][:-1] + str((int(timecodes[-5][-1]) + 1) % 10)
    assert doc["metaData"]["timeStamp"] not in timecodes
    await store.put(BUCKET_CURRENT, f"{GAME}.json", dumps(doc))
    fetcher = FeedFetcher(client, store)
    snap = await fetcher.fetch(GAME)
    assert fetcher.stats.fallbacks == {"gap": 1}
    assert fetcher.stats.requests == {"timestamps": 1, "full": 1}
    await assert_is_server_state(client, snap)


async def test_unreadable_stored_state_means_a_full_fetch(
    standin: StandIn, client: MLBClient, store: FileObjectStore
) -> None:
    await store.put(BUCKET_CURRENT, f"{GAME}.json", b'{"gamePk": 747175, "metaData": {')
    fetcher = FeedFetcher(client, store)
    await assert_is_server_state(client, await fetcher.fetch(GAME))
    assert fetcher.stats.fallbacks == {"no_base": 1}


async def test_full_mode_only_fetches_whole_feeds(standin: StandIn, client: MLBClient) -> None:
    fetcher = FeedFetcher(client, mode="full")
    for _ in range(3):
        await assert_is_server_state(client, await fetcher.fetch(GAME))
        advance(standin, 60)
    assert fetcher.stats.requests == {"full": 3}
    assert fetcher.stats.fallbacks == {}


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="incremental, full"):
        FeedFetcher(None, mode="partial")  # type: ignore[arg-type]


def test_apply_patches_never_touches_the_base() -> None:
    base = {"gamePk": 1, "a": {"b": [1, 2]}}
    out = apply_patches(base, [{"diff": [{"op": "move", "from": "/a/b", "path": "/c"}]}])
    assert out == {"gamePk": 1, "a": {}, "c": [1, 2]}
    assert base == {"gamePk": 1, "a": {"b": [1, 2]}}


async def test_full_feed_answer_older_than_our_state_falls_back(standin: StandIn, client: MLBClient) -> None:
    """A diffPatch answered with a stale full feed (a cache serving an old copy) is not taken."""
    advance(standin, -600)
    older = (await client.feed_live(GAME)).raw
    advance(standin, 600)
    fetcher = FeedFetcher(client)
    now = await assert_is_server_state(client, await fetcher.fetch(GAME))
    tamper_of(standin).plan[GAME] = lambda real: older
    snap = await fetcher.fetch(GAME)
    assert tamper_of(standin).served == [GAME]
    assert fetcher.stats.fallbacks == {"no_base": 1, "full_feed": 1, "timecode_not_forward": 1}
    assert await assert_is_server_state(client, snap, now) == now


def test_fetch_mode_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from sts.config import Settings

    monkeypatch.delenv("STS_FETCH_MODE", raising=False)
    assert Settings().fetch_mode == "incremental"
    monkeypatch.setenv("STS_FETCH_MODE", "full")
    assert Settings().fetch_mode == "full"
    monkeypatch.setenv("STS_FETCH_MODE", "partial")
    with pytest.raises(ValidationError, match="fetch_mode"):
        Settings()
