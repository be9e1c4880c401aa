"""One behavioural suite for every :class:`sts.ports.ObjectStore` backend.

Backends (the ``backend`` fixture's parameters):

- ``file``: :class:`sts.adapters.file_store.FileObjectStore` in a temporary folder.
- ``s3`` (marker ``s3``): :class:`sts.adapters.s3_store.S3ObjectStore` against a live S3 server, by
  default the local SeaweedFS of ``deploy/local/seaweedfs.sh``. Every test gets its own buckets
  (a bucket-name prefix unique to the run and the test) and deletes them afterwards.

S3 settings for the tests (environment):

- ``STS_TEST_S3_URL``   default ``s3://?endpoint=http://127.0.0.1:8333``
- ``STS_S3_ACCESS_KEY`` / ``STS_S3_SECRET_KEY``   default ``sts`` / ``sts-secret-key`` (the script's)
- ``STS_REQUIRE_S3=1``  fail instead of skip when the S3 server does not answer (set it in CI)

Where backends legitimately differ (the S3 store keeps versions and metadata, the file store does
not), a test checks the capability and says so.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from sts.config import Settings
from sts.errors import BackendError, ObjectNotFound
from sts.ports import BUCKET_CURRENT, BUCKET_HISTORICAL, BUCKET_LIVE, BUCKETS, ObjectInfo, ObjectStore

DEFAULT_S3_URL = "s3://?endpoint=http://127.0.0.1:8333"
RUN_ID = uuid.uuid4().hex[:8]
_test_counter = itertools.count()

StoreFactory = Callable[[], Awaitable[ObjectStore]]


# --------------------------------------------------------------------------- S3 plumbing (shared)


def s3_settings(**overrides: Any) -> Settings:
    """Settings for the test S3 server: the script's default credentials unless the env says otherwise."""
    values: dict[str, Any] = {
        "s3_access_key": os.environ.get("STS_S3_ACCESS_KEY", "sts"),
        "s3_secret_key": os.environ.get("STS_S3_SECRET_KEY", "sts-secret-key"),
    }
    values.update(overrides)
    return Settings(**values)


def s3_url_with_prefix(prefix: str) -> str:
    """The test S3 URL with a ``prefix=`` parameter added."""
    url = os.environ.get("STS_TEST_S3_URL", DEFAULT_S3_URL)
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}prefix={prefix}"


def require_s3_server() -> None:
    """Skip (or fail, with ``STS_REQUIRE_S3=1``) unless the test S3 endpoint accepts connections."""
    url = os.environ.get("STS_TEST_S3_URL", DEFAULT_S3_URL)
    query = dict(p.split("=", 1) for p in urlsplit(url).query.split("&") if "=" in p)
    endpoint = urlsplit(query.get("endpoint", "https://s3.amazonaws.com"))
    host = endpoint.hostname or "127.0.0.1"
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        message = f"no S3 server at {host}:{port} ({exc}); start it with deploy/local/seaweedfs.sh start"
        if os.environ.get("STS_REQUIRE_S3") == "1":
            pytest.fail(message)
        pytest.skip(message)


def unique_prefix() -> str:
    """A bucket-name prefix unique to this test run and test (S3 names: lowercase, <= 63 chars)."""
    return f"ct-{RUN_ID}-{next(_test_counter)}-"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
async def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """A factory of fresh stores of one backend, without buckets yet; all are cleaned up afterwards."""
    made: list[ObjectStore] = []

    if request.param == "file":
        from sts.adapters.file_store import FileObjectStore

        async def make() -> ObjectStore:
            store = FileObjectStore(tmp_path / f"objects-{len(made)}")
            made.append(store)
            return store

    else:
        require_s3_server()
        from sts.adapters.s3_store import S3ObjectStore, parse_url

        async def make() -> ObjectStore:
            options = parse_url(s3_url_with_prefix(unique_prefix()), s3_settings())
            # a small page size so that listing crosses page boundaries in these tests
            store = S3ObjectStore(replace(options, list_page_size=7))
            made.append(store)
            return store

    yield make

    for store in made:
        purge = getattr(store, "purge_buckets", None)
        if purge is not None:
            await purge()
        await store.close()


@pytest.fixture
async def store(new_store: StoreFactory) -> ObjectStore:
    s = await new_store()
    await s.ensure_buckets()
    return s


async def keys(store: ObjectStore, bucket: str, prefix: str = "") -> list[str]:
    return [info.key async for info in store.list(bucket, prefix)]


