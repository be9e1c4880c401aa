"""Exports (:mod:`sts.exports`, ``GET /v1/exports/{dataset}``, ``sts export``) over a replayed database.

The database is the API tests' replay (717055 of 2023 and 747175 of 2024 through the stand-in and the real
pipeline). Every format is read back (CSV with :mod:`csv`, JSON Lines with :mod:`json`, Parquet with
pyarrow) and must hold the same rows; the rows are checked against MLB's official numbers in the recorded
feeds (plate appearances, pitches, hits per side) and against the database.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from sts import exports
from sts.cli import _register
from sts.cli import app as cli
from sts.recordings import scan_recordings
from tests.api import conftest as api_conftest
from tests.api.conftest import Api, Replayed, serve_api

GAME, OTHER = 717055, 747175
# the API tests' replayed database and key, as fixtures of this module too
replayed = api_conftest.replayed
admin_key = api_conftest.admin_key
_register()
BATCH = 40  # small batches: several CSV chunks and Parquet row groups per game


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))


@pytest.fixture(scope="module")
def official(shared_data: Path) -> dict[int, dict[str, Any]]:
    """What MLB's final feeds say about each game."""
    rec = scan_recordings(shared_data / "statsapi")
    out = {}
    for pk in (GAME, OTHER):
        feed = rec.games[pk].feed
        box = feed["liveData"]["boxscore"]["teams"]
        out[pk] = {
            "plays": len(feed["liveData"]["plays"]["allPlays"]),
            "pitches": sum(box[s]["teamStats"]["pitching"]["numberOfPitches"] for s in ("away", "home")),
            "hits": {s: box[s]["teamStats"]["batting"]["hits"] for s in ("away", "home")},
            "strikeouts": {s: box[s]["teamStats"]["pitching"]["strikeOuts"] for s in ("away", "home")},
            "teams": {s: feed["gameData"]["teams"][s]["id"] for s in ("away", "home")},
            "season": int(feed["gameData"]["game"]["season"]),
            "date": feed["gameData"]["datetime"]["officialDate"],
        }
    return out


async def export_bytes(url: str, dataset: str, fmt: str, filters: exports.Filters | None = None) -> bytes:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        chunks = [c async for c in exports.stream_export(conn, dataset, fmt, filters, batch_size=BATCH)]
    return b"".join(chunks)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


def read_back(fmt: str, data: bytes) -> list[dict[str, Any]]:
    """Rows as JSON-like dicts (dates and times as ISO strings)."""
    if fmt == "jsonl":
        return [json.loads(line) for line in data.decode().splitlines()]
    if fmt == "parquet":
        return [{k: _iso(v) for k, v in row.items()} for row in pq.read_table(io.BytesIO(data)).to_pylist()]
    return list(csv.DictReader(io.StringIO(data.decode())))


def as_text(row: dict[str, Any]) -> dict[str, str]:
    """A typed row as CSV renders it."""
    out = {}
    for k, v in row.items():
        if v is None:
            out[k] = ""
        elif isinstance(v, bool):
            out[k] = "true" if v else "false"
        else:
            out[k] = str(v)
    return out


def _same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """Equal rows, floats compared with a tolerance (Parquet and JSON both keep doubles exactly, but be safe
    about the representation of the same double)."""
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        if ra.keys() != rb.keys():
            return False
        for k in ra:
            x, y = ra[k], rb[k]
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-12):
                    return False
            elif x != y:
                return False
    return True


@pytest.mark.parametrize("dataset", ["plays", "pitches", "batting_lines", "pitching_lines"])
async def test_every_format_round_trips_to_the_same_rows(replayed: Replayed, dataset: str) -> None:
    f = exports.Filters(game_pk=GAME)
    jsonl = read_back("jsonl", await export_bytes(replayed.database_url, dataset, "jsonl", f))
    parquet_bytes = await export_bytes(replayed.database_url, dataset, "parquet", f)
    parquet = read_back("parquet", parquet_bytes)
    text = read_back("csv", await export_bytes(replayed.database_url, dataset, "csv", f))
    assert jsonl, f"no {dataset} rows for {GAME}"
    assert _same(parquet, jsonl)
    assert text == [as_text(r) for r in jsonl]
    assert list(jsonl[0]) == exports.DATASETS[dataset].names
    meta = pq.ParquetFile(io.BytesIO(parquet_bytes)).metadata
    assert meta.num_row_groups == math.ceil(len(jsonl) / BATCH)  # written batch by batch
    assert pq.read_schema(io.BytesIO(parquet_bytes)) == exports.DATASETS[dataset].arrow_schema()


