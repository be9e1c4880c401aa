"""Recorded real feeds for the event and processor tests, and a helper that truncates a final feed
into in-progress states (the way the stand-in synthesizes them)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from tests.conftest import STATSAPI

FINAL_FEEDS = (
    "feed_live_717055.json",
    "feed_live_718263.json",
    "feed_live_718322.json",
    "feed_live_718594.json",
    "feed_live_744914.json",
    "more/feed_live_631220.json",
    "converted_from_js/feed_live_746215.json",
    "recorded/feed_live_747175.stub.json",
)
LIVE_FEEDS = ("feed_live_746139_20240612_041248.json", "feed_live_746139_20240612_042717.json")


@cache
def _load(name: str) -> str:
    return (STATSAPI / name).read_text()


def load(name: str) -> dict[str, Any]:
    """A fresh copy of a recorded feed (unwrapped from its envelope when recorded with one)."""
    data = json.loads(_load(name))
    return data["response"] if "response" in data and "gameData" not in data else data


def path(name: str) -> Path:
    return STATSAPI / name


def truncated(final: dict[str, Any], plays: int, events: int, step: int) -> dict[str, Any]:
    """``final`` as it was during play ``plays`` (0-based) after ``events`` of its play events:
    earlier plays complete, that one incomplete, later ones absent, status Live, no decisions."""
    state = copy.deepcopy(final)
    all_plays = state["liveData"]["plays"]["allPlays"]
    current = all_plays[plays]
    del all_plays[plays + 1 :]
    current["playEvents"] = current["playEvents"][:events]
    current["about"]["isComplete"] = False
    state["liveData"].pop("decisions", None)
    state["gameData"]["status"] = {
        "abstractGameState": "Live",
        "codedGameState": "I",
        "detailedState": "In Progress",
        "statusCode": "I",
    }
    state["metaData"]["timeStamp"] = f"20000101_{step:06d}"
    return state


def states(final: dict[str, Any], every: int) -> list[dict[str, Any]]:
    """In-progress states of ``final`` at every ``every``-th play (mid-play), then ``final`` itself."""
    out = []
    n = len(final["liveData"]["plays"]["allPlays"])
    for step, k in enumerate(range(0, n, every)):
        evs = len(final["liveData"]["plays"]["allPlays"][k]["playEvents"])
        out.append(truncated(final, k, (evs + step) % (evs + 1), step))
    out.append(final)
    return out
