"""Routes: live streams of game events, over Server-Sent Events and WebSocket (scope ``stream``).

- ``GET /v1/stream/games`` and ``GET /v1/stream/games/{game_pk}``: ``text/event-stream``. The first
  message is ``event: open`` (its ``id:`` is the position the stream starts at), then one message per
  event (``id:`` its position, ``event:`` its type, ``data:`` its JSON), a ``: heartbeat`` comment after
  ``stream_heartbeat_seconds`` of silence, and ``event: dropped`` (with the reason) if the server gives
  up on a client that reads too slowly, before it closes the stream.
- ``/v1/ws/games`` and ``/v1/ws/games/{game_pk}``: WebSocket, one JSON text message per event (the same
  JSON plus ``position``) and control messages ``{"control": "open" | "heartbeat" | "dropped", …}``.
  The client may send ``{"resume": "<position>"}`` at any time to restart from that position.

Filters: ``types=Pitch,PlayCompleted``. Resume: ``Last-Event-ID`` (header, which wins, or the
``last_event_id`` query parameter) replays from the bus what followed the position, then goes on live
with neither gap nor duplicate (see :func:`stream_items`). Positions: :mod:`sts.api.positions`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Header, Path, Query, Request, WebSocket, WebSocketDisconnect
from starlette.responses import StreamingResponse

from sts.api.context import ApiContext
from sts.api.deps import require
from sts.api.errors import ApiError, ErrorBody
from sts.api.hub import EventHub, HubEvent, get_hub
from sts.api.positions import STREAM_TOPICS, PositionError, Vector, decode, encode
from sts.errors import STSError
from sts.metrics import STREAM_CLIENTS, STREAM_EVENTS_SENT

log = structlog.get_logger(__name__)

router = APIRouter(tags=["stream"])

BIGINT = 2**63 - 1
GamePk = Annotated[int, Path(ge=-BIGINT, le=BIGINT, description="MLB's gamePk")]
Types = Annotated[
    str | None,
    Query(
        max_length=2000,
        pattern=r"^[A-Za-z0-9_,]*$",
        description="comma-separated event types to receive (default: all), e.g. `Pitch,PlayCompleted`",
    ),
]
LastEventIdQuery = Annotated[
    str | None,
    Query(max_length=4096, description="resume after this position (the `id` of the last event received)"),
]
LastEventIdHeader = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID", max_length=4096, description="resume after this position (wins over the query)"
    ),
]

SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "an endless `text/event-stream` (see docs/streams.md)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    400: {"model": ErrorBody, "description": "a bad `Last-Event-ID` or an unknown event type"},
    503: {"model": ErrorBody, "description": "this server has no event bus to stream from"},
}
SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
SSE_RETRY_MS = 2000  # how long EventSource waits before it reconnects
HUB_WAIT = 5.0  # seconds a request waits for a hub that has not reached the bus yet
REPLAY_BATCH = 100  # events of a resume's replay sent in one write


@dataclass(frozen=True)
class Item:
    """What a stream sends next: ``kind`` open / event / heartbeat / dropped, at ``position``."""

    kind: str
    position: str
    event: HubEvent | None = None
    reason: str | None = None


@dataclass(frozen=True)
class StreamRequest:
    """A checked stream request: the hub, the filters and where to start (``None``: live now)."""

    ctx: ApiContext
    hub: EventHub
    game_pk: int | None
    types: frozenset[str] | None
    resume: Vector | None


async def stream_items(req: StreamRequest) -> AsyncIterator[list[Item]]:
    """The items of one stream client, in batches (what is ready to be sent at once).

    The subscription to the hub is taken first, so every record after the hub's current position is
    buffered in its queue. A resuming client is then sent, from ``bus.read``, the records after its
    position up to the end of the log as of that read (which is at or past the hub's position); the
    buffered live records at or before what it was sent are skipped by offset. So nothing is missed
    and nothing is sent twice; order holds per partition (thus per game), as on the bus.

    A live event's position is the hub's position after it (every record before it was offered to
    this client first), merged with what a resume's replay read further; so positions advance in
    every partition, even in those a filter skips, and a later resume replays little.
    """
    hub, ctx = req.hub, req.ctx
    sub = hub.subscribe(req.game_pk, req.types)
    vector = {t: dict(v) for t, v in (req.resume if req.resume is not None else sub.start).items()}
    try:
        yield [Item("open", encode(vector))]
        if req.resume is not None:
            assert ctx.bus is not None
            batch: list[Item] = []
            for topic in STREAM_TOPICS.values():
                async for record in ctx.bus.read(topic, from_offsets=vector[topic]):
                    vector[topic][record.partition] = record.offset + 1
                    ev = await hub.decode(record)
                    if ev is not None and sub.matches(ev):
                        batch.append(Item("event", encode(vector), ev))
                        if len(batch) >= REPLAY_BATCH:
                            yield batch
                            batch = []
            if batch:
                yield batch
        # a new client starts at the hub's position, which every later event's hub position covers; a
        # resumed one may have read further than the hub has fanned out yet
        ahead = req.resume is not None
        heartbeat = ctx.settings.stream_heartbeat_seconds
        while True:
            try:
                async with asyncio.timeout(heartbeat):  # (no task per wait, unlike wait_for)
                    first = await sub.queue.get()
            except TimeoutError:
                yield [Item("heartbeat", encode(vector))]
                continue
            ready = [first]
            while not sub.queue.empty():
                ready.append(sub.queue.get_nowait())
            items = []
            for ev in ready:
                if ev is None:
                    items.append(Item("dropped", encode(vector), reason=sub.dropped))
                    yield items
                    return
                if ev.offset < vector.get(ev.topic, {}).get(ev.partition, 0):
                    continue  # already sent from the replay
                assert ev.vector is not None
                if not ahead:  # the common case: the hub's position after the event is the client's
                    vector = ev.vector
                    items.append(Item("event", ev.position, ev))
                    continue
                # the replay went further than the hub had got in some partition: merge
                vector = {t: dict(v) for t, v in vector.items()}
                for topic, offsets in ev.vector.items():
                    mine = vector.setdefault(topic, {})
                    for p, o in offsets.items():
                        if o > mine.get(p, 0):
                            mine[p] = o
                ahead = vector != ev.vector
                items.append(Item("event", encode(vector), ev))
            if items:
                yield items
    finally:
        sub.close()


async def open_stream(
    ctx: ApiContext, game_pk: int | None, types: str | None, last_event_id: str | None
) -> StreamRequest:
    """Check a stream request (raises :class:`ApiError` 400/503) before anything is sent."""
    hub = get_hub(ctx)
    if hub is None or ctx.bus is None:
        raise ApiError(503, "live streams need an event bus; this server has none", "no_event_bus")
    if hub.subscribers >= ctx.settings.stream_max_clients:
        raise ApiError(
            503,
            f"this server already serves {hub.subscribers} streams, its limit; try another or later",
            "too_many_streams",
            headers={"Retry-After": "5"},
        )
    if not hub.started.is_set():
        try:
            await asyncio.wait_for(hub.started.wait(), HUB_WAIT)
        except TimeoutError:
            raise ApiError(
                503, "the live stream is not connected to the event bus yet", "stream_not_ready"
            ) from None
    wanted: frozenset[str] | None = None
    if types:
        wanted = frozenset(t for t in types.split(",") if t)
        if ctx.codec is not None:
            unknown = sorted(wanted - set(ctx.codec.event_types))
            if unknown:
                raise ApiError(
                    400,
                    f"unknown event type(s): {', '.join(unknown)}",
                    "unknown_event_type",
                    details={"known": ctx.codec.event_types},
                )
    # a game need not be known yet: a client may connect before the schedule brings it
    resume: Vector | None = None
    if last_event_id is not None:
        try:
            ends = {topic: await ctx.bus.end_offsets(topic) for topic in STREAM_TOPICS.values()}
        except STSError as exc:
            log.warning("stream resume: the event bus cannot be reached", error=str(exc))
            raise ApiError(503, "the event bus cannot be reached now; try again", "bus_unavailable") from None
        try:
            resume = decode(last_event_id, ends)
        except PositionError as exc:
            raise ApiError(400, f"bad Last-Event-ID: {exc}", "bad_position") from None
        backlog = sum(ends[t][p] - o for t, offsets in resume.items() for p, o in offsets.items())
        if backlog > ctx.settings.stream_max_replay:
            raise ApiError(
                400,
                f"this position is {backlog} records behind, more than a stream replays "
                f"({ctx.settings.stream_max_replay}); catch up with the REST API or an export, then "
                "connect without Last-Event-ID",
                "position_too_old",
            )
    return StreamRequest(ctx, hub, game_pk, wanted, resume)


# ---- Server-Sent Events -----------------------------------------------------------------------------


def sse_message(item: Item) -> str:
    if item.kind == "event":
        assert item.event is not None
        return f"id: {item.position}\nevent: {item.event.event_type}\ndata: {item.event.data}\n\n"
    if item.kind == "heartbeat":
        return ": heartbeat\n\n"
    if item.kind == "open":
        data = json.dumps({"position": item.position})
        return f"retry: {SSE_RETRY_MS}\nid: {item.position}\nevent: open\ndata: {data}\n\n"
    data = json.dumps({"reason": item.reason, "position": item.position})
    return f"event: dropped\ndata: {data}\n\n"


async def sse_body(req: StreamRequest) -> AsyncIterator[str]:
    STREAM_CLIENTS.labels("sse").inc()
    sent = STREAM_EVENTS_SENT.labels("sse")
    batches = stream_items(req)
    try:
        async for batch in batches:
            sent.inc(sum(item.kind == "event" for item in batch))
            yield "".join(sse_message(item) for item in batch)
    finally:
        await batches.aclose()  # type: ignore[attr-defined]
        STREAM_CLIENTS.labels("sse").dec()


async def _sse(
    request: Request, game_pk: int | None, types: str | None, query_id: str | None, header_id: str | None
) -> StreamingResponse:
    req = await open_stream(request.app.state.ctx, game_pk, types, header_id or query_id)
    return StreamingResponse(sse_body(req), media_type="text/event-stream", headers=SSE_HEADERS)


@router.get(
    "/stream/games",
    summary="Live events of every game (Server-Sent Events)",
    response_class=StreamingResponse,
    responses=SSE_RESPONSES,
    dependencies=[Depends(require("stream"))],
)
async def stream_all_games(
    request: Request,
    types: Types = None,
    last_event_id: LastEventIdQuery = None,
    last_event_id_header: LastEventIdHeader = None,
) -> StreamingResponse:
    return await _sse(request, None, types, last_event_id, last_event_id_header)


@router.get(
    "/stream/games/{game_pk}",
    summary="Live events of one game (Server-Sent Events)",
    response_class=StreamingResponse,
    responses=SSE_RESPONSES,
    dependencies=[Depends(require("stream"))],
)
async def stream_game(
    request: Request,
    game_pk: GamePk,
    types: Types = None,
    last_event_id: LastEventIdQuery = None,
    last_event_id_header: LastEventIdHeader = None,
) -> StreamingResponse:
    return await _sse(request, game_pk, types, last_event_id, last_event_id_header)


# ---- WebSocket -------------------------------------------------------------------------------------


def ws_message(item: Item) -> str:
    if item.kind == "event":
        assert item.event is not None
        return '{"position":' + json.dumps(item.position) + "," + item.event.data[1:]
    body: dict[str, Any] = {"control": item.kind, "position": item.position}
    if item.reason is not None:
        body["reason"] = item.reason
    return json.dumps(body)


async def _ws_send(ws: WebSocket, req: StreamRequest) -> None:
    sent = STREAM_EVENTS_SENT.labels("websocket")
    batches = stream_items(req)
    try:
        async for batch in batches:
            for item in batch:
                await ws.send_text(ws_message(item))
                if item.kind == "event":
                    sent.inc()
                elif item.kind == "dropped":
                    await ws.close(code=1013, reason="too slow; resume from the last position")
                    return
    finally:
        await batches.aclose()  # type: ignore[attr-defined]


async def _ws_error(ws: WebSocket, exc: ApiError) -> None:
    body = {"error": {"code": exc.code, "message": exc.message, "status": exc.status, "details": exc.details}}
    await ws.send_text(json.dumps(body))


async def _ws(ws: WebSocket, game_pk: int | None, types: str | None, last_event_id: str | None) -> None:
    ctx: ApiContext = ws.app.state.ctx
    await ws.accept()
    try:
        req = await open_stream(ctx, game_pk, types, last_event_id)
    except ApiError as exc:
        await _ws_error(ws, exc)
        await ws.close(code=1008, reason=exc.code)
        return
    STREAM_CLIENTS.labels("websocket").inc()
    sender = asyncio.create_task(_ws_send(ws, req))
    receive: asyncio.Future[Any] | None = None
    try:
        while True:
            receive = asyncio.ensure_future(ws.receive())
            done, _ = await asyncio.wait({receive, sender}, return_when=asyncio.FIRST_COMPLETED)
            if sender in done:
                return  # the stream ended (dropped, or the client went away while we sent)
            message = receive.result()
            if message["type"] == "websocket.disconnect":
                return
            try:
                resume = json.loads(message.get("text") or "").get("resume")
                if not isinstance(resume, str):
                    raise ValueError
            except (ValueError, AttributeError):
                await _ws_error(ws, ApiError(400, 'expected {"resume": "<position>"}', "bad_message"))
                continue
            try:
                new = await open_stream(ctx, game_pk, types, resume)
            except ApiError as exc:
                await _ws_error(ws, exc)
                continue
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            sender = asyncio.create_task(_ws_send(ws, new))
    except (WebSocketDisconnect, OSError):
        return
    finally:
        for task in (sender, receive):
            if task is not None:
                task.cancel()
        (outcome,) = await asyncio.gather(sender, return_exceptions=True)
        if isinstance(outcome, Exception) and not isinstance(outcome, WebSocketDisconnect | OSError):
            log.info("websocket stream ended by an error", error=repr(outcome))
        STREAM_CLIENTS.labels("websocket").dec()


@router.websocket("/ws/games", dependencies=[Depends(require("stream"))])
async def ws_all_games(ws: WebSocket, types: Types = None, last_event_id: LastEventIdQuery = None) -> None:
    await _ws(ws, None, types, last_event_id)


@router.websocket("/ws/games/{game_pk}", dependencies=[Depends(require("stream"))])
async def ws_game(
    ws: WebSocket, game_pk: GamePk, types: Types = None, last_event_id: LastEventIdQuery = None
) -> None:
    await _ws(ws, game_pk, types, last_event_id)
