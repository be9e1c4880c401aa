"""API keys: create, list, revoke and verify them (the ``api_keys`` table, migration 0008).

A key is ``sts_<key_id>_<secret>``: ``key_id`` is 16 hex digits (a lookup handle, not secret) and
``secret`` 43 URL-safe characters from :func:`secrets.token_urlsafe` (256 bits). The full key is shown
once, by :func:`create_key`; the database keeps only ``HMAC-SHA256(pepper, key)``.

Why no bcrypt/scrypt: slow hashes protect low-entropy passwords against guessing from a stolen hash. A
256-bit random secret cannot be guessed, fast hash or not, so a slow hash would only cost CPU on every
cache miss. The optional pepper (setting ``api_key_pepper``, kept out of the database) means that a
stolen copy of the table alone does not even let an attacker check a candidate key. Verification looks
the row up by ``key_id`` and compares hashes with :func:`hmac.compare_digest` (constant time).

Every function takes a psycopg ``AsyncConnection`` (any row factory) and does its writes in
``conn.transaction()``: committed on return on an autocommit connection or when no transaction was open,
a savepoint of the caller's transaction otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

SCOPES = ("read", "stream", "export", "admin")
KEY_RE = re.compile(r"^sts_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
KEY_ID_RE = re.compile(r"^[0-9a-f]{16}$")
TIER_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class KeyInfo:
    """A key as stored (never its secret)."""

    key_id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    tier: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class NewKey:
    """A key just created: ``secret`` is the full key string, shown this once and stored nowhere."""

    key_id: str
    secret: str
    info: KeyInfo


def hash_key(key: str, pepper: str = "") -> bytes:
    return hmac.new(pepper.encode(), key.encode(), hashlib.sha256).digest()


def parse_key(key: str) -> str | None:
    """The ``key_id`` of a well-formed key string, ``None`` if it is not one."""
    m = KEY_RE.match(key)
    return m.group(1) if m else None


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(scopes))
    bad = [s for s in out if s not in SCOPES]
    if bad:
        raise ValueError(f"unknown scope(s) {', '.join(bad)}; known: {', '.join(SCOPES)}")
    if not out:
        raise ValueError("a key needs at least one scope")
    return out


_COLUMNS = "key_id, name, prefix, scopes, tier, created_at, revoked_at, last_used_at"


def _info(row: dict[str, Any]) -> KeyInfo:
    return KeyInfo(
        key_id=row["key_id"],
        name=row["name"],
        prefix=row["prefix"],
        scopes=tuple(row["scopes"]),
        tier=row["tier"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


async def create_key(
    conn: psycopg.AsyncConnection[Any],
    name: str,
    scopes: Iterable[str],
    tier: str = "default",
    *,
    pepper: str = "",
) -> NewKey:
    """Create a key with ``scopes`` (see :data:`SCOPES`; ``admin`` implies all) in rate-limit ``tier``
    (a tier the API's settings do not define counts as ``default`` there)."""
    scope_list = check_scopes(scopes)
    if not name.strip():
        raise ValueError("a key needs a name")
    if not TIER_RE.match(tier):
        raise ValueError(f"a tier is 1 to 64 of [A-Za-z0-9_.-], not {tier!r}")
    while True:
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        key = f"sts_{key_id}_{secret}"
        async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"""INSERT INTO api_keys (key_id, name, prefix, hash, scopes, tier)
                    VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (key_id) DO NOTHING
                    RETURNING {_COLUMNS}""",
                (key_id, name, key[:24], hash_key(key, pepper), list(scope_list), tier),
            )
            row = await cur.fetchone()
        if row is not None:  # else a 64-bit id collided: draw again
            return NewKey(key_id=key_id, secret=key, info=_info(row))


async def revoke_key(conn: psycopg.AsyncConnection[Any], key_id: str) -> KeyInfo | None:
    """Revoke ``key_id`` (idempotent: an already revoked key keeps its first ``revoked_at``).
    ``None`` when there is no such key."""
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
                WHERE key_id = %s RETURNING {_COLUMNS}""",
            (key_id,),
        )
        row = await cur.fetchone()
    return None if row is None else _info(row)


async def list_keys(
    conn: psycopg.AsyncConnection[Any],
    *,
    include_revoked: bool = True,
    after: str | None = None,
    limit: int | None = None,
) -> list[KeyInfo]:
    """Keys ordered by ``key_id`` (after ``after`` when given, at most ``limit``)."""
    where, params = ["TRUE"], []
    if not include_revoked:
        where.append("revoked_at IS NULL")
    if after is not None:
        where.append("key_id > %s")
        params.append(after)
    sql = f"SELECT {_COLUMNS} FROM api_keys WHERE {' AND '.join(where)} ORDER BY key_id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        return [_info(r) for r in await cur.fetchall()]


async def get_key(conn: psycopg.AsyncConnection[Any], key_id: str) -> KeyInfo | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = %s", (key_id,))
        row = await cur.fetchone()
    return None if row is None else _info(row)


@dataclass(frozen=True)
class StoredKey:
    """What verification needs: the stored hash and what the key may do."""

    key_id: str
    hash: bytes
    scopes: frozenset[str]
    tier: str
    revoked: bool


async def load_key(conn: psycopg.AsyncConnection[Any], key_id: str) -> StoredKey | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT key_id, hash, scopes, tier, revoked_at FROM api_keys WHERE key_id = %s", (key_id,)
        )
        row = await cur.fetchone()
    if row is None:
        return None
    return StoredKey(
        key_id=row["key_id"],
        hash=bytes(row["hash"]),
        scopes=frozenset(row["scopes"]),
        tier=row["tier"],
        revoked=row["revoked_at"] is not None,
    )


def matches(stored: StoredKey, key: str, pepper: str = "") -> bool:
    """Constant-time comparison of ``key``'s hash with the stored one."""
    return hmac.compare_digest(stored.hash, hash_key(key, pepper))


async def touch(conn: psycopg.AsyncConnection[Any], key_id: str) -> None:
    """Record a use of ``key_id`` (``last_used_at``)."""
    async with conn.transaction():
        await conn.execute("UPDATE api_keys SET last_used_at = now() WHERE key_id = %s", (key_id,))
