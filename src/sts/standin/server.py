"""The stand-in's HTTP server: the Stats API's paths and shapes over a :class:`Replay`.

Routes (JSON, GET only):

    /api/v1/schedule                          sportId, date, startDate/endDate, gamePk, teamId
    /api/v1.1/game/{pk}/feed/live             now, or ?timecode=yyyymmdd_HHMMSS
    /api/v1.1/game/{pk}/feed/live/timestamps  timecodes so far
    /api/v1.1/game/{pk}/feed/live/diffPatch   ?startTimecode=A[&endTimecode=B]: RFC 6902 ops
    /api/v1/game/{pk}/boxscore, /linescore    recorded responses once final, else from the feed
    /api/v1/people/{id}, /api/v1/people?personIds=a,b
    /api/v1/teams, /api/v1/teams/{id}
    /api/v1/game/changes                      ?updatedSince=ISO: games whose served state changed since
    /standin/status                           the virtual clock and every game's state

Every request is logged as ``(virtual time, path)`` in :attr:`StandInApp.requests` (the last
``REQUEST_LOG_SIZE``), so a test or benchmark can count, at the server, what clients asked for and when.

Errors use MLB's body ``{messageNumber, message, timestamp, traceId}``: 404 for an unknown game or
person and for a timecode later than the replay has reached, 400 for a malformed parameter.

:class:`StandIn` runs it in-process (uvicorn on 127.0.0.1): ``base_url = await StandIn(...).start()``,
then ``await stop()``. Serialized feeds are cached per (game, state), so polling is cheap.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sts.clock import ScaledClock
from sts.recordings import Recordings, scan_recordings
from sts.standin.faults import FaultInjector, FaultPlan
from sts.standin.replay import FutureTimecode, Replay, UnknownGame
from sts.standin.revisions import Revision

JSON = dict[str, Any]
_CACHE_SIZE = 32
REQUEST_LOG_SIZE = 500_000


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _json(payload: Any, status: int = 200) -> Response:
    return Response(dumps(payload), status_code=status, media_type="application/json;charset=UTF-8")


def mlb_error(status: int, message: str, number: int = 10) -> Response:
    body = {
        "messageNumber": number,
        "message": message,
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "traceId": None,
    }
    return _json(body, status)


def _ints(value: str | None) -> set[int] | None:
    if not value:
        return None
    return {int(x) for x in value.split(",") if x.strip()}


def _date(value: str) -> str:
    """``YYYY-MM-DD`` or MLB's ``MM/DD/YYYY`` as ``YYYY-MM-DD`` (``ValueError`` otherwise)."""
    for fmt in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(value, fmt).date().isoformat()
        except ValueError:
            continue
    raise ValueError(value)


