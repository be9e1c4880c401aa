"""Exports: plays, pitches, box lines and season lines as CSV, JSON Lines or Parquet, streamed.

One function does the work for the API (``GET /v1/exports/{dataset}``) and the CLI (``sts export``):
:func:`stream_export` yields the file as chunks of bytes. Rows come from a server-side cursor
(``DECLARE … CURSOR`` through psycopg's named cursors) fetched ``batch_size`` at a time, and each batch is
encoded and handed on before the next is fetched, so memory stays flat however many rows there are:

- CSV: a header line, then one chunk of lines per batch (``None`` → empty field, booleans ``true``/``false``,
  dates and times in ISO 8601);
- JSON Lines: one object per row, same value rules (``null`` for ``None``);
- Parquet: one row group per batch, written by pyarrow's ``ParquetWriter`` into a buffer that is drained
  after every batch (the footer comes with the last chunk). Column types are fixed per dataset
  (:data:`DATASETS`), so an empty export still has the full schema.

Datasets (:data:`DATASETS`) and the filters that apply to them (:class:`Filters`):

================  =============================================  ====================================
dataset           rows                                                filters
================  =============================================  ====================================
plays             one per plate appearance (``plays``)                season, dates, game_pk, team, player
pitches           one per pitch (``play_events`` with ``is_pitch``)   season, dates, game_pk, team, player
batting_lines     a batter's line in one game (official box)          season, dates, game_pk, team, player
pitching_lines    a pitcher's line in one game (official box)         season, dates, game_pk, team, player
season_batting    a player's season batting line (per team, stint)    source, season, team, player
season_pitching   a player's season pitching line                     source, season, team, player
================  =============================================  ====================================

``team`` and ``player`` are MLBAM ids for the game datasets (a game matches a team when it is home or away;
a play or pitch matches a player who batted or pitched it). For the season datasets they are the source's
keys: MLBAM ids as text for ``statsapi`` (the default source), Lahman's or Retrosheet's codes otherwise.
A filter that does not apply to a dataset is refused (:class:`ExportError`), never silently ignored.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg.rows import tuple_row

from sts.metrics import EXPORT_ROWS

FORMATS = ("csv", "jsonl", "parquet")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}
DEFAULT_BATCH = 5000

_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "text": pa.string(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "ts": pa.timestamp("us", tz="UTC"),
}


class ExportError(ValueError):
    """An export that cannot be made as asked (unknown dataset or format, a filter that does not apply)."""


@dataclass(frozen=True)
class Filters:
    season: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    game_pk: int | None = None
    team: str | None = None
    player: str | None = None
    source: str | None = None

    def given(self) -> list[str]:
        return [k for k, v in self.__dict__.items() if v is not None]


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    columns: tuple[tuple[str, str, str], ...]  # (output name, SQL expression, type key of _TYPES)
    source_sql: str  # FROM … [WHERE …] without the filters
    order_by: str
    game_level: bool  # True: filtered by game (season/date/game_pk/team/player); False: season tables

    @property
    def names(self) -> list[str]:
        return [c[0] for c in self.columns]

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([(name, _TYPES[kind]) for name, _, kind in self.columns])


def _cols(spec: str, prefix: str = "") -> tuple[tuple[str, str, str], ...]:
    """``"a:int b:text"`` → ((a, prefix.a, int), (b, prefix.b, text)); ``name=expr:type`` for expressions."""
    out = []
    for item in spec.split():
        head, kind = item.rsplit(":", 1)
        name, _, expr = head.partition("=")
        out.append((name, expr or f"{prefix}{name}", kind))
    return tuple(out)


_GAME = "season=g.season::integer:int official_date=g.official_date:date game_type=g.game_type:text"

PLAYS = Dataset(
    "plays",
    "one row per plate appearance",
    _cols("game_pk=p.game_pk:int " + _GAME)
    + _cols(
        "at_bat_index:int inning:int half_inning:text batter_id:int bat_side:text pitcher_id:int"
        " pitch_hand:text event:text event_type:text description:text rbi:int is_out:bool"
        " is_scoring_play:bool balls:int strikes:int outs:int away_score:int home_score:int"
        " start_time:ts end_time:ts revision:int",
        "p.",
    ),
    "plays p JOIN games g ON g.game_pk = p.game_pk WHERE true",
    "p.game_pk, p.at_bat_index",
    True,
)

PITCHES = Dataset(
    "pitches",
    "one row per pitch, with its pitch and hit data",
    _cols("game_pk=e.game_pk:int " + _GAME)
    + _cols(
        "at_bat_index=e.at_bat_index:int event_index=e.event_index:int pitch_number=e.pitch_number:int"
        " inning=e.inning:int half_inning=e.half_inning:text batter_id=p.batter_id:int"
        " pitcher_id=p.pitcher_id:int"
    )
    + _cols(
        "play_id:text call_code:text call_description:text pitch_type_code:text"
        " pitch_type_description:text balls:int strikes:int outs:int is_strike:bool is_ball:bool"
        " is_in_play:bool start_speed:float end_speed:float spin_rate:float spin_direction:float"
        " zone:int px:float pz:float pfx_x:float pfx_z:float plate_time:float extension:float"
        " strike_zone_top:float strike_zone_bottom:float break_vertical_induced:float"
        " break_horizontal:float launch_speed:float launch_angle:float total_distance:float"
        " trajectory:text hardness:text start_time:ts",
        "e.",
    ),
    "play_events e JOIN plays p ON p.game_pk = e.game_pk AND p.at_bat_index = e.at_bat_index"
    " JOIN games g ON g.game_pk = e.game_pk WHERE e.is_pitch",
    "e.game_pk, e.at_bat_index, e.event_index",
    True,
)

_LINE_HEAD = (
    "game_pk=b.game_pk:int " + _GAME + " person_id=b.person_id:int side=b.side:text team_id=b.team_id:int"
)

BATTING_LINES = Dataset(
    "batting_lines",
    "one row per batter and game (the official box score's batting line)",
    _cols(_LINE_HEAD)
    + _cols(
        "batting_order:text position:text is_substitute:bool plate_appearances:int at_bats:int runs:int"
        " hits:int doubles:int triples:int home_runs:int rbi:int base_on_balls:int strike_outs:int"
        " stolen_bases:int",
        "b.",
    ),
    "box_lines b JOIN games g ON g.game_pk = b.game_pk WHERE b.batting <> '{}'::jsonb",
    "b.game_pk, b.side, b.person_id",
    True,
)

PITCHING_LINES = Dataset(
    "pitching_lines",
    "one row per pitcher and game (the official box score's pitching line)",
    _cols(_LINE_HEAD)
    + _cols(
        "innings_pitched:text pitching_outs:int batters_faced:int pitches_thrown:int hits_allowed:int"
        " runs_allowed:int earned_runs:int walks_allowed:int strikeouts_pitched:int home_runs_allowed:int",
        "b.",
    ),
    "box_lines b JOIN games g ON g.game_pk = b.game_pk WHERE b.pitching <> '{}'::jsonb",
    "b.game_pk, b.side, b.person_id",
    True,
)

_SEASON_HEAD = "source:text player_key:text season:int team:text stint:int league:text "

SEASON_BATTING = Dataset(
    "season_batting",
    "one row per player, season, team and stint: season batting totals",
    _cols(
        _SEASON_HEAD + "g:int pa:int ab:int r:int h:int doubles:int triples:int hr:int rbi:int sb:int"
        " cs:int bb:int ibb:int so:int hbp:int sh:int sf:int gidp:int",
        "s.",
    ),
    "season_batting s WHERE true",
    "s.season, s.player_key, s.team, s.stint",
    False,
)

SEASON_PITCHING = Dataset(
    "season_pitching",
    "one row per player, season, team and stint: season pitching totals",
    _cols(
        _SEASON_HEAD + "g:int gs:int w:int l:int sv:int hld:int bs:int cg:int sho:int gf:int outs:int"
        " bf:int h:int r:int er:int hr:int bb:int ibb:int so:int hbp:int wp:int bk:int sh:int sf:int"
        " gidp:int",
        "s.",
    ),
    "season_pitching s WHERE true",
    "s.season, s.player_key, s.team, s.stint",
    False,
)

DATASETS: dict[str, Dataset] = {
    d.name: d for d in (PLAYS, PITCHES, BATTING_LINES, PITCHING_LINES, SEASON_BATTING, SEASON_PITCHING)
}

_GAME_FILTERS = {"season", "date_from", "date_to", "game_pk", "team", "player"}
_SEASON_FILTERS = {"season", "team", "player", "source"}


def dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise ExportError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    return fmt


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ExportError(f"{name} must be an integer id for this dataset, not {value!r}") from None


def query(ds: Dataset, f: Filters) -> tuple[str, dict[str, Any]]:
    """The SELECT of ``ds`` with the filters ``f`` (refused when one does not apply)."""
    allowed = _GAME_FILTERS if ds.game_level else _SEASON_FILTERS
    wrong = [k for k in f.given() if k not in allowed]
    if wrong:
        raise ExportError(
            f"filter(s) {', '.join(wrong)} do not apply to {ds.name}; use {', '.join(sorted(allowed))}"
        )
    if f.date_from and f.date_to and f.date_from > f.date_to:
        raise ExportError("date_from is after date_to")
    where: list[str] = []
    params: dict[str, Any] = {}
    if ds.game_level:
        alias = ds.order_by.split(".", 1)[0]  # the table whose game_pk orders the rows
        if f.season is not None:
            where.append("g.season = %(season)s")
            params["season"] = str(f.season)
        if f.date_from is not None:
            where.append("g.official_date >= %(date_from)s")
            params["date_from"] = f.date_from
        if f.date_to is not None:
            where.append("g.official_date <= %(date_to)s")
            params["date_to"] = f.date_to
        if f.game_pk is not None:
            where.append(f"{alias}.game_pk = %(game_pk)s")
            params["game_pk"] = f.game_pk
        if f.team is not None:
            params["team"] = _int("team", f.team)
            if ds in (BATTING_LINES, PITCHING_LINES):
                where.append("b.team_id = %(team)s")
            else:
                where.append("(g.away_team_id = %(team)s OR g.home_team_id = %(team)s)")
        if f.player is not None:
            params["player"] = _int("player", f.player)
            if ds in (BATTING_LINES, PITCHING_LINES):
                where.append("b.person_id = %(player)s")
            else:
                where.append("(p.batter_id = %(player)s OR p.pitcher_id = %(player)s)")
    else:
        where.append("s.source = %(source)s")
        params["source"] = f.source or "statsapi"
        if f.season is not None:
            where.append("s.season = %(season)s")
            params["season"] = f.season
        if f.team is not None:
            where.append("s.team = %(team)s")
            params["team"] = f.team
        if f.player is not None:
            where.append("s.player_key = %(player)s")
            params["player"] = f.player
    select = ", ".join(f"{expr} AS {name}" for name, expr, _ in ds.columns)
    sql = f"SELECT {select} FROM {ds.source_sql}"
    if where:
        sql += " AND " + " AND ".join(where)
    return f"{sql} ORDER BY {ds.order_by}", params


# --------------------------------------------------------------------------- encoders


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


class _Drain:
    """A write-only file for pyarrow whose bytes are taken out after every row group."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._pos = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        out, self._parts = b"".join(self._parts), []
        return out