# --------------------------------------------------------------------------- the contract


async def test_is_an_object_store_and_ready(store: ObjectStore) -> None:
    assert isinstance(store, ObjectStore)
    await store.ready()


async def test_ensure_buckets_is_idempotent(store: ObjectStore) -> None:
    await store.put(BUCKET_CURRENT, "1.json", b"kept")
    await store.ensure_buckets()
    await store.ensure_buckets()
    await store.ready()
    assert await store.get(BUCKET_CURRENT, "1.json") == b"kept"
    for bucket in BUCKETS:
        await store.put(bucket, "probe", b"x")
        assert await store.get(bucket, "probe") == b"x"


async def test_not_ready_before_ensure_buckets(new_store: StoreFactory) -> None:
    fresh = await new_store()
    with pytest.raises(BackendError):
        await fresh.ready()


async def test_put_get_round_trip(store: ObjectStore) -> None:
    payload = bytes(range(256)) * 3 + '{"name": "Ronald Acuña Jr."}'.encode()
    await store.put(BUCKET_LIVE, "745123/20240401_190000.json", payload)
    assert await store.get(BUCKET_LIVE, "745123/20240401_190000.json") == payload
    empty_key = "745123/empty.json"
    await store.put(BUCKET_LIVE, empty_key, b"")
    assert await store.get(BUCKET_LIVE, empty_key) == b""


async def test_buckets_are_separate(store: ObjectStore) -> None:
    await store.put(BUCKET_LIVE, "745123.json", b"live")
    await store.put(BUCKET_CURRENT, "745123.json", b"current")
    assert await store.get(BUCKET_LIVE, "745123.json") == b"live"
    assert await store.get(BUCKET_CURRENT, "745123.json") == b"current"
    assert not await store.exists(BUCKET_HISTORICAL, "745123.json")


async def test_list_by_prefix_in_key_order_with_nested_keys(store: ObjectStore) -> None:
    wanted = [
        "1.json",
        "1/a.json",
        "1/b/c.json",
        "1/b/d.json",
        "10/x.json",
        "2/a.json",
        "2024/745123.json",
    ]
    shuffled = wanted[:]
    random.Random(7).shuffle(shuffled)
    for key in shuffled:
        await store.put(BUCKET_HISTORICAL, key, key.encode())

    assert await keys(store, BUCKET_HISTORICAL) == wanted
    assert await keys(store, BUCKET_HISTORICAL, "1/") == ["1/a.json", "1/b/c.json", "1/b/d.json"]
    assert await keys(store, BUCKET_HISTORICAL, "1") == wanted[:5]
    assert await keys(store, BUCKET_HISTORICAL, "1/b/") == ["1/b/c.json", "1/b/d.json"]
    assert await keys(store, BUCKET_HISTORICAL, "2") == ["2/a.json", "2024/745123.json"]
    assert await keys(store, BUCKET_HISTORICAL, "3") == []
    assert await keys(store, BUCKET_LIVE) == []

    infos: list[ObjectInfo] = [i async for i in store.list(BUCKET_HISTORICAL, "1/b/")]
    assert [(i.bucket, i.key, i.size) for i in infos] == [
        (BUCKET_HISTORICAL, "1/b/c.json", len(b"1/b/c.json")),
        (BUCKET_HISTORICAL, "1/b/d.json", len(b"1/b/d.json")),
    ]
    assert all(i.last_modified.tzinfo is not None for i in infos)


async def test_list_many_keys_crosses_pages(store: ObjectStore) -> None:
    # more keys than one page of the S3 fixture (7), put out of order
    wanted = [f"745123/{i:04d}.json" for i in range(23)]
    for key in reversed(wanted):
        await store.put(BUCKET_LIVE, key, b"{}")
    await store.put(BUCKET_LIVE, "745124/0000.json", b"{}")
    assert await keys(store, BUCKET_LIVE, "745123/") == wanted


async def test_overwrite_replaces_the_object(store: ObjectStore) -> None:
    await store.put(BUCKET_CURRENT, "745123.json", b'{"v": 1}')
    await store.put(BUCKET_CURRENT, "745123.json", b'{"v": 22}')
    assert await store.get(BUCKET_CURRENT, "745123.json") == b'{"v": 22}'
    infos = [i async for i in store.list(BUCKET_CURRENT)]
    assert [(i.key, i.size) for i in infos] == [("745123.json", len(b'{"v": 22}'))]


