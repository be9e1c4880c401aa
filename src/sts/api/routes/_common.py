"""Helpers shared by the read routes of people, teams, standings, leaders, moments and operators.

- :func:`fold` and :data:`FOLD_SQL`: accent- and case-insensitive name matching ("Suarez" finds
  "Suárez") without the ``unaccent`` extension (not every PostgreSQL has it): Python folds the query,
  SQL folds the column with ``translate`` over the accented Latin letters MLB names use.
- :func:`rows` / :func:`one`: a query's rows as dicts on a pooled connection.
- :func:`no_nan`: floats that JSON can carry (a rate over zero PA is ``None``, never NaN).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row

Row = dict[str, Any]

_EXTRA = {"ø": "o", "ł": "l", "đ": "d", "ß": "s", "æ": "a", "œ": "o", "ı": "i"}
_LOWER = "áàâäãåāăąćĉčçďéèêëēĕėęěĝğġģĥíìîïĩīĭįĵķĺļľńņňñóòôöõōŏőŕŗřśŝşšţťúùûüũūŭůűųŵýÿŷźżž" + "".join(_EXTRA)
# upper-case forms too: in a database whose LC_CTYPE is C, lower() only lowers ASCII letters
_ACCENTED = _LOWER + "".join(c.upper() for c in _LOWER if len(c.upper()) == 1 and c.upper() != c)


def fold(text: str) -> str:
    """``text`` lower-cased with its accents removed (the form both sides of a name match use)."""
    out = []
    for ch in text.lower():
        if ch in _EXTRA:
            out.append(_EXTRA[ch])
            continue
        out.append("".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)))
    return "".join(out)


_PLAIN = "".join(fold(c)[:1] or c for c in _ACCENTED)
assert len(_PLAIN) == len(_ACCENTED)


def fold_sql(column: str) -> str:
    """SQL folding ``column`` the way :func:`fold` folds Python text (``COLLATE "C"`` it to sort the
    way Python sorts folded text, whatever the database's collation)."""
    return f"translate(lower({column}), '{_ACCENTED}', '{_PLAIN}')"


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")


def tuples(conn: psycopg.AsyncConnection[Any]) -> psycopg.AsyncConnection[Any]:
    """``conn`` answering plain tuples again, as the services' queries expect (``sts.api.deps.db``
    hands out connections answering dicts; this file's helpers ask for dicts themselves)."""
    conn.row_factory = tuple_row
    return conn


async def rows(conn: psycopg.AsyncConnection[Any], query: str, args: Any = None) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, args)
        return list(await cur.fetchall())


async def one(conn: psycopg.AsyncConnection[Any], query: str, args: Any = None) -> Row | None:
    found = await rows(conn, query, args)
    return found[0] if found else None


def no_nan(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±inf) replaced by ``None``, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: no_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [no_nan(v) for v in value]
    return value


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error statuses beyond the ones every route documents."""
    from sts.api.errors import ErrorBody

    text = {404: "no such resource", 409: "ambiguous id prefix"}
    return {s: {"model": ErrorBody, "description": text.get(s, "error")} for s in statuses}
