"""API keys in the database (sts.api.keys): shown once, stored only as a hash, revoked for good."""

from __future__ import annotations

import hashlib
import hmac

import psycopg
import pytest

from sts.api import keys


async def test_create_list_revoke(migrated_pg_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(migrated_pg_url, autocommit=True) as conn:
        new = await keys.create_key(conn, "reader", ["read", "stream", "read"], tier="gold")
        assert keys.parse_key(new.secret) == new.key_id
        assert new.info.scopes == ("read", "stream")
        assert new.info.tier == "gold" and new.info.active

        # the table holds the HMAC of the key, never the key or its secret part
        row = await (
            await conn.execute(
                "SELECT hash, prefix, api_keys::text AS all FROM api_keys WHERE key_id = %s", (new.key_id,)
            )
        ).fetchone()
        assert row is not None
        assert bytes(row[0]) == hmac.new(b"", new.secret.encode(), hashlib.sha256).digest()
        secret_part = new.secret.split("_", 2)[2]
        assert secret_part not in row[2] and new.secret not in row[2]
        assert secret_part[:8] not in row[1]

        stored = await keys.load_key(conn, new.key_id)
        assert stored is not None and not stored.revoked
        assert keys.matches(stored, new.secret)
        assert not keys.matches(stored, new.secret[:-1] + ("A" if new.secret[-1] != "A" else "B"))

        other = await keys.create_key(conn, "admin", ["admin"])
        listed = await keys.list_keys(conn)
        assert {k.key_id for k in listed} == {new.key_id, other.key_id}
        assert [k.key_id for k in listed] == sorted(k.key_id for k in listed)

        revoked = await keys.revoke_key(conn, new.key_id)
        assert revoked is not None and revoked.revoked_at is not None
        again = await keys.revoke_key(conn, new.key_id)
        assert again is not None and again.revoked_at == revoked.revoked_at  # idempotent
        assert await keys.revoke_key(conn, "0" * 16) is None
        assert [k.key_id for k in await keys.list_keys(conn, include_revoked=False)] == [other.key_id]
        stored = await keys.load_key(conn, new.key_id)
        assert stored is not None and stored.revoked


async def test_pepper_changes_the_hash(migrated_pg_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(migrated_pg_url, autocommit=True) as conn:
        new = await keys.create_key(conn, "peppered", ["read"], pepper="server-side")
        stored = await keys.load_key(conn, new.key_id)
        assert stored is not None
        assert keys.matches(stored, new.secret, "server-side")
        assert not keys.matches(stored, new.secret)  # the table alone cannot check a key


@pytest.mark.parametrize(
    "raw",
    ["", "sts_", "sts_0123456789abcdef_short", "Bearer x", "sts_0123456789ABCDEF_" + "a" * 43, "x" * 5000],
)
def test_malformed_keys_are_not_parsed(raw: str) -> None:
    assert keys.parse_key(raw) is None


async def test_bad_scopes_and_names(migrated_pg_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(migrated_pg_url, autocommit=True) as conn:
        with pytest.raises(ValueError, match="unknown scope"):
            await keys.create_key(conn, "x", ["read", "root"])
        with pytest.raises(ValueError, match="at least one scope"):
            await keys.create_key(conn, "x", [])
        with pytest.raises(ValueError, match="name"):
            await keys.create_key(conn, "  ", ["read"])