async def test_versions_after_overwrite(store: ObjectStore) -> None:
    await store.put(BUCKET_CURRENT, "745123.json", b"first")
    await store.put(BUCKET_CURRENT, "745123.json", b"second!")
    list_versions = getattr(store, "list_versions", None)
    if list_versions is None:
        # a store without versions: the overwrite replaced the object and left nothing behind
        assert await store.get(BUCKET_CURRENT, "745123.json") == b"second!"
        assert await keys(store, BUCKET_CURRENT) == ["745123.json"]
        return
    versions = await list_versions(BUCKET_CURRENT, "745123.json")
    assert [v.size for v in versions] == [len(b"second!"), len(b"first")]  # newest first
    assert all(v.version_id for v in versions)
    assert len({v.version_id for v in versions}) == 2
    # mlb-live is not versioned: an overwrite keeps one object
    await store.put(BUCKET_LIVE, "745123/1.json", b"first")
    await store.put(BUCKET_LIVE, "745123/1.json", b"second!")
    assert [v.size for v in await list_versions(BUCKET_LIVE, "745123/1.json")] == [len(b"second!")]


async def test_missing_key(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound) as info:
        await store.get(BUCKET_CURRENT, "999999.json")
    assert (info.value.bucket, info.value.key) == (BUCKET_CURRENT, "999999.json")
    assert isinstance(info.value, BackendError)
    assert not await store.exists(BUCKET_CURRENT, "999999.json")


async def test_exists_and_delete(store: ObjectStore) -> None:
    await store.put(BUCKET_LIVE, "745123/1.json", b"{}")
    assert await store.exists(BUCKET_LIVE, "745123/1.json")
    await store.delete(BUCKET_LIVE, "745123/1.json")
    assert not await store.exists(BUCKET_LIVE, "745123/1.json")
    with pytest.raises(ObjectNotFound):
        await store.get(BUCKET_LIVE, "745123/1.json")
    assert await keys(store, BUCKET_LIVE) == []
    await store.delete(BUCKET_LIVE, "745123/1.json")  # deleting a missing key is not an error


async def test_missing_bucket_is_a_backend_error(new_store: StoreFactory) -> None:
    fresh = await new_store()
    with pytest.raises(BackendError):
        await fresh.get(BUCKET_CURRENT, "1.json")
    with pytest.raises(BackendError):
        await fresh.put(BUCKET_CURRENT, "1.json", b"{}")


async def test_content_type_and_metadata_round_trip(store: ObjectStore) -> None:
    await store.put(
        BUCKET_LIVE,
        "745123/2.json",
        b"{}",
        content_type="application/json",
        metadata={"game-pk": "745123", "timecode": "20240401_190000"},
    )
    head = getattr(store, "head", None)
    if head is None:
        pytest.skip(f"{type(store).__name__} does not keep content type and metadata (documented)")
    got = await head(BUCKET_LIVE, "745123/2.json")
    assert got.content_type == "application/json"
    assert dict(got.metadata) == {"game-pk": "745123", "timecode": "20240401_190000"}
    assert got.size == 2
    with pytest.raises(ObjectNotFound):
        await head(BUCKET_LIVE, "745123/missing.json")


async def test_concurrent_reader_never_sees_a_partial_object(store: ObjectStore) -> None:
    """A large object is overwritten again and again while a reader keeps reading it."""
    size = 5 * 1024 * 1024 + 123  # above SeaweedFS's 4 MB chunk size, so S3 writes several chunks
    key = "745123.json"
    bodies = [bytes([65 + i]) * size for i in range(6)]  # b"AAAA…", b"BBBB…", …
    await store.put(BUCKET_CURRENT, key, bodies[0])
    done = asyncio.Event()
    seen: set[int] = set()

    async def writer() -> None:
        try:
            for body in bodies[1:]:
                await store.put(BUCKET_CURRENT, key, body)
                await asyncio.sleep(0)
        finally:
            done.set()

    async def reader() -> int:
        reads = 0
        while not done.is_set() or reads < 3:
            data = await store.get(BUCKET_CURRENT, key)
            reads += 1
            assert len(data) == size, f"read {len(data)} bytes of {size}"
            first = data[0]
            assert data == bytes([first]) * size, "read a mix of two versions"
            seen.add(first)
        return reads

    _, reads = await asyncio.wait_for(asyncio.gather(writer(), reader()), timeout=120)
    assert reads >= 3
    assert seen <= {b[0] for b in bodies}
    assert await store.get(BUCKET_CURRENT, key) == bodies[-1]
