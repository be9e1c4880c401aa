"""Cursor pagination: opaque cursors over a stable sort key, and the ``Page`` envelope.

A list endpoint sorts by a key that is unique per row (append the primary key to the user's sort), asks
the database for ``limit + 1`` rows after the cursor's key, and returns ``limit`` of them with
``next_cursor`` set when there was one more. A cursor is the last row's key, as URL-safe base64 JSON;
clients treat it as opaque. A malformed cursor is a ``400 invalid_cursor``.

```python
@router.get("/things", response_model=Page[Thing])
async def things(p: PageParams = Depends(), conn = Depends(db)):
    after = p.after()            # None or the decoded key (a list)
    rows = ...  WHERE (a, b) > (%s, %s) ORDER BY a, b LIMIT p.limit + 1
    return page(rows, p.limit, key=lambda r: [r["a"], r["b"]])
```
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from sts.api.errors import ApiError

T = TypeVar("T")

MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(key: Sequence[Any]) -> str:
    raw = json.dumps(list(key), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "the cursor is not one this API gave out", "invalid_cursor") from exc
    if not isinstance(key, list):
        raise ApiError(400, "the cursor is not one this API gave out", "invalid_cursor")
    return key


class PageParams:
    """``?limit=&cursor=`` as a dependency."""

    def __init__(
        self,
        limit: int = Query(50, ge=1, le=MAX_LIMIT, description="items per page"),
        cursor: str | None = Query(None, max_length=2048, description="next_cursor of the previous page"),
    ) -> None:
        self.limit = limit
        self.cursor = cursor

    def after(self, arity: int | None = None) -> list[Any] | None:
        if self.cursor is None:
            return None
        key = decode_cursor(self.cursor)
        if arity is not None and len(key) != arity:
            raise ApiError(400, "the cursor is not one this API gave out", "invalid_cursor")
        return key


def page(rows: Sequence[T], limit: int, key: Callable[[T], Sequence[Any]]) -> dict[str, Any]:
    """The page of ``rows`` (fetched with ``limit + 1``) and the cursor after its last row."""
    items = list(rows[:limit])
    nxt = encode_cursor(key(items[-1])) if len(rows) > limit and items else None
    return {"items": items, "next_cursor": nxt}
