"""Live streams during a live replay: SSE and WebSocket clients connected while the real pipeline runs.

One live run for the module (``live``): a fresh database on the session's embedded PostgreSQL (the event
log in its tables), the file object store, the API served in-process with its hub tailing the bus, and
stream clients connected BEFORE the stand-in starts replaying 717055 and 747175 on a fast clock:

- ``full``: SSE on 717055, ``types=Pitch,PlayCompleted``, connected throughout;
- ``resumed``: the same, closed after a few events, reconnected with ``Last-Event-ID`` once more events
  have been published meanwhile;
- ``ws``: WebSocket on 717055, closed and reconnected with ``?last_event_id=``;
- ``everything``: SSE on every game, no filter.

After the game every client's events are compared with what the bus holds: same ids, same order, none
missing, none twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import websockets

from sts.adapters.embedded_pg import EmbeddedPostgres
from sts.adapters.mlb_client import MLBClient
from sts.api.app import create_app
from sts.api.context import ApiContext
from sts.api.hub import get_hub
from sts.api.keys import create_key
from sts.bootstrap import Backends, open_backends
from sts.config import Settings
from sts.http.health import serve
from sts.ports import TOPIC_GAME_EVENTS, TOPIC_NOTABLE_MOMENTS
from sts.recordings import scan_recordings
from sts.services.pipeline import Pipeline
from sts.services.scheduler import SchedulerConfig
from sts.standin.server import StandIn
from tests.conftest import _fresh_database
from tests.contract.test_database import _server_database
from tests.contract.test_object_store import require_s3_server, s3_settings, s3_url_with_prefix
from tests.e2e.test_profiles import delete_topics
from tests.kafka_backends import kafka_url, registry_url, require_kafka, require_registry

pytestmark = pytest.mark.slow  # a live replay of two games (once per profile)

GAME = 717055
OTHER = 747175
TYPES = ("Pitch", "PlayCompleted")
SPEED = 300.0
CONFIG = SchedulerConfig(poll_interval=60, schedule_interval=300, pregame_lead=1800)
CUT_AFTER = 40  # events a resuming client receives before its connection is closed
AWAY_FOR = 30  # events published while it is away


@dataclass
class Received:
    """What one client got: ``(position, event JSON)`` in arrival order, and its connections."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    opens: list[str] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ids(self) -> list[str]:
        return [e["event_id"] for _, e in self.events]


async def sse_messages(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """The messages of an SSE response as dicts of their fields (comments dropped)."""
    msg: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if msg:
                yield msg
            msg = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            msg[name] = value.removeprefix(" ")


async def sse_client(
    http: httpx.AsyncClient,
    path: str,
    got: Received,
    *,
    until: int,
    cut_after: int | None = None,
    away: asyncio.Event | None = None,
) -> None:
    """Collect events of ``path`` until ``until`` arrived; with ``cut_after``, close the connection after
    that many, wait for ``away``, then reconnect with ``Last-Event-ID``."""
    headers: dict[str, str] = {}
    while len(got.events) < until:
        async with http.stream("GET", path, headers=headers, timeout=None) as r:
            assert r.status_code == 200, await r.aread()
            assert r.headers["content-type"].startswith("text/event-stream")
            async for m in sse_messages(r):
                if m.get("event") == "open":
                    got.opens.append(m["id"])
                    got.connected.set()
                    continue
                assert m.get("event") != "dropped", m
                data = json.loads(m["data"])
                assert data["type"] == m["event"]
                got.events.append((m["id"], data))
                if len(got.events) >= until:
                    break
                if cut_after is not None and len(got.events) == cut_after:
                    break  # leaving the block closes the connection
        if cut_after is not None and len(got.events) == cut_after:
            assert away is not None
            await away.wait()
            headers = {"Last-Event-ID": got.events[-1][0]}
    got.done.set()


async def ws_client(
    url: str, key: str, got: Received, *, until: int, cut_after: int, away: asyncio.Event
) -> None:
    query = "?types=" + ",".join(TYPES)
    while len(got.events) < until:
        headers = {"Authorization": f"Bearer {key}"}
        async with websockets.connect(url + query, open_timeout=10, additional_headers=headers) as ws:
            async for text in ws:
                msg = json.loads(text)
                if msg.get("control") == "open":
                    got.opens.append(msg["position"])
                    got.connected.set()
                    continue
                if msg.get("control") == "heartbeat":
                    continue
                assert "control" not in msg and "error" not in msg, msg
                got.events.append((msg.pop("position"), msg))
                if len(got.events) >= until or len(got.events) == cut_after:
                    break
        if len(got.events) == cut_after:
            await away.wait()
            query = "?types=" + ",".join(TYPES) + "&last_event_id=" + got.events[-1][0]
    got.done.set()


@dataclass
class Live:
    url: str
    settings: Settings
    backends: Backends
    expected: list[str]  # ids of 717055's Pitch and PlayCompleted events on the bus, in bus order
    everything: list[tuple[str, int, int, str]]  # (topic, partition, offset, id) of every stream record
    clients: dict[str, Received]
    stream_key: str
    read_key: str
    app_ctx: ApiContext

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stream_key}"}

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1)


