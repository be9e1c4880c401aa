"""ETag / If-None-Match, Cache-Control by game state, and the server-side cache.

Routes answer through :func:`cached_json`:

```python
return await cached_json(request, key=f"box:{game_pk}", game_pk=game_pk, build=build, conn=conn)
```

``build()`` returns ``(body, game_state)``; ``game_state`` is the game's abstract state (``Preview``,
``Live``, ``Final``) or ``None`` for data not tied to one game. The ETag is a hash of the JSON body; a
request whose ``If-None-Match`` names it gets ``304`` without a body. ``Cache-Control`` follows the
state: a final game changes rarely (5 minutes), a live one every few seconds (5 s), a scheduled one
sometimes (60 s); ``private`` when the request carried a key, ``public`` on a public route.

The server-side cache (``api_cache_entries`` bodies and ``api_cache_max_bytes`` in all, least
recently used dropped first; 0 entries disables it)
keeps the encoded bodies of per-game resources (``game_pk`` given). It is never staler than the last
processed event, because two things guard it:

1. **Invalidation by the event stream.** The cache listens to the process's :class:`EventHub`; every
   record of a game drops that game's entries at once (``sts_api_cache_invalidations_total``).
2. **A version read from the database.** The hub sees an event when it is *published*, which can be
   before the processor has *committed* its rows: a request arriving in between would rebuild the body
   from the old rows and cache it after the invalidation. So every entry is stored with the game's
   version, read by one indexed query *before* the body is built (``games.latest_timecode``, the count
   and newest ``processed_at`` of the game's ``processed_events``, ``box_quality.checked_at`` for the
   derived box), and a lookup serves an entry only when the version read now is the same. A body built
   from rows older than its version never matches again; one built from newer rows is at worst rebuilt
   once. The check costs one small query per request, far less than building a box score.

Lookups count in ``sts_api_cache_lookups_total{result="hit"|"miss"}``.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pydantic_core
from fastapi import Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel
from starlette.responses import Response

from sts.metrics import API_CACHE_INVALIDATIONS, API_CACHE_LOOKUPS

if TYPE_CHECKING:
    import psycopg

    from sts.api.context import ApiContext
    from sts.api.hub import HubEvent

CACHE_CONTROL = {
    "Final": "max-age=300, stale-while-revalidate=60",
    "Live": "max-age=5",
    "Preview": "max-age=60",
    None: "max-age=30",
}


def cache_control(request: Request, state: str | None) -> str:
    """``Cache-Control`` for a body of a game in ``state``: ``private`` when the request carried a key
    (a shared cache must not hand keyed answers to callers without one), ``public`` otherwise."""
    keyed = (
        "authorization" in request.headers
        or "x-api-key" in request.headers
        or "api_key" in request.query_params
    )
    return f"{'private' if keyed else 'public'}, {CACHE_CONTROL.get(state, CACHE_CONTROL[None])}"


VERSION_SQL = """
SELECT g.abstract_state, g.latest_timecode,
       (SELECT count(*) FROM processed_events e WHERE e.game_pk = g.game_pk) AS events,
       (SELECT max(e.processed_at) FROM processed_events e WHERE e.game_pk = g.game_pk) AS processed,
       (SELECT q.checked_at FROM box_quality q WHERE q.game_pk = g.game_pk) AS checked
