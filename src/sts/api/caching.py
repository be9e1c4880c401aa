"""ETag / If-None-Match, Cache-Control by game state, and the server-side cache.

FIRST VERSION (the caching work completes it: a bounded server-side cache invalidated by the event hub).

Routes answer through :func:`cached_json`:

```python
return await cached_json(request, key=f"box:{game_pk}", game_pk=game_pk, build=build)
```

``build()`` returns ``(body, game_state)``; ``game_state`` is the game's abstract state (``Preview``,
``Live``, ``Final``) or ``None`` for data not tied to one game. The ETag is a hash of the JSON body; a
request whose ``If-None-Match`` names it gets ``304`` without a body.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from starlette.responses import Response

CACHE_CONTROL = {
    "Final": "public, max-age=300, stale-while-revalidate=60",
    "Live": "public, max-age=5",
    "Preview": "public, max-age=60",
    None: "public, max-age=30",
}


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


async def cached_json(
    request: Request,
    *,
    key: str,
    game_pk: int | None,
    build: Callable[[], Awaitable[tuple[Any, str | None]]],
) -> Response:
    body_obj, state = await build()
    body = json.dumps(jsonable_encoder(body_obj), separators=(",", ":")).encode()
    etag = _etag(body)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL.get(state, CACHE_CONTROL[None])}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
