"""Helpers of the read-side API tests (players, teams, standings, leaders, moments, operations): the
recorded final feeds of the replayed games, MLB's official box lines in them, and a cursor walker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from tests.events.feeds import load

FEEDS = {717055: "feed_live_717055.json", 747175: "recorded/feed_live_747175.stub.json"}
SIDES = ("away", "home")
BATTING = ("atBats", "runs", "hits", "doubles", "triples", "homeRuns", "rbi", "baseOnBalls", "strikeOuts",
           "hitByPitch", "sacFlies", "plateAppearances", "stolenBases", "leftOnBase")  # fmt: skip
PITCHING = ("outs", "hits", "runs", "earnedRuns", "baseOnBalls", "strikeOuts", "homeRuns", "battersFaced",
            "numberOfPitches", "wins", "losses", "saves", "holds")  # fmt: skip


def feed(game_pk: int) -> dict[str, Any]:
    """The recorded final feed of a replayed game (MLB's official record of it)."""
    return load(FEEDS[game_pk])


def official_lines(game_pk: int) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """``(side, person_id, official boxscore stats)`` of every player who batted or pitched."""
    box = feed(game_pk)["liveData"]["boxscore"]["teams"]
    for side in SIDES:
        for player in box[side]["players"].values():
            stats = player.get("stats") or {}
            if stats.get("batting") or stats.get("pitching"):
                yield side, int(player["person"]["id"]), stats


def ours(line: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, int]:
    """Our derived line (it leaves zeros out) on the official keys."""
    return {k: int((line or {}).get(k, 0)) for k in keys}


def theirs(line: dict[str, Any], keys: tuple[str, ...]) -> dict[str, int]:
    return {k: int(line.get(k, 0)) for k in keys}


async def walk(http: httpx.AsyncClient, path: str, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every item of a cursor-paged list, page by page (checking each page's size)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        r = await http.get(path, params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= limit
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
        assert len(body["items"]) == limit, "a page followed by another one is full"
    raise AssertionError("the cursor never ended")


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """``r`` is the API's standard error body with ``status`` and ``code``; returns the error."""
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["status"] == status and error["code"] == code, error
    assert error["request_id"] == r.headers["x-request-id"]
    return dict(error)


#: rate-limit tiers with no limit: these tests make many requests in a row with the package's key
UNLIMITED = {"default": None, "public": None, "unlimited": None}
