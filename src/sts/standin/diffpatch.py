"""RFC 6902 patches between two synthesized feeds, for ``/feed/live/diffPatch`` (pure).

MLB answers ``diffPatch?startTimecode=A[&endTimecode=B]`` with ``[{"diff": [ops]}]`` (an empty array
when nothing changed) and, reportedly, with the *full feed* when ``A`` is too old; the stand-in does
the same, with "too old" meaning more than :data:`MAX_PATCH_SPAN` seconds of game time.

Synthesized states share every unchanged sub-object with the final feed, so the diff walks only what
changed: identical objects (``is``) are skipped without looking inside. The ops are ``add``,
``remove`` and ``replace`` only (MLB also uses ``copy``/``move``; clients must accept all six).
"""

from __future__ import annotations

from typing import Any

MAX_PATCH_SPAN = 600


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def json_diff(a: Any, b: Any, path: str = "") -> list[dict[str, Any]]:
    """Ops that turn ``a`` into ``b`` (``b``'s values are referenced, not copied)."""
    ops: list[dict[str, Any]] = []
    _diff(a, b, path, ops)
    return ops


def _diff(a: Any, b: Any, path: str, ops: list[dict[str, Any]]) -> None:
    if a is b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a:
            if key not in b:
                ops.append({"op": "remove", "path": f"{path}/{_escape(key)}"})
        for key, value in b.items():
            if key not in a:
                ops.append({"op": "add", "path": f"{path}/{_escape(key)}", "value": value})
            else:
                _diff(a[key], value, f"{path}/{_escape(key)}", ops)
        return
    if isinstance(a, list) and isinstance(b, list):
        common = min(len(a), len(b))
        for i in range(common):
            _diff(a[i], b[i], f"{path}/{i}", ops)
        for i in range(common, len(b)):
            ops.append({"op": "add", "path": f"{path}/{i}", "value": b[i]})
        for i in reversed(range(common, len(a))):
            ops.append({"op": "remove", "path": f"{path}/{i}"})
        return
    if type(a) is not type(b) or a != b:
        ops.append({"op": "replace", "path": path, "value": b})
