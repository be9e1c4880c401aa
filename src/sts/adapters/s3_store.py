"""The object store on the S3 API (``s3://…``): SeaweedFS, MinIO, AWS S3 or any S3-compatible server.

URL form (every part optional)::

    s3://[ACCESS_KEY:SECRET_KEY@]?endpoint=http://127.0.0.1:8333&region=us-east-1&prefix=ci-1234-

- ``endpoint``: the server's base URL; absent means AWS S3 itself.
- ``region``: default ``settings.s3_region`` (``us-east-1``).
- ``prefix``: prepended to every bucket name on the server (``ci-1234-mlb-live``), so test runs or
  several deployments can share one server. Callers always name the logical buckets of
  :mod:`sts.ports`; :class:`~sts.ports.ObjectInfo` carries the logical name too.
- Credentials: ``ACCESS_KEY:SECRET_KEY@`` in the URL, else ``access_key`` / ``secret_key`` query
  parameters, else ``settings.s3_access_key`` / ``settings.s3_secret_key`` (``STS_S3_ACCESS_KEY`` /
  ``STS_S3_SECRET_KEY``), else boto3's own chain (``AWS_ACCESS_KEY_ID``, profiles, roles).

Addressing is path-style (``endpoint/bucket/key``) so no wildcard DNS is needed. boto3 is
synchronous: every call runs in a worker thread (``asyncio.to_thread``); a boto3 client is thread-safe.
Every botocore error is wrapped in :class:`sts.errors.BackendError` (a missing key in
:class:`sts.errors.ObjectNotFound`).

Buckets (:meth:`S3ObjectStore.ensure_buckets`): ``mlb-current`` and ``mlb-historical`` are versioned
(an overwrite keeps the old object as a version); ``mlb-live`` has a lifecycle rule expiring objects
after ``settings.live_retention_days``. Both settings are read back after being set.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from sts.config import Settings
from sts.errors import BackendError, ConfigError, ObjectNotFound
from sts.ports import BUCKET_CURRENT, BUCKET_HISTORICAL, BUCKET_LIVE, BUCKETS, ObjectInfo

T = TypeVar("T")

VERSIONED_BUCKETS = (BUCKET_CURRENT, BUCKET_HISTORICAL)
LIVE_RULE_ID = "sts-live-retention"
CURRENT_RULE_ID = "sts-current-noncurrent-versions"
_MISSING_KEY_CODES = {"NoSuchKey", "404", "NotFound"}
_BUCKET_EXISTS_CODES = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}


@dataclass(frozen=True)
class S3Options:
    """Where and how to reach the server (parsed from the URL, see the module docstring)."""

    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key: str | None = None
    secret_key: str | None = None
    bucket_prefix: str = ""
    live_retention_days: int = 30
    current_versions_retention_days: int = 7
    list_page_size: int = 1000
    max_attempts: int = 4  # per call, retries included (botocore "standard" retry mode)


@dataclass(frozen=True)
class ObjectHead:
    """What :meth:`S3ObjectStore.head` returns: an object's stored attributes (not its bytes)."""

    size: int
    content_type: str
    metadata: Mapping[str, str]
    last_modified: datetime
    version_id: str | None


def parse_url(url: str, settings: Settings) -> S3Options:
    """Parse an ``s3://`` URL into :class:`S3Options` (raises :class:`ConfigError` on a bad URL)."""
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise ConfigError(f"not an s3:// URL: {url!r}")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    known = {"endpoint", "region", "prefix", "access_key", "secret_key"}
    unknown = set(query) - known
    if unknown:
        raise ConfigError(f"{url!r}: unknown s3 URL parameter(s) {sorted(unknown)}; known: {sorted(known)}")
    access = unquote(parts.username) if parts.username else query.get("access_key") or settings.s3_access_key
    secret = unquote(parts.password) if parts.password else query.get("secret_key") or settings.s3_secret_key
    endpoint = query.get("endpoint") or None
    if endpoint and urlsplit(endpoint).scheme not in ("http", "https"):
        raise ConfigError(f"{url!r}: endpoint must be an http:// or https:// URL, not {endpoint!r}")
    if bool(access) != bool(secret):
        raise ConfigError("S3 credentials need both an access key and a secret key")
    return S3Options(
        endpoint_url=endpoint,
        region=query.get("region") or settings.s3_region,
        access_key=access or None,
        secret_key=secret or None,
        bucket_prefix=query.get("prefix", ""),
        live_retention_days=settings.live_retention_days,
        current_versions_retention_days=settings.current_versions_retention_days,
    )


