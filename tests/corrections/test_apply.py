"""Revised plays in the database (real migrated embedded PostgreSQL, real file object store): the play
updated in place with its history, idempotence, and the season-stats consumer recomputing on
``PlayRevised`` alone."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from sts.adapters.file_store import FileObjectStore
from sts.cli import app
from sts.cli import games as _games  # noqa: F401  (registers the commands)
from sts.events.derive import derive_events
from sts.events.model import GameEvent
from sts.ports import BUCKET_LIVE
from sts.services.processor import apply_events
from sts.services.stats_updater import season_apply
from sts.standin.revisions import apply_revision
from tests.events.feeds import load

Conn = psycopg.AsyncConnection[Any]
PK, ABI, BATTER = 744914, 9, 543807


async def rows(conn: Conn, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return await (await conn.execute(sql, args)).fetchall()


def at(feed: dict[str, Any], timecode: str) -> dict[str, Any]:
    feed = copy.copy(feed)
    feed["metaData"] = {**feed["metaData"], "timeStamp": timecode}
    return feed


async def test_revisions_update_the_play_and_keep_its_history(conn: Conn) -> None:
    final = load("feed_live_744914.json")
    scored, _ = apply_revision(final, "hit-to-error")
    scored = at(scored, "20240701_220000")
    reworded = copy.deepcopy(scored)
    reworded["liveData"]["plays"]["allPlays"][ABI]["result"]["description"] = (
        "Springer safe on Meyers' error."
    )
    reworded = at(reworded, "20240701_223000")

    assert await apply_events(conn, derive_events(None, final)) > 0
    first = derive_events(final, scored)
    second = derive_events(scored, reworded)
    assert await apply_events(conn, first) == 3  # PlayCompleted, PlayRevised, GameFinal
    assert await apply_events(conn, second) == 2  # PlayCompleted, PlayRevised

    [(event_type, description, revision, revised_tc)] = await rows(
        conn,
        "SELECT event_type, description, revision, revised_timecode FROM plays"
        " WHERE game_pk = %s AND at_bat_index = %s",
        PK,
        ABI,
    )
    assert (event_type, description) == ("field_error", "Springer safe on Meyers' error.")
    assert (revision, revised_tc) == (3, "20240701_223000")
    history = await rows(
        conn,
        "SELECT revision, timecode, kind, changes, event_id::text, play_event_id::text FROM play_revisions"
        " WHERE game_pk = %s AND at_bat_index = %s ORDER BY revision",
        PK,
        ABI,
    )
    assert [(r[0], r[1], r[2]) for r in history] == [
        (1, "20240701_220000", "scoring_change"),
        (2, "20240701_223000", "description"),
    ]
    changes = {c["field"]: (c["old"], c["new"]) for c in history[0][3]}
    assert changes["result.eventType"] == ("single", "field_error")  # stored as JSON values, not text
    assert history[1][3] == [
        {
            "field": "result.description",
            "old": "George Springer reaches on a fielding error by center fielder Jake Meyers.",
            "new": "Springer safe on Meyers' error.",
        }
    ]
    revised = [e for e in first + second if e.event_type == "PlayRevised"]
    assert [(r[4], r[5]) for r in history] == [(e.event_id, e.payload["play_event_id"]) for e in revised]

    # idempotent: the same events again (a redelivery, a replay) add nothing
    before = await rows(conn, "SELECT * FROM play_revisions ORDER BY revision")
    assert await apply_events(conn, first + second) == 0
    assert await rows(conn, "SELECT * FROM play_revisions ORDER BY revision") == before
    # old news: the original snapshot's events replayed after the revision change nothing either
    assert await apply_events(conn, derive_events(None, final)) == 0
    assert (
        await rows(conn, "SELECT event_type FROM plays WHERE game_pk = %s AND at_bat_index = %s", PK, ABI)
    )[0] == ("field_error",)


async def _season_line(conn: Conn) -> tuple[int, int]:
    [(h, ab)] = await rows(
        conn,
        "SELECT h, ab FROM season_batting WHERE source = 'statsapi' AND player_key = %s AND season = 2024",
        str(BATTER),
    )
    return h, ab


async def test_a_play_revised_before_mlb_fixes_its_box_is_recomputed_and_flagged(
    conn: Conn, tmp_path: Path
) -> None:
    """MLB may rewrite a play before its box: no new GameFinal (the box and linescore are unchanged),
    only PlayRevised. Our derived box and the season line follow the plays, and the data-quality
    record flags the official box, which still counts the hit."""
    store = FileObjectStore(tmp_path / "objects")
    await store.ensure_buckets()
    final = load("feed_live_744914.json")
    revised = copy.deepcopy(final)
    play = revised["liveData"]["plays"]["allPlays"][ABI]
    play["result"].update(event="Field Error", eventType="field_error")
    play["runners"][0]["details"].update(event="Field Error", eventType="field_error")
    play["runners"][0]["credits"][0]["credit"] = "f_fielding_error"
    revised = at(revised, "20240701_220000")
    apply = season_apply(store)

    async def ingest(prev: dict[str, Any] | None, feed: dict[str, Any]) -> list[GameEvent]:
        await store.put(BUCKET_LIVE, f"{PK}/{feed['metaData']['timeStamp']}.json", json.dumps(feed).encode())
        events = derive_events(prev, feed)
        await apply_events(conn, events)
        await apply(conn, events)
        return events

    await ingest(None, final)
    official_hits = final["liveData"]["boxscore"]["teams"]["home"]["players"][f"ID{BATTER}"]["stats"][
        "batting"
    ]
    assert await _season_line(conn) == (official_hits["hits"], official_hits["atBats"])
    [(matched, total)] = await rows(conn, "SELECT matched, total FROM box_quality WHERE game_pk = %s", PK)
    assert matched == total

    events = await ingest(final, revised)
    assert [e.event_type for e in events] == ["PlayCompleted", "PlayRevised"]  # no GameFinal
    assert await _season_line(conn) == (official_hits["hits"] - 1, official_hits["atBats"])
    [(matched, total, mismatches)] = await rows(
        conn, "SELECT matched, total, mismatches FROM box_quality WHERE game_pk = %s", PK
    )
    flagged = {(m["person_id"], m["stat"]) for m in mismatches}
    assert (BATTER, "hits") in flagged and matched < total


@pytest.fixture
async def corrected(migrated_pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    final = load("feed_live_744914.json")
    scored, _ = apply_revision(final, "hit-to-error")
    scored = at(scored, "20240701_220000")
    async with await psycopg.AsyncConnection.connect(migrated_pg_url) as c:
        await apply_events(c, derive_events(None, final))
        await apply_events(c, derive_events(final, scored))
    monkeypatch.setenv("STS_DATABASE_URL", migrated_pg_url)
    return migrated_pg_url


def test_sts_game_shows_the_corrections(corrected: str) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["game", "744914", "--json"])
    assert result.exit_code == 0, result.output
    [revision] = json.loads(result.output)["revisions"]
    assert (revision["at_bat_index"], revision["revision"], revision["kind"]) == (9, 1, "scoring_change")
    assert (revision["inning"], revision["half_inning"]) == (2, "bottom")
    result = runner.invoke(app, ["game", "744914"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # rich wraps long lines
    assert "correction: play #9 (bottom 2) revision 1 at 20240701_220000, scoring_change:" in text
    assert "result.eventType single -> field_error" in text