async def bus_events(backends: Backends) -> list[tuple[str, int, int, Any]]:
    out = []
    for topic in (TOPIC_GAME_EVENTS, TOPIC_NOTABLE_MOMENTS):
        async for rec in backends.bus.read(topic):
            out.append((topic, rec.partition, rec.offset, await backends.codec.decode(rec.value)))
    return out


PRODUCTION = pytest.param("production", marks=[pytest.mark.kafka, pytest.mark.s3, pytest.mark.pgserver])


@pytest.fixture(scope="module", params=["embedded", PRODUCTION])
async def live(
    request: pytest.FixtureRequest,
    shared_data: Path,
    pg_server: EmbeddedPostgres,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Live]:
    tmp = tmp_path_factory.mktemp("stream")
    prefix = f"stream-{uuid.uuid4().hex[:8]}"
    if request.param == "embedded":
        databases = _fresh_database(pg_server)
        settings = Settings(
            data_dir=tmp / "data",
            database_url=next(databases),
            object_store_url=f"file://{tmp / 'objects'}",
            stream_heartbeat_seconds=2.0,
        )
    else:  # the local PostgreSQL server, Kafka + Apicurio, SeaweedFS: names under a prefix of their own
        require_kafka()
        require_registry()
        require_s3_server()
        databases = _server_database()
        s3 = s3_settings()
        settings = Settings(
            data_dir=tmp / "data",
            database_url=next(databases),
            object_store_url=s3_url_with_prefix(f"{prefix}-"),
            s3_access_key=s3.s3_access_key,
            s3_secret_key=s3.s3_secret_key,
            event_bus_url=kafka_url(),
            schema_registry_url=registry_url(),
            topic_prefix=f"{prefix}.",
            stream_heartbeat_seconds=2.0,
        )
    recordings = scan_recordings(shared_data / "statsapi")
    recordings = dataclasses.replace(recordings, games={pk: recordings.games[pk] for pk in (GAME, OTHER)})
    standin = StandIn(recordings, speed=SPEED, start_in=600)
    backends = await open_backends(settings)
    ctx = ApiContext(settings, backends.database_url, backends.bus, backends.codec)
    async with await psycopg.AsyncConnection.connect(backends.database_url, autocommit=True) as conn:
        stream_key = (await create_key(conn, "stream-tests", ["stream"])).secret
        read_key = (await create_key(conn, "read-only", ["read"])).secret
    auth = {"Authorization": f"Bearer {stream_key}"}
    server, _ = await serve(create_app(ctx), "127.0.0.1", 0, ws="auto")
    tasks: list[asyncio.Task[None]] = []
    try:
        async with server, httpx.AsyncClient(base_url=server.url, timeout=30, headers=auth) as http:
            hub = get_hub(ctx)
            assert hub is not None
            clients = {name: Received() for name in ("full", "resumed", "ws", "everything")}
            away = asyncio.Event()
            path = f"/v1/stream/games/{GAME}?types=" + ",".join(TYPES)
            big = 10**9  # these two stop when told (the counts are known only after the game)
            tasks = [
                asyncio.create_task(sse_client(http, path, clients["full"], until=big)),
                asyncio.create_task(
                    sse_client(http, path, clients["resumed"], until=big, cut_after=CUT_AFTER, away=away)
                ),
                asyncio.create_task(
                    ws_client(
                        server.url.replace("http", "ws", 1) + f"/v1/ws/games/{GAME}",
                        stream_key,
                        clients["ws"],
                        until=big,
                        cut_after=CUT_AFTER,
                        away=away,
                    )
                ),
                asyncio.create_task(sse_client(http, "/v1/stream/games", clients["everything"], until=big)),
            ]
            for c in clients.values():
                waiter = asyncio.ensure_future(c.connected.wait())
                await asyncio.wait([waiter, *tasks], timeout=30, return_when=asyncio.FIRST_COMPLETED)
                for task in tasks:
                    if task.done():
                        task.result()  # a client failed: say why
                assert c.connected.is_set(), "a stream client did not connect"

            async def release_when_away() -> None:
                while len(clients["full"].events) < CUT_AFTER + AWAY_FOR:  # noqa: ASYNC110 (a count)
                    await asyncio.sleep(0.05)
                away.set()

            releaser = asyncio.create_task(release_when_away())
            base = await standin.start()
            async with MLBClient(base, timeout=10, retries=3) as client:
                pipeline = Pipeline(backends, client, standin.clock, CONFIG)
                await asyncio.wait_for(pipeline.run(asyncio.Event(), until_done=True), timeout=300)
            await standin.stop()
            assert releaser.done(), "the game had fewer events than the resume test needs"

            records = await bus_events(backends)
            expected = [e.event_id for t, _, _, e in records if e.game_pk == GAME and e.event_type in TYPES]
            everything = [(t, p, o, e.event_id) for t, p, o, e in records]
            # wait until every client has everything (or give up after a while: the tests say what lacks)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (  # noqa: ASYNC110 (counts of several clients)
                all(len(clients[n].events) >= len(expected) for n in ("full", "resumed", "ws"))
                and len(clients["everything"].events) >= len(everything)
            ):
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # anything extra (a duplicate) would arrive now
            yield Live(
                server.url, settings, backends, expected, everything, clients, stream_key, read_key, ctx
            )
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        await standin.stop()
        purge = getattr(backends.store, "purge_buckets", None)
        if purge is not None:
            with contextlib.suppress(Exception):
                await purge()
        await backends.aclose()
        if request.param == "production":
            delete_topics(f"{prefix}.")
        with contextlib.suppress(Exception):
            next(databases, None)