async def test_game_datasets_match_mlbs_official_numbers(
    replayed: Replayed, official: dict[int, dict[str, Any]]
) -> None:
    for pk in (GAME, OTHER):
        f = exports.Filters(game_pk=pk)
        off = official[pk]
        plays = read_back("jsonl", await export_bytes(replayed.database_url, "plays", "jsonl", f))
        assert len(plays) == off["plays"]
        assert [p["at_bat_index"] for p in plays] == list(range(off["plays"]))
        assert {p["season"] for p in plays} == {off["season"]} and {p["official_date"] for p in plays} == {
            off["date"]
        }
        pitches = read_back("parquet", await export_bytes(replayed.database_url, "pitches", "parquet", f))
        assert len(pitches) == off["pitches"]
        batting = read_back("csv", await export_bytes(replayed.database_url, "batting_lines", "csv", f))
        for side in ("away", "home"):
            lines = [b for b in batting if b["side"] == side]
            assert sum(int(b["hits"]) for b in lines) == off["hits"][side]
            assert {int(b["team_id"]) for b in lines} == {off["teams"][side]}
        pitching = read_back("jsonl", await export_bytes(replayed.database_url, "pitching_lines", "jsonl", f))
        for side in ("away", "home"):
            assert (
                sum(p["strikeouts_pitched"] for p in pitching if p["side"] == side) == off["strikeouts"][side]
            )
            assert sum(p["pitches_thrown"] for p in pitching if p["side"] == side) == sum(
                1 for x in pitches if (x["half_inning"] == "top") == (side == "home")
            )


async def test_exports_equal_the_rows_in_the_database(replayed: Replayed) -> None:
    rows = read_back("parquet", await export_bytes(replayed.database_url, "pitches", "parquet"))
    async with await psycopg.AsyncConnection.connect(replayed.database_url) as conn:
        cur = await conn.execute(
            "SELECT e.game_pk, e.at_bat_index, e.event_index, e.start_speed, e.call_code, p.pitcher_id"
            " FROM play_events e JOIN plays p USING (game_pk, at_bat_index) WHERE e.is_pitch"
            " ORDER BY 1, 2, 3"
        )
        db = await cur.fetchall()
        cur = await conn.execute("SELECT count(*) FROM season_batting WHERE source = 'statsapi'")
        season_rows = (await cur.fetchone() or [0])[0]
    keys = ("game_pk", "at_bat_index", "event_index", "start_speed", "call_code", "pitcher_id")
    assert [tuple(r[k] for k in keys) for r in rows] == db
    season = read_back("csv", await export_bytes(replayed.database_url, "season_batting", "csv"))
    assert len(season) == season_rows > 0
    assert {r["source"] for r in season} == {"statsapi"}


async def test_filters_apply(replayed: Replayed, official: dict[int, dict[str, Any]]) -> None:
    url = replayed.database_url

    async def plays(**kw: Any) -> list[dict[str, Any]]:
        return read_back("jsonl", await export_bytes(url, "plays", "jsonl", exports.Filters(**kw)))

    everything = await plays()
    assert len(everything) == official[GAME]["plays"] + official[OTHER]["plays"]
    assert {p["game_pk"] for p in await plays(season=2023)} == {GAME}
    assert {p["game_pk"] for p in await plays(season=2024)} == {OTHER}
    assert await plays(season=2022) == []
    d = date.fromisoformat(official[OTHER]["date"])
    assert {p["game_pk"] for p in await plays(date_from=d)} == {OTHER}
    assert {p["game_pk"] for p in await plays(date_to=d.replace(year=2023, month=12, day=31))} == {GAME}
    assert {p["game_pk"] for p in await plays(date_from=d, date_to=d)} == {OTHER}
    home = official[GAME]["teams"]["home"]
    assert {p["game_pk"] for p in await plays(team=str(home))} == {GAME}
    batter = everything[0]["batter_id"]
    mine = await plays(player=str(batter))
    assert mine and all(batter in (p["batter_id"], p["pitcher_id"]) for p in mine)
    assert len(mine) == sum(1 for p in everything if batter in (p["batter_id"], p["pitcher_id"]))
    lines = read_back(
        "jsonl",
        await export_bytes(url, "batting_lines", "jsonl", exports.Filters(team=str(home), season=2023)),
    )
    assert lines and {b["team_id"] for b in lines} == {home}
    season = read_back(
        "jsonl",
        await export_bytes(url, "season_batting", "jsonl", exports.Filters(season=2024, player=str(batter))),
    )
    assert all(r["player_key"] == str(batter) and r["season"] == 2024 for r in season)


def test_bad_requests_are_refused() -> None:
    with pytest.raises(exports.ExportError, match="unknown dataset"):
        exports.dataset("people")
    with pytest.raises(exports.ExportError, match="unknown format"):
        exports.check_format("xlsx")
    with pytest.raises(exports.ExportError, match="do not apply to season_batting"):
        exports.query(exports.SEASON_BATTING, exports.Filters(game_pk=GAME))
    with pytest.raises(exports.ExportError, match="do not apply to plays"):
        exports.query(exports.PLAYS, exports.Filters(source="lahman"))
    with pytest.raises(exports.ExportError, match="integer"):
        exports.query(exports.PLAYS, exports.Filters(team="NYA"))
    with pytest.raises(exports.ExportError, match="after"):
        exports.query(exports.PLAYS, exports.Filters(date_from=date(2024, 2, 1), date_to=date(2024, 1, 1)))


