"""Routes: ``GET /v1/exports/{dataset}``: plays, pitches, box lines and season lines as a file, streamed.

Scope ``export``. The answer is a ``StreamingResponse`` with ``Content-Disposition: attachment`` and a
descriptive file name; rows are read with a server-side cursor and encoded batch by batch
(:mod:`sts.exports`), so a full season costs the server no more memory than one game. Everything that can
be wrong with the request (dataset, format, a filter that does not apply) is refused with the standard
error body before the first byte is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse

from sts import exports
from sts.api.deps import Principal, context, require
from sts.api.errors import ApiError, ErrorBody

router = APIRouter(tags=["exports"])

DatasetName = Literal[
    "plays", "pitches", "batting_lines", "pitching_lines", "season_batting", "season_pitching"
]
assert set(DatasetName.__args__) == set(exports.DATASETS)  # type: ignore[attr-defined]

_KEY = r"^[A-Za-z0-9]+$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_DESCRIPTION = "\n".join(f"- `{d.name}`: {d.description}" for d in exports.DATASETS.values())


def _date(value: str | None) -> date | None:
    try:
        return None if value is None else date.fromisoformat(value)
    except ValueError:
        raise ApiError(422, f"{value!r} is not a date", "invalid_parameters") from None


@router.get(
    "/exports/{dataset}",
    summary="Export a dataset as CSV, JSON Lines or Parquet",
    description="Streams every row of the dataset that matches the filters.\n\n"
    + _DESCRIPTION
    + "\n\nGame datasets take `season`, `date_from`, `date_to`, `game_pk`, `team` and `player` (MLBAM ids);"
    " season datasets take `source` (statsapi, lahman, retrosheet), `season`, `team` and `player` (the"
    " source's keys). A filter that does not apply is a 422.",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "the file",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
                "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        404: {"model": ErrorBody, "description": "no such dataset"},
    },
)
async def export(
    request: Request,
    dataset: Annotated[str, Path(description="dataset name", examples=["plays"])],
    principal: Annotated[Principal, Depends(require("export"))],
    format: Annotated[Literal["csv", "jsonl", "parquet"], Query(description="file format")] = "csv",
    season: Annotated[int | None, Query(ge=1871, le=2100)] = None,
    date_from: Annotated[
        str | None, Query(pattern=_DATE, description="first official date YYYY-MM-DD")
    ] = None,
    date_to: Annotated[str | None, Query(pattern=_DATE, description="last official date YYYY-MM-DD")] = None,
    game_pk: Annotated[
        int | None, Query(ge=-(2**62), le=2**62, description="one game (game datasets)")
    ] = None,
    team: Annotated[str | None, Query(max_length=16, pattern=_KEY, description="team id or key")] = None,
    player: Annotated[str | None, Query(max_length=16, pattern=_KEY, description="player id or key")] = None,
    source: Annotated[
        Literal["statsapi", "lahman", "retrosheet"] | None, Query(description="season datasets")
    ] = None,
) -> StreamingResponse:
    if dataset not in exports.DATASETS:
        raise ApiError(
            404, f"no dataset {dataset!r}; known: {', '.join(exports.DATASETS)}", "unknown_dataset"
        )
    filters = exports.Filters(season, _date(date_from), _date(date_to), game_pk, team, player, source)
    try:
        exports.query(exports.DATASETS[dataset], filters)  # refuse now, before the answer has started
    except exports.ExportError as exc:
        raise ApiError(422, str(exc), "invalid_parameters") from exc
    ctx = context(request)
    settings = ctx.settings
    batch = settings.export_batch_rows

    async def body() -> AsyncIterator[bytes]:
        assert ctx.pool is not None
        async with ctx.pool.connection() as conn:
            async for chunk in exports.stream_export(conn, dataset, format, filters, batch_size=batch):
                yield chunk

    name = exports.filename(dataset, format, filters)
    return StreamingResponse(
        body(),
        media_type=exports.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
