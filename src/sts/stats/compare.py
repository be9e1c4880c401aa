"""Compare a derived box with MLB's official box in the same feed, value by value.

What is compared
  * every integer in ``liveData.boxscore.teams.{away,home}.players.ID*.stats.{batting,pitching,fielding}``
    and in ``teamStats``; ``inningsPitched`` after formatting our outs (``19 -> "6.1"``);
  * whether each player has a group at all (the official box leaves a group empty when the player
    did not bat / pitch / field): one value per player and group, stat ``"(appeared)"``;
  * ``liveData.linescore``: runs, hits, errors, leftOnBase per inning and per team.

What is not compared (and why)
  * a team value whose official ``teamStats`` figure differs from the sum of the official player
    lines of that team while ours equals that sum: the official box contradicts itself, so there is
    no single official number. Such values are listed per game as ``official_inconsistent``, never
    counted as matches. Seen in every recorded feed for ``teamStats.pitching`` inheritedRunners,
    inheritedRunnersScored and saveOpportunities (always 0), and in the 2023 feeds for
    ``teamStats.pitching`` doubles, triples, groundOuts and airOuts (always 0).
  * ``seasonStats``: season-to-date, not this game.
  * every string field except ``inningsPitched``: rates (avg, obp, slg, ops, era, whip,
    stolenBasePercentage, strikePercentage, fielding, runsScoredPer9, ...) which in the feed are
    season-to-date or derived ratios, not per-game counting stats; and text (``summary``, ``note``).

DECISIONS — statistics that cannot be derived from the play-by-play (none is fudged or copied; each
is listed as undetermined, never counted as a match)
  * ``fielding.gamesStarted`` of a starting fielder who never touched the ball. The plays name no
    starting positions: a starter's position shows only through fielding credits or a
    ``defensive_switch``. In a DH game the DH never has either, so a starting fielder with no credit
    and no switch is indistinguishable from the DH, and the engine (conservatively) gives neither a
    fielding start. In every case below exactly two starters of the team have no fielding evidence
    in any play — the DH and the fielder — and each batted in the listed plays (atBatIndex):
      - 746215 (away, MIL): Christian Yelich, LF, 0 chances (#2, 17, 43, 59); DH Rhys Hoskins
        (#8, 27, 49, 65).
      - 744914 (away, HOU): Chas McCormick, LF, 0 chances (#17, 37, 52); DH Yordan Alvarez
        (#2, 23, 43, 61).
      - 747175 (home, AZ): Eugenio Suárez, 3B, 0 chances (#13, 28, 46, 64); DH Joc Pederson
        (#6, 21, 38).
    Deriving these would need the lineup card (``liveData.boxscore`` positions), which is box data.
    The engine marks exactly such pairs as undetermined (rule F5 in :mod:`sts.stats.engine`): the
    comparison lists them apart ("not derivable from the plays") instead of counting a mismatch or
    guessing, and ``sts verify boxscore`` prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sts.stats.box import GROUPS, SIDES, GameBox, format_outs
from sts.stats.engine import derive_box
from sts.stats.feed import Feed, game_pk, get, person_id, player_names, team_names

APPEARED = "(appeared)"


@dataclass(frozen=True)
class Mismatch:
    side: str
    team: str  # the team's abbreviation (or name) from ``gameData.teams``
    scope: str  # "player", "team" or "linescore"
    person_id: int | None
    name: str
    group: str
    stat: str
    ours: Any
    official: Any


@dataclass
class GameReport:
    game_pk: int | None
    matched: int = 0
    total: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    #: team values where the official ``teamStats`` contradicts the official player lines it should
    #: total and ours equals that total: not compared, listed (see "What is not compared").
    inconsistent: list[Mismatch] = field(default_factory=list)
    #: official values the plays cannot decide (``GameBox.undetermined``): listed, not compared.
    undetermined: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.total > 0

    def check(self, ours: Any, official: Any, **where: Any) -> None:
        self.total += 1
        if ours == official:
            self.matched += 1
        else:
            self.mismatches.append(Mismatch(ours=ours, official=official, **where))

    def to_dict(self) -> dict[str, Any]:
        return {
            "game_pk": self.game_pk,
            "matched": self.matched,
            "total": self.total,
            "ok": self.ok,
            "mismatches": [asdict(m) for m in self.mismatches],
            "official_inconsistent": [asdict(m) for m in self.inconsistent],
            "undetermined": [asdict(m) for m in self.undetermined],
        }


def _compare_line(
    report: GameReport,
    ours: Mapping[str, int],
    official: Mapping[str, Any],
    undetermined: frozenset[str] = frozenset(),
    **where: Any,
) -> None:
    for stat, value in official.items():
        if stat in undetermined:
            report.undetermined.append(Mismatch(ours=None, official=value, stat=stat, **where))
        elif stat == "inningsPitched":
            report.check(format_outs(ours.get("outs", 0)), value, stat=stat, **where)
        elif isinstance(value, int) and not isinstance(value, bool):
            report.check(ours.get(stat, 0), value, stat=stat, **where)


def _official_sum(official_team: Mapping[str, Any], group: str) -> dict[str, int]:
    total: dict[str, int] = {}
    for entry in get(official_team, "players", default={}).values():
        for stat, value in get(entry, "stats", group, default={}).items():
            if isinstance(value, int) and not isinstance(value, bool):
                total[stat] = total.get(stat, 0) + value
    return total


def _compare_team_line(
    report: GameReport,
    ours: Mapping[str, int],
    official: Mapping[str, Any],
    official_sum: Mapping[str, int],
    where: dict[str, Any],
) -> None:
    before = len(report.mismatches)
    _compare_line(report, ours, official, **where)
    for miss in report.mismatches[before:]:
        if miss.stat in official_sum and miss.ours == official_sum[miss.stat] != miss.official:
            report.mismatches.remove(miss)
            report.total -= 1
            report.inconsistent.append(miss)


def compare_box(feed: Feed, box: GameBox | None = None) -> GameReport:
    """Derive (unless given) and compare ``feed``'s box; see the module docstring for the scope."""
    box = box if box is not None else derive_box(feed)
    names = player_names(feed)
    teams = team_names(feed)
    report = GameReport(game_pk(feed))
    for side in SIDES:
        team = box.teams[side]
        official_team = get(feed, "liveData", "boxscore", "teams", side, default={})
        seen: set[int] = set()
        for entry in get(official_team, "players", default={}).values():
            pid = person_id(get(entry, "person"))
            if pid is None:
                continue
            seen.add(pid)
            mine = team.players.get(pid)
            name = names.get(pid, str(pid))
            for group in GROUPS:
                official = get(entry, "stats", group, default={})
                present = mine is not None and group in mine.present
                where = {"side": side, "team": teams[side], "scope": "player", "person_id": pid, "name": name}
                where["group"] = group
                if official or present:
                    report.check(present, bool(official), stat=APPEARED, **where)
                if official:
                    unknown = frozenset(st for (p, g, st) in box.undetermined if p == pid and g == group)
                    _compare_line(report, mine.group(group) if mine else {}, official, unknown, **where)
        for pid, mine in team.players.items():
            if pid not in seen and mine.present:
                where = {"side": side, "team": teams[side], "scope": "player", "person_id": pid}
                where["name"] = names.get(pid, str(pid))
                report.check(True, False, group="-", stat=APPEARED, **where)
        for group in GROUPS:
            official = get(official_team, "teamStats", group, default={})
            where = {"side": side, "team": teams[side], "scope": "team", "person_id": None, "name": side}
            where["group"] = group
            _compare_team_line(
                report, team.group(group), official, _official_sum(official_team, group), where
            )
    _compare_linescore(report, box, get(feed, "liveData", "linescore", default={}), teams)
    return report


def _compare_linescore(
    report: GameReport, box: GameBox, linescore: Mapping[str, Any], teams: Mapping[str, str]
) -> None:
    keys = ("runs", "hits", "errors", "leftOnBase")
    for inning in get(linescore, "innings", default=[]):
        num = int(inning.get("num", 0))
        for side in SIDES:
            official = inning.get(side) or {}
            lines = box.teams[side].innings
            mine = lines[num - 1] if 0 < num <= len(lines) else None
            for key in keys:
                if key in official:
                    ours = getattr(mine, key) if mine else 0
                    report.check(
                        ours,
                        official[key],
                        side=side,
                        team=teams[side],
                        scope="linescore",
                        person_id=None,
                        name=f"inning {num}",
                        group="linescore",
                        stat=key,
                    )
    for side in SIDES:
        official = get(linescore, "teams", side, default={})
        team = box.teams[side]
        ours = {"runs": team.runs, "hits": team.hits, "errors": team.errors, "leftOnBase": team.left_on_base}
        for key in keys:
            if key in official:
                report.check(
                    ours[key],
                    official[key],
                    side=side,
                    team=teams[side],
                    scope="linescore",
                    person_id=None,
                    name="total",
                    group="linescore",
                    stat=key,
                )
