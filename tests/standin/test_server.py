"""The stand-in over HTTP, run in-process on 127.0.0.1 and queried with httpx.

The main replay runs at speed 1 with games an hour apart and started 3 h 10 min (virtual) ago, so
the games are, in gamePk order: Final, In Progress, In Progress, Warmup, Pre-Game, Scheduled…
and stay so while the tests run.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from sts.recordings import Recordings
from sts.standin import StandIn
from sts.standin.shapes import shape_diff

ELAPSED = 1200 + 2 * 3600 + 50 * 60
EXPECTED = {
    631220: "Final",
    717055: "In Progress",
    718263: "In Progress",
    718322: "Warmup",
    718594: "Pre-Game",
    744914: "Scheduled",
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def server(recordings: Recordings) -> AsyncIterator[StandIn]:
    stand_in = StandIn(recordings, speed=1, stagger=3600, origin=time.time() - ELAPSED)
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def client(server: StandIn) -> AsyncIterator[httpx.AsyncClient]:
    assert server.base_url is not None and server.base_url.startswith("http://127.0.0.1:")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as c:
        yield c


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    resp = await client.get(path, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_status_shows_each_game_at_its_point_of_the_replay(client: httpx.AsyncClient) -> None:
    status = await get(client, "/standin/status")
    states = {g["gamePk"]: g["state"] for g in status["games"]}
    assert {pk: states[pk] for pk in EXPECTED} == EXPECTED
    assert [n["gamePk"] for n in status["notReplayed"]] == [746139]
    assert len(status["games"]) == 8


async def test_schedule_of_the_replay_day(client: httpx.AsyncClient, server: StandIn) -> None:
    day = server.replay.replay_day
    schedule = await get(client, "/api/v1/schedule", sportId=1)
    assert schedule["totalGames"] == 8 and schedule["totalGamesInProgress"] == 3  # Warmup is "Live" too
    (date,) = schedule["dates"]
    assert date["date"] == day
    games = {g["gamePk"]: g for g in date["games"]}
    assert {pk: games[pk]["status"]["detailedState"] for pk in EXPECTED} == EXPECTED
    for game in games.values():
        assert game["officialDate"] == day
        first_pitch = datetime.fromisoformat(game["gameDate"].replace("Z", "+00:00"))
        assert first_pitch.timestamp() == pytest.approx(
            server.replay.games[game["gamePk"]].replay_first_pitch, abs=1
        )
    assert games[631220]["teams"]["away"]["score"] == 11 and games[631220]["teams"]["away"]["isWinner"]
    assert "score" in games[717055]["teams"]["home"] and "score" not in games[744914]["teams"]["home"]
    assert (await get(client, "/api/v1/schedule", date=day))["totalGames"] == 8
    assert (await get(client, "/api/v1/schedule", date="2024-07-01"))["dates"] == []
    assert (await get(client, "/api/v1/schedule", startDate="2000-01-01", endDate=day))["totalGames"] == 8
    by_team = await get(client, "/api/v1/schedule", teamId=141)
    assert {g["gamePk"] for g in by_team["dates"][0]["games"]} == {744914, 747175}
    by_pk = await get(client, "/api/v1/schedule", gamePk=718263)
    assert [g["gamePk"] for g in by_pk["dates"][0]["games"]] == [718263]
    assert (await get(client, "/api/v1/schedule", sportId=11))["dates"] == []


async def test_schedule_entry_has_the_recorded_shape(server: StandIn, statsapi: Path) -> None:
    recorded = json.loads((statsapi / "schedule_2024-07-01.json").read_bytes())
    entry = next(g for g in recorded["dates"][0]["games"] if g["gamePk"] == 744914)
    game = server.replay.games[631220]  # Final now
    mine = server.replay.schedule_entry(game)
    diffs = shape_diff(entry, mine)
    # a game without a recorded schedule entry has no series data or guid to show
    assert diffs == [
        "$: keys only in first: ['gameGuid', 'gamesInSeries', 'seriesGameNumber']",
        "$.teams.away: keys only in first: ['seriesNumber']",
        "$.teams.home: keys only in first: ['seriesNumber']",
    ]


async def test_feed_now_and_by_timecode(client: httpx.AsyncClient) -> None:
    feed = await get(client, "/api/v1.1/game/717055/feed/live")
    assert feed["gameData"]["status"]["detailedState"] == "In Progress"
    assert feed["metaData"]["wait"] == 10
    stamps = await get(client, "/api/v1.1/game/717055/feed/live/timestamps")
    assert stamps == sorted(set(stamps)) and feed["metaData"]["timeStamp"] in stamps[-2:]
    assert stamps[-1] >= feed["metaData"]["timeStamp"]
    first = await get(client, "/api/v1.1/game/717055/feed/live", timecode=stamps[0])
    assert first["gameData"]["status"]["detailedState"] == "Scheduled"
    assert first["liveData"]["plays"]["allPlays"] == []
    mid = await get(client, "/api/v1.1/game/717055/feed/live", timecode=stamps[len(stamps) // 2])
    assert mid["metaData"]["timeStamp"] == stamps[len(stamps) // 2]


async def test_status_sequence_through_timecodes_of_a_finished_game(client: httpx.AsyncClient) -> None:
    stamps = await get(client, "/api/v1.1/game/631220/feed/live/timestamps")
    seen: list[str] = []
    for stamp in [*stamps[:5], stamps[-2], stamps[-1]]:
        feed = await get(client, "/api/v1.1/game/631220/feed/live", timecode=stamp)
        state = feed["gameData"]["status"]["detailedState"]
        if not seen or seen[-1] != state:
            seen.append(state)
    assert seen == ["Scheduled", "Pre-Game", "Warmup", "In Progress", "Final"]


async def test_final_feed_is_the_recording(client: httpx.AsyncClient, recordings: Recordings) -> None:
    served = await get(client, "/api/v1.1/game/631220/feed/live")
    assert served == json.loads(recordings.games[631220].source.read_bytes())


async def test_errors_look_like_mlbs(client: httpx.AsyncClient) -> None:
    for path, params in [
        ("/api/v1.1/game/1/feed/live", {}),
        ("/api/v1.1/game/1/feed/live/timestamps", {}),
        ("/api/v1/game/746139/boxscore", {}),
        ("/api/v1.1/game/717055/feed/live", {"timecode": "20990101_000000"}),
        ("/api/v1/people/1", {}),
    ]:
        resp = await client.get(path, params=params)
        assert resp.status_code == 404, path
        assert set(resp.json()) == {"messageNumber", "message", "timestamp", "traceId"}
    assert (
        await client.get("/api/v1.1/game/717055/feed/live", params={"timecode": "soon"})
    ).status_code == 400


async def test_people_and_teams(client: httpx.AsyncClient) -> None:
    ohtani = await get(client, "/api/v1/people/660271")
    assert ohtani["people"][0]["fullName"] == "Shohei Ohtani"
    several = await get(client, "/api/v1/people", personIds="592450,660271,608324")
    assert {p["id"] for p in several["people"]} == {592450, 660271, 608324}  # 608324 from a game's players
    teams = await get(client, "/api/v1/teams", sportId=1)
    assert len(teams["teams"]) == 30
    assert {str(t["season"]) for t in (await get(client, "/api/v1/teams", season="2024"))["teams"]} == {
        "2024"
    }
    assert (await get(client, "/api/v1/teams/141"))["teams"][0]["id"] == 141


async def test_boxscore_and_linescore_once_final(recordings: Recordings) -> None:
    stand_in = StandIn(recordings, speed=1, origin=time.time() - 86400)
    base = await stand_in.start()
    try:
        async with httpx.AsyncClient(base_url=base) as c:
            for pk in (744914, 747175):
                game = recordings.games[pk]
                assert await get(c, f"/api/v1/game/{pk}/boxscore") == game.boxscore
                assert await get(c, f"/api/v1/game/{pk}/linescore") == game.linescore
            derived = await get(c, "/api/v1/game/717055/linescore")  # none recorded: from the feed
            assert derived["teams"] == recordings.games[717055].feed["liveData"]["linescore"]["teams"]
            assert "copyright" in derived
    finally:
        await stand_in.stop()


async def test_a_fast_replay_moves_forward(recordings: Recordings) -> None:
    # 30 minutes into 744914, which ends 8162 clock seconds after its first pitch: at 300x the game is
    # in progress for another 21 real seconds, far more than the ~2 s of this test even when loaded
    # (at 600x from one hour in, it ended 7.6 s after the start)
    stand_in = StandIn(recordings, speed=300, start_in=0, origin=time.time() - 1800 / 300)
    base = await stand_in.start()
    try:
        async with httpx.AsyncClient(base_url=base) as c:
            plays, stamp = 0, ""
            for _ in range(4):
                feed = await get(c, "/api/v1.1/game/744914/feed/live")
                assert feed["metaData"]["timeStamp"] >= stamp
                assert len(feed["liveData"]["plays"]["allPlays"]) >= plays
                plays, stamp = len(feed["liveData"]["plays"]["allPlays"]), feed["metaData"]["timeStamp"]
                await asyncio.sleep(0.4)
            assert 0 < plays < 68
            assert feed["gameData"]["status"]["detailedState"] == "In Progress"
            first = await get(c, "/api/v1.1/game/744914/feed/live", timecode=stamp)
            assert first["metaData"]["timeStamp"] == stamp
    finally:
        await stand_in.stop()
    assert datetime.now(UTC) > stand_in.clock.origin_virtual


async def test_diff_patch_turns_one_state_into_the_next(client: httpx.AsyncClient) -> None:
    import jsonpatch

    stamps = await get(client, "/api/v1.1/game/717055/feed/live/timestamps")
    path = "/api/v1.1/game/717055/feed/live"
    for a, b in [(stamps[-6], stamps[-1]), (stamps[-30], stamps[-29])]:
        start = await get(client, path, timecode=a)
        end = await get(client, path, timecode=b)
        patch = await get(client, f"{path}/diffPatch", startTimecode=a, endTimecode=b)
        assert isinstance(patch, list) and len(patch) == 1
        assert jsonpatch.apply_patch(start, patch[0]["diff"]) == end
    assert await get(client, f"{path}/diffPatch", startTimecode=stamps[-1], endTimecode=stamps[-1]) == []
    full = await get(client, f"{path}/diffPatch", startTimecode=stamps[0])  # hours old: the whole feed
    # the current state: the replay clock may have moved on since the timestamps were read
    assert full["gamePk"] == 717055 and full["metaData"]["timeStamp"] >= stamps[-2]
    assert (await client.get(f"{path}/diffPatch")).status_code == 400


async def test_same_origin_resumes_the_same_replay(server: StandIn, recordings: Recordings) -> None:
    again = StandIn(recordings, speed=1, stagger=3600, origin=server.clock.origin_real)
    assert again.replay.status()["games"] == server.replay.status()["games"]
    assert server.port == 0 and server.base_url is not None
    port = int(server.base_url.rsplit(":", 1)[1])
    taken = StandIn(recordings, speed=1, port=port)
    with pytest.raises(OSError):
        await taken.start()
