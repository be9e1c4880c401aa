"""/v1/ops (admin scope) on the replayed database: ingestion status against the object store, the bus
and the recorded feeds; a snapshot rejected by ingestion shows up as a dead letter; read-only keys are
refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest

from sts.api.routes.ops import GROUPS
from sts.ports import BUCKET_LIVE, TOPIC_GAME_EVENTS, TOPIC_SNAPSHOTS_DLQ
from sts.services import dlq
from sts.services.ingest import Ingestor, Snapshot
from tests.api.conftest import Api, Replayed, serve_api
from tests.api.readside import UNLIMITED, assert_error, feed


@pytest.fixture
async def api(replayed: Replayed, admin_key: str | None) -> AsyncIterator[Api]:
    async with serve_api(replayed, admin_key, api_rate_tiers=UNLIMITED) as served:
        yield served


async def test_operator_routes_need_the_admin_scope(api: Api, replayed: Replayed) -> None:
    from sts.api.keys import create_key

    async with await psycopg.AsyncConnection.connect(replayed.database_url, autocommit=True) as conn:
        reader = await create_key(conn, "tests-ops-reader", ["read"])
    async with api.client(reader.secret) as http:
        for path in ("/v1/ops/ingestion", "/v1/ops/dead-letters", "/v1/ops/dead-letters/abcd"):
            error = assert_error(await http.get(path), 403, "forbidden")
            assert reader.secret not in str(error)
        assert (await http.get("/v1/moments")).status_code == 200  # the key itself works
    async with api.client(None) as http:
        assert_error(await http.get("/v1/ops/ingestion"), 401, "unauthorized")


async def test_the_store_opened_for_operators_is_closed_with_the_app(
    replayed: Replayed, admin_key: str | None
) -> None:
    """/v1/ops/ingestion opens the deployment's object store from settings once per app; the app's
    shutdown closes it (an S3 store holds connections)."""
    closed: list[bool] = []
    async with serve_api(replayed, admin_key, api_rate_tiers=UNLIMITED) as api:
        assert (await api.http.get("/v1/ops/ingestion")).status_code == 200
        store = api.ctx.extras["ops_store"]
        assert (await api.http.get("/v1/ops/ingestion")).status_code == 200
        assert api.ctx.extras["ops_store"] is store  # opened once, not per request
        real_close = store.close

        async def close() -> None:
            closed.append(True)
            await real_close()

        store.close = close
    assert closed == [True] and "ops_store" not in api.ctx.extras


async def test_ingestion_status(api: Api, replayed: Replayed) -> None:
    r = await api.http.get("/v1/ops/ingestion")
    assert r.status_code == 200, r.text
    body = r.json()
    games = {g["game_pk"]: g for g in body["games"]}
    assert list(games) == [747175, 717055]  # newest first
    for pk, g in games.items():
        f = feed(pk)
        stored = [o async for o in replayed.backends.store.list(BUCKET_LIVE, f"{pk}/")]
        assert g["snapshots_stored"] == len(stored) > 10
        assert g["last_stored_at"] is not None
        assert g["latest_timecode"] == f["metaData"]["timeStamp"]
        tc = f["metaData"]["timeStamp"]
        assert g["latest_timecode_at"].startswith(f"{tc[:4]}-{tc[4:6]}-{tc[6:8]}T{tc[9:11]}:{tc[11:13]}")
        assert g["abstract_state"] == "Final" and g["is_final"] is True
    lags = {c["group"]: c for c in body["consumers"]}
    assert set(lags) == {"processor", "season-stats", "moments"}
    assert all(c["lag"] == 0 and c["error"] is None for c in lags.values())  # the replay is consumed
    r = await api.http.get("/v1/ops/ingestion", params={"state": "Live"})
    assert r.json()["games"] == []
    assert_error(await api.http.get("/v1/ops/ingestion", params={"state": "Over"}), 422, "invalid_parameters")


async def test_a_rejected_snapshot_is_a_dead_letter(api: Api, replayed: Replayed) -> None:
    b = replayed.backends
    garbage = b'{"gamePk": 717055, "truncated'
    result = await Ingestor(b.store, b.bus, b.codec).ingest(Snapshot(717055, garbage, "http://standin/feed"))
    assert result.outcome == "rejected"
    async with await psycopg.AsyncConnection.connect(replayed.database_url, autocommit=True) as conn:
        assert await dlq.index(b.bus, b.codec, conn) >= 1
    ids: list[str] = []
    try:
        r = await api.http.get("/v1/ops/dead-letters", params={"status": "pending", "game_pk": 717055})
        (entry,) = [e for e in r.json()["items"] if e["topic"] == TOPIC_SNAPSHOTS_DLQ]
        ids.append(entry["id"])
        assert entry["kind"] == "snapshot" and entry["consumer_group"] == "ingest"
        assert entry["reason"] == result.reason and entry["status"] == "pending"
        for params in ({"status": "retried"}, {"group": "processor"}, {"kind": "event"}, {"game_pk": 1}):
            r = await api.http.get("/v1/ops/dead-letters", params=params)
            assert entry["id"] not in [e["id"] for e in r.json()["items"]], params
        r = await api.http.get(f"/v1/ops/dead-letters/{entry['id'][:8]}", params={"include_payload": "true"})
        detail = r.json()
        assert detail["id"] == entry["id"] and detail["payload_bytes"] == len(garbage)
        assert detail["payload"] is None and "JSON" in detail["payload_error"]  # what was fetched: not JSON
        assert detail["source_url"] == "http://standin/feed"
        r = await api.http.get("/v1/ops/ingestion")
        g = next(g for g in r.json()["games"] if g["game_pk"] == 717055)
        assert g["snapshots_rejected"] >= 1 and g["dead_letters_pending"] >= 1
        depth = [d for d in r.json()["dead_letters"] if d["topic"] == TOPIC_SNAPSHOTS_DLQ]
        assert depth and depth[0]["entries"] >= 1 and depth[0]["oldest_seconds"] >= 0
    finally:
        async with await psycopg.AsyncConnection.connect(replayed.database_url, autocommit=True) as conn:
            await dlq.purge(conn, ids, resolved=True)  # leave no pending entry to the other tests
    assert_error(await api.http.get("/v1/ops/dead-letters/zzzz"), 404, "not_found")
    assert_error(await api.http.get("/v1/ops/dead-letters/ab"), 422, "invalid_parameters")


async def test_dead_letter_paging(api: Api, replayed: Replayed) -> None:
    b = replayed.backends
    ingestor = Ingestor(b.store, b.bus, b.codec)
    for i in range(5):
        await ingestor.ingest(Snapshot(747175, f"not json {i}".encode(), "http://standin/feed"))
    async with await psycopg.AsyncConnection.connect(replayed.database_url, autocommit=True) as conn:
        await dlq.index(b.bus, b.codec, conn)
        every = await dlq.list_entries(conn)
        try:
            items: list[dict] = []
            cursor = None
            while True:
                params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
                body = (await api.http.get("/v1/ops/dead-letters", params=params)).json()
                items += body["items"]
                cursor = body["next_cursor"]
                if cursor is None:
                    break
            assert [e["id"] for e in items] == [e["id"] for e in every]  # oldest failure first, each once
            assert len(items) >= 5
        finally:
            await dlq.purge(conn, [e["id"] for e in every])


@pytest.mark.kafka
async def test_consumer_lag_on_kafka(replayed: Replayed, admin_key: str | None, tmp_path: Path) -> None:
    """The production bus: events published on Kafka (topics under a prefix of this test) are lag for
    every group until one consumes and commits them."""
    from sts.api.app import create_app
    from sts.api.context import ApiContext
    from sts.bootstrap import open_backends
    from sts.events.derive import derive_events
    from sts.http.health import serve
    from tests.e2e.test_profiles import delete_topics
    from tests.kafka_backends import kafka_url, registry_url, require_kafka, require_registry

    require_kafka()
    require_registry()
    prefix = f"ops-{uuid.uuid4().hex[:8]}."
    update = {"event_bus_url": kafka_url(), "schema_registry_url": registry_url(), "topic_prefix": prefix,
              "partitions": 3, "data_dir": tmp_path, "api_rate_tiers": UNLIMITED}  # fmt: skip
    settings = replayed.settings.model_copy(update=update)
    backends = await open_backends(settings)
    try:
        events = derive_events(None, feed(717055))[:7]
        await backends.bus.publish([await backends.codec.message(TOPIC_GAME_EVENTS, e) for e in events])
        ctx = ApiContext(settings, replayed.database_url, backends.bus, backends.codec)
        server, _ = await serve(create_app(ctx), "127.0.0.1", 0)
        async with server, httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            http.headers["Authorization"] = f"Bearer {admin_key}"
            lags = {c["group"]: c for c in (await http.get("/v1/ops/ingestion")).json()["consumers"]}
            assert {g: c["lag"] for g, c in lags.items()} == dict.fromkeys(GROUPS, len(events))
            assert all(c["error"] is None and len(c["partitions"]) == 3 for c in lags.values())
            sub = await backends.bus.subscribe("processor", [TOPIC_GAME_EVENTS])
            got: list = []
            for _ in range(60):
                got += await sub.poll(timeout=1.0)
                if len(got) >= len(events):
                    break
            await sub.commit(got)
            await sub.close()
            lags = {c["group"]: c for c in (await http.get("/v1/ops/ingestion")).json()["consumers"]}
            assert lags["processor"]["lag"] == 0 and lags["moments"]["lag"] == len(events)
    finally:
        await backends.aclose()
        delete_topics(prefix)