def from_url(url: str, settings: Settings) -> S3ObjectStore:
    """The composition root's entry: an :class:`S3ObjectStore` for ``url`` (see the module docstring)."""
    return S3ObjectStore(parse_url(url, settings))


def _import_boto3() -> tuple[Any, Any, Any]:
    try:
        import boto3
        import botocore.config
        import botocore.exceptions
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "the s3:// object store needs boto3: install the s3 extra (pip install 'sts[s3]')"
        ) from exc
    return boto3, botocore.config, botocore.exceptions


class S3ObjectStore:
    """An :class:`sts.ports.ObjectStore` on an S3-compatible server.

    Beyond the port: :meth:`head` (content type and user metadata of an object) and
    :meth:`list_versions` (the versions of a key in a versioned bucket).
    """

    def __init__(self, options: S3Options, *, client: Any = None) -> None:
        boto3, bconfig, bexc = _import_boto3()
        self.options = options
        self._errors: tuple[type[BaseException], ...] = (bexc.BotoCoreError, bexc.ClientError)
        self._client_error: type[BaseException] = bexc.ClientError
        if client is None:
            config = bconfig.Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": options.max_attempts, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
                max_pool_connections=32,
                # S3-compatible servers differ in their support of the newer default checksums.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
            client = boto3.session.Session().client(
                "s3",
                endpoint_url=options.endpoint_url,
                region_name=options.region,
                aws_access_key_id=options.access_key,
                aws_secret_access_key=options.secret_key,
                config=config,
            )
        self._s3 = client

    # ------------------------------------------------------------------ helpers

    def physical(self, bucket: str) -> str:
        """The bucket's name on the server (with the configured prefix)."""
        return f"{self.options.bucket_prefix}{bucket}"

    @staticmethod
    def _code(exc: BaseException) -> str:
        response = getattr(exc, "response", None) or {}
        return str(response.get("Error", {}).get("Code", ""))

    async def _call(self, what: str, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Run one boto3 call in a thread; botocore errors become :class:`BackendError`."""
        try:
            return await asyncio.to_thread(fn, **kwargs)
        except self._errors as exc:
            raise BackendError(f"S3 {what} failed ({self._where()}): {exc}") from exc

    def _where(self) -> str:
        return self.options.endpoint_url or "AWS S3"

    # ------------------------------------------------------------------ the port

    async def ensure_buckets(self) -> None:
        """Create the three buckets, enable versioning, set the ``mlb-live`` expiry; read both back.

        Idempotent. Raises :class:`BackendError` when the server did not keep a setting.
        """
        for bucket in BUCKETS:
            await self._create_bucket(self.physical(bucket))
        for bucket in VERSIONED_BUCKETS:
            name = self.physical(bucket)
            await self._call(
                "put-bucket-versioning",
                self._s3.put_bucket_versioning,
                Bucket=name,
                VersioningConfiguration={"Status": "Enabled"},
            )
            got = await self._call("get-bucket-versioning", self._s3.get_bucket_versioning, Bucket=name)
            if got.get("Status") != "Enabled":
                raise BackendError(f"S3 bucket {name!r}: versioning did not take (read back {got!r})")
        await self._ensure_live_lifecycle()
        await self._ensure_current_lifecycle()

    async def _create_bucket(self, name: str) -> None:
        kwargs: dict[str, Any] = {"Bucket": name}
        if self.options.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.options.region}
        try:
            await asyncio.to_thread(self._s3.create_bucket, **kwargs)
        except self._client_error as exc:
            if self._code(exc) not in _BUCKET_EXISTS_CODES:
                raise BackendError(f"S3 create-bucket {name!r} failed ({self._where()}): {exc}") from exc
        except self._errors as exc:
            raise BackendError(f"S3 create-bucket {name!r} failed ({self._where()}): {exc}") from exc

    async def _ensure_live_lifecycle(self) -> None:
        name = self.physical(BUCKET_LIVE)
        days = self.options.live_retention_days
        rule = {
            "ID": LIVE_RULE_ID,
            "Filter": {"Prefix": ""},
            "Status": "Enabled",
            "Expiration": {"Days": days},
        }
        await self._call(
            "put-bucket-lifecycle-configuration",
            self._s3.put_bucket_lifecycle_configuration,
            Bucket=name,
            LifecycleConfiguration={"Rules": [rule]},
        )
        rules = await self.live_lifecycle_rules()
        if not any(
            r.get("Status") == "Enabled" and r.get("Expiration", {}).get("Days") == days for r in rules
        ):
            raise BackendError(
                f"S3 bucket {name!r}: the lifecycle rule (expire after {days} days) did not take; "
                f"read back {rules!r}"
            )

    async def _ensure_current_lifecycle(self) -> None:
        """``mlb-current`` is overwritten by every accepted snapshot; versioning would keep each old copy
        forever. Its replaced versions expire after ``current_versions_retention_days`` (the latest is
        never touched; ``mlb-historical`` keeps every version, corrections included)."""
        name = self.physical(BUCKET_CURRENT)
        days = self.options.current_versions_retention_days
        rule = {
            "ID": CURRENT_RULE_ID,
            "Filter": {"Prefix": ""},
            "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": days},
        }
        await self._call(
            "put-bucket-lifecycle-configuration",
            self._s3.put_bucket_lifecycle_configuration,
            Bucket=name,
            LifecycleConfiguration={"Rules": [rule]},
        )
        rules = await self.lifecycle_rules(BUCKET_CURRENT)
        if not any(
            r.get("Status") == "Enabled"
            and r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays") == days
            for r in rules
        ):
            raise BackendError(
                f"S3 bucket {name!r}: the rule expiring replaced versions after {days} days did not "
                f"take; read back {rules!r}"
            )

    async def live_lifecycle_rules(self) -> builtins.list[dict[str, Any]]:
        """The lifecycle rules of ``mlb-live`` as the server reports them (empty if none)."""
        return await self.lifecycle_rules(BUCKET_LIVE)

    async def lifecycle_rules(self, bucket: str) -> builtins.list[dict[str, Any]]:
        """The lifecycle rules of a logical bucket as the server reports them (empty if none)."""
        name = self.physical(bucket)
        try:
            got = await asyncio.to_thread(self._s3.get_bucket_lifecycle_configuration, Bucket=name)
        except self._client_error as exc:
            if self._code(exc) == "NoSuchLifecycleConfiguration":
                return []
            raise BackendError(f"S3 get-bucket-lifecycle {name!r} failed ({self._where()}): {exc}") from exc
        except self._errors as exc:
            raise BackendError(f"S3 get-bucket-lifecycle {name!r} failed ({self._where()}): {exc}") from exc
        return list(got.get("Rules", []))

    async def versioning_status(self, bucket: str) -> str:
        """``Enabled``, ``Suspended`` or ``""`` (never enabled) for a logical bucket."""
        got = await self._call(
            "get-bucket-versioning", self._s3.get_bucket_versioning, Bucket=self.physical(bucket)
        )
        return str(got.get("Status", ""))

    async def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/json",
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Store ``data`` under ``key`` with one PutObject (atomic on S3)."""
        if not key:
            raise ValueError("object key is empty")
        await self._call(
            f"put {bucket}/{key}",
            self._s3.put_object,
            Bucket=self.physical(bucket),
            Key=key,
            Body=bytes(data),
            ContentType=content_type,
            Metadata=dict(metadata or {}),
        )

    async def get(self, bucket: str, key: str) -> bytes:
        def fetch() -> bytes:
            response = self._s3.get_object(Bucket=self.physical(bucket), Key=key)
            body = response["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

        try:
            return await asyncio.to_thread(fetch)
        except self._client_error as exc:
            if self._code(exc) in _MISSING_KEY_CODES:
                raise ObjectNotFound(bucket, key) from None
            raise BackendError(f"S3 get {bucket}/{key} failed ({self._where()}): {exc}") from exc
        except self._errors as exc:
            raise BackendError(f"S3 get {bucket}/{key} failed ({self._where()}): {exc}") from exc

    async def head(self, bucket: str, key: str) -> ObjectHead:
        """Size, content type and user metadata of ``key`` (:class:`ObjectNotFound` if missing)."""
        try:
            got = await asyncio.to_thread(self._s3.head_object, Bucket=self.physical(bucket), Key=key)
        except self._client_error as exc:
            if self._code(exc) in _MISSING_KEY_CODES:
                raise ObjectNotFound(bucket, key) from None
            raise BackendError(f"S3 head {bucket}/{key} failed ({self._where()}): {exc}") from exc
        except self._errors as exc:
            raise BackendError(f"S3 head {bucket}/{key} failed ({self._where()}): {exc}") from exc
        return ObjectHead(
            size=int(got.get("ContentLength", 0)),
            content_type=str(got.get("ContentType", "")),
            metadata=dict(got.get("Metadata", {})),
            last_modified=_aware(got.get("LastModified")),
            version_id=_version(got.get("VersionId")),
        )

    async def exists(self, bucket: str, key: str) -> bool:
        try:
            await self.head(bucket, key)
        except ObjectNotFound:
            return False
        return True

    async def list(self, bucket: str, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in key order, fetched a page at a time."""
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "Bucket": self.physical(bucket),
                "Prefix": prefix,
                "MaxKeys": self.options.list_page_size,
            }
            if token:
                kwargs["ContinuationToken"] = token
            page = await self._call(f"list {bucket}/{prefix}*", self._s3.list_objects_v2, **kwargs)
            for item in page.get("Contents", []):
                etag = str(item.get("ETag") or "").strip('"') or None
                yield ObjectInfo(
                    bucket, item["Key"], int(item["Size"]), _aware(item.get("LastModified")), etag=etag
                )
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    async def list_versions(self, bucket: str, key: str) -> builtins.list[ObjectInfo]:
        """The stored versions of exactly ``key``, newest first (delete markers left out)."""
        found: builtins.list[ObjectInfo] = []
        kwargs: dict[str, Any] = {"Bucket": self.physical(bucket), "Prefix": key}
        while True:
            page = await self._call(f"list-versions {bucket}/{key}", self._s3.list_object_versions, **kwargs)
            for v in page.get("Versions", []):
                if v["Key"] == key:
                    found.append(
                        ObjectInfo(
                            bucket,
                            key,
                            int(v["Size"]),
                            _aware(v.get("LastModified")),
                            _version(v.get("VersionId")),
                        )
                    )
            if not page.get("IsTruncated"):
                break
            kwargs["KeyMarker"] = page.get("NextKeyMarker")
            kwargs["VersionIdMarker"] = page.get("NextVersionIdMarker")
        found.sort(key=lambda info: info.last_modified, reverse=True)
        return found

    async def delete(self, bucket: str, key: str) -> None:
        """Remove ``key`` (on a versioned bucket: add a delete marker). A missing key is not an error."""
        await self._call(
            f"delete {bucket}/{key}", self._s3.delete_object, Bucket=self.physical(bucket), Key=key
        )

    async def ready(self) -> None:
        """Raise :class:`BackendError` unless every STS bucket answers HeadBucket."""
        for bucket in BUCKETS:
            await self._call(f"head-bucket {bucket}", self._s3.head_bucket, Bucket=self.physical(bucket))

    async def close(self) -> None:
        close = getattr(self._s3, "close", None)
        if close is not None:
            await asyncio.to_thread(close)

    # ------------------------------------------------------------------ housekeeping (tests, tools)

    async def purge_buckets(self) -> None:
        """Delete every object version and then the three buckets themselves. Destructive: for tests."""
        for bucket in BUCKETS:
            name = self.physical(bucket)
            try:
                await asyncio.to_thread(self._purge_sync, name)
            except self._client_error as exc:
                if self._code(exc) != "NoSuchBucket":
                    raise BackendError(f"S3 purge {name!r} failed ({self._where()}): {exc}") from exc
            except self._errors as exc:
                raise BackendError(f"S3 purge {name!r} failed ({self._where()}): {exc}") from exc

    def _purge_sync(self, name: str) -> None:
        paginator = self._s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=name):
            doomed = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            for item in doomed:
                self._s3.delete_object(Bucket=name, **item)
        # objects of a bucket that never had versioning are listed with VersionId "null" above
        self._s3.delete_bucket(Bucket=name)


def _aware(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(0, tz=UTC)


def _version(value: Any) -> str | None:
    return None if value in (None, "", "null") else str(value)
