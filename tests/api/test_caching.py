"""Caching: ETag / If-None-Match, Cache-Control by game state, and the server-side cache that the event
stream invalidates.

A deployment of its own (this module changes its game, so the package's replayed database is left
alone): a database on the session's embedded PostgreSQL, the file object store, the PostgreSQL event
log. Game 747175's states are made by the stand-in's own synthesizer from the recorded final feed
(a scheduled state, one in the middle of the game, the final one) and a scoring change after Final
(``sts.standin.revisions``: a single becomes an error), and go through the real path: ingestion
(object store, events published on the bus) → processor and season-stats consumers → database.
The API serves the same bus, so its hub sees every published event.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from sts.api.caching import ServerCache
from sts.api.hub import get_hub
from sts.api.positions import STREAM_TOPICS
from sts.bootstrap import open_backends
from sts.config import Settings
from sts.services.ingest import Ingestor, Snapshot
from sts.services.processor import Processor
from sts.services.stats_updater import stats_updater
from sts.standin.revisions import apply_revision
from sts.standin.synth import synthesize
from sts.standin.timeline import GameTimeline, parse_timecode, timecode
from tests.api.conftest import Api, Replayed, make_admin_key, serve_api
from tests.api.test_games import final_feed
from tests.conftest import _fresh_database

PK = 747175


@dataclass
class Deployment:
    replayed: Replayed
    timeline: GameTimeline
    ingestor: Ingestor
    consumers: tuple[Processor, ...]
    key: str | None

    async def ingest(self, doc: dict[str, Any], *, process: bool = True) -> None:
        result = await self.ingestor.ingest(Snapshot(PK, json.dumps(doc).encode()))
        assert result.outcome == "stored", result
        if process:
            await self.process()

    async def process(self) -> None:
        for consumer in self.consumers:
            await consumer.process_available()

    def state(self, phase: str, *, middle: bool = False) -> dict[str, Any]:
        indexes = [i for i, s in enumerate(self.timeline.states) if s.phase == phase]
        return synthesize(self.timeline, indexes[len(indexes) // 2] if middle else indexes[0])


@pytest.fixture(scope="module")
async def deployment(
    shared_data: Path, pg_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    tmp = tmp_path_factory.mktemp("caching")
    databases = _fresh_database(pg_server)
    settings = Settings(
        data_dir=tmp / "data", database_url=next(databases), object_store_url=f"file://{tmp / 'objects'}"
    )
    backends = await open_backends(settings)
    b = backends
    consumers = (
        Processor(b.bus, b.codec, b.database_url, group="processor"),
        stats_updater(b.bus, b.codec, b.store, b.database_url),
    )
    timeline = GameTimeline(final_feed(shared_data, PK))
    try:
        key = await make_admin_key(b.database_url)
        ingestor = Ingestor(b.store, b.bus, b.codec)
        yield Deployment(Replayed(settings, backends, (PK,)), timeline, ingestor, consumers, key)
    finally:
        for consumer in consumers:
            await consumer.close()
        await backends.aclose()
        next(databases, None)


async def hub_caught_up(api: Api, seconds: float = 60.0) -> None:
    """Wait until the API's hub has fanned out every record on the bus so far.

    The hub tails the bus in the background (woken by NOTIFY, or at its next re-check): an event that is
    still on its way drops the game's entries whenever it arrives. A test that stores an entry and then
    expects a hit must let the hub catch up with what was published first, or a late invalidation of
    events published before the entry was built turns the hit into a (correct) miss."""
    hub, bus = get_hub(api.ctx), api.ctx.bus
    assert hub is not None and bus is not None
    deadline = time.monotonic() + seconds
    while True:
        behind = {
            (topic, p): (hub.vector.get(topic, {}).get(p, 0), end)
            for topic in STREAM_TOPICS.values()
            for p, end in (await bus.end_offsets(topic)).items()
            if hub.vector.get(topic, {}).get(p, 0) < end
        }
        if not behind:
            return
        assert time.monotonic() < deadline, f"the API's hub is behind the bus after {seconds} s: {behind}"
        await asyncio.sleep(0.05)


async def ensure_final(deployment: Deployment, api: Api) -> None:
    """The game stored as final (already so when the module's earlier tests ran)."""
    r = await api.http.get(f"/v1/games/{PK}")
    if r.status_code == 404 or not r.json()["is_final"]:
        await deployment.ingest(deployment.state("final"))
        await hub_caught_up(api)


def lookups(result: str) -> float:
    return REGISTRY.get_sample_value("sts_api_cache_lookups_total", {"result": result}) or 0.0


async def test_cache_control_follows_the_game_state_and_etag_gives_304(deployment: Deployment) -> None:
    async with serve_api(deployment.replayed, deployment.key) as api:
        await deployment.ingest(deployment.state("scheduled"))
        r = await api.http.get(f"/v1/games/{PK}")
        assert r.status_code == 200, r.text
        assert r.json()["status"]["abstract_state"] == "Preview"
        assert r.headers["cache-control"] == "private, max-age=60"  # keyed: no shared cache

        live = deployment.state("live", middle=True)
        await deployment.ingest(live)
        r = await api.http.get(f"/v1/games/{PK}/linescore")
        assert r.headers["cache-control"] == "private, max-age=5"
        body = r.json()
        assert body["source"] == "plays"  # not final: runs per inning from the completed plays
        ls = live["liveData"]["linescore"]
        assert (body["totals"]["away"]["runs"], body["totals"]["home"]["runs"]) == (
            ls["teams"]["away"]["runs"],
            ls["teams"]["home"]["runs"],
        )
        box = (await api.http.get(f"/v1/games/{PK}/boxscore")).json()
        assert not box["derived"] and box["quality"]["status"] == "not_checked"
        live_games = (await api.http.get("/v1/games/live")).json()["items"]
        assert [g["game_pk"] for g in live_games] == [PK]
        assert live_games[0]["status"]["abstract_state"] == "Live"
        day = live["gameData"]["datetime"]["officialDate"]
        r = await api.http.get("/v1/schedule", params={"date": day, "state": "Live"})
        assert [g["game_pk"] for g in r.json()["games"]] == [PK]

        await deployment.ingest(deployment.state("final"))
        await hub_caught_up(api)  # before the entry the next request stores and the one after must hit
        r = await api.http.get(f"/v1/games/{PK}/boxscore")
        assert r.status_code == 200
        assert r.headers["cache-control"] == "private, max-age=300, stale-while-revalidate=60"
        assert r.json()["derived"] and r.json()["quality"]["status"] == "agree"
        etag = r.headers["etag"]
        hits = lookups("hit")
        again = await api.http.get(f"/v1/games/{PK}/boxscore", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag and again.headers["x-cache"] == "hit"
        assert lookups("hit") == hits + 1
        # several tags, weak form
        r = await api.http.get(f"/v1/games/{PK}/boxscore", headers={"If-None-Match": f'"x", W/{etag}'})
        assert r.status_code == 304
        r = await api.http.get(f"/v1/games/{PK}/boxscore", headers={"If-None-Match": '"stale"'})
        assert r.status_code == 200 and r.headers["etag"] == etag
        # lists carry an ETag too (not kept server-side)
        r = await api.http.get("/v1/games")
        assert r.headers["x-cache"] == "bypass"
        r2 = await api.http.get("/v1/games", headers={"If-None-Match": r.headers["etag"]})
        assert r2.status_code == 304


async def _wait(condition: Any, seconds: float = 60.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


async def test_a_new_event_invalidates_the_cached_box_score(deployment: Deployment) -> None:
    final = deployment.state("final")
    async with serve_api(deployment.replayed, deployment.key) as api:
        await ensure_final(deployment, api)
        first = await api.http.get(f"/v1/games/{PK}/boxscore")
        second = await api.http.get(f"/v1/games/{PK}/boxscore")
        assert second.headers["x-cache"] == "hit" and second.content == first.content
        cache = api.ctx.extras["cache"]
        assert isinstance(cache, ServerCache) and len(cache) >= 1

        # a scoring change after Final: the batter's single becomes an error (his H -1)
        revised, abi = apply_revision(final, "hit-to-error")
        revised["metaData"]["timeStamp"] = timecode(parse_timecode(final["metaData"]["timeStamp"]) + 600)
        batter = final["liveData"]["plays"]["allPlays"][abi]["matchup"]["batter"]["id"]
        side = next(
            s
            for s in ("away", "home")
            if f"ID{batter}" in final["liveData"]["boxscore"]["teams"][s]["players"]
        )
        hits_before = _player(first.json(), side, batter)["batting"].get("hits", 0)

        invalidations = REGISTRY.get_sample_value("sts_api_cache_invalidations_total") or 0.0
        await deployment.ingest(revised, process=False)  # published on the bus, not yet processed
        # the API's hub sees the published events and drops the game's entries
        await _wait(lambda: len(cache) == 0)
        assert (REGISTRY.get_sample_value("sts_api_cache_invalidations_total") or 0.0) > invalidations
        await hub_caught_up(api)  # every record of that ingest fanned out: none invalidates what follows

        # the race: a request between "published" and "committed" rebuilds from the old rows and may
        # store that body, but under the game's old version, so it is never served once rows change
        early = await api.http.get(f"/v1/games/{PK}/boxscore")
        assert early.headers["x-cache"] == "miss" and early.content == first.content

        await deployment.process()
        fresh = await api.http.get(
            f"/v1/games/{PK}/boxscore", headers={"If-None-Match": first.headers["etag"]}
        )
        assert fresh.status_code == 200, "the old ETag no longer matches"
        assert fresh.headers["x-cache"] == "miss" and fresh.headers["etag"] != first.headers["etag"]
        assert _player(fresh.json(), side, batter)["batting"].get("hits", 0) == hits_before - 1
        # the official box was revised the same way: ours still agrees with it
        assert fresh.json()["quality"]["status"] == "agree"
        official = revised["liveData"]["boxscore"]["teams"][side]["players"][f"ID{batter}"]["stats"][
            "batting"
        ]
        assert _player(fresh.json(), side, batter)["batting"].get("hits", 0) == official["hits"]
        plays = await api.http.get(f"/v1/games/{PK}/plays", params={"batter": batter})
        assert any(p["at_bat_index"] == abi and p["revision"] == 2 for p in plays.json()["items"])
        hit = await api.http.get(f"/v1/games/{PK}/boxscore")
        assert hit.headers["x-cache"] == "hit" and hit.content == fresh.content


def _player(box: dict[str, Any], side: str, pid: int) -> dict[str, Any]:
    return next(p for p in box[side]["players"] if p["person_id"] == pid)


async def test_cache_size_is_bounded_and_can_be_switched_off(deployment: Deployment) -> None:
    async with serve_api(deployment.replayed, deployment.key, api_cache_entries=2) as api:
        await ensure_final(deployment, api)
        for path in ("/linescore", "/boxscore", "/plays", "/pitches"):
            assert (await api.http.get(f"/v1/games/{PK}{path}")).headers["x-cache"] == "miss"
        cache = api.ctx.extras["cache"]
        assert len(cache) == 2
        assert (await api.http.get(f"/v1/games/{PK}/pitches")).headers["x-cache"] == "hit"
        assert (await api.http.get(f"/v1/games/{PK}")).headers["x-cache"] == "miss"  # evicted
    async with serve_api(deployment.replayed, deployment.key, api_cache_max_bytes=20_000) as api:
        box = await api.http.get(f"/v1/games/{PK}/boxscore")
        pitches = await api.http.get(f"/v1/games/{PK}/pitches", params={"limit": 100})
        assert len(box.content) < 20_000 < len(pitches.content)
        cache = api.ctx.extras["cache"]
        assert cache.bytes == len(box.content)  # the page is larger than the whole cache: not kept
        assert (await api.http.get(f"/v1/games/{PK}/boxscore")).headers["x-cache"] == "hit"
        again = await api.http.get(f"/v1/games/{PK}/pitches", params={"limit": 100})
        assert again.headers["x-cache"] == "miss"
        for path in ("", "/linescore", "/plays"):
            await api.http.get(f"/v1/games/{PK}{path}")
        assert cache.bytes <= 20_000 and cache.bytes == sum(len(e.body) for e in cache._entries.values())
    async with serve_api(deployment.replayed, deployment.key, api_cache_entries=0) as api:
        first = await api.http.get(f"/v1/games/{PK}/boxscore")
        assert first.headers["x-cache"] == "bypass" and "cache" not in api.ctx.extras
        r = await api.http.get(f"/v1/games/{PK}/boxscore", headers={"If-None-Match": first.headers["etag"]})
        assert r.status_code == 304


async def test_public_routes_may_be_kept_by_shared_caches(deployment: Deployment) -> None:
    async with serve_api(deployment.replayed, deployment.key, api_public_routes=["read"]) as api:
        await ensure_final(deployment, api)
        async with api.client(None) as anonymous:
            r = await anonymous.get(f"/v1/games/{PK}/boxscore")
            assert r.status_code == 200, r.text
            assert r.headers["cache-control"] == "public, max-age=300, stale-while-revalidate=60"
        keyed = await api.http.get(f"/v1/games/{PK}/boxscore")
        assert keyed.headers["cache-control"].startswith("private, ")
        assert keyed.headers["etag"] == r.headers["etag"]


async def test_a_public_route_template_covers_the_routes_under_v1(deployment: Deployment) -> None:
    public = ["/v1/games/{game_pk}/boxscore", "/v1/schedule"]
    async with serve_api(deployment.replayed, deployment.key, api_public_routes=public) as api:
        await ensure_final(deployment, api)
        async with api.client(None) as anonymous:
            assert (await anonymous.get(f"/v1/games/{PK}/boxscore")).status_code == 200
            assert (await anonymous.get("/v1/schedule")).status_code == 200
            for path in (f"/v1/games/{PK}", f"/v1/games/{PK}/plays", "/v1/games"):
                assert (await anonymous.get(path)).status_code == 401, path