def test_sse_client_receives_every_pitch_and_play_in_order(live: Live) -> None:
    got = live.clients["full"]
    assert len(live.expected) > 200  # a whole game of pitches and plays
    assert got.ids == live.expected
    assert all(e["game_pk"] == GAME and e["type"] in TYPES for _, e in got.events)
    assert len(got.opens) == 1
    # positions grow with every event (they are resumable tokens, one per event)
    assert len({pos for pos, _ in got.events}) == len(got.events)
    for pos, e in got.events:
        assert offsets_in(pos)[e["partition"]] == e["offset"] + 1
    # positions also advance in the partitions the filter skips (the other game's), so a resume from
    # the last one has nothing of the other game to read again
    other = {e["partition"] for _, e in live.clients["everything"].events if e["game_pk"] == OTHER}
    (other_partition,) = other
    assert other_partition != got.events[-1][1]["partition"]
    assert offsets_in(got.events[-1][0])[other_partition] > 0


def offsets_in(position: str) -> list[int]:
    """The game-events offsets of a position ``e:…;m:…``."""
    e = position.split(";")[0]
    assert e.startswith("e:")
    return [int(o) for o in e[2:].split(",")]


async def test_events_match_the_database(live: Live) -> None:
    got = live.clients["full"]
    plays = {(e["payload"]["at_bat_index"]) for _, e in got.events if e["type"] == "PlayCompleted"}
    async with await psycopg.AsyncConnection.connect(live.backends.database_url) as conn:
        row = await (await conn.execute("SELECT count(*) FROM plays WHERE game_pk = %s", (GAME,))).fetchone()
    assert row is not None
    assert len(plays) == row[0]


