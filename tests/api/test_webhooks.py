"""Webhooks end to end: a live replay of 717055 through the stand-in and the real pipeline while the API (with
its webhook dispatcher) runs, and a real HTTP receiver on loopback playing the user's endpoints.

On both profiles: embedded (a fresh database on the session's embedded PostgreSQL with the event log in it,
a file object store) and production (a database on the PostgreSQL server, Kafka + Apicurio, SeaweedFS,
under prefixes of their own). Two API processes (two apps served in-process, each with its dispatcher)
share the work, as several ``sts serve`` processes would. The module has a deployment of its own because
subscriptions receive what is published after they were created: they are registered first, then the game
is replayed. Backoff settings are small (0.2 s base, 3 attempts, disabled after 2 deliveries given up) so
retries and disabling happen in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sts.adapters.embedded_pg import EmbeddedPostgres
from sts.adapters.mlb_client import MLBClient
from sts.api.app import create_app
from sts.api.context import ApiContext
from sts.api.webhooks import UnsafeUrl, check_destination, check_url, verify_signature
from sts.bootstrap import open_backends
from sts.config import Settings
from sts.http.health import serve
from sts.ports import TOPIC_GAME_EVENTS, TOPIC_NOTABLE_MOMENTS, EventBus
from sts.recordings import scan_recordings
from sts.services.pipeline import Pipeline
from sts.services.scheduler import SchedulerConfig
from sts.standin.server import StandIn
from tests.conftest import _fresh_database
from tests.contract.test_database import _server_database
from tests.contract.test_object_store import require_s3_server, s3_settings, s3_url_with_prefix
from tests.e2e.test_profiles import delete_topics
from tests.kafka_backends import kafka_url, registry_url, require_kafka, require_registry

GAME = 717055
SPEED = 600.0
CONFIG = SchedulerConfig(poll_interval=60, schedule_interval=300, pregame_lead=1800)
FAST = {
    "webhook_allow_private": True,  # the receiver is on loopback
    "webhook_backoff_base": 0.2,
    "webhook_max_attempts": 3,
    "webhook_disable_after": 2,
    "webhook_poll_interval": 0.2,
    "webhook_timeout": 3.0,
}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """The user's endpoints: ``/ok`` 200, ``/flaky`` 500 on the first try of each event then 200, ``/dead``
    always 500, ``/gone`` 410, ``/moved`` a 302 (which must not be followed), ``/slow`` answers after the
    webhook timeout."""

    url: str = ""
    got: list[Received] = field(default_factory=list)
    tries: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def app(self) -> Starlette:
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            path = request.url.path
            self.got.append(Received(path, dict(request.headers), body, time.monotonic()))
            event = request.headers.get("sts-webhook-id", "")
            self.tries[f"{path}:{event}"] += 1
            if path.startswith("/flaky"):
                return JSONResponse({}, status_code=500 if self.tries[f"{path}:{event}"] == 1 else 200)
            if path.startswith("/dead"):
                return Response("down for maintenance", status_code=500)
            if path.startswith("/gone"):
                return Response(status_code=410)
            if path.startswith("/slow"):
                await asyncio.sleep(FAST["webhook_timeout"] + 1)
            if path.startswith("/moved"):
                return Response(status_code=302, headers={"Location": "http://example.invalid/ok"})
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/{path:path}", endpoint, methods=["POST"])])

    def at(self, path: str) -> list[Received]:
        return [r for r in self.got if r.path == path]


@dataclass
class Live:
    api: str
    receiver: Receiver
    subs: dict[str, dict[str, Any]]  # name → the creation answer (with its secret)
    keys: dict[str, str]
    database_url: str
    expected: dict[str, str]  # event id → event type, every event of the game on the bus
    teams: tuple[int, int]
    settings: Settings
    ctx: ApiContext

    def client(self, key: str = "admin") -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.api, headers={"Authorization": f"Bearer {self.keys[key]}"}, timeout=30
        )


async def _keys(database_url: str) -> dict[str, str]:
    from sts.api.keys import create_key

    out = {}
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for name, scopes in (("admin", ["read", "stream", "export", "admin"]), ("alice", ["stream"]),
                             ("bob", ["stream"]), ("reader", ["read"])):  # fmt: skip
            out[name] = (await create_key(conn, f"webhooks-{name}", scopes)).secret
    return out


async def _settled(database_url: str, bus: EventBus, group: str, within: float = 60.0) -> None:
    """Wait until the dispatchers' matcher has queued a delivery for every record on the bus, then until
    no delivery of an active subscription is pending any more.

    The first wait matters: "nothing pending" also holds while the matcher (a consumer group, which on
    Kafka may still be rebalancing between the two API processes) has not inserted the deliveries of the
    last records yet. The group commits a record's offset only after its deliveries are committed in the
    outbox, so a lag of 0 on both topics means every delivery exists."""
    deadline = time.monotonic() + within
    while True:
        lag = {t: await bus.lag(group, t) for t in (TOPIC_GAME_EVENTS, TOPIC_NOTABLE_MOMENTS)}
        if not any(n for per_partition in lag.values() for n in per_partition.values()):
            break
        assert time.monotonic() < deadline, f"the webhook matcher still lags after {within} s: {lag}"
        await asyncio.sleep(0.2)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            cur = await conn.execute(
                "SELECT count(*) FROM webhook_deliveries d"
                " JOIN webhook_subscriptions s ON s.id = d.subscription_id"
                " WHERE d.next_attempt_at IS NOT NULL AND s.status = 'active'"
            )
            row = await cur.fetchone()
            if row is not None and row[0] == 0:
                return
            await asyncio.sleep(0.2)
    raise AssertionError("webhook deliveries still pending after the timeout")


PRODUCTION = pytest.param("production", marks=[pytest.mark.kafka, pytest.mark.s3, pytest.mark.pgserver])


@pytest.fixture(scope="module", params=["embedded", PRODUCTION])
async def live(
    request: pytest.FixtureRequest,
    shared_data: Path,
    pg_server: EmbeddedPostgres,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Live]:
    tmp = tmp_path_factory.mktemp("webhooks")
    prefix = f"webhooks-{uuid.uuid4().hex[:8]}"
    if request.param == "embedded":
        databases = _fresh_database(pg_server)
        settings = Settings(
            data_dir=tmp / "data",
            database_url=next(databases),
            object_store_url=f"file://{tmp / 'objects'}",
            **FAST,
        )
    else:  # PostgreSQL server, Kafka + Apicurio, S3 on SeaweedFS, under prefixes of their own
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
            partitions=3,
            **FAST,
        )
    recordings = scan_recordings(shared_data / "statsapi")
    recordings = dataclasses.replace(recordings, games={GAME: recordings.games[GAME]})
    feed = recordings.games[GAME]
    backends = await open_backends(settings)
    receiver = Receiver()
    standin = StandIn(recordings, speed=SPEED, start_in=300)
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(lambda: next(databases, None))
        if request.param == "production":
            stack.callback(delete_topics, f"{prefix}.")
        purge = getattr(backends.store, "purge_buckets", None)
        if purge is not None:
            stack.push_async_callback(purge)
        stack.push_async_callback(backends.aclose)
        rserver, _ = await serve(receiver.app(), "127.0.0.1", 0)
        await stack.enter_async_context(rserver)
        receiver.url = rserver.url
        ctx = ApiContext(settings, backends.database_url, backends.bus, backends.codec)
        aserver, _ = await serve(create_app(ctx), "127.0.0.1", 0)
        await stack.enter_async_context(aserver)
        # a second API process: its dispatcher joins the same consumer group and claims from the same outbox
        second = ApiContext(settings, backends.database_url, backends.bus, backends.codec)
        sserver, _ = await serve(create_app(second), "127.0.0.1", 0)
        await stack.enter_async_context(sserver)
        keys = await _keys(backends.database_url)
        teams = _teams(feed)
        subs: dict[str, dict[str, Any]] = {}
        plan = {
            "all": ("alice", {"url": f"{receiver.url}/all"}),
            "plays": ("alice", {"url": f"{receiver.url}/plays", "event_types": ["PlayCompleted"],
                                "game_pks": [GAME]}),
            "other_game": ("bob", {"url": f"{receiver.url}/other", "game_pks": [747175]}),
            "home_team": ("bob", {"url": f"{receiver.url}/team", "team_ids": [teams[1]],
                                  "event_types": ["GameFinal", "NotableMoment"]}),
            "other_team": ("bob", {"url": f"{receiver.url}/team-other", "team_ids": [999999]}),
            "flaky": ("alice", {"url": f"{receiver.url}/flaky", "event_types": ["GameFinal", "GameInfo"]}),
            "dead": ("alice", {"url": f"{receiver.url}/dead", "event_types": ["ScoreChanged"]}),
            "gone": ("alice", {"url": f"{receiver.url}/gone", "event_types": ["GameFinal"]}),
        }  # fmt: skip
        async with httpx.AsyncClient(base_url=aserver.url, timeout=30) as http:
            for name, (owner, body) in plan.items():
                resp = await http.post(
                    "/v1/webhooks", json=body, headers={"Authorization": f"Bearer {keys[owner]}"}
                )
                assert resp.status_code == 201, resp.text
                subs[name] = resp.json()
        base = await standin.start()
        stack.push_async_callback(standin.stop)
        async with MLBClient(base, timeout=10, retries=3) as client:
            pipeline = Pipeline(backends, client, standin.clock, CONFIG)
            await asyncio.wait_for(pipeline.run(asyncio.Event(), until_done=True), timeout=300)
        expected: dict[str, str] = {}
        for topic in (TOPIC_GAME_EVENTS, TOPIC_NOTABLE_MOMENTS):
            async for record in backends.bus.read(topic):
                event = await backends.codec.decode(record.value)
                if event.game_pk == GAME:
                    expected[event.event_id] = event.event_type
        await _settled(backends.database_url, backends.bus, settings.webhook_group)
        yield Live(aserver.url, receiver, subs, keys, backends.database_url, expected, teams, settings, ctx)


def _teams(game: Any) -> tuple[int, int]:
    teams = game.feed["gameData"]["teams"]
    return int(teams["away"]["id"]), int(teams["home"]["id"])


def _verified(r: Received, secret: str) -> bool:
    return verify_signature(secret, r.headers["sts-signature"], r.body)


async def _deliveries(live: Live, name: str, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    async with live.client() as http:
        while True:
            q = {"limit": 7, **params, **({"cursor": cursor} if cursor else {})}
            resp = await http.get(f"/v1/webhooks/{live.subs[name]['id']}/deliveries", params=q)
            assert resp.status_code == 200, resp.text
            body = resp.json()
            out += body["items"]
            cursor = body["next_cursor"]
            if cursor is None:
                return out


async def test_every_event_of_the_replayed_game_arrives_signed(live: Live) -> None:
    got = live.receiver.at("/all")
    secret = live.subs["all"]["secret"]
    by_id = {r.headers["sts-webhook-id"]: r for r in got}
    assert len(live.expected) > 300  # pitches, plays, status changes… of a whole game
    assert set(by_id) == set(live.expected)
    assert len(got) == len(live.expected)  # each once: the receiver never failed, and two processes
    # sharing the consumer group and the outbox never sent the same delivery twice
    for event_id, r in by_id.items():
        assert _verified(r, secret)
        body = json.loads(r.body)
        assert (
            body["id"] == event_id and body["type"] == live.expected[event_id] == r.headers["sts-event-type"]
        )
        assert body["game_pk"] == GAME and body["data"]["event_id"] == event_id
        assert r.headers["sts-signature"].startswith(f"t={r.headers['sts-timestamp']},v1=")
    assert {"Pitch", "PlayCompleted", "GameFinal"} <= set(live.expected.values())


async def test_tampered_body_old_timestamp_or_wrong_secret_fail_verification(live: Live) -> None:
    r = live.receiver.at("/all")[0]
    secret = live.subs["all"]["secret"]
    header = r.headers["sts-signature"]
    t = int(r.headers["sts-timestamp"])
    assert verify_signature(secret, header, r.body, now=t + 10)
    assert not verify_signature(secret, header, r.body + b" ", now=t)
    assert not verify_signature(secret, header, r.body.replace(b'"id"', b'"Id"', 1), now=t)
    assert not verify_signature(secret, header, r.body, now=t + 301)  # outside the 5-minute window
    assert not verify_signature(secret, header, r.body, now=t - 301)
    assert not verify_signature(live.subs["plays"]["secret"], header, r.body, now=t)
    assert not verify_signature(secret, "t=abc,v1=00", r.body, now=t)
    assert not verify_signature(secret, f"t={t}", r.body, now=t)


async def test_filters_by_event_type_game_and_team(live: Live) -> None:
    plays = {r.headers["sts-webhook-id"] for r in live.receiver.at("/plays")}
    assert plays == {e for e, t in live.expected.items() if t == "PlayCompleted"}
    assert all(_verified(r, live.subs["plays"]["secret"]) for r in live.receiver.at("/plays"))
    assert live.receiver.at("/other") == []  # another game
    assert live.receiver.at("/team-other") == []  # a team that did not play
    team = {r.headers["sts-webhook-id"] for r in live.receiver.at("/team")}
    assert team == {e for e, t in live.expected.items() if t in ("GameFinal", "NotableMoment")}
    assert team


async def test_a_500_is_retried_after_a_backoff_and_then_delivered(live: Live) -> None:
    tries = live.receiver.at("/flaky")
    wanted = {e for e, t in live.expected.items() if t in ("GameFinal", "GameInfo")}
    by_event: dict[str, list[Received]] = defaultdict(list)
    for r in tries:
        by_event[r.headers["sts-webhook-id"]].append(r)
    assert set(by_event) == wanted
    for attempts in by_event.values():
        assert len(attempts) == 2
        assert [a.headers["sts-delivery-attempt"] for a in attempts] == ["1", "2"]
        gap = attempts[1].at - attempts[0].at
        assert gap >= 0.5 * FAST["webhook_backoff_base"]  # backoff × jitter in [0.5, 1]
        assert attempts[0].body == attempts[1].body  # the same delivery
    rows = await _deliveries(live, "flaky")
    assert {d["event_id"] for d in rows} == wanted
    assert all(d["status"] == "delivered" and d["attempts"] == 2 and d["last_status"] == 200 for d in rows)
    async with await psycopg.AsyncConnection.connect(live.database_url) as conn:
        cur = await conn.execute(
            "SELECT a.attempt, a.status_code, a.outcome FROM webhook_attempts a JOIN webhook_deliveries d"
            " ON d.id = a.delivery_id WHERE d.subscription_id = %s ORDER BY d.id, a.attempt",
            (live.subs["flaky"]["id"],),
        )
        assert set(await cur.fetchall()) == {(1, 500, "failed"), (2, 200, "delivered")}
    async with live.client() as http:
        sub = (await http.get(f"/v1/webhooks/{live.subs['flaky']['id']}")).json()
    assert sub["status"] == "active" and sub["consecutive_failures"] == 0
    # the attempts are counted by outcome (this process serves both API apps, so it saw all of them)
    counted = {o: REGISTRY.get_sample_value("sts_webhook_deliveries_total", {"outcome": o}) or 0
               for o in ("delivered", "failed", "gave_up")}  # fmt: skip
    assert counted["failed"] >= len(wanted) and counted["delivered"] >= len(live.expected) + 2 * len(wanted)
    assert counted["gave_up"] >= 2


async def test_an_endpoint_that_always_fails_gets_its_subscription_disabled(live: Live) -> None:
    async with live.client() as http:
        sub = (await http.get(f"/v1/webhooks/{live.subs['dead']['id']}")).json()
    assert sub["status"] == "disabled"
    assert sub["disabled_reason"] == "2 deliveries in a row failed (last: HTTP 500: down for maintenance)"
    rows = await _deliveries(live, "dead")
    given_up = [d for d in rows if d["status"] == "gave_up"]
    assert len(given_up) >= 2 and all(d["attempts"] == 3 for d in given_up)
    # every attempt reached the receiver, and none was made after the disabling
    assert len(live.receiver.at("/dead")) == sum(d["attempts"] for d in rows)
    # a 410 is permanent: one attempt per delivery, no retry
    gone = await _deliveries(live, "gone")
    assert gone and all(
        d["status"] == "gave_up" and d["attempts"] == 1 and d["last_status"] == 410 for d in gone
    )


async def test_enable_resumes_pending_deliveries(live: Live) -> None:
    sub_id = live.subs["dead"]["id"]
    pending = [d for d in await _deliveries(live, "dead") if d["status"] == "pending"]
    async with live.client("alice") as http:
        resp = await http.post(f"/v1/webhooks/{sub_id}/enable")
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "active" and resp.json()["disabled_reason"] is None
    # The receiver still fails: the pending deliveries are tried again and given up. How many were still
    # pending when the subscription was disabled depends on timing (deliveries are retried concurrently
    # while later ScoreChanged events are matched), and enabling resets the failure count; so it is
    # disabled again only when at least ``webhook_disable_after`` of them are given up in a row.
    limit = live.settings.webhook_disable_after
    ids = {d["id"] for d in pending}

    async def now() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The subscription, and which of those deliveries were given up (read first: a delivery given up
        and the subscription's count change in one transaction)."""
        given_up = [d for d in await _deliveries(live, "dead") if d["id"] in ids and d["status"] == "gave_up"]
        async with live.client() as http:
            return (await http.get(f"/v1/webhooks/{sub_id}")).json(), given_up

    deadline = time.monotonic() + 60
    while True:
        sub, given_up = await now()
        if sub["status"] == "disabled" if len(pending) >= limit else len(given_up) == len(pending):
            break
        assert time.monotonic() < deadline, (len(pending), sub, given_up)
        await asyncio.sleep(0.2)
    sub, given_up = await now()  # read once more in that order, now that it has settled
    assert all(d["attempts"] == live.settings.webhook_max_attempts for d in given_up)
    if len(pending) >= limit:
        assert len(given_up) >= limit and sub["disabled_reason"].startswith(f"{limit} deliveries in a row")
    else:  # too few to reach the limit: given up, counted, still active
        assert sub["status"] == "active" and sub["consecutive_failures"] == len(pending)