class StandInApp:
    """The Starlette application over one :class:`Replay`."""

    def __init__(self, replay: Replay) -> None:
        self.replay = replay
        self.faults: FaultInjector | None = None  # set by StandIn when faults are injected
        self._feeds: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self.requests: deque[tuple[float, str]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.app = Starlette(
            routes=[
                Route("/api/v1/schedule", self.schedule),
                Route("/api/v1/game/changes", self.changes),
                Route("/api/v1.1/game/{pk:int}/feed/live", self.feed),
                Route("/api/v1/game/{pk:int}/feed/live", self.feed),
                Route("/api/v1.1/game/{pk:int}/feed/live/timestamps", self.timestamps),
                Route("/api/v1.1/game/{pk:int}/feed/live/diffPatch", self.diff_patch),
                Route("/api/v1/game/{pk:int}/feed/live/timestamps", self.timestamps),
                Route("/api/v1/game/{pk:int}/boxscore", self.boxscore),
                Route("/api/v1/game/{pk:int}/linescore", self.linescore),
                Route("/api/v1/people/{pid:int}", self.person),
                Route("/api/v1/people", self.people),
                Route("/api/v1/teams", self.teams),
                Route("/api/v1/teams/{tid:int}", self.team),
                Route("/standin/status", self.status),
                Route("/standin/games/{pk:int}/stall", self.stall, methods=["POST", "DELETE"]),
            ]
        )

    def feed_bytes(self, pk: int, index: int) -> bytes:
        """The serialized feed of ``pk`` at state ``index`` (LRU-cached)."""
        key = (pk, index)
        body = self._feeds.get(key)
        if body is None:
            body = dumps(self.replay.feed(pk, index))
            self._feeds[key] = body
            if len(self._feeds) > _CACHE_SIZE:
                self._feeds.popitem(last=False)
        else:
            self._feeds.move_to_end(key)
        return body

    async def feed(self, request: Request) -> Response:
        pk = int(request.path_params["pk"])
        try:
            index = self.replay.state_index(pk, request.query_params.get("timecode") or None)
        except UnknownGame:
            return mlb_error(404, f"Object not found: game {pk}")
        except FutureTimecode as exc:
            return mlb_error(404, f"No data for game {pk} at timecode {exc.args[0]}")
        except ValueError:
            return mlb_error(400, "Invalid Request with value: timecode", 11)
        body = self.feed_bytes(pk, index)
        return Response(body, media_type="application/json;charset=UTF-8")

    async def diff_patch(self, request: Request) -> Response:
        pk = int(request.path_params["pk"])
        start = request.query_params.get("startTimecode")
        if not start:
            return mlb_error(400, "Invalid Request: startTimecode is required", 11)
        try:
            return _json(self.replay.diff_patch(pk, start, request.query_params.get("endTimecode") or None))
        except UnknownGame:
            return mlb_error(404, f"Object not found: game {pk}")
        except FutureTimecode as exc:
            return mlb_error(404, f"No data for game {pk} at timecode {exc.args[0]}")
        except ValueError:
            return mlb_error(400, "Invalid Request with value: timecode", 11)

    async def timestamps(self, request: Request) -> Response:
        pk = int(request.path_params["pk"])
        try:
            return _json(self.replay.timestamps(pk))
        except UnknownGame:
            return mlb_error(404, f"Object not found: game {pk}")

    async def boxscore(self, request: Request) -> Response:
        pk = int(request.path_params["pk"])
        try:
            return _json(self.replay.boxscore(pk))
        except UnknownGame:
            return mlb_error(404, f"Object not found: game {pk}")

    async def linescore(self, request: Request) -> Response:
        pk = int(request.path_params["pk"])
        try:
            return _json(self.replay.linescore(pk))
        except UnknownGame:
            return mlb_error(404, f"Object not found: game {pk}")

    async def schedule(self, request: Request) -> Response:
        q = request.query_params
        try:
            sport = _ints(q.get("sportId"))
            pks = _ints(q.get("gamePk") or q.get("gamePks"))
            teams = _ints(q.get("teamId"))
            dates = None
            if q.get("date"):
                dates = (_date(q["date"]), _date(q["date"]))
            elif q.get("startDate") or q.get("endDate"):
                dates = (_date(q.get("startDate") or q["endDate"]), _date(q.get("endDate") or q["startDate"]))
        except ValueError:
            return mlb_error(400, "Invalid Request with value: date/sportId/gamePk/teamId", 11)
        if sport is not None and 1 not in sport:
            pks = {-1}  # only MLB (sportId 1) games are replayed
        return _json(self.replay.schedule(dates, pks, teams))

    async def person(self, request: Request) -> Response:
        pid = int(request.path_params["pid"])
        people = self.replay.people([pid])
        if not people:
            return mlb_error(404, f"Object not found: person {pid}")
        return _json({"copyright": self.replay.copyright, "people": people})

    async def people(self, request: Request) -> Response:
        try:
            ids = sorted(_ints(request.query_params.get("personIds")) or set())
        except ValueError:
            return mlb_error(400, "Invalid Request with value: personIds", 11)
        return _json({"copyright": self.replay.copyright, "people": self.replay.people(ids)})

    async def teams(self, request: Request) -> Response:
        return _json(self.replay.teams(request.query_params.get("season")))

    async def team(self, request: Request) -> Response:
        tid = int(request.path_params["tid"])
        resp = self.replay.teams(request.query_params.get("season"))
        found = [t for t in resp.get("teams", []) if t.get("id") == tid]
        if not found:
            return mlb_error(404, f"Object not found: team {tid}")
        return _json({"copyright": self.replay.copyright, "teams": found})

    def logged(self, app: ASGIApp) -> ASGIApp:
        """``app`` with every HTTP request appended to :attr:`requests` as it arrives."""

        async def log_request(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                self.requests.append((self.replay.now(), str(scope.get("path", ""))))
            await app(scope, receive, send)

        return log_request

    async def changes(self, request: Request) -> Response:
        since = request.query_params.get("updatedSince")
        if not since:
            return mlb_error(400, "Invalid Request: updatedSince is required", 11)
        try:
            at = datetime.fromisoformat(since.replace("Z", "+00:00"))
            sports = _ints(request.query_params.get("sportId"))
        except ValueError:
            return mlb_error(400, "Invalid Request with value: updatedSince/sportId", 11)
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return _json(self.replay.changes(at.timestamp(), sports))

    async def stall(self, request: Request) -> Response:
        """``POST /standin/games/{pk}/stall`` freezes the game's feed at its current timecode;
        ``DELETE`` lets it run again (a fault knob: see docs/monitoring.md)."""
        pk = int(request.path_params["pk"])
        try:
            self.replay.stall(pk, request.method == "POST")
        except UnknownGame:
            return mlb_error(404, f"Object not found: game {pk}")
        return _json({"gamePk": pk, "stalled": request.method == "POST"})

    async def status(self, request: Request) -> Response:
        body = self.replay.status()
        if self.faults is not None:
            body["faults"] = self.faults.snapshot()
        return _json(body)


class StandIn:
    """The MLB API stand-in, run in-process.

    ``recordings``: a directory (scanned with :func:`sts.recordings.scan_recordings`) or a scan.
    ``speed``: virtual seconds per real second. ``start_in``: virtual seconds from the start of the
    replay to the first game's first pitch; ``stagger``: virtual seconds between first pitches.
    ``faults``: a :class:`~sts.standin.faults.FaultPlan` to inject upstream faults into ``/api/…``
    requests (counters in ``/standin/status`` under ``faults``).
    ``origin``: the real Unix epoch at which the replay started (default: now), so a restarted
    stand-in resumes the same replay; the virtual clock is ``ScaledClock(origin, <origin as UTC
    datetime>, speed)`` (:attr:`clock`), which the scheduler can share. ``revisions``: corrections
    injected after a game's Final (:mod:`sts.standin.revisions`). ``slate``: replay this many games,
    the recorded ones plus clones of them under other gamePks, each ``slate_shift`` virtual seconds
    later than the one before (:meth:`Replay._add_clones`).
    """

    def __init__(
        self,
        recordings: Path | Recordings,
        speed: float = 1.0,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        start_in: float = 1200.0,
        stagger: float = 0.0,
        origin: float | None = None,
        faults: FaultPlan | None = None,
        revisions: Sequence[Revision] = (),
        slate: int = 0,
        slate_shift: float = 60.0,
    ) -> None:
        self.recordings = recordings if isinstance(recordings, Recordings) else scan_recordings(recordings)
        origin_real = time.time() if origin is None else float(origin)
        self.clock = ScaledClock(origin_real, datetime.fromtimestamp(origin_real, UTC), speed)
        self.replay = Replay(
            self.recordings,
            self.clock,
            start_in=start_in,
            stagger=stagger,
            revisions=revisions,
            slate=slate,
            slate_shift=slate_shift,
        )
        self.http = StandInApp(self.replay)
        self.faults = None if faults is None else FaultInjector(faults, self.http)
        self.http.faults = self.faults
        self.host = host
        self.port = port
        self.base_url: str | None = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        """Bind and serve in the background; returns the base URL (``http://127.0.0.1:<port>``).

        Raises ``OSError`` when the port cannot be bound (the socket is bound here, before uvicorn
        runs, because uvicorn answers a bind failure with ``sys.exit``)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        app = self.http.app if self.faults is None else self.faults.wrap(self.http.app)
        app = self.http.logged(app)  # outermost: faulted requests are counted too
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        server = uvicorn.Server(config)
        self._server = server
        self._task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the stand-in server stopped while starting")
            await asyncio.sleep(0.01)
        port = sock.getsockname()[1]
        self.base_url = f"http://{self.host}:{port}"
        return self.base_url

    async def wait(self) -> None:
        """Wait until the server stops (Ctrl-C, or :meth:`stop`)."""
        if self._task is not None:
            await self._task

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            await self._task
        self._server = None
        self._task = None
