"""Every scoring rule the box-score engine implements, in one place.

Each rule names the Official Baseball Rules (OBR) section it follows, or says "feed convention" when it
follows what MLB's own box in the same feed shows (verified value by value by ``sts verify boxscore``).
The engine (:mod:`sts.stats.engine`) reads only ``liveData.plays.allPlays`` — ``result``, ``about``,
``matchup``, ``playEvents`` and ``runners[].movement/details/credits`` — plus ``liveData.decisions``
for wins, losses and saves. Nothing else is copied from the official box.

Plate appearance and batting (OBR 9.02, 9.04-9.08, Definition of Terms "plate appearance")
  B1  A play is a plate appearance when ``result.eventType`` is in :data:`PA_EVENTS`; a play that ends
      the inning on a runner (caught stealing, pickoff, runner out) is not (OBR 5.04(c): the batter
      leads off the next inning). The batter is ``matchup.batter``; his team bats in the top half
      when away, the bottom half when home.
  B2  AB = PA - BB - HBP - SF - SH - CI (OBR 9.02(a)(1)); BB includes IBB (OBR 9.14).
  B3  Hits by event type: single/double/triple/home_run (OBR 9.05); TB = 1B + 2*2B + 3*3B + 4*HR.
  B4  RBI: one per scoring runner whose ``details.rbi`` is true, credited to the play's batter
      (OBR 9.04; the official scorer's call is carried in the flag).
  B5  R: one per runner movement ending at ``score`` without ``isOut``, to ``details.runner``.
  B6  SF/SH from sac_fly*/sac_bunt* events (OBR 9.08); GIDP/GITP from grounded_into_double_play /
      grounded_into_triple_play only (feed convention: a line-drive or strikeout double play is not).
  B7  SB/CS/pickoffs from runner movements: stolen_base_*, caught_stealing_* and
      pickoff_caught_stealing_* (OBR 9.07), pickoff_* with ``isOut``.
      A caught-stealing runner safe only on an error charged on his own movement is still caught
      stealing (OBR 9.07(h); Retrosheet ``CS2(2E6)``).
  B8  Individual LOB (feed convention): on every at-bat that is not a hit (outs, force outs, double
      plays, fielder's choices, reached on error; not sacrifices, walks, HBP, CI), the runners on base
      as the batter's result event begins (the ``playIndex`` of his own movement; events logged
      after it do not count), less those who score on it, are charged to the batter —
      including runners put out on the play (718263 atBatIndex 12: flies into a DP with 2 on -> 2).
  B9  Ground/fly/line/pop outs (feed convention): every ball in play that is not a hit — outs, force
      outs, double plays, sacrifices, fielder's choices and reached-on-error (the ball "should" have
      been an out) — classified by the ``hitData.trajectory`` of the last pitch; airOuts = fly + line +
      pop; a batter thrown out stretching a hit is not one (717055 atBatIndex 7).
  B10 Catcher's interference: catcher_interf event (OBR 6.01(g), 9.02(a)(1)).

Pitching (OBR 9.16-9.19)
  P1  Pitcher on the mound: ``matchup.pitcher`` at the start of a play unless the play's own
      ``playEvents`` carry a ``pitching_substitution`` (then the previous pitcher until that event).
      Every pitch, out, stolen base, wild pitch, balk and pickoff is credited to the pitcher on the
      mound at the runner movement's ``playIndex`` (718594 atBatIndex 21: Springs throws two pitches,
      Cleavinger replaces him at 0-2 and gives up the double). A pitching or defensive change
      logged after the third out of a half is for the side that takes the field next.
  P2  Outs: every runner movement with ``isOut`` (innings pitched = outs / 3, OBR 9.16 comment).
  P3  Batters faced and the batter's result (H, 2B, 3B, HR, BB, IBB, SO, HBP, SF, SH, CI, AB) are
      charged to ``matchup.pitcher`` of the plate appearance. OBR 9.16(h) charges a walk to the
      previous pitcher when he left with a ball-heavy count; no recorded feed has that case, so it
      is unverified whether ``matchup`` already reflects it (718594 #21 is the pitcher-favoured 0-2).
  P4  R and ER: to ``details.responsiblePitcher`` of the scoring runner (OBR 9.16(g)); for feeds
      without it, the pitcher who faced the runner when he reached (a pinch runner inherits it; the
      9.16(g) force-out transfer is not modelled), else the pitcher on the mound. ER when
      ``details.earned``. Team ER excludes ``teamUnearned`` runs
      (OBR 9.16(i)).
  P5  Pitches, strikes, balls: pitch events (``isPitch``); strikes = called/swinging/foul/in play,
      balls = everything else thrown (feed convention; automatic balls/strikes are not pitches).
  P6  Inherited runners: runners on base when a reliever enters; IRS: those runners who then score
      while he pitches. A pinch runner takes the place of the runner he replaces.
  P7  GS (first pitcher), GF (last pitcher, relievers only), CG (only pitcher), SHO (CG, no runs).
  P8  Save situation on entry (OBR 9.19(c)(1)/(2)): a reliever entering in the 6th inning or later
      (MLB convention: 718594 atBatIndex 41, a reliever entering in the 5th up by one gets no
      SVO/BS) leading by 3 or less, or with the tying run on base, at bat or on deck. Blown save:
      the lead is lost while he pitches. Hold (MLB convention): save situation, at least one out,
      lead kept, did not finish the game, not the winner. Save opportunities = saves + blown saves.
      W/L/SV themselves come from ``liveData.decisions`` (OBR 9.17-9.19 are judgement calls).

Fielding (OBR 9.09-9.12)
  F1  PO from ``f_putout`` credits, A from ``f_assist`` (at most one per player per out, OBR 9.10(b)),
      E from any ``*error*`` or catcher-interference credit (one per fielder per event).
      Chances = PO + A + E.
  F2  Passed balls go to the catcher only (OBR 9.13(b); the pitchers' ``passedBall`` stays 0, as in
      every official box); SB and CS against go to the catcher on the field. The catcher is whoever
      is credited at position 2 or comes in at position 2 by substitution; the starting catcher is
      found by looking ahead (718263 atBatIndex 10: a passed ball before any credit names him).
  F3  Fielding pickoffs only for throws from the catcher (the pickoff event's ``fromCatcher``); a
      pitcher's pickoff is a pitching pickoff (746215 atBatIndex 25: pitching 1, fielding 0).
  F4  Fielding GS: a player who entered by no substitution event (a starter) and whose first
      fielding evidence is a credit, a ``defensive_switch`` from a fielding position (718322 atBatIndex
      51: "from third base to center field"), or who started on the mound. A starting DH never
      fields; a switch "from designated hitter" means he did not start in the field. A starting
      fielder who never touched the ball cannot be told from the DH (see DECISIONS).

Linescore
  L1  Runs/hits per half-inning of the batting side; errors per half to the fielding side; LOB =
      runners on base when the half ends (a walk-off ends the game with the winning run scored).
  L2  Runners on base when a half starts: normally none; a runner first seen on a base (movement
      ``start`` or ``matchup.postOn*``) without having batted or pinch-run in that half was there from
      the start (the extra-inning automatic runner, 2020+; no recorded feed has extra innings).

Not derivable from the plays: see ``DECISIONS`` in :mod:`sts.stats.compare`.

Not yet exercised by the recorded feeds (the rule is implemented, but every official value is 0):
catcher's interference (B10), GITP (B6), fielding pickoffs from the catcher (F3), complete games and
shutouts (P7), automatic runners (L2), walk-offs (L1), OBR 9.16(h) (P3). Seen only 1-3 times: IBB,
balks, sacrifice bunts, caught stealing, pickoffs, passed balls, blown saves.
"""