async def test_deliveries_are_listed_page_by_page(live: Live) -> None:
    rows = await _deliveries(live, "plays")
    assert len(rows) == len({d["id"] for d in rows}) == len(live.receiver.at("/plays"))
    stamps = [(d["created_at"], d["id"]) for d in rows]
    assert stamps == sorted(stamps, reverse=True)
    assert all(d["status"] == "delivered" and d["attempts"] == 1 for d in rows)
    assert len(await _deliveries(live, "plays", status="gave_up")) == 0
    async with live.client() as http:
        bad = await http.get(f"/v1/webhooks/{live.subs['plays']['id']}/deliveries", params={"cursor": "!!"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_cursor"


async def test_ping_rotation_and_redirects(live: Live) -> None:
    async with live.client("alice") as http:
        created = await http.post("/v1/webhooks", json={"url": f"{live.receiver.url}/ping"})
        assert created.status_code == 201
        sub = created.json()
        old = sub["secret"]
        ping = await http.post(f"/v1/webhooks/{sub['id']}/test")
        assert ping.status_code == 200 and ping.json()["delivered"] is True, ping.text
        assert ping.json()["delivery"]["event_type"] == "ping"
        first = live.receiver.at("/ping")[-1]
        assert _verified(first, old)
        rotated = await http.post(f"/v1/webhooks/{sub['id']}/rotate-secret")
        new = rotated.json()["secret"]
        assert new != old and rotated.json()["previous_secret_valid_until"]
        await http.post(f"/v1/webhooks/{sub['id']}/test")
        second = live.receiver.at("/ping")[-1]
        assert _verified(second, new) and _verified(second, old)  # both during the grace period
        moved = await http.post("/v1/webhooks", json={"url": f"{live.receiver.url}/moved"})
        result = (await http.post(f"/v1/webhooks/{moved.json()['id']}/test")).json()
        assert result["delivered"] is False and result["status_code"] == 302
        assert "not followed" in result["error"]
        assert not [r for r in live.receiver.got if r.path == "/ok"]  # the redirect target was not asked


async def test_timeouts_and_refused_connections_are_reported(live: Live) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    async with live.client("alice") as http:
        for url, error in ((f"{live.receiver.url}/slow", "timeout after 3 s"),
                           (f"http://127.0.0.1:{port}/hook", "connection error: ConnectError")):  # fmt: skip
            sub = (await http.post("/v1/webhooks", json={"url": url})).json()
            result = (await http.post(f"/v1/webhooks/{sub['id']}/test")).json()
            assert result["delivered"] is False and result["status_code"] is None
            assert result["error"] == error and result["delivery"]["status"] == "gave_up"


async def test_secrets_are_shown_once_and_subscriptions_are_private(live: Live) -> None:
    sub_id = live.subs["all"]["id"]
    async with live.client("alice") as alice, live.client("bob") as bob, live.client() as admin:
        mine = (await alice.get("/v1/webhooks", params={"limit": 500})).json()["items"]
        assert sub_id in {s["id"] for s in mine} and all("secret" not in s for s in mine)
        assert "secret" not in (await alice.get(f"/v1/webhooks/{sub_id}")).json()
        theirs = await bob.get(f"/v1/webhooks/{sub_id}")
        assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "not_found"
        assert (await bob.delete(f"/v1/webhooks/{sub_id}")).status_code == 404
        assert sub_id not in {s["id"] for s in (await bob.get("/v1/webhooks")).json()["items"]}
        everyone = (await admin.get("/v1/webhooks", params={"limit": 500})).json()["items"]
        assert {s["id"] for s in live.subs.values()} <= {s["id"] for s in everyone}
        # a key without the stream scope cannot register webhooks
        async with httpx.AsyncClient(
            base_url=live.api, headers={"Authorization": f"Bearer {live.keys['reader']}"}
        ) as reader:
            assert (
                await reader.post("/v1/webhooks", json={"url": f"{live.receiver.url}/x"})
            ).status_code == 403
        gone = await alice.post("/v1/webhooks", json={"url": f"{live.receiver.url}/tmp"})
        assert (await alice.delete(f"/v1/webhooks/{gone.json()['id']}")).status_code == 204
        assert (await alice.get(f"/v1/webhooks/{gone.json()['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/hook", "invalid_url"),
        ("file:///etc/passwd", "invalid_url"),
        ("http://user:pw@example.com/hook", "invalid_url"),
        ("http:///nohost", "invalid_url"),
        ("http://example.com:99999/", "invalid_url"),
        ("not a url", "invalid_url"),
    ],
)
async def test_bad_urls_are_refused_with_the_standard_error(live: Live, url: str, code: str) -> None:
    async with live.client("alice") as http:
        resp = await http.post("/v1/webhooks", json={"url": url})
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == code and resp.json()["error"]["status"] == 422


async def test_bad_bodies_get_the_standard_error(live: Live) -> None:
    async with live.client("alice") as http:
        for body in (
            {"url": f"{live.receiver.url}/x", "event_types": ["NoSuchEvent"]},
            {"urls": "x"},
            [1, 2],
        ):
            resp = await http.post("/v1/webhooks", json=body)
            assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_parameters"
        resp = await http.post(
            "/v1/webhooks", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_parameters"
        assert (await http.get("/v1/webhooks/not-a-uuid")).status_code == 422


async def test_private_addresses_are_refused_by_default(live: Live) -> None:
    with pytest.raises(UnsafeUrl):
        await check_destination("http://127.0.0.1:9/hook", allow_private=False)
    with pytest.raises(UnsafeUrl):
        await check_destination("http://169.254.169.254/latest/meta-data", allow_private=False)
    with pytest.raises(UnsafeUrl):
        await check_destination("http://[::1]/hook", allow_private=False)
    with pytest.raises(UnsafeUrl):
        check_url("gopher://example.com/")
    settings = live.settings.model_copy(update={"webhook_allow_private": False})
    strict = dataclasses.replace(live.ctx, settings=settings, bus=None, pool=None, extras={})
    server, _ = await serve(create_app(strict), "127.0.0.1", 0)
    async with (
        server,
        httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {live.keys['alice']}"}
        ) as http,
    ):
        resp = await http.post("/v1/webhooks", json={"url": f"{live.receiver.url}/inward"})
    assert resp.status_code == 422 and "non-public" in resp.json()["error"]["message"]


def _cli(*args: str) -> Any:
    """``sts`` in this process (structlog's configuration put back: the runner's stderr closes after)."""
    import structlog
    from typer.testing import CliRunner

    from sts.cli import _register, app

    _register()
    saved = structlog.get_config()
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        structlog.configure(**saved)


async def test_cli_lists_disables_and_enables(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STS_DATABASE_URL", live.database_url)
    listed = await asyncio.to_thread(_cli, "webhooks", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = {r["id"]: r for r in json.loads(listed.stdout)}
    plays = rows[live.subs["plays"]["id"]]
    assert plays["delivered"] == len(live.receiver.at("/plays")) and plays["pending"] == 0
    assert "whsec_" not in listed.stdout  # secrets are never printed
    table = await asyncio.to_thread(_cli, "webhooks", "list")
    assert table.exit_code == 0 and "whsec_" not in table.stdout
    sub_id = live.subs["other_team"]["id"]
    off = await asyncio.to_thread(_cli, "webhooks", "disable", sub_id, "--reason", "abuse report")
    assert off.exit_code == 0, off.output
    async with live.client() as http:
        sub = (await http.get(f"/v1/webhooks/{sub_id}")).json()
        assert sub["status"] == "disabled" and sub["disabled_reason"] == "abuse report"
        assert (await asyncio.to_thread(_cli, "webhooks", "enable", sub_id)).exit_code == 0
        assert (await http.get(f"/v1/webhooks/{sub_id}")).json()["status"] == "active"
    dead = await asyncio.to_thread(_cli, "webhooks", "deliveries", live.subs["gone"]["id"], "--json")
    assert dead.exit_code == 0 and {d["last_status"] for d in json.loads(dead.stdout)} == {410}
    missing = await asyncio.to_thread(_cli, "webhooks", "enable", str(uuid.uuid4()))
    assert missing.exit_code == 1
