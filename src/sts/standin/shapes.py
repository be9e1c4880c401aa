"""Recursive shape comparison of JSON documents (used to check synthesized feeds against real ones).

The *shape* of a value is its JSON type; of an object, its key set and the shapes of its values; of
an array, the merged shape of all its elements (so arrays of different lengths compare, and a key
present in any element counts). :func:`shape_diff` walks two documents together and reports, at
every path both have: keys only on one side and values whose JSON types differ. ``null`` matches
any type (MLB uses it for "not known yet").
"""

from __future__ import annotations

from typing import Any

_TYPES = {bool: "boolean", int: "number", float: "number", str: "string", type(None): "null"}


def json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return _TYPES.get(type(value), type(value).__name__)


def _merge_elements(items: list[Any]) -> Any:
    """One representative of an array's elements: objects merged key by key, else the first."""
    objects = [x for x in items if isinstance(x, dict)]
    if not objects:
        return next((x for x in items if x is not None), None) if items else None
    merged: dict[str, list[Any]] = {}
    for obj in objects:
        for key, value in obj.items():
            merged.setdefault(key, []).append(value)
    return {key: _pick(values) for key, values in merged.items()}


def _pick(values: list[Any]) -> Any:
    lists = [v for v in values if isinstance(v, list)]
    if lists:
        return [_merge_elements([x for v in lists for x in v])]
    dicts = [v for v in values if isinstance(v, dict)]
    if dicts:
        return _merge_elements(dicts)
    return next((v for v in values if v is not None), None)


def shape_diff(a: Any, b: Any, path: str = "$", ignore: frozenset[str] = frozenset()) -> list[str]:
    """Differences of shape between ``a`` and ``b`` as readable lines (empty: same shape).

    Paths in ``ignore`` (e.g. ``"$.gameData.players"``) are not descended into. Object keys that look
    like ids (``ID660271``) are compared as one representative key, since the players differ by game.
    """
    if path in ignore:
        return []
    ta, tb = json_type(a), json_type(b)
    if "null" in (ta, tb):
        return []
    if ta != tb:
        return [f"{path}: {ta} vs {tb}"]
    if ta == "array":
        if not a or not b:
            return []
        return shape_diff(_merge_elements(a), _merge_elements(b), f"{path}[]", ignore)
    if ta != "object":
        return []
    a, b = _fold_ids(a), _fold_ids(b)
    out = []
    only_a = [k for k in a if k not in b]
    only_b = [k for k in b if k not in a]
    if only_a:
        out.append(f"{path}: keys only in first: {sorted(only_a)}")
    if only_b:
        out.append(f"{path}: keys only in second: {sorted(only_b)}")
    for key in a:
        if key in b:
            out.extend(shape_diff(a[key], b[key], f"{path}.{key}", ignore))
    return out


def _fold_ids(obj: dict[str, Any]) -> dict[str, Any]:
    ids = [k for k in obj if k.startswith("ID") and k[2:].isdigit()]
    if not ids:
        return obj
    rest = {k: v for k, v in obj.items() if k not in ids}
    rest["ID*"] = _merge_elements([obj[k] for k in ids])
    return rest
