"""The error bodies of the app as a whole: values PostgreSQL refuses are a 422, never a 500.

A route that hands the database a value it cannot take (a NUL character in text, a number out of
bigint range) gets ``422 invalid_data`` in the standard body, whatever route let it through; the
route here is a minimal one on the real replayed database with the API's own error handling.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import psycopg
from fastapi import Depends, FastAPI

from sts.api import errors
from sts.api.deps import db
from sts.http.health import serve
from tests.api.conftest import Replayed


async def test_values_the_database_refuses_are_422(replayed: Replayed) -> None:
    from psycopg_pool import AsyncConnectionPool

    from sts.api.context import ApiContext

    app = FastAPI()
    ctx = ApiContext(replayed.settings, replayed.database_url)
    app.state.ctx = ctx
    errors.install(app)

    @app.get("/echo")
    async def echo(text: str, conn: Annotated[psycopg.AsyncConnection[Any], Depends(db)]) -> dict[str, Any]:
        cur = await conn.execute("SELECT %s::text AS t, length(%s::text) AS n", (text, text))
        return dict(await cur.fetchone() or {})

    @app.get("/number")
    async def number(n: int, conn: Annotated[psycopg.AsyncConnection[Any], Depends(db)]) -> dict[str, Any]:
        cur = await conn.execute("SELECT %s::bigint AS n", (n,))
        return dict(await cur.fetchone() or {})

    async with AsyncConnectionPool(replayed.database_url, min_size=1, max_size=2, open=False) as pool:
        ctx.pool = pool
        server, _ = await serve(app, "127.0.0.1", 0)
        async with server, httpx.AsyncClient(base_url=server.url) as http:
            ok = await http.get("/echo", params={"text": "Suárez"})
            assert ok.status_code == 200 and ok.json() == {"t": "Suárez", "n": 6}
            for path, params in (("/echo", {"text": "a\x00b"}), ("/number", {"n": str(2**70)})):
                r = await http.get(path, params=params)
                assert r.status_code == 422, r.text
                err = r.json()["error"]
                assert err["code"] == "invalid_data" and err["status"] == 422 and err["message"]
                assert "\x00" not in r.text
            # the pooled connection is usable again afterwards
            assert (await http.get("/echo", params={"text": "ok"})).status_code == 200
