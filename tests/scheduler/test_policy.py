"""The poll policy, state by state (pure: no clock, no engines), and the scheduler's use of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sts.clock import SystemClock
from sts.services.ingest import IngestResult
from sts.services.poll_policy import GameView, SchedulerConfig, is_final_state, plan, update_cadence
from sts.services.scheduler import GameState, Scheduler

NOW = datetime(2026, 7, 1, 23, 0, tzinfo=UTC)
CFG = SchedulerConfig(
    poll_interval=10,
    pregame_lead=1800,
    pregame_interval=60,
    break_factor=3,
    delayed_interval=120,
    game_over_interval=30,
    max_live_interval=45,
    cadence_factor=0.5,
    correction_window=86400,
    changes_interval=300,
)


def live(**kw: object) -> GameView:
    base: dict[str, object] = {"start": NOW - timedelta(hours=1), "status": "Live", "detailed": "In Progress"}
    base.update(polls=5, inning_state="Top", wait=10.0)
    base.update(kw)
    return GameView(**base)  # type: ignore[arg-type]


def test_far_before_the_game_waits_for_the_pregame_lead() -> None:
    p = plan(GameView(start=NOW + timedelta(hours=3)), NOW, CFG)
    assert p.state == "far"
    assert p.interval == pytest.approx(3 * 3600 - 1800)
    assert "followed from 30m before" in p.reason and "schedule" in p.reason


@pytest.mark.parametrize(
    ("status", "detailed", "state"),
    [("Preview", "Scheduled", "pre-game"), ("Preview", "Pre-Game", "pre-game"), ("Live", "Warmup", "warmup")],
)
def test_near_first_pitch_and_warmup(status: str, detailed: str, state: str) -> None:
    p = plan(GameView(start=NOW + timedelta(minutes=10), status=status, detailed=detailed), NOW, CFG)
    assert (p.state, p.interval) == (state, 60)
    assert "first pitch in 10m" in p.reason


def test_live_honours_metadata_wait_as_a_floor() -> None:
    assert plan(live(wait=10.0), NOW, CFG).interval == 10
    slow_server = plan(live(wait=25.0), NOW, CFG)
    assert slow_server.interval == 25 and "metaData.wait 25s" in slow_server.reason
    assert plan(live(wait=None), NOW, CFG).interval == 10  # no wait given: the configured floor


@pytest.mark.parametrize("inning_state", ["Middle", "End"])
def test_between_innings_is_slower_than_during_action(inning_state: str) -> None:
    action = plan(live(inning_state="Top"), NOW, CFG)
    brk = plan(live(inning_state=inning_state), NOW, CFG)
    assert brk.state == "inning break" and brk.interval == 30
    assert action.interval is not None and brk.interval > action.interval
    assert inning_state in brk.reason


def test_learned_cadence_stretches_the_interval_within_bounds() -> None:
    assert plan(live(cadence=12.0), NOW, CFG).interval == 10  # 6 s < floor: the floor
    mid = plan(live(cadence=60.0), NOW, CFG)
    assert mid.interval == 30 and "changes every ~60s" in mid.reason
    assert plan(live(cadence=600.0), NOW, CFG).interval == 45  # capped
    assert plan(live(cadence=600.0, wait=60.0), NOW, CFG).interval == 60  # never under metaData.wait


def test_cadence_is_a_moving_average() -> None:
    c = None
    for gap in (20, 20, 20):
        c = update_cadence(c, gap, 0.3)
    assert c == pytest.approx(20)
    assert update_cadence(20.0, 60.0, 0.3) == pytest.approx(32.0)


@pytest.mark.parametrize(
    ("detailed", "state", "interval"),
    [
        ("Delayed: Rain", "delayed", 120),
        ("Suspended: Rain", "suspended", 120),
        ("Game Over", "game over", 30),
    ],
)
def test_delayed_suspended_and_game_over(detailed: str, state: str, interval: float) -> None:
    status = "Final" if detailed == "Game Over" else "Live"
    p = plan(live(status=status, detailed=detailed), NOW, CFG)
    assert (p.state, p.interval) == (state, interval)
    assert detailed in p.reason


def test_game_over_is_not_final_but_final_is() -> None:
    assert not is_final_state("Final", "Game Over")
    assert is_final_state("Final", "Final")
    assert not is_final_state("Live", "In Progress")


def test_postponed_is_left_to_the_schedule() -> None:
    p = plan(GameView(start=NOW, status="Preview", detailed="Postponed: Rain", polls=1), NOW, CFG)
    assert p.state == "postponed" and p.interval is None


def test_after_final_the_correction_window_then_nothing() -> None:
    final_at = NOW - timedelta(hours=2)
    inside = plan(live(status="Final", detailed="Final", final_at=final_at), NOW, CFG)
    assert inside.state == "final" and inside.interval is None
    assert "/game/changes" in inside.reason and "until 2026-07-02 21:00:00Z" in inside.reason
    later = NOW + timedelta(hours=23)
    closed = plan(live(status="Final", detailed="Final", final_at=final_at), later, CFG)
    assert closed.state == "closed" and "no longer polled" in closed.reason


def test_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        SchedulerConfig(poll_interval=0)
    with pytest.raises(ValueError, match="jitter"):
        SchedulerConfig(jitter=2)
    with pytest.raises(ValueError, match="budget_burst"):
        SchedulerConfig(budget_burst=0.5)
    assert SchedulerConfig(60, 300, 1800).poll_interval == 60  # positional use keeps working


def scheduler(jitter: float, rand: float) -> Scheduler:
    async def never(_: object) -> Any:
        raise AssertionError("no fetch in these tests")

    cfg = SchedulerConfig(poll_interval=10, jitter=jitter)
    return Scheduler(never, never, None, SystemClock(), cfg, rand=lambda: rand)  # type: ignore[arg-type]


@pytest.mark.parametrize("rand", [0.0, 0.5, 0.999])
def test_jitter_only_lengthens_and_stays_within_its_fraction(rand: float) -> None:
    s = scheduler(0.1, rand)
    assert 10.0 <= s.jittered(10.0) <= 11.0
    assert s.jittered(10.0) == pytest.approx(10.0 * (1 + 0.1 * rand))
    assert scheduler(0.0, rand).jittered(10.0) == 10.0


def test_the_scheduler_learns_the_cadence_from_new_timecodes_in_play_only() -> None:
    s = scheduler(0.0, 0.0)
    st = GameState(1, NOW)

    def seen(tc: str, detailed: str = "In Progress", inning: str = "Top", outcome: str = "stored") -> None:
        status = "Live" if detailed in ("In Progress", "Warmup") else "Final"
        s._record(st, IngestResult(1, outcome, tc, status, detailed, suggested_wait=10, inning_state=inning))

    seen("20240701_190000", "Warmup")
    seen("20240701_191000")  # warmup -> first pitch: no cadence yet
    assert st.cadence is None
    seen("20240701_191020")
    assert st.cadence == pytest.approx(20)
    seen("20240701_191020", outcome="unchanged")  # nothing new: nothing learned
    seen("20240701_191100", inning="Middle")
    assert st.cadence == pytest.approx(0.3 * 40 + 0.7 * 20)
    seen("20240701_191500")  # the gap over the inning break is not a cadence
    assert st.cadence == pytest.approx(26)
    assert plan(st.view(), NOW, s.config).interval == pytest.approx(13)  # 0.5 x 26 s
    seen("20240701_220000", "Game Over")
    assert not st.done and plan(st.view(), NOW, s.config).state == "game over"
    seen("20240701_220500", "Final")
    assert st.done and st.final_at is not None
