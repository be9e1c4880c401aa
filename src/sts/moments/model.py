"""What the notable-moment rules work on (pure, no I/O): their settings, the game context, the compact
form of a play, and the moment itself. The rules are in :mod:`sts.moments.rules`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sts.events.derive import event_id

EVENT_TYPE = "NotableMoment"

RULES = (
    "no_hitter",
    "perfect_game",
    "no_hitter_broken_up",
    "perfect_game_broken_up",
    "no_hitter_completed",
    "perfect_game_completed",
    "cycle_watch",
    "cycle",
    "lead_change",
    "late_tying_run",
    "late_go_ahead_run",
    "walk_off",
    "pitch_count",
    "velocity_drop",
    "career_milestone",
)

HIT_TYPES = ("single", "double", "triple", "home_run")
HIT_NAMES = {"single": "single", "double": "double", "triple": "triple", "home_run": "home run"}


@dataclass(frozen=True)
class RuleSettings:
    """Thresholds of the rules (defaults documented in docs/moments.md)."""

    disabled: frozenset[str] = frozenset()
    no_hitter_after_inning: int = 6
    cycle_watch_hit_types: int = 3
    late_inning: int = 9
    pitch_count_thresholds: tuple[int, ...] = (100,)
    velocity_baseline_pitches: int = 10
    velocity_window: int = 5
    velocity_drop_mph: float = 2.5
    velocity_pitch_types: tuple[str, ...] = ("FF", "SI", "FC")
    milestone_home_runs_every: int = 100
    milestone_hits_every: int = 500

    def __post_init__(self) -> None:
        unknown = set(self.disabled) - set(RULES)
        if unknown:
            raise ValueError(f"unknown notable-moment rules: {sorted(unknown)} (known: {', '.join(RULES)})")
        positive = {
            "no_hitter_after_inning": self.no_hitter_after_inning,
            "late_inning": self.late_inning,
            "velocity_baseline_pitches": self.velocity_baseline_pitches,
            "velocity_window": self.velocity_window,
            "milestone_home_runs_every": self.milestone_home_runs_every,
            "milestone_hits_every": self.milestone_hits_every,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")
        if self.velocity_drop_mph <= 0:
            raise ValueError(f"velocity_drop_mph must be positive, not {self.velocity_drop_mph}")
        if self.cycle_watch_hit_types not in (2, 3):
            raise ValueError(f"cycle_watch_hit_types must be 2 or 3, not {self.cycle_watch_hit_types}")
        if any(t < 1 for t in self.pitch_count_thresholds):
            raise ValueError(f"pitch_count_thresholds must be positive: {self.pitch_count_thresholds}")

    def on(self, rule: str) -> bool:
        return rule not in self.disabled

    @classmethod
    def from_settings(cls, settings: Any) -> RuleSettings:
        """From :class:`sts.config.Settings` (fields ``moments_*``)."""
        return cls(
            disabled=frozenset(settings.moments_disabled_rules),
            no_hitter_after_inning=settings.moments_no_hitter_after_inning,
            cycle_watch_hit_types=settings.moments_cycle_watch_hit_types,
            late_inning=settings.moments_late_inning,
            pitch_count_thresholds=tuple(sorted(settings.moments_pitch_count_thresholds)),
            velocity_baseline_pitches=settings.moments_velocity_baseline_pitches,
            velocity_window=settings.moments_velocity_window,
            velocity_drop_mph=settings.moments_velocity_drop_mph,
            velocity_pitch_types=tuple(settings.moments_velocity_pitch_types),
            milestone_home_runs_every=settings.moments_milestone_home_runs_every,
            milestone_hits_every=settings.moments_milestone_hits_every,
        )


@dataclass(frozen=True)
class GameContext:
    """What the rules know of a game besides its plays (from ``GameInfo`` / ``GameFinal``)."""

    game_pk: int
    away_id: int | None = None
    home_id: int | None = None
    away_name: str = "away"
    home_name: str = "home"
    scheduled_innings: int = 9
    names: Mapping[int, str] = field(default_factory=dict)
    final: bool = False

    def name(self, player_id: int | None) -> str:
        if player_id is None:
            return "unknown player"
        return self.names.get(player_id) or f"player {player_id}"

    @classmethod
    def from_info(cls, game_pk: int, info: Mapping[str, Any]) -> GameContext:
        """From the ``info`` document the consumer keeps per game (see :func:`info_from_game_info`)."""
        return cls(
            game_pk=game_pk,
            away_id=info.get("away_id"),
            home_id=info.get("home_id"),
            away_name=info.get("away_name") or "away",
            home_name=info.get("home_name") or "home",
            scheduled_innings=int(info.get("scheduled_innings") or 9),
            names={int(k): v for k, v in (info.get("names") or {}).items()},
            final=bool(info.get("final")),
        )


def info_from_game_info(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a ``GameInfo`` payload the rules use (JSON-able)."""
    away = payload.get("away_team") or {}
    home = payload.get("home_team") or {}
    return {
        "away_id": away.get("team_id"),
        "home_id": home.get("team_id"),
        "away_name": away.get("abbreviation") or away.get("name"),
        "home_name": home.get("abbreviation") or home.get("name"),
        "scheduled_innings": payload.get("scheduled_innings"),
        "season": payload.get("season"),
        "names": {str(p["person_id"]): p.get("full_name") for p in payload.get("players") or []},
    }


