"""schemathesis over every ``/v1`` operation of the served OpenAPI document, on the replayed database.

The document is the one the served app gives at ``/openapi.json``; schemathesis generates requests
from it (valid ones, and values at and beyond the declared bounds) and sends them to the API served
in-process, with a key that has every scope and is not rate limited. Checked for every response: no
5xx, the status code is documented, the content type is the documented one, the body matches the
declared schema, and the documented headers are there.

Bounded for CI: ``MAX_EXAMPLES`` per operation, derandomized (the same requests each run, so a failure
reproduces), no shrinking, no example database. Hypothesis runs in a worker thread, because the API
is served on this test's own event loop.

Left out: the live streams (``text/event-stream`` and WebSocket answers never end by design; their own
tests cover them), and nothing else.
"""

from __future__ import annotations

import asyncio
from typing import Any

import hypothesis
import psycopg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import Api, Replayed

MAX_EXAMPLES = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def _streams(doc: dict[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, path) of the operations that answer with an endless stream."""
    out = set()
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            contents = [c for r in op.get("responses", {}).values() for c in (r.get("content") or {})]
            if "text/event-stream" in contents or path.startswith("/v1/ws/"):
                out.add((method.upper(), path))
    return out


async def _unlimited_key(replayed: Replayed) -> str:
    from sts.api import keys

    async with await psycopg.AsyncConnection.connect(replayed.database_url, autocommit=True) as conn:
        new = await keys.create_key(conn, "schemathesis", keys.SCOPES, tier="unlimited")
    return new.secret


def _run_operation(operation: Any, base_url: str, headers: dict[str, str]) -> tuple[set[int], list[str]]:
    """Run the generated cases of one operation; return the status codes seen and the failures."""
    statuses: set[int] = set()
    failures: list[str] = []
    session = requests.Session()

    @SETTINGS
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        try:
            response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
            statuses.add(response.status_code)
            case.validate_response(
                response, checks=CHECKS, headers=headers, transport_kwargs={"base_url": base_url}
            )
        except (Exception, BaseExceptionGroup) as exc:  # collected: every failing operation is reported
            text = str(exc).strip()
            if len(failures) < 3 and text not in failures:
                failures.append(text[:3000])

    try:
        run()
    finally:
        session.close()
    return statuses, failures


# The API's background tasks (webhook retry jitter, …) run in this process while hypothesis generates
# in its thread; hypothesis sees the global random state move and takes it for a strategy using it.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
async def test_every_operation_conforms_to_the_openapi_document(api: Api, replayed: Replayed) -> None:
    doc = (await api.http.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(doc)
    skip = _streams(doc)
    key = await _unlimited_key(replayed)
    headers = {"Authorization": f"Bearer {key}"}
    ran: dict[str, set[int]] = {}
    failed: dict[str, list[str]] = {}
    operations = [r.ok() for r in schema.get_all_operations()]
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        if not operation.path.startswith("/v1/") or (operation.method.upper(), operation.path) in skip:
            continue
        statuses, failures = await asyncio.to_thread(_run_operation, operation, api.url, headers)
        ran[label] = statuses
        if failures:
            failed[label] = failures
    assert any(p.startswith("GET /v1/games/{game_pk}") for p in ran), sorted(ran)
    assert all(ran.values()), ran
    # the games routes' bodies were really checked: the documented example (747175) answers 200
    for label, statuses in ran.items():
        if label.startswith("GET /v1/games/{game_pk}"):
            assert 200 in statuses and 404 in statuses, (label, statuses)
    report = "\n\n".join(f"{label}:\n" + "\n---\n".join(msgs) for label, msgs in sorted(failed.items()))
    assert not failed, f"{len(failed)} of {len(ran)} operations failed:\n\n{report}"
