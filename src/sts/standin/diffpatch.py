"""RFC 6902 patches between two synthesized feeds, for ``/feed/live/diffPatch`` (pure).

MLB answers ``diffPatch?startTimecode=A[&endTimecode=B]`` with ``[{"diff": [ops]}]`` (an empty array
when nothing changed) and, reportedly, with the *full feed* when ``A`` is too old; the stand-in does
the same, with "too old" meaning more than :data:`MAX_PATCH_SPAN` seconds of game time.

Synthesized states share every unchanged sub-object with the final feed, so the diff walks only what
changed: identical objects (``is``) are skipped without looking inside. The ops are ``add``,
``remove``, ``replace`` and ``copy``: a value of ``b`` that is the very object already in place at
another path of ``b`` (``currentPlay`` is the last of ``allPlays``) is copied from there instead of
being sent twice, unless ``a`` shared it in the same way (then, like MLB within one at-bat, the
same field ops are repeated). MLB also uses ``move``; clients must accept all six.

Why ``copy`` is safe here: ops come out depth first, list elements are only appended or removed at the
end, so once a path's subtree is finished no later op changes what is at that path; only such
finished paths are copy sources.
"""

from __future__ import annotations

from typing import Any

MAX_PATCH_SPAN = 600


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def json_diff(a: Any, b: Any, path: str = "") -> list[dict[str, Any]]:
    """Ops that turn ``a`` into ``b`` (``b``'s values are referenced, not copied)."""
    ops: list[dict[str, Any]] = []
    _diff(a, b, path, ops, {}, {})
    return ops


Seen = dict[int, str]  # id of a container -> the first finished path it is at


def _done(value: Any, path: str, seen: Seen) -> None:
    """``value`` is now in place at ``path``: a later copy may take it from there."""
    if isinstance(value, dict | list):
        seen.setdefault(id(value), path)


def _add(value: Any, path: str, ops: list[dict[str, Any]], done: Seen) -> None:
    source = done.get(id(value)) if isinstance(value, dict | list) and value else None
    if source is not None:
        ops.append({"op": "copy", "from": source, "path": path})
    else:
        ops.append({"op": "add", "path": path, "value": value})
    _done(value, path, done)


def _diff(a: Any, b: Any, path: str, ops: list[dict[str, Any]], done: Seen, was: Seen) -> None:
    """``done``: objects of ``b`` already in place; ``was``: where objects of ``a`` were, same walk."""
    if a is b:
        return
    source = done.get(id(b)) if isinstance(b, dict | list) and b else None
    # b's value is already in place at ``source``: copy it, unless a's value was the one at ``source``
    # too (the same entity, e.g. ``currentPlay`` within one at-bat: MLB repeats the field ops there)
    if source is not None and was.get(id(a)) != source:
        ops.append({"op": "copy", "from": source, "path": path})
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a:
            if key not in b:
                ops.append({"op": "remove", "path": f"{path}/{_escape(key)}"})
        for key, value in b.items():
            child = f"{path}/{_escape(key)}"
            if key not in a:
                _add(value, child, ops, done)
            else:
                _diff(a[key], value, child, ops, done, was)
                _done(value, child, done)
                _done(a[key], child, was)
        return
    if isinstance(a, list) and isinstance(b, list):
        common = min(len(a), len(b))
        for i in range(common):
            _diff(a[i], b[i], f"{path}/{i}", ops, done, was)
            _done(b[i], f"{path}/{i}", done)
            _done(a[i], f"{path}/{i}", was)
        for i in range(common, len(b)):
            _add(b[i], f"{path}/{i}", ops, done)
        for i in reversed(range(common, len(a))):
            ops.append({"op": "remove", "path": f"{path}/{i}"})
        return
    if type(a) is not type(b) or a != b:
        ops.append({"op": "replace", "path": path, "value": b})