def test_sse_resume_after_a_forced_disconnect_has_no_gap_and_no_duplicate(live: Live) -> None:
    got = live.clients["resumed"]
    assert len(got.opens) == 2, "the client reconnected once"
    # it was away while events were published: the reconnection started from its last id
    assert got.opens[1] == got.events[CUT_AFTER - 1][0]
    assert got.ids == live.expected


def test_websocket_resume_with_last_event_id(live: Live) -> None:
    got = live.clients["ws"]
    assert len(got.opens) == 2
    assert got.opens[1] == got.events[CUT_AFTER - 1][0]
    assert got.ids == live.expected


def test_all_games_stream_carries_every_record_of_both_topics(live: Live) -> None:
    got = live.clients["everything"]
    assert {e["game_pk"] for _, e in got.events} == {GAME, OTHER}
    assert sorted((e["topic"], e["partition"], e["offset"]) for _, e in got.events) == sorted(
        (t, p, o) for t, p, o, _ in live.everything
    )
    # per partition (so per game) in bus order
    for topic, partition in {(t, p) for t, p, _, _ in live.everything}:
        mine = [e["event_id"] for _, e in got.events if (e["topic"], e["partition"]) == (topic, partition)]
        assert mine == [i for t, p, _, i in live.everything if (t, p) == (topic, partition)]
    assert any(e["topic"] == TOPIC_NOTABLE_MOMENTS for _, e in got.events)


async def read_sse(url: str, headers: dict[str, str] | None = None, *, n: int) -> list[dict[str, str]]:
    """The first ``n`` messages (the ``open`` one included) of an SSE stream."""
    out: list[dict[str, str]] = []
    async with httpx.AsyncClient(timeout=20) as http, http.stream("GET", url, headers=headers) as r:
        assert r.status_code == 200
        async for m in sse_messages(r):
            out.append(m)
            if len(out) == n:
                break
    return out


async def test_resume_from_an_old_position_replays_exactly_the_rest(live: Live) -> None:
    full = live.clients["full"]
    k = 100
    position = full.events[k - 1][0]
    rest = len(full.events) - k
    url = f"{live.url}/v1/stream/games/{GAME}?types=Pitch,PlayCompleted&last_event_id={position}"
    msgs = await asyncio.wait_for(read_sse(url, live.auth, n=rest + 1), 30)
    assert msgs[0]["event"] == "open" and msgs[0]["id"] == position
    assert [json.loads(m["data"])["event_id"] for m in msgs[1:]] == full.ids[k:]
    # a position covers every partition (the replay may have passed other games' records in other
    # partitions than the live stream had); for the event's own partition it is the offset after it
    for m in msgs[1:]:
        data = json.loads(m["data"])
        assert offsets_in(m["id"])[data["partition"]] == data["offset"] + 1


