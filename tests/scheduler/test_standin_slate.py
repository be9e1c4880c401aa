"""The stand-in's slate (recorded games cloned under other gamePks) and ``/api/v1/game/changes``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from sts.clock import ScaledClock
from sts.recordings import scan_recordings
from sts.standin.replay import CLONE_PK_STEP, Replay
from sts.standin.revisions import Revision
from sts.standin.server import StandIn


@pytest.fixture(scope="module")
def recordings(shared_data: Path):  # type: ignore[no-untyped-def]
    return scan_recordings(shared_data / "statsapi")


def replay_at(recordings, virtual: float, **kw) -> Replay:  # type: ignore[no-untyped-def]
    """A replay whose clock stands (nearly) still at ``virtual`` seconds after its origin."""
    origin = datetime(2026, 7, 1, 17, 0, tzinfo=UTC)
    clock = ScaledClock(0.0, origin, 1e-9)  # origin_real 0: now is origin + (time.time() * 1e-9) s ≈ +1.8 s
    replay = Replay(recordings, clock, start_in=600, **kw)
    replay.clock = ScaledClock(0.0, datetime.fromtimestamp(origin.timestamp() + virtual, UTC), 1e-9)
    return replay


def test_a_slate_of_fifteen_clones_recorded_games_consistently(recordings) -> None:  # type: ignore[no-untyped-def]
    replay = replay_at(recordings, 7200, slate=15, slate_shift=60)
    recorded = sorted(recordings.games)
    assert len(replay.games) == 15
    clones = sorted(replay.clone_of)
    assert len(clones) == 15 - len(recorded)
    for pk in clones:
        source = replay.games[replay.clone_of[pk]]
        game = replay.games[pk]
        assert pk == source.game_pk + CLONE_PK_STEP
        feed = replay.feed(pk, replay.state_index(pk))
        assert feed["gamePk"] == pk and feed["gameData"]["game"]["pk"] == pk
        assert feed["link"] == f"/api/v1.1/game/{pk}/feed/live"
        # the same game, later: first pitch shifted, same plays and timecodes
        assert game.replay_first_pitch > source.replay_first_pitch
        assert game.timeline.timecodes == source.timeline.timecodes
        shift = game.replay_first_pitch - source.replay_first_pitch
        for offset in (-600.0, 1800.0, 5400.0, 9000.0):  # same state at the same time after first pitch
            vt = source.replay_first_pitch + offset
            assert game.index_at(vt + shift) == source.index_at(vt)
    entries = replay.schedule()["dates"][0]["games"]
    assert sorted(e["gamePk"] for e in entries) == sorted(replay.games)
    by_pk = {e["gamePk"]: e for e in entries}
    for pk in clones:
        assert by_pk[pk]["link"] == f"/api/v1.1/game/{pk}/feed/live"
        assert by_pk[pk]["gameDate"] > by_pk[replay.clone_of[pk]]["gameDate"]
    # diffPatch between two states of a clone patches the clone, not the recorded game
    pk = clones[0]
    tcs = replay.timestamps(pk)
    patch = replay.diff_patch(pk, tcs[-3], tcs[-1])
    assert (
        isinstance(patch, list)
        and patch
        and not any(op.get("path") == "/gamePk" for step in patch for op in step["diff"])
    )


def test_game_changes_lists_games_whose_state_changed_in_the_window(recordings) -> None:  # type: ignore[no-untyped-def]
    replay = replay_at(recordings, 0)
    v0 = replay.clock.origin_virtual.timestamp()
    game = replay.games[744914]
    first_pitch = game.replay_first_pitch
    # far before: the only state times are Scheduled (-3 h), Pre-Game (-90 min), Warmup (-20 min)
    before = replay.changes(first_pitch - 2 * 3600)
    assert 744914 in {g["gamePk"] for d in before["dates"] for g in d["games"]}
    assert replay.changes(v0 + 1)["totalItems"] == 0  # nothing changed in the last instant before now
    later = replay_at(recordings, 3600)
    listed = later.changes(later.now() - 120)
    pks = {g["gamePk"] for d in listed["dates"] for g in d["games"]}
    assert pks == set(later.games)  # every game is live 50 min after first pitch: all changed
    assert listed["dates"][0]["games"][0]["status"]["abstractGameState"] == "Live"
    assert replay.changes(v0, {17})["totalItems"] == 0  # another sport


def test_game_changes_lists_an_injected_correction_after_final(recordings) -> None:  # type: ignore[no-untyped-def]
    pk = 744914
    plain = replay_at(recordings, 0)
    tl = plain.games[pk].timeline
    final_virtual = plain.games[pk].replay_first_pitch + (tl.times[-1] - tl.first_pitch)
    after_final = final_virtual - plain.clock.origin_virtual.timestamp() + 1800
    quiet = replay_at(recordings, after_final)
    assert pk not in {g["gamePk"] for d in quiet.changes(quiet.now() - 900)["dates"] for g in d["games"]}
    revised = replay_at(recordings, after_final, revisions=[Revision.parse(f"{pk}:overturn:600")])
    listed = revised.changes(revised.now() - 1500)
    assert pk in {g["gamePk"] for d in listed["dates"] for g in d["games"]}


async def test_game_changes_over_http_and_the_request_log(shared_data: Path) -> None:
    standin = StandIn(shared_data / "statsapi", speed=60, start_in=60, slate=10, slate_shift=30)
    base = await standin.start()
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            first = standin.clock.now_epoch()
            since = datetime.fromtimestamp(first - 4 * 3600, UTC)
            resp = await http.get("/api/v1/game/changes", params={"updatedSince": since.isoformat()})
            assert resp.status_code == 200
            body = resp.json()
            assert body["totalItems"] == 10 and len(body["dates"][0]["games"]) == 10
            bad = await http.get("/api/v1/game/changes", params={"updatedSince": "yesterday"})
            assert bad.status_code == 400 and "updatedSince" in bad.json()["message"]
            missing = await http.get("/api/v1/game/changes")
            assert missing.status_code == 400
        paths = [p for _, p in standin.http.requests]
        assert paths == ["/api/v1/game/changes"] * 3
        # stamped with the virtual clock, between the moments the requests were made (rather than
        # within 60 virtual seconds, one real second, of now: a stall of a loaded machine can be longer)
        times = [t for t, _ in standin.http.requests]
        assert times == sorted(times) and first <= times[0] and times[-1] <= standin.clock.now_epoch()
    finally:
        await standin.stop()
    assert json.loads(json.dumps(body))["copyright"]
