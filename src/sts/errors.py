"""The STS error tree. Every error STS raises on purpose derives from :class:`STSError`.

    STSError
    ├── ConfigError                 bad or missing configuration
    ├── BackendError                a backend (database, object store, event bus) failed
    │   ├── ObjectNotFound          a key that is not in the object store
    │   └── BusError                the event bus refused or lost a request
    ├── SchemaError                 an event does not match its Avro schema / registry refused it
    ├── UpstreamError               the MLB Stats API (or the stand-in) failed
    │   ├── UpstreamUnavailable     could not connect / timed out after all retries
    │   │   └── CircuitOpen         the host's circuit breaker is open: no request was sent
    │   ├── UpstreamStatusError     a non-retryable HTTP status (4xx) or 5xx after all retries
    │   └── UpstreamDataError       a response that is not JSON or not the expected shape
    └── SnapshotRejected            a fetched snapshot that failed validation (carries the reason)

Third-party exceptions are wrapped at the adapter boundary so callers only catch these.
"""

from __future__ import annotations


class STSError(Exception):
    """Root of every error STS raises on purpose."""


class ConfigError(STSError):
    """Configuration is missing or invalid."""


class BackendError(STSError):
    """A backend (database, object store, event bus) failed."""


class ObjectNotFound(BackendError):
    """The object store has no object under that bucket and key."""

    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(f"no object {key!r} in bucket {bucket!r}")
        self.bucket = bucket
        self.key = key


class BusError(BackendError):
    """The event bus refused or failed a request."""


class SchemaError(STSError):
    """An event does not match its schema, or the schema registry refused a schema."""


class UpstreamError(STSError):
    """The MLB Stats API (or the stand-in) failed."""


class UpstreamUnavailable(UpstreamError):
    """Could not reach the API (connection error or timeout) after every retry."""


class CircuitOpen(UpstreamUnavailable):
    """The circuit breaker of ``host`` is open (too many recent failures): no request was sent."""

    def __init__(self, host: str, retry_after: float, reason: str = "") -> None:
        why = f" ({reason})" if reason else ""
        super().__init__(f"circuit open for host {host}{why}, retry after {retry_after:.1f}s")
        self.host = host
        self.retry_after = retry_after


class UpstreamStatusError(UpstreamError):
    """The API answered with an error status."""

    def __init__(self, url: str, status: int, body: str = "") -> None:
        super().__init__(f"{url} answered HTTP {status}: {body[:200]}")
        self.url = url
        self.status = status


class UpstreamDataError(UpstreamError):
    """The API answered with something that is not the expected JSON."""


class SnapshotRejected(STSError):
    """A fetched snapshot failed validation; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
