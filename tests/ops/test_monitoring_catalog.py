"""The metrics catalog of docs/monitoring.md is the module's (it cannot go stale), and the operations
metrics added for alerting behave: per-game freshness, fetch → rows latency, the stand-in's stall knob."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics import MetricWrapperBase

import sts.metrics
from sts.metrics import SNAPSHOT_TO_ROWS, GameFreshness
from sts.ports import Record
from sts.recordings import scan_recordings
from sts.services.ingest import FETCHED_AT_HEADER, _phase
from sts.services.processor import _observe_snapshot_latency
from sts.standin.server import StandIn

DOC = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"


def declared() -> dict[str, str]:
    """Every metric of sts.metrics: exported name -> type."""
    out: dict[str, str] = {}
    for value in vars(sts.metrics).values():
        if isinstance(value, MetricWrapperBase):
            suffix = "_total" if value._type == "counter" else ""
            out[value._name + suffix] = value._type
        elif isinstance(value, GameFreshness):
            out.update({f.name: f.type for f in value.describe()})
    return out


def documented() -> dict[str, str]:
    rows = re.findall(
        r"^\| `(sts_[a-z0-9_]+)` \| (counter|gauge|histogram|summary) \|", DOC.read_text(), re.M
    )
    names = [name for name, _ in rows]
    assert len(names) == len(set(names)), "a metric is listed twice"
    return dict(rows)


def test_the_catalog_lists_every_declared_metric_and_nothing_else() -> None:
    have, doc = declared(), documented()
    assert len(have) > 40
    assert sorted(set(have) - set(doc)) == [], "declared in sts.metrics but missing from docs/monitoring.md"
    assert sorted(set(doc) - set(have)) == [], "listed in docs/monitoring.md but not declared"
    assert {n: t for n, t in doc.items() if have[n] != t} == {}, "documented with another type"


def test_freshness_grows_in_wall_clock_and_only_live_games_have_a_series() -> None:
    now = [1000.0]
    fresh = GameFreshness(clock=lambda: now[0])
    registry = CollectorRegistry()
    registry.register(fresh)

    def samples() -> dict[tuple[str, str], float]:
        [family] = fresh.collect()
        return {(s.labels["game_pk"], s.labels["phase"]): s.value for s in family.samples}

    fresh.changed(717055, "play")
    fresh.seen(747175, "play")  # first seen unchanged (a restart): counted from now
    now[0] += 12
    assert samples() == {("717055", "play"): 12.0, ("747175", "play"): 12.0}
    fresh.seen(717055, "break")  # polled, nothing new: the clock keeps running, the phase follows
    now[0] += 3
    assert samples()[("717055", "break")] == 15.0
    fresh.changed(717055, "play")
    now[0] += 1
    assert samples() == {("717055", "play"): 1.0, ("747175", "play"): 16.0}
    fresh.forget(747175)  # final
    assert samples() == {("717055", "play"): 1.0}
    text = generate_latest(registry).decode()
    assert 'sts_game_seconds_since_update{game_pk="717055",phase="play"} 1.0' in text


def test_the_phase_of_a_live_game() -> None:
    assert _phase("In Progress", "Top") == "play"
    assert _phase("In Progress", "Middle") == "break"
    assert _phase("In Progress", "End") == "break"
    assert _phase("Delayed: Rain", "Bottom") == "delayed"
    assert _phase("Suspended: Rain", None) == "delayed"


def record(offset: int, fetched_ms: Any) -> Record:
    headers = {"event_id": f"e{offset}", "event_type": "Pitch"}
    if fetched_ms is not None:
        headers[FETCHED_AT_HEADER] = str(fetched_ms)
    return Record("mlb.game-events", 0, offset, "717055", b"", headers, 0)


def test_fetch_to_rows_latency_is_observed_once_per_snapshot() -> None:
    import time

    group = "catalog-test"

    def count() -> float:
        value = sts.metrics.REGISTRY.get_sample_value("sts_snapshot_to_rows_seconds_count", {"group": group})
        return value or 0.0

    def total() -> float:
        value = sts.metrics.REGISTRY.get_sample_value("sts_snapshot_to_rows_seconds_sum", {"group": group})
        return value or 0.0

    fetched = int(time.time() * 1000) - 2500
    # two snapshots (three events of one, one of the other), a record without the header, a bad header
    batch = [record(0, fetched), record(1, fetched), record(2, fetched), record(3, fetched + 1000)]
    batch += [record(4, None), record(5, "yesterday")]
    _observe_snapshot_latency(group, batch)
    observed_by = time.time()
    assert count() == 2
    # each snapshot's latency is the observation's time minus its fetch time: at least 2.5 s and 1.5 s,
    # at most what had passed since then once the call returned (however long a loaded machine took)
    since_fetched = observed_by - fetched / 1000
    assert 3.9 < total() <= since_fetched + (since_fetched - 1.0) + 0.001, (total(), since_fetched)
    assert SNAPSHOT_TO_ROWS._labelnames == ("group",)


async def test_a_stalled_game_keeps_serving_the_same_timecode(shared_data: Path) -> None:
    recordings = scan_recordings(shared_data / "statsapi")
    standin = StandIn(recordings, speed=600, start_in=0)
    base = await standin.start()
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            pk = next(iter(standin.replay.games))

            async def timecode() -> str:
                r = await http.get(f"/api/v1.1/game/{pk}/feed/live")
                return str(r.json()["metaData"]["timeStamp"])

            before = await timecode()
            r = await http.post(f"/standin/games/{pk}/stall")
            assert r.json() == {"gamePk": pk, "stalled": True}
            frozen = await timecode()
            assert frozen >= before
            status = (await http.get("/standin/status")).json()
            [game] = [g for g in status["games"] if g["gamePk"] == pk]
            assert game["stalled"] is True and game["timecode"] == frozen
            # a replay minute later (0.1 s at 600x) the feed, its timestamps and the schedule hold still
            import asyncio

            await asyncio.sleep(0.3)
            assert await timecode() == frozen
            stamps = (await http.get(f"/api/v1.1/game/{pk}/feed/live/timestamps")).json()
            assert stamps[-1] == frozen
            others = [g for g in (await http.get("/standin/status")).json()["games"] if g["gamePk"] != pk]
            assert all("stalled" not in g for g in others)
            assert (await http.delete(f"/standin/games/{pk}/stall")).json()["stalled"] is False
            await asyncio.sleep(0.3)
            assert await timecode() > frozen  # it runs again, at the clock's state
            assert (await http.post("/standin/games/1/stall")).status_code == 404
    finally:
        await standin.stop()


async def test_a_process_that_stops_scheduling_drops_its_freshness_series() -> None:
    """When a scheduler's term ends (leadership lost, or the process stops) its games stop being ingested
    here: their freshness series must go, or the old leader would report them stalled."""
    import asyncio
    from types import SimpleNamespace

    from sts.metrics import GAME_FRESHNESS
    from sts.services.pipeline import Pipeline

    async def run(stop: asyncio.Event, *, until_done: bool) -> None:
        GAME_FRESHNESS.changed(990001, "play")  # ingested during the term
        await stop.wait()

    pipeline = Pipeline.__new__(Pipeline)
    pipeline.scheduler = SimpleNamespace(games={990001: None, 990002: None}, run=run)  # type: ignore[assignment]
    GAME_FRESHNESS.seen(990002, "break")
    stop = asyncio.Event()
    term = asyncio.create_task(pipeline._schedule(stop, False))
    await asyncio.sleep(0.05)
    assert {990001, 990002} <= set(GAME_FRESHNESS.tracked())
    stop.set()
    await term
    assert not {990001, 990002} & set(GAME_FRESHNESS.tracked())
