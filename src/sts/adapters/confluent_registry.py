"""A :class:`sts.ports.SchemaRegistry` over the Confluent Schema Registry REST API.

Works with Confluent Schema Registry and with Apicurio Registry's compatible API
(``http://host:8081/apis/ccompat/v7``, what ``deploy/local/apicurio.sh`` runs). ``url`` is the root of
that API: the adapter appends ``/subjects/...``, ``/schemas/ids/...`` and ``/config``.

Errors: a schema the subject's compatibility rule refuses (HTTP 409) or that the registry cannot
parse (HTTP 422) raises :class:`sts.errors.SchemaError` with the registry's own message; an unknown id
raises :class:`sts.errors.SchemaError` too; an unreachable registry or any other HTTP failure raises
:class:`sts.errors.BackendError`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from sts.errors import BackendError, SchemaError

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
LEVELS = frozenset(
    {"NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"}
)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])
    return response.text[:500]


class ConfluentSchemaRegistry:
    """The schema registry at ``url`` (Confluent API root). Call :meth:`close` when done.

    ``client`` lets a test hand in an ``httpx.AsyncClient`` (for instance with a ``MockTransport``).
    Ids are cached: an id always names the same schema, so ``get_schema`` asks the registry once.
    """

    def __init__(self, url: str, *, timeout: float = 10.0, client: httpx.AsyncClient | None = None) -> None:
        self.url = url.rstrip("/")
        self._client = client or httpx.AsyncClient(
            base_url=self.url, timeout=timeout, headers={"Accept": CONTENT_TYPE}
        )
        self._schemas: dict[int, str] = {}

    async def _request(self, method: str, path: str, json: Any = None) -> httpx.Response:
        headers = {"Content-Type": CONTENT_TYPE} if json is not None else None
        try:
            return await self._client.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise BackendError(f"schema registry {self.url} unreachable: {exc}") from exc

    async def register(self, subject: str, schema: str) -> int:
        """Register ``schema`` (Avro JSON text) under ``subject``; return its global id."""
        response = await self._request(
            "POST", f"/subjects/{quote(subject, safe='')}/versions", {"schema": schema, "schemaType": "AVRO"}
        )
        if response.status_code in (409, 422):
            raise SchemaError(f"registry refused the schema for {subject!r}: {_message(response)}")
        if response.status_code != 200:
            raise BackendError(
                f"schema registry: register {subject!r} answered HTTP {response.status_code}: "
                f"{_message(response)}"
            )
        schema_id = int(response.json()["id"])
        self._schemas.setdefault(schema_id, schema)
        return schema_id

    async def get_schema(self, schema_id: int) -> str:
        """The schema text of ``schema_id``."""
        if schema_id in self._schemas:
            return self._schemas[schema_id]
        response = await self._request("GET", f"/schemas/ids/{int(schema_id)}")
        if response.status_code == 404:
            raise SchemaError(f"no schema with id {schema_id}: {_message(response)}")
        if response.status_code != 200:
            raise BackendError(
                f"schema registry: schema {schema_id} answered HTTP {response.status_code}: "
                f"{_message(response)}"
            )
        text = str(response.json()["schema"])
        self._schemas[schema_id] = text
        return text

    async def versions(self, subject: str) -> list[tuple[int, int]]:
        """``(version, schema id)`` of every version of ``subject``, oldest first (``[]``: unknown)."""
        path = f"/subjects/{quote(subject, safe='')}/versions"
        response = await self._request("GET", path)
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise BackendError(f"schema registry: GET {path} answered HTTP {response.status_code}")
        found: list[tuple[int, int]] = []
        for version in sorted(int(v) for v in response.json()):
            one = await self._request("GET", f"{path}/{version}")
            if one.status_code == 404:
                continue  # deleted in between
            if one.status_code != 200:
                raise BackendError(f"schema registry: GET {path}/{version} answered HTTP {one.status_code}")
            found.append((version, int(one.json()["id"])))
        return found

    async def set_compatibility(self, level: str, subject: str | None = None) -> None:
        """Set the compatibility rule of ``subject`` (or the global default when ``subject`` is None)."""
        level = level.upper()
        if level not in LEVELS:
            raise SchemaError(f"unknown compatibility level {level!r} (one of {', '.join(sorted(LEVELS))})")
        path = "/config" if subject is None else f"/config/{quote(subject, safe='')}"
        response = await self._request("PUT", path, {"compatibility": level})
        if response.status_code != 200:
            raise BackendError(
                f"schema registry: PUT {path} answered HTTP {response.status_code}: {_message(response)}"
            )

    async def ready(self) -> None:
        """Raise :class:`sts.errors.BackendError` unless the registry answers."""
        response = await self._request("GET", "/subjects")
        if response.status_code != 200:
            raise BackendError(f"schema registry not ready: HTTP {response.status_code}")

    async def close(self) -> None:
        await self._client.aclose()
