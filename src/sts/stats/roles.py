"""Rules P7 and P8: pitcher roles that need the whole game (GS, GF, CG, SHO, holds, blown saves,
save opportunities) and W/L/SV from ``liveData.decisions``."""

from __future__ import annotations

from dataclasses import dataclass, field

from sts.stats.box import GameBox
from sts.stats.feed import Feed, decisions, other


@dataclass
class Stint:
    """One pitcher's time on the mound, with the game state when he came in."""

    pid: int
    inherited: set[int] = field(default_factory=set)
    lead_at_entry: int = 0
    runners_at_entry: int = 0
    starter: bool = False
    blown: bool = False
    lead_at_exit: int | None = None
    inning: int = 1

    #: MLB convention: no save situation before the 6th inning (the game is not yet official and the
    #: starter may still qualify for the win); seen in 718594 atBatIndex 41.
    FIRST_SAVE_INNING = 6

    @property
    def save_situation(self) -> bool:
        """OBR 9.19(c)(1)/(2): a lead of three or less, or the tying run on base, at bat or on deck."""
        lead = self.lead_at_entry
        return (
            not self.starter
            and self.inning >= self.FIRST_SAVE_INNING
            and lead > 0
            and (lead <= 3 or lead <= self.runners_at_entry + 2)
        )

    def note_score(self, lead: int) -> None:
        if self.save_situation and lead <= 0:
            self.blown = True


def finish_pitching_roles(
    box: GameBox, stints: dict[str, list[Stint]], score: dict[str, int], feed: Feed
) -> None:
    decided = decisions(feed)
    for side, team in box.teams.items():
        runs_allowed = score[other(side)]
        used = stints[side]
        if not used:
            continue
        used[-1].lead_at_exit = score[side] - score[other(side)]
        pitchers = {s.pid for s in used}
        for pid in pitchers:
            line = team.player(pid).pitching
            line["gamesPlayed"] = 1
            line["gamesPitched"] = 1
            for key, stat in (("winner", "wins"), ("loser", "losses"), ("save", "saves")):
                line[stat] = int(decided.get(key) == pid)
        first, last = used[0], used[-1]
        team.player(first.pid).pitching["gamesStarted"] = 1
        if last.pid != first.pid:
            team.player(last.pid).pitching["gamesFinished"] = 1
        if len(pitchers) == 1:
            team.player(first.pid).pitching["completeGames"] = 1
            team.player(first.pid).pitching["shutouts"] = int(runs_allowed == 0)
        for stint in used:
            line = team.player(stint.pid).pitching
            if stint.blown:
                line["blownSaves"] = 1
            hold = (
                stint.save_situation
                and not stint.blown
                and stint is not last
                and line["outs"] > 0
                and (stint.lead_at_exit or 0) > 0
                and decided.get("winner") != stint.pid
            )
            line["holds"] = max(line["holds"], int(hold))
            line["saveOpportunities"] = max(line["saveOpportunities"], int(stint.blown or line["saves"] > 0))
