"""Fixtures of the fetcher tests: the real recordings, a stand-in on a clock the test steps, and a
fault layer on the stand-in's ``diffPatch`` answers.

The stand-in runs on a nearly frozen clock (``speed`` 0.001) placed mid-game; :func:`advance` moves its
virtual time, so each test decides exactly which states the server shows. :class:`PatchTamper` wraps the
stand-in's ASGI app: for a game it can replace the *next* diffPatch answer by what a function makes
of the server's real answer (the real patch plus a bad op, a patch to an earlier state, a cut body…).
Nothing else is altered: the feeds, timestamps and full-feed answers are the stand-in's own.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sts.adapters.file_store import FileObjectStore
from sts.recordings import Recordings, scan_recordings
from sts.standin.server import StandIn

GAME = 747175  # ends on a walk-off sacrifice fly
MID_GAME = -3600.0  # first pitch one virtual hour before the replay's start

Tamper = Callable[[Any], bytes]
_DIFF = re.compile(r"^/api/v1(?:\.1)?/game/(\d+)/feed/live/diffPatch/?$")


@pytest.fixture(scope="session")
def recordings(shared_data: Path) -> Recordings:
    return scan_recordings(shared_data / "statsapi")


def only(recordings: Recordings, *pks: int) -> Recordings:
    """The recordings restricted to the games ``pks`` (so a replay serves only those)."""
    return dataclasses.replace(recordings, games={pk: recordings.games[pk] for pk in pks})


def advance(standin: StandIn, seconds: float) -> None:
    """Move the stand-in's virtual clock by ``seconds`` (negative: back, as after a restart)."""
    standin.clock.origin_virtual += timedelta(seconds=seconds)


class PatchTamper:
    """ASGI wrapper: ``plan[pk] = f`` makes the next diffPatch answer of ``pk`` ``f(real answer)``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.plan: dict[int, Tamper] = {}
        self.served: list[int] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        match = _DIFF.match(scope.get("path", "")) if scope["type"] == "http" else None
        tamper = self.plan.pop(int(match.group(1)), None) if match else None
        if tamper is None:
            await self.app(scope, receive, send)
            return
        messages: list[Any] = []

        async def keep(message: Any) -> None:
            messages.append(message)

        await self.app(scope, receive, keep)
        real = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        body = tamper(json.loads(real))
        self.served.append(int(match.group(1)))  # type: ignore[union-attr]
        headers = [(b"content-type", b"application/json;charset=UTF-8")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def standin(recordings: Recordings) -> AsyncIterator[StandIn]:
    server = StandIn(only(recordings, GAME), speed=0.001, start_in=MID_GAME)
    server.tamper = PatchTamper(server.http.app)  # type: ignore[attr-defined]
    server.http.app = server.tamper  # type: ignore[attr-defined,assignment]
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[FileObjectStore]:
    s = FileObjectStore(tmp_path / "objects")
    await s.ensure_buckets()
    yield s
    await s.close()
