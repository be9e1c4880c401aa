"""Tolerant accessors for the few fields of a Stats API document that transport code reads.

Every function accepts anything (a parsed JSON value of any shape, or ``None``) and returns ``None``
when the field is missing or of the wrong type: MLB adds fields every season and old games lack
some, so nothing here raises. Validation of the structure belongs to ingestion, not to these helpers.
"""

from __future__ import annotations

import math
from typing import Any, Literal

DiffShape = Literal["empty", "patches", "full_feed", "unknown"]


def _meta(doc: Any) -> dict[str, Any] | None:
    if isinstance(doc, dict):
        meta = doc.get("metaData")
        if isinstance(meta, dict):
            return meta
    return None


def meta_wait(doc: Any) -> float | None:
    """``metaData.wait`` (the server's suggested poll interval, seconds) if it is a positive number."""
    meta = _meta(doc)
    if meta is None:
        return None
    value = meta.get("wait")
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value) and value > 0:
        return float(value)
    return None


def meta_timestamp(doc: Any) -> str | None:
    """``metaData.timeStamp`` (the feed's timecode, ``yyyymmdd_HHMMSS`` UTC) if it is a non-empty string."""
    meta = _meta(doc)
    if meta is None:
        return None
    value = meta.get("timeStamp")
    return value if isinstance(value, str) and value else None


def game_pk_of(doc: Any) -> int | None:
    """The top-level ``gamePk`` of a feed (an int, or a digit string coerced to int)."""
    if not isinstance(doc, dict):
        return None
    value = doc.get("gamePk")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def diff_shape(doc: Any) -> DiffShape:
    """Classify a ``diffPatch`` response.

    - ``"empty"``: an empty JSON array (no change since the start timecode).
    - ``"patches"``: a JSON array of objects each carrying a ``diff`` list of RFC 6902 operations.
    - ``"full_feed"``: an object with ``gameData``/``liveData`` (the server sent the whole feed,
      which it does when the start timecode is too old).
    - ``"unknown"``: anything else.
    """
    if isinstance(doc, list):
        if not doc:
            return "empty"
        if all(isinstance(item, dict) and isinstance(item.get("diff"), list) for item in doc):
            return "patches"
        return "unknown"
    if isinstance(doc, dict) and ("liveData" in doc or "gameData" in doc):
        return "full_feed"
    return "unknown"


def patch_timestamp(doc: Any) -> str | None:
    """The ``metaData.timeStamp`` a ``diffPatch`` patch list moves the feed to (the last ``add`` or
    ``replace`` of ``/metaData/timeStamp``), or the feed's own timestamp when ``doc`` is a full feed."""
    if diff_shape(doc) == "full_feed":
        return meta_timestamp(doc)
    found: str | None = None
    if isinstance(doc, list):
        for item in doc:
            ops = item.get("diff") if isinstance(item, dict) else None
            for op in ops if isinstance(ops, list) else ():
                if (
                    isinstance(op, dict)
                    and op.get("path") == "/metaData/timeStamp"
                    and op.get("op") in ("add", "replace")
                    and isinstance(op.get("value"), str)
                ):
                    found = op["value"]
    return found