class _Encoder:
    def __init__(self, ds: Dataset, fmt: str) -> None:
        self.ds = ds
        self.fmt = fmt
        self._drain = _Drain()
        self._parquet: pq.ParquetWriter | None = None
        self._schema = ds.arrow_schema()

    def start(self) -> bytes:
        if self.fmt == "csv":
            return self._csv([self.ds.names])
        if self.fmt == "parquet":
            self._parquet = pq.ParquetWriter(self._drain, self._schema, compression="zstd")
            return self._drain.take()
        return b""

    def batch(self, rows: Sequence[Sequence[Any]]) -> bytes:
        if self.fmt == "csv":
            return self._csv([[_text(v) for v in row] for row in rows])
        if self.fmt == "jsonl":
            names = self.ds.names
            return "".join(
                json.dumps(dict(zip(names, map(_json_value, row), strict=True)), ensure_ascii=False) + "\n"
                for row in rows
            ).encode()
        assert self._parquet is not None
        columns = list(zip(*rows, strict=True))
        arrays = [pa.array(col, type=field.type) for col, field in zip(columns, self._schema, strict=True)]
        self._parquet.write_table(pa.Table.from_arrays(arrays, schema=self._schema))
        return self._drain.take()

    def finish(self) -> bytes:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
            return self._drain.take()
        return b""

    @staticmethod
    def _csv(rows: list[list[Any]]) -> bytes:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        return buf.getvalue().encode()


