"""apply_events on a real migrated PostgreSQL with events derived from the recorded real feeds."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from sts.db.queries import game_detail, list_games, table_checksums
from sts.events.derive import derive_events
from sts.services.processor import apply_events
from tests.events.feeds import FINAL_FEEDS, load, states

Conn = psycopg.AsyncConnection[Any]
# tables whose rows record when something was observed or written, not a fact of the game
OBSERVATION = ("game_status_history", "processed_events")
TIMESTAMPS = {"processed_events": ("processed_at",)}


async def _count(conn: Conn, query: str, *args: Any) -> int:
    cur = await conn.execute(query, args)
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def _xmins(conn: Conn) -> list[tuple[Any, ...]]:
    tables = ("games", "plays", "play_events", "runners", "box_lines", "people", "substitutions")
    out = []
    for t in tables:
        cur = await conn.execute(f"SELECT xmin::text FROM {t} ORDER BY xmin::text")
        out.append((t, tuple(r[0] for r in await cur.fetchall())))
    return out


async def test_every_game_is_stored_completely_and_twice_changes_nothing(conn: Conn) -> None:
    feeds = {name: load(name) for name in FINAL_FEEDS}
    timings = []
    for feed in feeds.values():
        events = derive_events(None, feed)
        started = time.perf_counter()
        assert await apply_events(conn, events) == len(events)
        timings.append(time.perf_counter() - started)
    before, xmins = await table_checksums(conn, exclude_columns={}), await _xmins(conn)
    for feed in feeds.values():
        assert await apply_events(conn, derive_events(None, feed)) == 0
    assert await table_checksums(conn, exclude_columns={}) == before
    assert await _xmins(conn) == xmins, "an unchanged row was rewritten"
    assert max(timings) < 1.0, timings

    for feed in feeds.values():
        pk = feed["gamePk"]
        plays = feed["liveData"]["plays"]["allPlays"]
        events = [ev for p in plays for ev in p["playEvents"]]
        assert await _count(conn, "SELECT count(*) FROM plays WHERE game_pk = %s", pk) == len(plays)
        assert await _count(conn, "SELECT count(*) FROM play_events WHERE game_pk = %s", pk) == len(events)
        pitches = sum(1 for ev in events if ev.get("isPitch"))
        sql = "SELECT count(*) FROM play_events WHERE game_pk = %s AND is_pitch"
        assert await _count(conn, sql, pk) == pitches
        runners = sum(len(p["runners"]) for p in plays)
        assert await _count(conn, "SELECT count(*) FROM runners WHERE game_pk = %s", pk) == runners
        subs = sum(1 for ev in events if ev.get("isSubstitution"))
        assert await _count(conn, "SELECT count(*) FROM substitutions WHERE game_pk = %s", pk) == subs
        ls = feed["liveData"]["linescore"]
        cur = await conn.execute(
            "SELECT away_score, home_score, is_final, detailed_state, innings_played FROM games "
            "WHERE game_pk = %s",
            (pk,),
        )
        assert await cur.fetchone() == (
            ls["teams"]["away"]["runs"],
            ls["teams"]["home"]["runs"],
            True,
            "Final",
            len(ls["innings"]),
        )
    games = await list_games(conn)
    assert {g["game_pk"] for g in games} == {f["gamePk"] for f in feeds.values()}


@pytest.mark.parametrize("name", ["feed_live_744914.json", "more/feed_live_631220.json"])
async def test_box_lines_equal_the_official_boxscore(conn: Conn, name: str) -> None:
    feed = load(name)
    await apply_events(conn, derive_events(None, feed))
    pk = feed["gamePk"]
    cur = await conn.execute(
        "SELECT person_id, batting, pitching, fielding, at_bats, hits, earned_runs, pitching_outs "
        "FROM box_lines WHERE game_pk = %s",
        (pk,),
    )
    stored = {r[0]: r[1:] for r in await cur.fetchall()}
    expected = {}
    for side in ("away", "home"):
        for player in feed["liveData"]["boxscore"]["teams"][side]["players"].values():
            s = player["stats"]
            if s["batting"] or s["pitching"] or s["fielding"]:
                expected[player["person"]["id"]] = s
    assert stored.keys() == expected.keys()
    for pid, s in expected.items():
        batting, pitching, fielding, ab, h, er, outs = stored[pid]
        assert (batting, pitching, fielding) == (s["batting"], s["pitching"], s["fielding"])
        assert (ab, h) == (s["batting"].get("atBats"), s["batting"].get("hits"))
        assert (er, outs) == (s["pitching"].get("earnedRuns"), s["pitching"].get("outs"))
    cur = await conn.execute(
        "SELECT side, batting, pitching, runs FROM team_box_lines WHERE game_pk = %s", (pk,)
    )
    for side, batting, pitching, runs in await cur.fetchall():
        team = feed["liveData"]["boxscore"]["teams"][side]["teamStats"]
        assert (batting, pitching) == (team["batting"], team["pitching"])
        assert runs == feed["liveData"]["linescore"]["teams"][side]["runs"]
    detail = await game_detail(conn, pk)
    assert detail is not None and len(detail["innings"]) == len(feed["liveData"]["linescore"]["innings"])
    assert detail["game"]["winner"] == feed["liveData"]["decisions"]["winner"]["fullName"]


@pytest.mark.parametrize("name", ["feed_live_718263.json", "recorded/feed_live_747175.stub.json"])
async def test_a_sequence_of_states_gives_the_same_rows_as_the_final_feed(
    conn: Conn, other_conn: Conn, name: str
) -> None:
    final = load(name)
    previous = None
    for state in states(final, 5):
        await apply_events(conn, derive_events(previous, state))
        previous = state
    # also: a consumer that saw everything twice, from scratch (a replay)
    for state in states(final, 11):
        await apply_events(conn, derive_events(None, state))
    await apply_events(other_conn, derive_events(None, final))
    ours = await table_checksums(conn, exclude_tables=OBSERVATION, exclude_columns=TIMESTAMPS)
    theirs = await table_checksums(other_conn, exclude_tables=OBSERVATION, exclude_columns=TIMESTAMPS)
    assert ours == theirs
    cur = await conn.execute("SELECT abstract_state FROM game_status_history ORDER BY first_timecode")
    assert [r[0] for r in await cur.fetchall()] == ["Live", "Final"]


async def test_in_progress_game_and_revised_play(conn: Conn) -> None:
    final = load("feed_live_744914.json")
    live = states(final, 30)[1]  # mid-game
    await apply_events(conn, derive_events(None, live))
    cur = await conn.execute("SELECT is_final, detailed_state, away_score, home_score FROM games")
    row = await cur.fetchone()
    assert row is not None and row[:2] == (False, "In Progress")
    detail = await game_detail(conn, final["gamePk"])
    assert detail is not None and detail["innings"] and not detail["batters"]

    await apply_events(conn, derive_events(live, final))
    revised = load("feed_live_744914.json")
    play = revised["liveData"]["plays"]["allPlays"][5]
    play["result"]["description"] = "Scorer's change."
    play["runners"][0]["credits"].pop()
    play["playEvents"].pop()
    await apply_events(conn, derive_events(final, revised))
    cur = await conn.execute(
        "SELECT description, revision, revised_timecode FROM plays WHERE game_pk = %s AND at_bat_index = 5",
        (final["gamePk"],),
    )
    assert await cur.fetchone() == ("Scorer's change.", 2, final["metaData"]["timeStamp"])
    cur = await conn.execute("SELECT count(*) FROM plays WHERE revision > 1 OR revised_timecode IS NOT NULL")
    assert await cur.fetchone() == (1,)
    n_events = len(play["playEvents"])
    sql = "SELECT count(*) FROM play_events WHERE game_pk = %s AND at_bat_index = 5"
    assert await _count(conn, sql, final["gamePk"]) == n_events
    sql = "SELECT count(*) FROM fielding_credits WHERE game_pk = %s AND at_bat_index = 5"
    assert await _count(conn, sql, final["gamePk"]) == 1


async def test_the_order_of_games_does_not_matter(conn: Conn, other_conn: Conn) -> None:
    # the same team and players appear in several games (AZ in 2023 and 2024): the latest game wins
    names = ["feed_live_718263.json", "recorded/feed_live_747175.stub.json", "feed_live_744914.json"]
    events = {name: derive_events(None, load(name)) for name in names}
    for name in names:
        await apply_events(conn, events[name])
    for name in reversed(names):
        await apply_events(other_conn, events[name])
    ours = await table_checksums(conn, exclude_columns=TIMESTAMPS)
    assert ours == await table_checksums(other_conn, exclude_columns=TIMESTAMPS)
    # and all of them in one batch
    await conn.execute("TRUNCATE games, teams, venues, people, processed_events CASCADE")
    await conn.commit()
    await apply_events(conn, [e for name in reversed(names) for e in events[name]])
    assert await table_checksums(conn, exclude_columns=TIMESTAMPS) == ours
    cur = await conn.execute("SELECT source_game_pk FROM teams WHERE abbreviation = 'AZ'")
    assert await cur.fetchone() == (747175,)


async def test_events_from_older_snapshots_never_overwrite_newer_rows(conn: Conn) -> None:
    final = load("feed_live_744914.json")
    final["metaData"]["timeStamp"] = "20240701_235959"
    await apply_events(conn, derive_events(None, final))
    before = await table_checksums(conn, exclude_columns={})
    # a re-ingestion from scratch: every older state derived as if first seen (new status ids, and a
    # play whose older version says something else)
    older = states(final, 9)[:-1]
    older[-1]["liveData"]["plays"]["allPlays"][3]["result"]["description"] = "an older version"
    for state in older:
        await apply_events(conn, derive_events(None, state))
    assert await table_checksums(conn, exclude_columns={}) == before


async def test_revision_count_does_not_depend_on_batching(conn: Conn, other_conn: Conn) -> None:
    final = load("feed_live_744914.json")
    versions = [final]
    for n in range(2):
        revised = load("feed_live_744914.json")
        revised["metaData"]["timeStamp"] = f"20240702_00000{n}"
        revised["liveData"]["plays"]["allPlays"][7]["result"]["description"] = f"revision {n + 2}"
        versions.append(revised)
    batches = [derive_events(p, c) for p, c in zip([None, *versions], versions, strict=False)]
    for batch in batches:
        await apply_events(conn, batch)
    await apply_events(other_conn, [e for batch in batches for e in batch])
    for c in (conn, other_conn):
        cur = await c.execute(
            "SELECT description, revision, revised_timecode FROM plays WHERE at_bat_index = 7"
        )
        assert await cur.fetchone() == ("revision 3", 3, "20240702_000001")
    assert await table_checksums(conn, exclude_columns=TIMESTAMPS) == await table_checksums(
        other_conn, exclude_columns=TIMESTAMPS
    )
