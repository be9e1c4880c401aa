"""Tolerant access to a GUMBO live feed (``/api/v1.1/game/{gamePk}/feed/live``).

MLB publishes no schema and the feed changes every season: fields go missing in old games and new
ones appear (2026 adds ABS-challenge data). Nothing here raises on a missing or oddly typed field:
accessors return ``None`` and callers keep whatever they do not model in an ``extra`` JSON string.
All functions are pure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

Json = dict[str, Any]
_DATE = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


def dig(obj: Any, *path: str | int) -> Any:
    """``obj[p0][p1]…`` or ``None`` as soon as a step is missing or of the wrong kind."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(obj, list) or not -len(obj) <= step < len(obj):
                return None
            obj = obj[step]
        else:
            if type(obj) is not dict:  # JSON objects are dicts; no ABC check (hot path)
                return None
            obj = obj.get(step)
            if obj is None:
                return None
    return obj


def as_int(value: Any) -> int | None:
    """An int from an int, an integral float or a numeric string; else ``None`` (bools are not ints)."""
    if type(value) is int:
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def as_float(value: Any) -> float | None:
    """A float from a number or a numeric string; else ``None``."""
    if type(value) is float:  # the common case first: this runs for every pitch coordinate
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def as_str(value: Any) -> str | None:
    """A string from a string or a number; else ``None``."""
    if type(value) is str:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def as_date(value: Any) -> str | None:
    """A ``YYYY-MM-DD`` string, or ``None`` for anything else (so a bad date never fails a write)."""
    if isinstance(value, str) and len(value) == 10 and _DATE.match(value):
        return value
    return None


def as_bool(value: Any) -> bool | None:
    """A bool from a bool; else ``None``."""
    return value if isinstance(value, bool) else None


def as_dict(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def person_id(value: Any) -> int | None:
    """The MLBAM id of a ``{"id": …, "fullName": …}`` reference (or ``None``)."""
    return as_int(dig(value, "id"))


def leftovers(obj: Any, known: Iterable[str]) -> Json:
    """The keys of ``obj`` that are not ``known`` and not empty (``None``, ``{}``, ``[]``)."""
    if type(obj) is not dict:
        return {}
    known_set = known if isinstance(known, frozenset) else frozenset(known)
    return {k: v for k, v in obj.items() if k not in known_set and v is not None and v != {} and v != []}


def dumps(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 kept (the same value always gives the same text)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def extra_json(parts: Mapping[str, Any]) -> str | None:
    """Canonical JSON of the non-empty ``parts`` (each a leftover dict), or ``None`` when all are empty."""
    kept = {k: v for k, v in parts.items() if v not in (None, {}, [])}
    return dumps(kept) if kept else None


# --------------------------------------------------------------------------- feed sections


def unwrap(feed: Any) -> Json:
    """The feed itself, also when given a recorded envelope ``{"endpoint": …, "response": feed}``."""
    if isinstance(feed, dict) and "response" in feed and "gameData" not in feed:
        return as_dict(feed["response"])
    return as_dict(feed)


def game_pk(feed: Json) -> int | None:
    return as_int(feed.get("gamePk")) or as_int(dig(feed, "gameData", "game", "pk"))


def timecode(feed: Json) -> str | None:
    return as_str(dig(feed, "metaData", "timeStamp"))


def all_plays(feed: Json) -> list[Json]:
    return [p for p in as_list(dig(feed, "liveData", "plays", "allPlays")) if isinstance(p, dict)]


def play_index(play: Json, position: int) -> int:
    """A play's ``atBatIndex`` (``about.atBatIndex``, then its position in ``allPlays``)."""
    idx = as_int(play.get("atBatIndex"))
    if idx is None:
        idx = as_int(dig(play, "about", "atBatIndex"))
    return position if idx is None else idx


def play_events(play: Json) -> list[tuple[int, Json]]:
    """``(index, event)`` for each play event (``index`` falls back to the position)."""
    out = []
    for pos, ev in enumerate(as_list(play.get("playEvents"))):
        if isinstance(ev, dict):
            idx = as_int(ev.get("index"))
            out.append((pos if idx is None else idx, ev))
    return out


def status(feed: Json) -> tuple[str | None, str | None, str | None, str | None]:
    """``(abstractGameState, codedGameState, detailedState, statusCode)``."""
    st = as_dict(dig(feed, "gameData", "status"))
    return (
        as_str(st.get("abstractGameState")),
        as_str(st.get("codedGameState")),
        as_str(st.get("detailedState")),
        as_str(st.get("statusCode")),
    )


_NOT_PLAYED = ("Postponed", "Cancelled", "Canceled", "Suspended")


def is_final(feed: Json) -> bool:
    """The game was played to its end: abstract state Final (Game Over or Final), and not a
    postponement, cancellation or suspension (which MLB also files under Final)."""
    abstract, _, detailed, _ = status(feed)
    return abstract == "Final" and not (detailed or "").startswith(_NOT_PLAYED)