FROM games g WHERE g.game_pk = %s
"""


@dataclass(frozen=True)
class Entry:
    game_pk: int
    version: tuple[Any, ...]
    body: bytes
    etag: str
    state: str | None


class ServerCache:
    """An LRU of encoded bodies bounded in count and in bytes, tagged by game; :meth:`on_event` drops
    a game's entries."""

    def __init__(self, max_entries: int, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._by_game: dict[int, set[str]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, version: tuple[Any, ...]) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None or entry.version != version:
            API_CACHE_LOOKUPS.labels("miss").inc()
            return None
        self._entries.move_to_end(key)
        API_CACHE_LOOKUPS.labels("hit").inc()
        return entry

    def put(self, key: str, entry: Entry) -> None:
        self._drop(key)
        if len(entry.body) > self.max_bytes:
            return  # larger than the whole cache: not kept
        self._entries[key] = entry
        self.bytes += len(entry.body)
        self._by_game.setdefault(entry.game_pk, set()).add(key)
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def invalidate_game(self, game_pk: int) -> int:
        keys = self._by_game.pop(game_pk, set())
        for key in keys:
            entry = self._entries.pop(key, None)
            if entry is not None:
                self.bytes -= len(entry.body)
        if keys:
            API_CACHE_INVALIDATIONS.inc(len(keys))
        return len(keys)

    def on_event(self, event: HubEvent) -> None:
        """The hub listener: an event of a game makes its cached bodies stale."""
        if event.game_pk is not None:
            self.invalidate_game(event.game_pk)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= len(entry.body)
            keys = self._by_game.get(entry.game_pk)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_game[entry.game_pk]


def get_cache(ctx: ApiContext) -> ServerCache | None:
    """The process's server cache (``None`` when ``api_cache_entries`` is 0), listening to its hub."""
    if ctx.settings.api_cache_entries <= 0:
        return None
    cache = ctx.extras.get("cache")
    if cache is None:
        from sts.api.hub import get_hub

        cache = ctx.extras["cache"] = ServerCache(
            ctx.settings.api_cache_entries, ctx.settings.api_cache_max_bytes
        )
        hub = get_hub(ctx)
        if hub is not None:
            hub.add_listener(cache.on_event)
    assert isinstance(cache, ServerCache)
    return cache


async def game_version(conn: psycopg.AsyncConnection[Any], game_pk: int) -> tuple[Any, ...] | None:
    """What changes whenever the stored game does (see the module docstring); ``None``: no such game."""
    cur = await conn.execute(VERSION_SQL, (game_pk,))
    row = await cur.fetchone()
    if row is None:
        return None
    values = row.values() if isinstance(row, dict) else row
    return tuple(values)


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _answer(request: Request, body: bytes, etag: str, state: str | None, result: str) -> Response:
    headers = {"ETag": etag, "Cache-Control": cache_control(request, state)}
    headers["X-Cache"] = result
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def _models_only(obj: Any) -> bool:
    """True when ``obj`` is made of pydantic models, dicts, lists and JSON scalars only."""
    if obj is None or isinstance(obj, BaseModel | str | int | float | bool):
        return True
    if isinstance(obj, dict):
        return all(isinstance(k, str) and _models_only(v) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return all(_models_only(v) for v in obj)
    return False


def encode(body_obj: Any) -> bytes:
    """The compact JSON of a body. Models (and dicts/lists of them) go through pydantic-core, ~25x
    faster than ``jsonable_encoder`` on a box score; anything else (a ``Decimal``, a ``date`` in a
    plain dict) through ``jsonable_encoder``, which turns such values into JSON numbers and strings."""
    if _models_only(body_obj):
        return pydantic_core.to_json(body_obj, inf_nan_mode="null")
    return json.dumps(jsonable_encoder(body_obj), separators=(",", ":")).encode()


async def cached_json(
    request: Request,
    *,
    key: str,
    game_pk: int | None,
    build: Callable[[], Awaitable[tuple[Any, str | None]]],
    conn: psycopg.AsyncConnection[Any] | None = None,
) -> Response:
    """Answer with ``build()``'s body, from the server cache when it holds the game's current version.

    Only per-game bodies (``game_pk`` and ``conn`` given) are kept server-side; every answer gets an
    ETag and Cache-Control. ``X-Cache: hit|miss|bypass`` says which way the body came."""
    cache = get_cache(request.app.state.ctx) if game_pk is not None and conn is not None else None
    version: tuple[Any, ...] | None = None
    if cache is not None and conn is not None and game_pk is not None:
        version = await game_version(conn, game_pk)  # BEFORE the build: see the module docstring
        if version is not None:
            entry = cache.get(key, version)
            if entry is not None:
                return _answer(request, entry.body, entry.etag, entry.state, "hit")
    body_obj, state = await build()
    body = encode(body_obj)
    etag = _etag(body)
    if cache is not None and version is not None and game_pk is not None:
        cache.put(key, Entry(game_pk, version, body, etag, state))
        return _answer(request, body, etag, state, "miss")
    return _answer(request, body, etag, state, "bypass")
