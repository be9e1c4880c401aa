"""Season lines: which counting stats they hold, the rates derived from them, qualifiers, league
context, leaderboard definitions and the plate-appearance rows that splits are computed from. Pure.

Counting stats use short names (``doubles``, ``hr``, ``outs`` …) shared by every source; the maps
:data:`FROM_MLB_BATTING` / :data:`FROM_MLB_PITCHING` translate MLB box names to them.

Splits (decision): splits are computed at query time from one stored row per plate appearance
(``derived_pa``), keyed by pitcher hand, batter hand, batter home/away, RISP (MLB's own
``matchup.splits.menOnBase`` at the result: "RISP" or "Loaded") and month of the official date. The
row carries the batter-facing counts (PA, AB, H, 2B, 3B, HR, BB, IBB, HBP, SO, SF, SH, CI, RBI) — the
same rules as the box engine (:mod:`sts.stats.plate`), so the splits of a player sum to his box totals.
Pitcher splits (vs LHB/RHB) are the same rows seen from the pitcher; runs, outs and stolen bases are
not attributed to plate appearances and so are not split.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sts.stats import formulas as f
from sts.stats import rules
from sts.stats.constants import Constants
from sts.stats.feed import Feed, all_plays, get, person_id

BATTING_STATS = ("g", "pa", "ab", "r", "h", "doubles", "triples", "hr", "rbi", "sb", "cs", "bb", "ibb",
                 "so", "hbp", "sh", "sf", "gidp", "ci")  # fmt: skip
PITCHING_STATS = ("g", "gs", "w", "l", "sv", "hld", "bs", "cg", "sho", "gf", "outs", "bf", "h", "r", "er",
                  "hr", "bb", "ibb", "so", "hbp", "wp", "bk", "sh", "sf", "gidp")  # fmt: skip
FIELDING_STATS = ("g", "gs", "inn_outs", "po", "a", "e", "dp", "pb")
PA_STATS = ("pa", "ab", "h", "doubles", "triples", "hr", "bb", "ibb", "hbp", "so", "sf", "sh", "ci", "rbi")

FROM_MLB_BATTING = {
    "gamesPlayed": "g", "plateAppearances": "pa", "atBats": "ab", "runs": "r", "hits": "h",
    "doubles": "doubles", "triples": "triples", "homeRuns": "hr", "rbi": "rbi", "stolenBases": "sb",
    "caughtStealing": "cs", "baseOnBalls": "bb", "intentionalWalks": "ibb", "strikeOuts": "so",
    "hitByPitch": "hbp", "sacBunts": "sh", "sacFlies": "sf", "groundIntoDoublePlay": "gidp",
    "catchersInterference": "ci",
}  # fmt: skip
FROM_MLB_PITCHING = {
    "gamesPlayed": "g", "gamesStarted": "gs", "wins": "w", "losses": "l", "saves": "sv", "holds": "hld",
    "blownSaves": "bs", "completeGames": "cg", "shutouts": "sho", "gamesFinished": "gf", "outs": "outs",
    "battersFaced": "bf", "hits": "h", "runs": "r", "earnedRuns": "er", "homeRuns": "hr",
    "baseOnBalls": "bb", "intentionalWalks": "ibb", "strikeOuts": "so", "hitByPitch": "hbp",
    "wildPitches": "wp", "balks": "bk", "sacBunts": "sh", "sacFlies": "sf", "groundIntoDoublePlay": "gidp",
}  # fmt: skip
LEAGUES = {103: "AL", 104: "NL"}


def _n(line: Mapping[str, Any], key: str) -> int:
    return int(line.get(key) or 0)


def batting_pa(line: Mapping[str, Any]) -> int:
    """The stored PA, or AB + BB + HBP + SF + SH (+ CI) when a source has no PA column (Lahman)."""
    if line.get("pa"):
        return _n(line, "pa")
    return f.plate_appearances(*(_n(line, k) for k in ("ab", "bb", "hbp", "sf", "sh", "ci")))


def is_pitcher(batting_games: int, pitching_games: int) -> bool:
    """A season's pitcher, for "league wRC/PA excluding pitchers": he pitched in at least half of the
    games he appeared in (a position player's mop-up innings do not make him one)."""
    return pitching_games > 0 and 2 * pitching_games >= max(batting_games, pitching_games)


def batting_rates(
    line: Mapping[str, Any], c: Constants | None, park_factor: float = 1.0,
    league_wrc_pa: float | None = None,
) -> dict[str, float | None]:  # fmt: skip
    """Every batting rate of :mod:`sts.stats.formulas` for one line. The wOBA family is None without
    constants; wRC+ is None without a league wRC/PA."""
    n = {k: _n(line, k) for k in BATTING_STATS}
    pa = batting_pa(line)
    a, o = f.avg(n["h"], n["ab"]), f.obp(n["h"], n["bb"], n["hbp"], n["ab"], n["sf"])
    s = f.slg(n["h"], n["doubles"], n["triples"], n["hr"], n["ab"])
    out: dict[str, float | None] = {
        "AVG": a, "OBP": o, "SLG": s, "OPS": f.ops(o, s), "ISO": f.iso(s, a),
        "BABIP": f.babip(n["h"], n["hr"], n["ab"], n["so"], n["sf"]),
        "K%": f.k_pct(n["so"], pa), "BB%": f.bb_pct(n["bb"], pa),
        "wOBA": None, "wRAA": None, "wRC": None, "wRC+": None,
    }  # fmt: skip
    if c is not None:
        w = f.woba(c, ab=n["ab"], h=n["h"], doubles=n["doubles"], triples=n["triples"], hr=n["hr"],
                   bb=n["bb"], ibb=n["ibb"], hbp=n["hbp"], sf=n["sf"])  # fmt: skip
        wraa = f.wraa(w, pa, c)
        out.update({"wOBA": w, "wRAA": wraa, "wRC": f.wrc(w, pa, c)})
        if league_wrc_pa:
            out["wRC+"] = f.wrc_plus(wraa, pa, c, park_factor, league_wrc_pa)
    return out


def pitching_rates(line: Mapping[str, Any], c: Constants | None) -> dict[str, float | None]:
    """Every pitching rate of :mod:`sts.stats.formulas` for one line (FIP None without constants)."""
    n = {k: _n(line, k) for k in PITCHING_STATS}
    ab_against = n["bf"] - n["bb"] - n["hbp"] - n["sh"] - n["sf"]
    return {
        "IP": f.innings(n["outs"]),
        "ERA": f.era(n["er"], n["outs"]),
        "WHIP": f.whip(n["h"], n["bb"], n["outs"]),
        "FIP": f.fip(n["hr"], n["bb"], n["hbp"], n["so"], n["outs"], c) if c else None,
        "K/9": f.per9(n["so"], n["outs"]),
        "BB/9": f.per9(n["bb"], n["outs"]),
        "HR/9": f.per9(n["hr"], n["outs"]),
        "K%": f.k_pct(n["so"], n["bf"]),
        "BB%": f.bb_pct(n["bb"], n["bf"]),
        "K-BB%": f.k_minus_bb_pct(n["so"], n["bb"], n["bf"]),
        "LOB%": f.lob_pct(n["h"], n["bb"], n["hbp"], n["r"], n["hr"]),
        "BABIP": f.babip(n["h"], n["hr"], ab_against, n["so"], n["sf"]),
    }


def league_wrc_per_pa(lines: Iterable[Mapping[str, Any]], c: Constants) -> float | None:
    """Sum of wRC / sum of PA over the given (non-pitcher) batting lines of one league."""
    total_wrc = total_pa = 0.0
    for line in lines:
        pa = batting_pa(line)
        w = batting_rates(line, c)["wRC"]
        if pa and w is not None:
            total_wrc += w
            total_pa += pa
    return total_wrc / total_pa if total_pa else None


def batting_qualifier(team_games: int) -> int:
    """PA needed to qualify: 3.1 per team game, rounded to the nearest PA (OBR 9.22(a): 502 for 162)."""
    return int(3.1 * team_games + 0.5)


def pitching_qualifier_outs(team_games: int) -> int:
    """Outs needed to qualify: 1.0 IP per team game (OBR 9.22(b)), i.e. 3 outs per game."""
    return 3 * team_games


@dataclass(frozen=True)
class LeaderStat:
    """A leaderboard stat: its group, whether a low value leads, and whether it is a rate (then
    only qualified players are ranked)."""

    group: str  # "batting" or "pitching"
    ascending: bool = False
    rate: bool = True
    counting_key: str | None = None  # the season-line column for a counting stat


LEADER_STATS: dict[str, LeaderStat] = {
    **{k: LeaderStat("batting") for k in ("AVG", "OBP", "SLG", "OPS", "ISO", "BABIP", "wOBA", "wRC+")},
    "BB%": LeaderStat("batting"), "K%": LeaderStat("batting", ascending=True),
    "wRAA": LeaderStat("batting", rate=False), "wRC": LeaderStat("batting", rate=False),
    **{k: LeaderStat("batting", rate=False, counting_key=v)
       for k, v in (("HR", "hr"), ("R", "r"), ("RBI", "rbi"), ("H", "h"), ("SB", "sb"), ("BB", "bb"),
                    ("SO", "so"), ("PA", "pa"))},
    **{k: LeaderStat("pitching", ascending=True) for k in ("ERA", "WHIP", "FIP", "BB/9", "HR/9")},
    **{k: LeaderStat("pitching") for k in ("K/9", "K-BB%", "LOB%")},
    **{k: LeaderStat("pitching", rate=False, counting_key=v)
       for k, v in (("W", "w"), ("SV", "sv"), ("K", "so"), ("IP", "outs"), ("HLD", "hld"))},
}  # fmt: skip


def lookup_stat(name: str) -> tuple[str, LeaderStat] | None:
    """The leaderboard stat named ``name`` (case-insensitive; "wrc+" -> "wRC+")."""
    for key, stat in LEADER_STATS.items():
        if key.lower() == name.lower():
            return key, stat
    return None


# -- plate-appearance rows for splits ------------------------------------------------------------------
def pa_rows(feed: Feed) -> list[dict[str, Any]]:
    """One dict per completed plate appearance of ``feed`` with the split keys and batter-facing
    counts (see the module docstring). Same PA rules as :mod:`sts.stats.plate`."""
    date = str(get(feed, "gameData", "datetime", "officialDate", default="") or "")
    month = int(date[5:7]) if len(date) >= 7 else None
    rows: list[dict[str, Any]] = []
    for play in all_plays(feed):
        etype = get(play, "result", "eventType")
        if etype not in rules.PA_EVENTS:
            continue
        no_ab = rules.WALKS | rules.SAC_FLIES | rules.SAC_BUNTS | rules.INTERFERENCE | {"hit_by_pitch"}
        bases = rules.HITS.get(etype, 0)
        rbi = sum(1 for r in get(play, "runners", default=[])
                  if get(r, "details", "rbi") and get(r, "movement", "end") == "score")  # fmt: skip
        rows.append({
            "at_bat_index": int(get(play, "about", "atBatIndex", default=len(rows))),
            "month": month,
            "batter_id": person_id(get(play, "matchup", "batter")),
            "pitcher_id": person_id(get(play, "matchup", "pitcher")),
            "batter_home": get(play, "about", "halfInning") == "bottom"
            or get(play, "about", "isTopInning") is False,
            "bat_side": get(play, "matchup", "batSide", "code"),
            "pitch_hand": get(play, "matchup", "pitchHand", "code"),
            "risp": get(play, "matchup", "splits", "menOnBase") in ("RISP", "Loaded"),
            "event_type": etype,
            "pa": 1, "ab": int(etype not in no_ab), "h": int(bases > 0), "doubles": int(bases == 2),
            "triples": int(bases == 3), "hr": int(bases == 4), "bb": int(etype in rules.WALKS),
            "ibb": int(etype == "intent_walk"), "hbp": int(etype == "hit_by_pitch"),
            "so": int(etype in rules.STRIKEOUTS), "sf": int(etype in rules.SAC_FLIES),
            "sh": int(etype in rules.SAC_BUNTS), "ci": int(etype in rules.INTERFERENCE), "rbi": rbi,
        })  # fmt: skip
    return rows
