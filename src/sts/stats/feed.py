"""Tolerant access to a GUMBO live feed (``/api/v1.1/game/{pk}/feed/live``) held as parsed JSON.

Pure functions over plain dicts: no I/O. Old or minor-league feeds lack fields, so every accessor
returns a neutral value (``None``, ``{}``, ``[]``) instead of raising.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Feed = Mapping[str, Any]
Play = Mapping[str, Any]


def unwrap(document: Any) -> Feed | None:
    """Return the feed inside ``document``: a plain feed, or a recorded-call envelope
    ``{endpoint, method, path_params, query_params, url, status_code, response}``.

    ``None`` when the document is not a live feed (no ``liveData``/``gameData``).
    """
    if not isinstance(document, Mapping):
        return None
    inner = document.get("response")
    if "liveData" not in document and isinstance(inner, Mapping):
        document = inner
    if "liveData" in document and "gameData" in document:
        feed: Feed = document
        return feed
    return None


def get(obj: Any, *path: str | int, default: Any = None) -> Any:
    """``obj[p0][p1]...`` or ``default`` when any step is missing or of the wrong type."""
    for key in path:
        if isinstance(key, int):
            if not isinstance(obj, list) or not -len(obj) <= key < len(obj):
                return default
            obj = obj[key]
        else:
            if not isinstance(obj, Mapping) or key not in obj:
                return default
            obj = obj[key]
    return default if obj is None else obj


def game_pk(feed: Feed) -> int | None:
    pk = feed.get("gamePk") or get(feed, "gameData", "game", "pk")
    return int(pk) if pk is not None else None


def is_final(feed: Feed) -> bool:
    return bool(get(feed, "gameData", "status", "abstractGameState") == "Final")


def all_plays(feed: Feed) -> list[Play]:
    plays = get(feed, "liveData", "plays", "allPlays", default=[])
    return [p for p in plays if isinstance(p, Mapping)]


def person_id(ref: Any) -> int | None:
    """The id of a ``{"id": ..., "fullName": ...}`` person reference, or ``None``."""
    pid = get(ref, "id")
    return int(pid) if pid is not None else None


def batting_side(play: Play) -> str:
    """``"away"`` bats in the top half, ``"home"`` in the bottom."""
    half = get(play, "about", "halfInning")
    if half is None:
        half = "top" if get(play, "about", "isTopInning", default=True) else "bottom"
    return "away" if half == "top" else "home"


def other(side: str) -> str:
    return "home" if side == "away" else "away"


def player_names(feed: Feed) -> dict[int, str]:
    """Names from ``gameData.players`` (roster data, not statistics)."""
    names: dict[int, str] = {}
    for entry in get(feed, "gameData", "players", default={}).values():
        pid = person_id(entry)
        if pid is not None:
            names[pid] = str(entry.get("fullName", pid))
    return names


def decisions(feed: Feed) -> dict[str, int]:
    """``liveData.decisions``: ``{"winner": id, "loser": id, "save": id}`` (keys absent when none)."""
    out: dict[str, int] = {}
    for key, ref in get(feed, "liveData", "decisions", default={}).items():
        pid = person_id(ref)
        if pid is not None:
            out[key] = pid
    return out


def team_names(feed: Feed) -> dict[str, str]:
    """``{"away": "SD", "home": "SEA"}`` from ``gameData.teams`` (abbreviation, else name, else side)."""
    out: dict[str, str] = {}
    for side in ("away", "home"):
        team = get(feed, "gameData", "teams", side, default={})
        out[side] = str(get(team, "abbreviation") or get(team, "name") or side)
    return out
