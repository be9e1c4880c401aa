"""A local stand-in for statsapi.mlb.com that serves the real recorded responses from ``../shared``.

It answers the Stats API paths the client uses from the files in ``statsapi/`` and can be told to
misbehave for the next requests: answer an error status (with ``Retry-After``), hang, drop the
connection mid-body, or send a truncated JSON body. Every request is logged in ``requests``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

_DIRS = ("", "more", "converted_from_js")


@dataclass(frozen=True)
class Fault:
    kind: str  # "status" | "hang" | "close" | "truncate"
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class _Dropped(Response):
    """Declares the full length, sends half the body, then lets uvicorn close the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        half = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})


@dataclass
class FakeMLB:
    statsapi: Path
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[Seen] = field(default_factory=list)
    overrides: dict[str, bytes] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0

    # ------------------------------------------------------------------ control

    def reset(self) -> None:
        self.faults.clear()
        self.requests.clear()
        self.overrides.clear()
        self.max_in_flight = 0

    def fail_next(self, n: int, status: int = 500, retry_after: str | None = None) -> None:
        self.faults.extend(Fault("status", status, retry_after) for _ in range(n))

    def hang_next(self, n: int, seconds: float) -> None:
        self.faults.extend(Fault("hang", seconds=seconds) for _ in range(n))

    def close_next(self, n: int) -> None:
        self.faults.extend(Fault("close") for _ in range(n))

    def truncate_next(self, n: int) -> None:
        self.faults.extend(Fault("truncate") for _ in range(n))

    def serve_body(self, path: str, body: bytes) -> None:
        """Answer ``path`` (no query) with ``body`` instead of a recorded file."""
        self.overrides[path] = body

    def recorded(self, name: str) -> bytes:
        for sub in _DIRS:
            p = self.statsapi / sub / name
            if p.is_file():
                return p.read_bytes()
        raise FileNotFoundError(name)

    # ------------------------------------------------------------------ routing

    def _timecodes(self, pk: str) -> list[str]:
        return sorted(p.stem.split("_", 3)[3] for p in self.statsapi.glob(f"feed_live_{pk}_*.json"))

    def _resolve(self, path: str, q: dict[str, str]) -> bytes | None:
        if path in self.overrides:
            return self.overrides[path]
        names: list[str] = []
        if m := re.fullmatch(r"/api/v1\.1/game/(\d+)/feed/live", path):
            pk, tc = m[1], q.get("timecode")
            names = [f"feed_live_{pk}_{tc}.json"] if tc else [f"feed_live_{pk}.json"]
            if not tc and (codes := self._timecodes(pk)):
                names.append(f"feed_live_{pk}_{codes[-1]}.json")
        elif m := re.fullmatch(r"/api/v1\.1/game/(\d+)/feed/live/timestamps", path):
            codes = self._timecodes(m[1])
            return json.dumps(codes).encode() if codes else None
        elif m := re.fullmatch(r"/api/v1\.1/game/(\d+)/feed/live/diffPatch", path):
            start, end = q.get("startTimecode", ""), q.get("endTimecode", "")
            if end:
                names = [f"diffPatch_{m[1]}_{start}_to_{end.split('_')[-1]}.json"]
            else:
                names = [p.name for p in self.statsapi.glob(f"diffPatch_{m[1]}_{start}_to_*.json")]
        elif path == "/api/v1/schedule":
            team = f"_team{q['teamId']}" if "teamId" in q else ""
            names = [f"schedule_{q.get('date', '')}{team}.json"]
        elif m := re.fullmatch(r"/api/v1/game/(\d+)/(boxscore|linescore)", path):
            names = [f"{m[2]}_{m[1]}.json"]
        elif path == "/api/v1/game/changes":
            names = ["game_changes.json"]
        elif path == "/api/v1/people":
            names = [f"people_{q.get('personIds', '')}.json"]
        elif path == "/api/v1/teams":
            names = ["teams.json"]
        for name in names:
            try:
                return self.recorded(name)
            except FileNotFoundError:
                continue
        return None

    async def _handle(self, request: Request) -> Response:
        path, q = request.url.path, dict(request.query_params)
        self.requests.append(Seen(path, q, dict(request.headers)))
        fault = self.faults.popleft() if self.faults else None
        if fault and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            return JSONResponse({"message": f"injected {fault.status}"}, fault.status, headers=headers)
        if fault and fault.kind == "hang":
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                await asyncio.sleep(fault.seconds)
            finally:
                self.in_flight -= 1
        body = self._resolve(path, q)
        if body is None:
            return JSONResponse({"messageNumber": 10, "message": "Object not found"}, 404)
        if fault and fault.kind == "close":
            return _Dropped(body, media_type="application/json")
        if fault and fault.kind == "truncate":
            body = body[: len(body) // 2]
        headers = {}
        if "gzip" in request.headers.get("accept-encoding", "") and len(body) > 1024:
            body, headers = gzip.compress(body, compresslevel=1), {"Content-Encoding": "gzip"}
        return Response(body, media_type="application/json", headers=headers)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET"])])
