"""The adaptive scheduler in the whole pipeline (embedded profile: embedded PostgreSQL, file object store,
PostgreSQL event log) against the stand-in replaying real recordings:

- a slate of 12 games, all in progress at once, never exceeds the request budget (counted on the tokens
  taken, and every request the stand-in received, with its virtual arrival time, came after a token of
  its own), and no game starves;
- a game listed by ``/api/v1/game/changes`` after Final (a correction injected by the stand-in) is
  fetched again and its revised final snapshot stored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sts.adapters.mlb_client import MLBClient
from sts.bootstrap import open_backends
from sts.cli import app
from sts.cli import commands as _commands  # noqa: F401  (registers every command)
from sts.config import Settings
from sts.http.health import health_app, serve
from sts.ports import BUCKET_LIVE
from sts.recordings import scan_recordings
from sts.services.budget import RequestBudget
from sts.services.ingest import IngestResult
from sts.services.pipeline import Pipeline
from sts.services.scheduler import SchedulerConfig
from sts.standin.revisions import Revision
from sts.standin.server import StandIn
from tests.scheduler.test_budget import max_in_window

pytestmark = pytest.mark.slow
runner = CliRunner()


def embedded(tmp_path: Path, pg_url: str) -> Settings:
    return Settings(data_dir=tmp_path, database_url=pg_url, object_store_url=f"file://{tmp_path / 'objects'}")


async def test_a_slate_of_twelve_games_never_exceeds_the_budget(
    shared_data: Path, pg_url: str, tmp_path: Path
) -> None:
    rate, burst, speed = 0.25, 3.0, 30.0
    # 12 games, the first pitches 10 virtual minutes ago (and up to 40 s apart): all live at once
    standin = StandIn(shared_data / "statsapi", speed=speed, start_in=-600, slate=12, slate_shift=10)
    base = await standin.start()
    backends = await open_backends(embedded(tmp_path, pg_url))
    config = SchedulerConfig(poll_interval=10, budget_rate=rate, budget_burst=burst, jitter=0.1)
    try:
        async with MLBClient(base, timeout=10, retries=2) as client:
            pipeline = Pipeline(backends, client, standin.clock, config)
            budget = pipeline.budget
            assert isinstance(budget, RequestBudget)
            granted: list[float] = []  # the clock time at which each token was taken
            acquire = budget.acquire

            async def stamped() -> None:
                await acquire()
                granted.append(budget._stamp)  # type: ignore[arg-type]  # the refill that gave the token

            budget.acquire = stamped  # type: ignore[method-assign]
            stop = asyncio.Event()
            run = asyncio.create_task(pipeline.run(stop))
            health, port = await serve(health_app({}, schedule=pipeline.scheduler.explain))
            await asyncio.sleep(25)  # 750 virtual seconds
            cli = await asyncio.to_thread(
                runner.invoke, app, ["schedule", "--url", f"http://127.0.0.1:{port}", "--json"]
            )
            await health.stop()
            stop.set()
            await asyncio.wait_for(run, 60)
    finally:
        await backends.aclose()
        await standin.stop()
    times = [t for t, path in standin.http.requests if path.startswith("/api/")]
    span = times[-1] - times[0]
    # The budget's guarantee is on when requests *start* (sts.services.budget): over any window of W
    # clock seconds at most burst + rate * W tokens are taken, 3 + 0.25 * 60 = 18 in a minute. The
    # stand-in stamps a request when its event loop gets to it, after the client's trip, which on a
    # loaded machine can take longer than the 4 clock seconds (133 ms) between two tokens and so bunch
    # arrivals; the windows are counted on the tokens, exactly.
    for window in (1.0, 5.0, 10.0, 30.0, 60.0, 300.0):
        peak = max_in_window(granted, window)
        assert peak <= burst + rate * window + 1e-9, f"{peak} tokens in {window}s"
    # ... and the stand-in's own log shows that no request went around the budget: every request it
    # received was preceded by a token of its own, so the k-th arrival comes after the k-th token (a
    # token taken just before the stop may not have arrived); 1 ms of clock time for the rounding of
    # the budget's clock to microseconds
    assert 0 < len(times) <= len(granted)
    late = [(a, t) for a, t in zip(sorted(times), sorted(granted), strict=False) if a < t - 1e-3]
    assert not late, late[:5]
    # demand (12 live games every ~10 s, each poll 1-2 requests) far exceeds the budget: it was the limit
    assert len(times) >= 0.8 * rate * span
    assert pipeline.budget is not None and pipeline.budget.stats.waited > 0  # type: ignore[attr-defined]
    games = pipeline.scheduler.games
    assert len(games) == 12
    assert all(g.stored >= 2 for g in games.values()), {pk: g.stored for pk, g in games.items()}
    # sts schedule --url read the running scheduler's decisions from its health server
    assert cli.exit_code == 0, cli.output
    lines = cli.stdout.splitlines()  # the pipeline's log lines share stdout with the command's JSON
    first, last = lines.index("{"), len(lines) - 1 - lines[::-1].index("}")
    shown = json.loads("\n".join(lines[first : last + 1]))
    assert sorted(g["gamePk"] for g in shown["games"]) == sorted(games)
    assert {g["state"] for g in shown["games"]} <= {"live", "inning break"}
    # How overdue a game can show, from the budget's first-come-first-served queue: one request of a poll
    # waits behind at most one request of each other game (each game polls sequentially) and a schedule and
    # a game/changes request: (11 + 2 + 1) / 0.25 = 56 virtual seconds; a poll sends at most 2 requests
    # (diffPatch, then the full feed when a patch does not apply), so it waits at most 112. ``nextPoll`` is
    # counted from when the previous poll began, so while a poll waits the game shows overdue by up to two
    # such waits less the interval; plus 2 real seconds (60 virtual at this speed) for the event loop on a
    # loaded machine. A starving game would fall further behind with every round of the 750 virtual seconds.
    per_poll = 2 * (len(games) - 1 + 2 + 1) / rate
    overdue = 2 * per_poll - config.poll_interval + 2.0 * speed
    for g in shown["games"]:
        assert g["reason"].startswith(("live:", "between innings", "last poll failed")), g["reason"]
        ahead = (datetime.fromisoformat(g["nextPoll"]) - datetime.fromisoformat(shown["now"])).total_seconds()
        assert -overdue <= ahead <= g["interval"] + 1 and g["interval"] >= config.poll_interval, (
            ahead,
            overdue,
        )
    assert shown["budget"]["rate_per_second"] == rate and shown["budget"]["acquired"] > 0


async def test_a_game_listed_by_game_changes_after_final_is_fetched_again(
    shared_data: Path, pg_url: str, tmp_path: Path
) -> None:
    pk = 744914
    rec = scan_recordings(shared_data / "statsapi")
    rec = dataclasses.replace(rec, games={pk: rec.games[pk]})
    speed = 60.0
    probe = StandIn(rec, speed=speed)
    tl = probe.replay.games[pk].timeline
    length = tl.times[-1] - tl.first_pitch  # first pitch to Final, virtual seconds
    # Final 60 virtual seconds after the start; the correction 300 s after Final
    standin = StandIn(
        rec, speed=speed, start_in=60 - length, revisions=[Revision.parse(f"{pk}:overturn:300")]
    )
    revised_tc = standin.replay.games[pk].timeline.timecodes[-1]
    assert revised_tc > tl.timecodes[-1]
    base = await standin.start()
    backends = await open_backends(embedded(tmp_path, pg_url))
    config = SchedulerConfig(poll_interval=10, correction_window=3600, changes_interval=60)
    results: list[IngestResult] = []
    try:
        async with MLBClient(base, timeout=10, retries=2) as client:
            pipeline = Pipeline(backends, client, standin.clock, config, on_result=results.append)
            stop = asyncio.Event()
            run = asyncio.create_task(pipeline.run(stop))
            deadline = asyncio.get_running_loop().time() + 60
            while asyncio.get_running_loop().time() < deadline:
                if any(r.timecode == revised_tc and r.outcome == "stored" for r in results):
                    break
                await asyncio.sleep(0.2)
            stop.set()
            await asyncio.wait_for(run, 60)
        st = pipeline.scheduler.games[pk]
        assert st.done and st.refetches >= 1
        stored = [r for r in results if r.outcome == "stored"]
        assert stored[-1].timecode == revised_tc and stored[-1].status == "Final"
        keys = [info.key async for info in backends.store.list(BUCKET_LIVE, f"{pk}/")]
        assert f"{pk}/{revised_tc}.json" in keys
    finally:
        await backends.aclose()
        await standin.stop()
    log = list(standin.http.requests)
    changes = [t for t, p in log if p == "/api/v1/game/changes"]
    assert changes, "game/changes was never polled"
    # after the Final, the game is fetched again only after a game/changes poll listed it
    final_polls = [t for t, p in log if f"/game/{pk}/" in p and t > changes[0]]
    assert final_polls and min(final_polls) >= changes[0]
    assert pipeline.scheduler.changes_polls >= 1