async def stream_export(
    conn: psycopg.AsyncConnection[Any],
    dataset_name: str,
    fmt: str,
    filters: Filters | None = None,
    *,
    batch_size: int = DEFAULT_BATCH,
) -> AsyncIterator[bytes]:
    """The export as chunks of bytes. Validates before the first chunk (raises :class:`ExportError`), then
    reads through a server-side cursor in a transaction of its own on ``conn`` (tuple rows)."""
    ds = dataset(dataset_name)
    check_format(fmt)
    sql, params = query(ds, filters or Filters())
    encoder = _Encoder(ds, fmt)
    rows_out = EXPORT_ROWS.labels(ds.name, fmt)
    async with conn.transaction():
        cur = conn.cursor(name=f"sts_export_{uuid.uuid4().hex[:12]}", row_factory=tuple_row)
        try:
            await cur.execute(sql, params)
            head = encoder.start()
            if head:
                yield head
            while rows := await cur.fetchmany(batch_size):
                yield encoder.batch(rows)
                rows_out.inc(len(rows))
            tail = encoder.finish()
            if tail:
                yield tail
        finally:
            await cur.close()


def filename(dataset_name: str, fmt: str, filters: Filters) -> str:
    """A descriptive file name: ``plays-2024-g745619.csv``."""
    parts = [dataset_name]
    for key, tag in (("source", ""), ("season", ""), ("game_pk", "g"), ("team", "t"), ("player", "p")):
        value = getattr(filters, key)
        if value is not None:
            parts.append(f"{tag}{value}")
    if filters.date_from or filters.date_to:
        parts.append(f"{filters.date_from or ''}_{filters.date_to or ''}")
    safe = "-".join("".join(c if c.isalnum() or c in "_." else "_" for c in str(p)) for p in parts)
    return f"{safe}.{fmt}"
