"""MLB's real diffPatch responses apply to MLB's real base feeds (RFC 6902 with ``copy`` and ``move``).

Game 746139: two in-progress feeds, each with the diffPatch response that followed it. Applying the
patches in order to the base must give the feed stamped with the patch's end timecode. This is the
ground the incremental fetching of issue 5 stands on.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonpatch
import pytest

PAIRS = [
    (
        "feed_live_746139_20240612_041248.json",
        "diffPatch_746139_20240612_041248_to_041302.json",
        "20240612_041302",
    ),
    (
        "feed_live_746139_20240612_042717.json",
        "diffPatch_746139_20240612_042717_to_042758.json",
        "20240612_042758",
    ),
]


@pytest.mark.parametrize(("base", "patch", "end"), PAIRS)
def test_real_patch_applies_to_real_base(shared_data: Path, base: str, patch: str, end: str) -> None:
    doc = json.loads((shared_data / "statsapi" / base).read_text())
    patches = json.loads((shared_data / "statsapi" / patch).read_text())
    assert isinstance(patches, list) and patches
    ops = [op["op"] for p in patches for op in p["diff"]]
    for p in patches:
        doc = jsonpatch.apply_patch(doc, p["diff"])
    assert doc["metaData"]["timeStamp"] == end
    assert doc["gamePk"] == 746139
    if "042717" in base:  # the pitching change: MLB moves and copies whole subtrees
        assert {"copy", "move"} <= set(ops)