from __future__ import annotations

BASES = ("1B", "2B", "3B")

HITS = {"single": 1, "double": 2, "triple": 3, "home_run": 4}
WALKS = frozenset({"walk", "intent_walk"})
STRIKEOUTS = frozenset({"strikeout", "strikeout_double_play", "strikeout_triple_play"})
SAC_FLIES = frozenset({"sac_fly", "sac_fly_double_play"})
SAC_BUNTS = frozenset({"sac_bunt", "sac_bunt_double_play"})
INTERFERENCE = frozenset({"catcher_interf"})
OTHER_PA = frozenset(
    {
        "hit_by_pitch",
        "field_out",
        "force_out",
        "grounded_into_double_play",
        "grounded_into_triple_play",
        "double_play",
        "triple_play",
        "field_error",
        "fielders_choice",
        "fielders_choice_out",
        "batter_interference",
        "fan_interference",
    }
)
PA_EVENTS = frozenset(HITS) | WALKS | STRIKEOUTS | SAC_FLIES | SAC_BUNTS | INTERFERENCE | OTHER_PA

TRAJECTORY_OUT = {
    "ground_ball": "groundOuts",
    "bunt_grounder": "groundOuts",
    "fly_ball": "flyOuts",
    "line_drive": "lineOuts",
    "bunt_line_drive": "lineOuts",
    "popup": "popOuts",
    "bunt_popup": "popOuts",
}
AIR_OUTS = frozenset({"flyOuts", "lineOuts", "popOuts"})
BATTED_OUTS = frozenset(
    {
        "field_out",
        "field_error",
        "fielders_choice",
        "force_out",
        "grounded_into_double_play",
        "grounded_into_triple_play",
        "double_play",
        "triple_play",
        "fielders_choice_out",
        "sac_fly",
        "sac_fly_double_play",
        "sac_bunt",
        "sac_bunt_double_play",
    }
)

STRIKE_CALLS = frozenset({"C", "S", "F", "T", "L", "M", "W", "O", "Q", "R", "X", "D", "E"})


def is_error_credit(credit: str) -> bool:
    return "error" in credit or credit == "f_catcher_interf"


def runner_event_kind(event_type: str) -> str | None:
    """Classify a runner movement's ``details.eventType`` for base-running statistics."""
    if event_type.startswith("stolen_base"):
        return "sb"
    if event_type.startswith(("caught_stealing", "pickoff_caught_stealing")):
        return "cs"
    if event_type.startswith("pickoff") and "error" not in event_type:
        return "pickoff"
    return None