def compact_play(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a ``PlayCompleted`` payload the rules use (JSON-able, small).

    ``seq`` lists the play's pitches as ``["P", pitch type, start speed]`` and its pitching changes as
    ``["S", new pitcher id]``, in play-event order, so pitches are credited to the pitcher who threw them.
    """
    seq: list[list[Any]] = []
    for ev in payload.get("play_events") or []:
        if ev.get("event_type") == "pitching_substitution" and ev.get("player_id") is not None:
            seq.append(["S", ev["player_id"]])
        elif ev.get("is_pitch") is True:
            seq.append(["P", ev.get("pitch_type_code"), ev.get("start_speed")])
    reached = any(
        r.get("origin_base") is None
        and r.get("runner_id") == payload.get("batter_id")
        and r.get("end_base") is not None
        and r.get("is_out") is not True
        for r in payload.get("runners") or []
    )
    top = payload.get("is_top_inning")
    if top is None:
        top = payload.get("half_inning") == "top"
    return {
        "abi": payload["at_bat_index"],
        "inning": payload.get("inning"),
        "top": bool(top),
        "event": payload.get("event"),
        "event_type": payload.get("event_type"),
        "description": payload.get("description"),
        "away": payload.get("away_score"),
        "home": payload.get("home_score"),
        "outs": payload.get("outs"),
        "batter": payload.get("batter_id"),
        "pitcher": payload.get("pitcher_id"),
        "reached": reached,
        "seq": seq,
    }


@dataclass(frozen=True)
class Moment:
    """One notable moment. ``key`` makes it unique within its game and rule; ``event_id`` derives from
    (game, rule, key) only, so recomputing never yields a second copy."""

    rule: str
    game_pk: int
    key: str
    at_bat_index: int
    inning: int | None
    half: str
    player_ids: tuple[int, ...]
    team_id: int | None
    headline: str
    details: Mapping[str, str]

    @property
    def event_id(self) -> str:
        return event_id(self.game_pk, EVENT_TYPE, f"{self.rule}/{self.key}", "")

    @property
    def retraction_id(self) -> str:
        """The id of the event that retracts this moment."""
        return event_id(self.game_pk, EVENT_TYPE, f"{self.rule}/{self.key}/retracted", "")

    def payload(self, timecode: str | None = None, *, retracted: bool = False) -> dict[str, Any]:
        """The Avro record of ``NotableMoment.avsc`` (the retraction of the moment with ``retracted``)."""
        return {
            "event_id": self.retraction_id if retracted else self.event_id,
            "game_pk": self.game_pk,
            "timecode": timecode,
            "rule": self.rule,
            "natural_key": self.key,
            "at_bat_index": self.at_bat_index,
            "inning": self.inning,
            "half_inning": self.half,
            "team_id": self.team_id,
            "player_ids": list(self.player_ids),
            "headline": self.headline,
            "details": dict(self.details),
            "retracted": retracted,
        }


def contiguous(plays: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The plays with at-bat index 0, 1, 2, … up to the first gap, in order."""
    by_abi = {int(p["abi"]): p for p in plays}
    out = []
    i = 0
    while i in by_abi:
        out.append(by_abi[i])
        i += 1
    return out
