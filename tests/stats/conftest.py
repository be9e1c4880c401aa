"""Fixtures for the box-score tests: the recorded final feeds in ``../shared/data/mlb/statsapi``."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from sts.stats.feed import unwrap

#: every recorded final GUMBO feed (paths relative to the shared MLB data folder)
FINAL_FEEDS = [
    "statsapi/feed_live_717055.json",
    "statsapi/feed_live_718263.json",
    "statsapi/feed_live_718322.json",
    "statsapi/feed_live_718594.json",
    "statsapi/feed_live_744914.json",
    "statsapi/recorded/feed_live_747175.stub.json",
    "statsapi/more/feed_live_631220.json",
    "statsapi/converted_from_js/feed_live_746215.json",
]


@cache
def _load(path: Path) -> dict[str, Any]:
    feed = unwrap(json.loads(path.read_text()))
    assert feed is not None, path
    return dict(feed)


@pytest.fixture(scope="session")
def load_feed(shared_data: Path) -> Callable[[str], dict[str, Any]]:
    """``load_feed("statsapi/feed_live_717055.json")`` or ``load_feed("717055")``: the parsed feed
    (cached; treat as read-only)."""

    def load(name: str) -> dict[str, Any]:
        if not name.endswith(".json"):
            name = next(f for f in FINAL_FEEDS if name in f)
        return _load(shared_data / name)

    return load
