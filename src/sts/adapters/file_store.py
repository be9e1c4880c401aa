"""The embedded object store: a local directory with one folder per bucket (``file://…``).

Layout: ``{root}/{bucket}/{key}``; a key's ``/`` makes sub-folders. Writes are atomic: the bytes go to
a temporary file in the destination folder, are flushed to disk, and replace the old file with
``os.replace``; the folder is then fsync'ed so the rename itself is durable. A reader therefore
sees the old object or the whole new one, never a part of one.

What this store does not keep: the content type and user metadata given to ``put`` (nothing in
STS reads them back; the S3 store keeps them as S3 object metadata) and old versions.
Since folders hold keys, a key cannot also be the folder of another key (``a`` and ``a/b``);
putting such a pair raises :class:`sts.errors.BackendError`.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from sts.errors import BackendError, ObjectNotFound
from sts.ports import BUCKETS, ObjectInfo

_TMP_PREFIX = ".sts-tmp-"
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def validate_key(key: str) -> tuple[str, ...]:
    """The parts of ``key``, or :class:`ValueError` for a key that could escape its bucket.

    Refused: empty keys, absolute keys (leading ``/``), empty parts (``a//b``, trailing ``/``),
    ``.`` and ``..`` parts, backslashes, NUL characters and parts that look like our temporary files.
    """
    if not key:
        raise ValueError("object key is empty")
    if key.startswith("/"):
        raise ValueError(f"object key {key!r} is absolute; keys are relative to their bucket")
    if "\\" in key or "\x00" in key:
        raise ValueError(f"object key {key!r} contains a backslash or NUL character")
    parts = tuple(key.split("/"))
    for part in parts:
        if part == "":
            raise ValueError(f"object key {key!r} has an empty part ('//' or a trailing '/')")
        if part in (".", ".."):
            raise ValueError(f"object key {key!r} has a '{part}' part")
        if part.startswith(_TMP_PREFIX):
            raise ValueError(f"object key {key!r} uses the reserved prefix {_TMP_PREFIX!r}")
    return parts


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # a concurrent delete removed the emptied folder: nothing to sync
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileObjectStore:
    """An :class:`sts.ports.ObjectStore` in a local directory.

    Blocking file I/O runs in worker threads (``asyncio.to_thread``) so the event loop never waits
    on the disk. Bucket names follow S3 rules; ``put`` into a bucket that does not exist raises
    :class:`sts.errors.BackendError` (call :meth:`ensure_buckets` first, as with S3).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def from_url(cls, url: str) -> FileObjectStore:
        """``file:///abs/dir`` or ``file://rel/dir`` → a store rooted there."""
        parts = urlsplit(url)
        if parts.scheme != "file":
            raise ValueError(f"not a file:// URL: {url!r}")
        return cls(Path(unquote(parts.netloc + parts.path)))

    # ------------------------------------------------------------------ paths

    def _bucket_dir(self, bucket: str) -> Path:
        if not _BUCKET_RE.match(bucket):
            raise ValueError(f"invalid bucket name {bucket!r}")
        return self.root / bucket

    def _path(self, bucket: str, key: str) -> Path:
        return self._bucket_dir(bucket).joinpath(*validate_key(key))

    # ------------------------------------------------------------------ blocking work

    def _put_sync(self, bucket: str, key: str, data: bytes) -> None:
        bucket_dir = self._bucket_dir(bucket)
        path = self._path(bucket, key)
        if not bucket_dir.is_dir():
            raise BackendError(f"bucket {bucket!r} does not exist in {self.root} (call ensure_buckets)")
        for attempt in range(3):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError) as exc:
                raise BackendError(f"cannot put {key!r} in {bucket!r}: a part of it is an object") from exc
            if path.is_dir():
                raise BackendError(f"cannot put {key!r} in {bucket!r}: it is a prefix of other objects")
            tmp = path.parent / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
            try:
                f = open(tmp, "xb")  # noqa: SIM115  (closed in _write_replace)
            except FileNotFoundError:
                # a concurrent delete removed the (then empty) folder between mkdir and open
                if attempt == 2:
                    raise
                continue
            self._write_replace(f, tmp, path, data)
            return

    @staticmethod
    def _write_replace(f: BinaryIO, tmp: Path, path: Path, data: bytes) -> None:
        try:
            with f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def _get_sync(self, bucket: str, key: str) -> bytes:
        path = self._path(bucket, key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(bucket, key) from None

    def _list_sync(self, bucket: str, prefix: str) -> builtins.list[ObjectInfo]:
        bucket_dir = self._bucket_dir(bucket)
        # start the walk at the deepest folder the prefix names, then filter and sort by key
        head = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = bucket_dir
        if head:
            try:
                start = bucket_dir.joinpath(*validate_key(head))
            except ValueError:
                return []
        if not start.is_dir():
            return []
        found: builtins.list[ObjectInfo] = []
        for dirpath, _dirs, files in os.walk(start):
            for name in files:
                if name.startswith(_TMP_PREFIX):
                    continue
                full = Path(dirpath) / name
                key = full.relative_to(bucket_dir).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    st = full.stat()
                except FileNotFoundError:  # deleted while we walked
                    continue
                found.append(ObjectInfo(bucket, key, st.st_size, datetime.fromtimestamp(st.st_mtime, tz=UTC)))
        found.sort(key=lambda info: info.key)
        return found

    def _delete_sync(self, bucket: str, key: str) -> None:
        bucket_dir = self._bucket_dir(bucket)
        path = self._path(bucket, key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        _fsync_dir(path.parent)
        # drop folders the key left empty, so that the key's prefix can become an object again
        parent = path.parent
        while parent != bucket_dir:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def _ready_sync(self) -> None:
        probe = self.root / f"{_TMP_PREFIX}ready-{uuid.uuid4().hex}"
        probe.write_bytes(b"ok")
        probe.unlink()

    # ------------------------------------------------------------------ the port

    async def _run(self, fn: object, *args: object) -> object:
        try:
            return await asyncio.to_thread(fn, *args)  # type: ignore[arg-type]
        except (BackendError, ValueError):
            raise
        except OSError as exc:
            raise BackendError(f"file object store at {self.root}: {exc}") from exc

    async def ensure_buckets(self) -> None:
        def make() -> None:
            for bucket in BUCKETS:
                self._bucket_dir(bucket).mkdir(parents=True, exist_ok=True)

        await self._run(make)

    async def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/json",
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Store ``data`` atomically under ``key`` (``content_type`` and ``metadata`` are not kept)."""
        await self._run(self._put_sync, bucket, key, bytes(data))

    async def get(self, bucket: str, key: str) -> bytes:
        result = await self._run(self._get_sync, bucket, key)
        assert isinstance(result, bytes)
        return result

    async def exists(self, bucket: str, key: str) -> bool:
        path = self._path(bucket, key)
        return bool(await self._run(path.is_file))

    async def list(self, bucket: str, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in key order (a snapshot taken at the call)."""
        infos = await self._run(self._list_sync, bucket, prefix)
        assert isinstance(infos, builtins.list)
        for info in infos:
            yield info

    async def delete(self, bucket: str, key: str) -> None:
        """Remove ``key``; deleting a missing key is not an error (as with S3)."""
        await self._run(self._delete_sync, bucket, key)

    async def ready(self) -> None:
        """Raise :class:`sts.errors.BackendError` unless the root folder exists and is writable."""
        await self._run(self._ready_sync)

    async def close(self) -> None:
        return None
