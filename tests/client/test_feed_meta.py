"""The tolerant metaData / diffPatch accessors never raise, whatever the shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sts.domain.feed_meta import diff_shape, game_pk_of, meta_timestamp, meta_wait


@pytest.mark.parametrize(
    ("doc", "wait"),
    [
        ({"metaData": {"wait": 10}}, 10.0),
        ({"metaData": {"wait": "15"}}, 15.0),
        ({"metaData": {"wait": 0}}, None),
        ({"metaData": {"wait": -3}}, None),
        ({"metaData": {"wait": True}}, None),
        ({"metaData": {"wait": float("nan")}}, None),
        ({"metaData": {}}, None),
        ({"metaData": None}, None),
        ({}, None),
        ([], None),
        (None, None),
    ],
)
def test_meta_wait(doc: Any, wait: float | None) -> None:
    assert meta_wait(doc) == wait


def test_meta_timestamp_and_game_pk() -> None:
    assert meta_timestamp({"metaData": {"timeStamp": "20240612_041248"}}) == "20240612_041248"
    assert meta_timestamp({"metaData": {"timeStamp": 5}}) is None
    assert meta_timestamp("x") is None
    assert game_pk_of({"gamePk": 746139}) == 746139
    assert game_pk_of({"gamePk": "746139"}) == 746139
    assert game_pk_of({"gamePk": None}) is None
    assert game_pk_of([1]) is None


def test_diff_shape_on_real_recordings(shared_data: Path) -> None:
    api = shared_data / "statsapi"
    patch = json.loads((api / "diffPatch_746139_20240612_042717_to_042758.json").read_bytes())
    feed = json.loads((api / "feed_live_746139_20240612_042717.json").read_bytes())
    assert diff_shape(patch) == "patches"
    assert diff_shape(feed) == "full_feed"
    assert diff_shape([]) == "empty"
    assert diff_shape([{"nodiff": 1}]) == "unknown"
    assert diff_shape("garbage") == "unknown"
