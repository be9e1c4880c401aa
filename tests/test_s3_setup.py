"""The S3 store's own setup: URL parsing (no server) and, against the local SeaweedFS (marker ``s3``),
what ``ensure_buckets`` leaves on the server: versioning and the ``mlb-live`` lifecycle rule, read back.

Server settings come from the environment as in ``tests/contract/test_object_store.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sts.adapters.s3_store import CURRENT_RULE_ID, LIVE_RULE_ID, S3ObjectStore, S3Options, from_url, parse_url
from sts.config import Settings
from sts.errors import BackendError, ConfigError, ObjectNotFound
from sts.ports import BUCKET_CURRENT, BUCKET_HISTORICAL, BUCKET_LIVE
from tests.contract.test_object_store import require_s3_server, s3_settings, s3_url_with_prefix, unique_prefix

# --------------------------------------------------------------------------- URL parsing (no server)


def test_url_with_everything() -> None:
    settings = Settings(s3_access_key="from-settings", s3_secret_key="s", live_retention_days=9)
    opts = parse_url("s3://?endpoint=http://127.0.0.1:8333&region=eu-west-1&prefix=ci-1-", settings)
    assert opts == S3Options(
        endpoint_url="http://127.0.0.1:8333",
        region="eu-west-1",
        access_key="from-settings",
        secret_key="s",
        bucket_prefix="ci-1-",
        live_retention_days=9,
    )


def test_url_credentials_win_over_settings() -> None:
    settings = Settings(s3_access_key="a", s3_secret_key="b")
    assert parse_url("s3://k:s%2Fx@?endpoint=http://h:1", settings).access_key == "k"
    assert parse_url("s3://k:s%2Fx@?endpoint=http://h:1", settings).secret_key == "s/x"
    opts = parse_url("s3://?endpoint=http://h:1&access_key=q&secret_key=w", settings)
    assert (opts.access_key, opts.secret_key) == ("q", "w")


def no_credentials() -> Settings:
    """Settings without S3 credentials, whatever the environment says (CI exports STS_S3_*)."""
    return Settings(s3_access_key="", s3_secret_key="")


def test_url_defaults() -> None:
    opts = parse_url("s3://", no_credentials())
    assert opts.endpoint_url is None
    assert opts.region == "us-east-1"
    assert opts.bucket_prefix == ""
    assert (opts.access_key, opts.secret_key) == (None, None)  # boto3's own credential chain


@pytest.mark.parametrize(
    "url",
    [
        "file:///tmp/x",
        "s3://?endpoint=127.0.0.1:8333",
        "s3://?endpont=http://127.0.0.1:8333",
        "s3://?endpoint=http://h:1&access_key=only-one",
    ],
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_url(url, no_credentials())


def test_physical_bucket_names_carry_the_prefix() -> None:
    store = from_url("s3://?endpoint=http://127.0.0.1:1&prefix=ci-7-", Settings())
    assert store.physical(BUCKET_LIVE) == "ci-7-mlb-live"


async def test_unreachable_server_is_a_backend_error() -> None:
    store = S3ObjectStore(
        S3Options(endpoint_url="http://127.0.0.1:9", access_key="a", secret_key="b", max_attempts=1)
    )
    with pytest.raises(BackendError):
        await store.ready()
    with pytest.raises(BackendError):
        await store.get(BUCKET_CURRENT, "1.json")
    await store.close()


# --------------------------------------------------------------------------- against SeaweedFS


@pytest.fixture
async def s3_store() -> AsyncIterator[S3ObjectStore]:
    require_s3_server()
    settings = s3_settings(live_retention_days=7, current_versions_retention_days=3)
    store = from_url(s3_url_with_prefix(unique_prefix()), settings)
    try:
        yield store
    finally:
        await store.purge_buckets()
        await store.close()


@pytest.mark.s3
async def test_versioning_on_current_and_historical_only(s3_store: S3ObjectStore) -> None:
    await s3_store.ensure_buckets()
    assert await s3_store.versioning_status(BUCKET_CURRENT) == "Enabled"
    assert await s3_store.versioning_status(BUCKET_HISTORICAL) == "Enabled"
    assert await s3_store.versioning_status(BUCKET_LIVE) in ("", "Suspended")


@pytest.mark.s3
async def test_live_lifecycle_rule_reads_back(s3_store: S3ObjectStore) -> None:
    await s3_store.ensure_buckets()
    await s3_store.ensure_buckets()  # idempotent: still exactly one rule
    rules = await s3_store.live_lifecycle_rules()
    assert len(rules) == 1, rules
    (rule,) = rules
    assert rule["ID"] == LIVE_RULE_ID
    assert rule["Status"] == "Enabled"
    assert rule["Expiration"]["Days"] == 7  # settings.live_retention_days


@pytest.mark.s3
async def test_current_keeps_replaced_versions_for_a_while_only(s3_store: S3ObjectStore) -> None:
    await s3_store.ensure_buckets()
    await s3_store.ensure_buckets()
    rules = await s3_store.lifecycle_rules(BUCKET_CURRENT)
    assert len(rules) == 1, rules
    (rule,) = rules
    assert rule["ID"] == CURRENT_RULE_ID and rule["Status"] == "Enabled"
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 3  # current_versions_retention_days
    assert await s3_store.lifecycle_rules(BUCKET_HISTORICAL) == []  # every version of a final game stays


@pytest.mark.s3
async def test_ready_needs_the_buckets(s3_store: S3ObjectStore) -> None:
    with pytest.raises(BackendError):
        await s3_store.ready()
    await s3_store.ensure_buckets()
    await s3_store.ready()


# --------------------------------------------------------------------------- errors from the real server
# (no stubbed S3: a server that drops a lifecycle rule or ignores versioning cannot be produced with a
# real engine here, so that read-back path is covered by reading the real rules back, above)


@pytest.mark.s3
async def test_refused_credentials_are_a_backend_error_not_a_missing_key(s3_store: S3ObjectStore) -> None:
    await s3_store.ensure_buckets()
    await s3_store.put(BUCKET_CURRENT, "1.json", b"{}")
    good = s3_store.options
    wrong = S3ObjectStore(
        S3Options(endpoint_url=good.endpoint_url, access_key=good.access_key, secret_key="not-the-secret",
                  bucket_prefix=good.bucket_prefix, max_attempts=1)
    )  # fmt: skip
    try:
        with pytest.raises(BackendError) as info:
            await wrong.get(BUCKET_CURRENT, "1.json")
        assert not isinstance(info.value, ObjectNotFound)
        with pytest.raises(BackendError):
            await wrong.ensure_buckets()
    finally:
        await wrong.close()
    with pytest.raises(ObjectNotFound):
        await s3_store.get(BUCKET_CURRENT, "2.json")
