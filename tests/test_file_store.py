"""The embedded object store: atomic puts, key order, clear errors."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from sts.adapters.file_store import FileObjectStore
from sts.errors import BackendError, ObjectNotFound
from sts.ports import BUCKET_CURRENT, BUCKET_LIVE, BUCKETS, ObjectStore


@pytest.fixture
async def store(tmp_path: Path) -> FileObjectStore:
    s = FileObjectStore(tmp_path / "objects")
    await s.ensure_buckets()
    return s


async def test_is_an_object_store(store: FileObjectStore, tmp_path: Path) -> None:
    assert isinstance(store, ObjectStore)
    assert sorted(p.name for p in (tmp_path / "objects").iterdir()) == sorted(BUCKETS)
    await store.ensure_buckets()  # idempotent
    await store.ready()


async def test_put_get_overwrite_exists_delete(store: FileObjectStore) -> None:
    await store.put(BUCKET_LIVE, "745123/20240401_190000.json", b'{"a": 1}')
    assert await store.get(BUCKET_LIVE, "745123/20240401_190000.json") == b'{"a": 1}'
    await store.put(BUCKET_LIVE, "745123/20240401_190000.json", b'{"a": 2}')
    assert await store.get(BUCKET_LIVE, "745123/20240401_190000.json") == b'{"a": 2}'
    assert await store.exists(BUCKET_LIVE, "745123/20240401_190000.json")
    assert not await store.exists(BUCKET_CURRENT, "745123/20240401_190000.json")
    await store.delete(BUCKET_LIVE, "745123/20240401_190000.json")
    assert not await store.exists(BUCKET_LIVE, "745123/20240401_190000.json")
    await store.delete(BUCKET_LIVE, "745123/20240401_190000.json")  # deleting twice is fine
    # the emptied folder is gone, so its name can now be an object itself
    await store.put(BUCKET_LIVE, "745123", b"x")
    assert await store.get(BUCKET_LIVE, "745123") == b"x"


async def test_missing_key_raises_object_not_found(store: FileObjectStore) -> None:
    with pytest.raises(ObjectNotFound, match=r"nope\.json") as info:
        await store.get(BUCKET_CURRENT, "nope.json")
    assert (info.value.bucket, info.value.key) == (BUCKET_CURRENT, "nope.json")
    with pytest.raises(ObjectNotFound):
        await store.get(BUCKET_CURRENT, "missing/dir/key.json")


async def test_list_by_prefix_in_key_order(store: FileObjectStore) -> None:
    keys = ["2/b.json", "1/b.json", "10/a.json", "1/a.json", "1-x.json", "1.json", "2/a/deep.json"]
    for k in keys:
        await store.put(BUCKET_LIVE, k, k.encode())
    listed = [i.key async for i in store.list(BUCKET_LIVE)]
    assert listed == sorted(keys)
    assert [i.key async for i in store.list(BUCKET_LIVE, "1/")] == ["1/a.json", "1/b.json"]
    assert [i.key async for i in store.list(BUCKET_LIVE, "1")] == sorted(k for k in keys if k[0] == "1")
    assert [i.key async for i in store.list(BUCKET_LIVE, "2/a")] == ["2/a/deep.json"]
    assert [i.key async for i in store.list(BUCKET_LIVE, "3/")] == []
    (info,) = [i async for i in store.list(BUCKET_LIVE, "1/a")]
    assert (info.bucket, info.size) == (BUCKET_LIVE, len(b"1/a.json"))


@pytest.mark.parametrize(
    "key", ["", "/etc/passwd", "../escape", "a/../../b", "a//b", "a/", "./a", "a\\b", ".sts-tmp-x"]
)
async def test_bad_keys_are_refused(store: FileObjectStore, key: str) -> None:
    with pytest.raises(ValueError, match="key"):
        await store.put(BUCKET_LIVE, key, b"x")
    with pytest.raises(ValueError, match="key"):
        await store.get(BUCKET_LIVE, key)


async def test_bad_bucket_and_missing_bucket(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path / "objects")
    with pytest.raises(ValueError, match="bucket"):
        await store.put("../x", "k", b"x")
    with pytest.raises(BackendError, match="ensure_buckets"):
        await store.put(BUCKET_LIVE, "k", b"x")
    with pytest.raises(BackendError):
        await store.ready()  # the root does not exist yet


async def test_key_and_prefix_clash_is_a_backend_error(store: FileObjectStore) -> None:
    await store.put(BUCKET_LIVE, "a/b", b"x")
    with pytest.raises(BackendError, match="prefix"):
        await store.put(BUCKET_LIVE, "a", b"y")
    await store.put(BUCKET_LIVE, "c", b"x")
    with pytest.raises(BackendError, match="object"):
        await store.put(BUCKET_LIVE, "c/d", b"y")


async def test_readers_never_see_a_partial_object(store: FileObjectStore, tmp_path: Path) -> None:
    size = 4 * 1024 * 1024
    versions = [bytes([i]) * size for i in range(1, 5)]
    await store.put(BUCKET_CURRENT, "game/745123.json", versions[0])
    stop = threading.Event()
    seen: list[int] = []
    bad: list[str] = []

    def reader() -> None:
        path = tmp_path / "objects" / BUCKET_CURRENT / "game" / "745123.json"
        while not stop.is_set():
            data = path.read_bytes()
            if len(data) != size or data.count(data[0]) != size:
                bad.append(f"partial object: {len(data)} bytes")
                return
            seen.append(data[0])

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for round_ in range(12):
            await store.put(BUCKET_CURRENT, "game/745123.json", versions[round_ % len(versions)])
            await asyncio.sleep(0)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not bad
    assert len(set(seen)) > 1  # the readers really saw the object change
    leftovers = [p.name for p in (tmp_path / "objects" / BUCKET_CURRENT / "game").iterdir()]
    assert leftovers == ["745123.json"]  # no temporary files left behind


async def test_from_url(tmp_path: Path) -> None:
    store = FileObjectStore.from_url(f"file://{tmp_path}/objs")
    assert store.root == tmp_path / "objs"
    with pytest.raises(ValueError):
        FileObjectStore.from_url("s3://bucket")


async def test_concurrent_puts_and_deletes_in_one_folder(store: FileObjectStore) -> None:
    """Deleting the last object of a folder removes the folder; a put racing with it still lands."""

    async def churn(i: int) -> None:
        await store.put(BUCKET_LIVE, f"745123/{i}.json", b"x")
        await store.delete(BUCKET_LIVE, f"745123/{i}.json")

    for _ in range(5):
        await asyncio.gather(*(churn(i) for i in range(40)))
    await store.put(BUCKET_LIVE, "745123/last.json", b"y")
    assert [i.key async for i in store.list(BUCKET_LIVE)] == ["745123/last.json"]