async def test_websocket_resume_message(live: Live) -> None:
    full = live.clients["full"]
    k = len(full.events) - 5
    url = live.ws_url + f"/v1/ws/games/{GAME}?types=Pitch,PlayCompleted&api_key={live.stream_key}"
    async with websockets.connect(url) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["control"] == "open"
        await ws.send(json.dumps({"resume": full.events[k - 1][0]}))
        msgs: list[dict[str, Any]] = []
        while len(msgs) < 6:
            msgs.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        assert msgs[0] == {"control": "open", "position": full.events[k - 1][0]}
        assert [m["event_id"] for m in msgs[1:]] == full.ids[k:]
        for hostile in ("not json", b"\x00\xff binary", json.dumps({"resume": 12}), "[1]"):
            await ws.send(hostile)
            error = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert error["error"]["code"] == "bad_message" and error["error"]["status"] == 400
        await ws.send(json.dumps({"resume": "e:1"}))
        error = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert error["error"]["code"] == "bad_position"
        # the stream goes on after all that: a resume still works
        await ws.send(json.dumps({"resume": full.events[-2][0]}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["control"] == "open"
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["event_id"] == full.ids[-1]


@pytest.mark.parametrize(
    "bad",
    [
        "garbage",
        "e:1,2",  # too few partitions, no m
        "e:0,0,0,0,0,0;m:0,0,0,0,0,x",
        "e:0,0,0,0,0,0;m:0,0,0,0,0,0;e:0,0,0,0,0,0",
        "e:999999999,0,0,0,0,0;m:0,0,0,0,0,0",  # from the future
        "e:-1,0,0,0,0,0;m:0,0,0,0,0,0",
    ],
)
async def test_bad_last_event_id_is_a_400_with_the_standard_body(live: Live, bad: str) -> None:
    async with httpx.AsyncClient(base_url=live.url, timeout=10, headers=live.auth) as http:
        r = await http.get(f"/v1/stream/games/{GAME}", headers={"Last-Event-ID": bad})
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["error"]["code"] == "bad_position"
        assert body["error"]["status"] == 400 and body["error"]["request_id"]
        r = await http.get("/v1/stream/games", params={"last_event_id": bad})
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_position"


async def test_unknown_event_type(live: Live) -> None:
    async with httpx.AsyncClient(base_url=live.url, timeout=10, headers=live.auth) as http:
        r = await http.get("/v1/stream/games", params={"types": "Pitch,Nope"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_event_type"
        assert "Pitch" in r.json()["error"]["details"]["known"]
        r = await http.get("/v1/stream/games", params={"types": "<script>"})
        assert r.status_code == 422
    url = live.ws_url + f"/v1/ws/games/{GAME}?types=Nope"
    async with websockets.connect(url, additional_headers=live.auth) as ws:
        error = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert error["error"]["status"] == 400 and error["error"]["code"] == "unknown_event_type"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_a_slow_subscriber_is_dropped_and_does_not_hold_up_the_others(live: Live) -> None:
    hub = get_hub(
        ApiContext(live.settings, live.backends.database_url, live.backends.bus, live.backends.codec)
    )
    assert hub is not None
    await hub.start()
    try:
        slow = hub.subscribe(GAME, maxsize=3)
        fast = hub.subscribe(GAME, maxsize=1000)
        records = [r async for r in live.backends.bus.read(TOPIC_GAME_EVENTS)]
        for rec in [r for r in records if r.key == str(GAME)][:10]:
            await hub.dispatch(rec)
        assert slow.dropped is not None and "too slow" in slow.dropped
        assert [slow.queue.get_nowait() is not None for _ in range(4)] == [True, True, True, False]
        assert fast.dropped is None and fast.queue.qsize() == 10
        assert hub.subscribers == 1  # the slow one is gone
        fast.close()
    finally:
        await hub.stop()


async def test_streams_need_a_key_with_the_stream_scope(live: Live) -> None:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as http:
        for path in (f"/v1/stream/games/{GAME}", "/v1/stream/games"):
            r = await http.get(path)
            assert r.status_code == 401 and r.json()["error"]["status"] == 401
            r = await http.get(path, headers={"Authorization": f"Bearer {live.read_key}"})
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
            r = await http.get(path, headers={"Authorization": "Bearer sts_0000000000000000_nope"})
            assert r.status_code == 401
    for query in ("", f"?api_key={live.read_key}"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(live.ws_url + "/v1/ws/games" + query):
                pass
        assert refused.value.response.status_code == 403  # a refused handshake
    # the key in the query works for browsers' EventSource
    msgs = await read_sse(f"{live.url}/v1/stream/games?api_key={live.stream_key}", n=1)
    assert msgs[0]["event"] == "open"


async def test_stream_metrics(live: Live) -> None:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as http:
        text = (await http.get("/metrics")).text
    values = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("sts_stream_")
    }
    # the module's clients are still connected: full, resumed, everything (SSE) and ws
    assert values['sts_stream_clients{transport="sse"}'] >= 3
    assert values['sts_stream_clients{transport="websocket"}'] >= 1
    sse_sent = sum(len(live.clients[n].events) for n in ("full", "resumed", "everything"))
    assert values['sts_stream_events_sent_total{transport="sse"}'] >= sse_sent
    assert values['sts_stream_events_sent_total{transport="websocket"}'] >= len(live.clients["ws"].events)


async def test_the_api_starts_without_the_bus_and_streams_once_it_is_there(
    pg_url: str, tmp_path: Path
) -> None:
    """A bus that cannot be read yet (its tables are missing) does not stop the API from serving: the
    streams answer 503 until the hub reaches the bus, then open."""
    from sts.adapters.pg_bus import PostgresEventBus
    from sts.db import migrate

    settings = Settings(data_dir=tmp_path, database_url=pg_url, api_public_routes=["stream"])
    bus = PostgresEventBus(pg_url, connect_timeout=2)
    ctx = ApiContext(settings, pg_url, bus, None)
    server, _ = await serve(create_app(ctx), "127.0.0.1", 0)
    try:
        async with server, httpx.AsyncClient(base_url=server.url, timeout=20) as http:
            assert (await http.get("/health")).status_code == 200
            r = await http.get("/v1/stream/games")
            assert r.status_code == 503 and r.json()["error"]["code"] == "stream_not_ready"
            hub = get_hub(ctx)
            assert hub is not None
            # a resume needs the bus's end offsets: its failure is a 503 too, not a 500
            hub.started.set()
            r = await http.get("/v1/stream/games", headers={"Last-Event-ID": "e:0;m:0"})
            assert r.status_code == 503 and r.json()["error"]["code"] == "bus_unavailable"
            hub.started.clear()
            await asyncio.to_thread(migrate, pg_url)
            await asyncio.wait_for(hub.started.wait(), 20)
            msgs = await read_sse(f"{server.url}/v1/stream/games", n=1)
            assert msgs[0]["event"] == "open"
    finally:
        await bus.close()


async def test_a_closed_stream_leaves_the_hub(live: Live) -> None:
    """A client that goes away is unsubscribed (noticed at the latest at the next heartbeat)."""
    ctx: ApiContext = live.app_ctx
    hub = get_hub(ctx)
    assert hub is not None
    before = len(live.clients)  # the module's clients, one subscription each, connected throughout

    async def left(what: str) -> None:
        deadline = time.monotonic() + 3 * live.settings.stream_heartbeat_seconds + 5
        while hub.subscribers != before and time.monotonic() < deadline:  # noqa: ASYNC110 (a count)
            await asyncio.sleep(0.1)
        assert hub.subscribers == before, f"{what}: {hub.subscribers} subscribers, not {before}"

    # the streams earlier tests closed on this server are gone too (not counted in ``before`` by chance)
    await left("the streams of earlier tests left the hub")
    msgs = await read_sse(f"{live.url}/v1/stream/games", live.auth, n=1)
    assert msgs[0]["event"] == "open"
    async with websockets.connect(live.ws_url + "/v1/ws/games", additional_headers=live.auth) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["control"] == "open"
        assert hub.subscribers == before + 1 or hub.subscribers == before + 2
    await left("the closed SSE and WebSocket streams left the hub")


async def test_a_position_too_far_back_and_one_stream_too_many_are_refused(live: Live) -> None:
    oldest = live.clients["full"].opens[0]  # before the whole live run
    latest = live.clients["everything"].events[-1][0]  # the end of the log: nothing to replay
    settings = live.settings.model_copy(update={"stream_max_replay": 10, "stream_max_clients": 1})
    ctx = ApiContext(settings, live.backends.database_url, live.backends.bus, live.backends.codec)
    server, _ = await serve(create_app(ctx), "127.0.0.1", 0)
    async with server, httpx.AsyncClient(base_url=server.url, timeout=20, headers=live.auth) as http:
        r = await http.get("/v1/stream/games", headers={"Last-Event-ID": oldest})
        assert r.status_code == 400 and r.json()["error"]["code"] == "position_too_old"
        async with http.stream("GET", "/v1/stream/games", headers={"Last-Event-ID": latest}) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                if line.startswith("event: open"):
                    break
            # that one stream is this server's limit (stream_max_clients=1)
            full = await http.get("/v1/stream/games")
            assert full.status_code == 503 and full.json()["error"]["code"] == "too_many_streams"
            assert full.headers["retry-after"] == "5"