@pytest.fixture
async def api(replayed: Replayed, admin_key: str | None) -> AsyncIterator[Api]:
    async with serve_api(replayed, admin_key) as served:
        yield served


async def test_api_streams_every_format(api: Api, replayed: Replayed) -> None:
    before = REGISTRY.get_sample_value("sts_export_rows_total", {"dataset": "pitches", "format": "csv"}) or 0
    for fmt, media in (("csv", "text/csv"), ("jsonl", "application/x-ndjson"),
                       ("parquet", "application/vnd.apache.parquet")):  # fmt: skip
        resp = await api.http.get("/v1/exports/pitches", params={"format": fmt, "game_pk": GAME})
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith(media)
        assert resp.headers["content-disposition"] == f'attachment; filename="pitches-g{GAME}.{fmt}"'
        direct = await export_bytes(replayed.database_url, "pitches", fmt, exports.Filters(game_pk=GAME))
        assert _same(read_back(fmt, resp.content), read_back(fmt, direct))
        rows = len(read_back(fmt, direct))
    after = REGISTRY.get_sample_value("sts_export_rows_total", {"dataset": "pitches", "format": "csv"}) or 0
    assert rows > 0 and after - before == 2 * rows  # the API's CSV export and the direct one


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/v1/exports/people", {}, 404, "unknown_dataset"),
        ("/v1/exports/plays", {"format": "xlsx"}, 422, "invalid_parameters"),
        ("/v1/exports/season_batting", {"game_pk": GAME}, 422, "invalid_parameters"),
        ("/v1/exports/plays", {"source": "lahman"}, 422, "invalid_parameters"),
        ("/v1/exports/plays", {"team": "NYA"}, 422, "invalid_parameters"),
        ("/v1/exports/plays", {"team": "1;DROP"}, 422, "invalid_parameters"),
        ("/v1/exports/plays", {"date_from": "yesterday"}, 422, "invalid_parameters"),
        (
            "/v1/exports/plays",
            {"date_from": "2024-02-01", "date_to": "2024-01-01"},
            422,
            "invalid_parameters",
        ),
        ("/v1/exports/plays", {"season": "1800"}, 422, "invalid_parameters"),
    ],
)
async def test_api_refuses_bad_requests_with_the_standard_body(
    api: Api, path: str, params: dict[str, Any], status: int, code: str
) -> None:
    resp = await api.http.get(path, params=params)
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["code"] == code and err["status"] == status and err["message"]


async def test_api_needs_the_export_scope(api: Api, replayed: Replayed) -> None:
    from sts.api.keys import create_key

    async with await psycopg.AsyncConnection.connect(replayed.database_url, autocommit=True) as conn:
        reader = (await create_key(conn, "exports-reader", ["read"])).secret
    async with api.client(reader) as http:
        assert (await http.get("/v1/exports/plays")).status_code == 403
    async with api.client(None) as http:
        assert (await http.get("/v1/exports/plays")).status_code == 401


def run_cli(*args: str) -> Any:
    """Run ``sts`` in this process; the command configures structlog on the runner's stderr, which is
    closed afterwards, so the configuration is put back."""
    import structlog

    saved = structlog.get_config()
    try:
        return CliRunner().invoke(cli, list(args))
    finally:
        structlog.configure(**saved)


async def test_cli_writes_the_same_file(
    replayed: Replayed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STS_DATABASE_URL", replayed.database_url)
    out = tmp_path / "plays.parquet"
    result = await asyncio.to_thread(
        run_cli, "export", "plays", "--format", "parquet", "--out", str(out), "--game", str(GAME)
    )
    assert result.exit_code == 0, result.output
    rows = read_back("parquet", out.read_bytes())
    direct = await export_bytes(replayed.database_url, "plays", "parquet", exports.Filters(game_pk=GAME))
    assert rows and _same(rows, read_back("parquet", direct))
    assert not (tmp_path / "plays.parquet.partial").exists()
    result = await asyncio.to_thread(
        run_cli, "export", "batting_lines", "--format", "csv", "--season", "2024"
    )
    assert result.exit_code == 0, result.output
    lines = list(csv.DictReader(io.StringIO(result.stdout)))
    assert lines and {r["game_pk"] for r in lines} == {str(OTHER)}
    bad = run_cli("export", "season_pitching", "--game", str(GAME))
    assert bad.exit_code == 2 and "do not apply" in bad.output
    bad = run_cli("export", "nothing")
    assert bad.exit_code == 2 and "unknown dataset" in bad.output
