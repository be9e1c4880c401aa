"""Where backups go: a folder, or a bucket (and key prefix) on an S3-compatible server.

Location forms (``sts backup --to``, ``sts restore --from LOCATION/BACKUP_ID``)::

    /var/backups/sts                       a folder (created if missing); also file:///var/backups/sts
    s3://BUCKET[/PREFIX][?endpoint=http://host:8333&region=us-east-1]

On S3 the credentials are STS's own (``STS_S3_ACCESS_KEY`` / ``STS_S3_SECRET_KEY``, else boto3's chain)
and the bucket is created if missing. One backup is a folder (or key prefix) named by its id holding
``manifest.json`` (written last: a backup without it is incomplete) and the files it names. Files are
copied in streams (S3 multipart uploads for large dumps), never held in memory whole.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from sts.config import Settings
from sts.errors import BackendError, ConfigError


class BackupTarget(Protocol):
    """One backup location. Names are ``{backup_id}/{file}``."""

    url: str

    async def upload(self, name: str, source: Path) -> None: ...

    async def download(self, name: str, dest: Path) -> None:
        """Copy ``name`` to ``dest``; :class:`FileNotFoundError` when it does not exist."""
        ...

    async def ids(self) -> list[str]:
        """Ids of the complete backups (those with a manifest), oldest first."""
        ...


class FolderTarget:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)

    async def upload(self, name: str, source: Path) -> None:
        dest = self.root / name
        await asyncio.to_thread(self._copy, source, dest)

    @staticmethod
    def _copy(source: Path, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".partial")
        shutil.copyfile(source, partial)
        partial.replace(dest)  # atomic: a reader never sees half a file

    async def download(self, name: str, dest: Path) -> None:
        source = self.root / name
        if not source.is_file():
            raise FileNotFoundError(f"{source}: no such backup file")
        await asyncio.to_thread(shutil.copyfile, source, dest)

    async def ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/manifest.json"))


class S3Target:
    def __init__(self, url: str, settings: Settings) -> None:
        parts = urlsplit(url)
        self.bucket = parts.netloc
        if not self.bucket:
            raise ConfigError(f"backup location {url!r}: give a bucket, s3://BUCKET[/PREFIX]?endpoint=…")
        self.prefix = parts.path.strip("/")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.url = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        try:
            import boto3
            import botocore.config
            import botocore.exceptions
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigError("an s3:// backup location needs boto3 (the s3 extra)") from exc
        self._errors = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
        self._s3: Any = boto3.client(
            "s3",
            endpoint_url=query.get("endpoint") or None,
            region_name=query.get("region") or settings.s3_region,
            aws_access_key_id=settings.s3_access_key or None,
            aws_secret_access_key=settings.s3_secret_key or None,
            config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"mode": "standard"}),
        )
        self._bucket_ready = False

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        try:
            self._s3.head_bucket(Bucket=self.bucket)
        except self._errors:
            try:
                self._s3.create_bucket(Bucket=self.bucket)
            except self._errors as exc:
                if "BucketAlreadyOwnedByYou" not in str(exc):
                    raise
        self._bucket_ready = True

    async def _call(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args)
        except self._errors as exc:
            if "404" in str(exc) or "NoSuchKey" in str(exc) or "Not Found" in str(exc):
                raise FileNotFoundError(f"{self.url}/{what}: not found") from exc
            raise BackendError(f"backup location {self.url}: {what}: {exc}") from exc

    async def upload(self, name: str, source: Path) -> None:
        await self._call("create bucket", self._ensure_bucket)
        await self._call(name, self._s3.upload_file, str(source), self.bucket, self._key(name))

    async def download(self, name: str, dest: Path) -> None:
        await self._call(name, self._s3.download_file, self.bucket, self._key(name), str(dest))

    async def ids(self) -> list[str]:
        found: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        prefix = f"{self.prefix}/" if self.prefix else ""

        def scan() -> None:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    rest = str(item["Key"])[len(prefix) :]
                    backup_id, _, file = rest.partition("/")
                    if file == "manifest.json":
                        found.append(backup_id)

        await self._call("list", scan)
        return sorted(found)


def open_target(location: str, settings: Settings) -> BackupTarget:
    """The target named by ``location`` (a folder path, ``file://…`` or ``s3://…``)."""
    scheme = urlsplit(location).scheme
    if scheme == "s3":
        return S3Target(location, settings)
    if scheme == "file":
        return FolderTarget(Path(urlsplit(location).path))
    if scheme and len(scheme) > 1:  # not a Windows drive letter
        raise ConfigError(f"backup location {location!r}: use a folder path, file://… or s3://BUCKET/PREFIX")
    return FolderTarget(Path(location))


def split_backup(location: str) -> tuple[str, str]:
    """``LOCATION/BACKUP_ID`` → (``LOCATION``, ``BACKUP_ID``), keeping an s3 URL's query on the location."""
    parts = urlsplit(location)
    path = parts.path.rstrip("/")
    head, _, backup_id = path.rpartition("/")
    if not backup_id:
        raise ConfigError(f"{location!r}: name a backup, LOCATION/BACKUP_ID")
    if parts.scheme == "s3":
        if not head:  # s3://BUCKET/ID: the id is the whole path
            head = ""
        query = f"?{parts.query}" if parts.query else ""
        return f"s3://{parts.netloc}{head}{query}", backup_id
    if parts.scheme == "file":
        return f"file://{head}", backup_id
    return head or ".", backup_id
