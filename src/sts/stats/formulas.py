"""Every derived statistic, defined once. Pure functions over counting stats; no I/O.

Sources: FanGraphs Sabermetrics Library (library.fangraphs.com: "wOBA", "wRAA", "wRC and wRC+",
"FIP", "BABIP", "K% and BB%", "LOB%"), the FanGraphs Guts! page for the season constants, and the
Official Baseball Rules 9.21/9.22 for AVG, OBP and SLG. Each function's docstring gives its
definition and the choices made where sources allow several.

Conventions
  * A rate whose denominator is 0 is ``None`` (not 0, not NaN): "no data", which sorts last.
  * Innings pitched are always taken in **outs**; IP = outs / 3 (so 6⅓ IP is 19 outs, never "6.1").
  * Walks ``bb`` include intentional walks; ``ibb`` is the intentional part.
  * Constants come from :class:`sts.stats.constants.Constants` (one FanGraphs Guts row).

Checked against the data (tests/season): over all 2024 Lahman batters, wOBA = .3102 (Guts .310) and
R/PA = .1170 (Guts .117); over all 2024 pitchers, ERA − (13·HR + 3·(BB+HBP) − 2·K)/IP = 3.1665 with BB
*including* IBB (Guts cFIP 3.166; without IBB it would be 3.202) — so FanGraphs' FIP counts every walk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sts.stats.constants import Constants

#: LOB% weight on home runs (FanGraphs, after Tango): a home run strands nobody and scores the batter.
LOB_HR_WEIGHT = 1.4


def _div(num: float, den: float) -> float | None:
    return num / den if den else None


def innings(outs: int) -> float:
    """IP as a number: outs / 3 (19 outs -> 6.333…)."""
    return outs / 3


# -- batting -----------------------------------------------------------------------------------------
def plate_appearances(ab: int, bb: int, hbp: int, sf: int, sh: int, ci: int = 0) -> int:
    """PA = AB + BB + HBP + SF + SH + CI (OBR 9.02 / 5.05; BB includes IBB)."""
    return ab + bb + hbp + sf + sh + ci


def avg(h: int, ab: int) -> float | None:
    """AVG = H / AB (OBR 9.21(a))."""
    return _div(h, ab)


def obp(h: int, bb: int, hbp: int, ab: int, sf: int) -> float | None:
    """OBP = (H + BB + HBP) / (AB + BB + HBP + SF) (OBR 9.21(c)); BB includes IBB; SH and catcher's
    interference are in neither part."""
    return _div(h + bb + hbp, ab + bb + hbp + sf)


def total_bases(h: int, doubles: int, triples: int, hr: int) -> int:
    """TB = 1B + 2·2B + 3·3B + 4·HR = H + 2B + 2·3B + 3·HR."""
    return h + doubles + 2 * triples + 3 * hr


def slg(h: int, doubles: int, triples: int, hr: int, ab: int) -> float | None:
    """SLG = TB / AB (OBR 9.21(b))."""
    return _div(total_bases(h, doubles, triples, hr), ab)


def ops(obp_: float | None, slg_: float | None) -> float | None:
    """OPS = OBP + SLG (each unrounded)."""
    return None if obp_ is None or slg_ is None else obp_ + slg_


def iso(slg_: float | None, avg_: float | None) -> float | None:
    """ISO = SLG − AVG (= (2B + 2·3B + 3·HR) / AB)."""
    return None if slg_ is None or avg_ is None else slg_ - avg_


def babip(h: int, hr: int, ab: int, so: int, sf: int) -> float | None:
    """BABIP = (H − HR) / (AB − K − HR + SF) (FanGraphs library "BABIP"). Same formula for pitchers
    with the hits, homers, strikeouts and sac flies they allowed (AB against = BF − BB − HBP − SH − SF
    − CI)."""
    return _div(h - hr, ab - so - hr + sf)


def k_pct(so: int, pa: int) -> float | None:
    """K% = SO / PA (FanGraphs "K% and BB%": per plate appearance, not per at-bat). For pitchers PA is
    batters faced."""
    return _div(so, pa)


def bb_pct(bb: int, pa: int) -> float | None:
    """BB% = BB / PA, BB including IBB (FanGraphs' BB% counts every walk)."""
    return _div(bb, pa)


def woba(
    c: Constants, *, ab: int, h: int, doubles: int, triples: int, hr: int, bb: int, ibb: int, hbp: int,
    sf: int,
) -> float | None:  # fmt: skip
    """wOBA = (wBB·uBB + wHBP·HBP + w1B·1B + w2B·2B + w3B·3B + wHR·HR) / (AB + BB − IBB + SF + HBP)
    (FanGraphs library "wOBA"), uBB = BB − IBB, 1B = H − 2B − 3B − HR, weights of the season (Guts).
    The denominator leaves out IBB and SH (and catcher's interference), so it is *not* PA."""
    singles = h - doubles - triples - hr
    num = (c.w_bb * (bb - ibb) + c.w_hbp * hbp + c.w_1b * singles + c.w_2b * doubles
           + c.w_3b * triples + c.w_hr * hr)  # fmt: skip
    return _div(num, ab + bb - ibb + sf + hbp)


def wraa(woba_: float | None, pa: int, c: Constants) -> float | None:
    """wRAA = (wOBA − lgwOBA) / wOBAScale × PA (FanGraphs "wRAA"); lgwOBA and the scale from Guts.
    Multiplied by PA (not by the wOBA denominator), as FanGraphs does."""
    return None if woba_ is None else (woba_ - c.woba) / c.woba_scale * pa


def wrc(woba_: float | None, pa: int, c: Constants) -> float | None:
    """wRC = ((wOBA − lgwOBA) / wOBAScale + lgR/PA) × PA (FanGraphs "wRC and wRC+"), lgR/PA = Guts
    ``R/PA``. Not park-adjusted (FanGraphs adjusts only wRC+)."""
    return None if woba_ is None else ((woba_ - c.woba) / c.woba_scale + c.r_pa) * pa


def wrc_plus(
    wraa_: float | None, pa: int, c: Constants, park_factor: float, league_wrc_pa: float
) -> float | None:
    """wRC+ = ((wRAA/PA + lgR/PA) + (lgR/PA − PF·lgR/PA)) / (league wRC/PA excluding pitchers) × 100
    (FanGraphs library "wRC and wRC+"; 100 is league average, each point 1 %).

    * ``park_factor`` PF: FanGraphs "Basic (5yr)" / 100 of the player's park, PA-weighted over his
      teams when he played for several (callers do the weighting; see :mod:`sts.stats.season`).
    * ``league_wrc_pa``: the player's league (AL or NL) wRC per PA over non-pitchers of that season and
      source — sum of wRC / sum of PA; PA-weighted over leagues for a player who played in both.
    * lgR/PA: Guts ``R/PA`` (MLB-wide, as in FanGraphs' formula).
    """
    if wraa_ is None or not pa or not league_wrc_pa:
        return None
    lg = c.r_pa
    return ((wraa_ / pa + lg) + (lg - park_factor * lg)) / league_wrc_pa * 100


# -- pitching ----------------------------------------------------------------------------------------
def era(er: int, outs: int) -> float | None:
    """ERA = 9 · ER / IP (OBR 9.22(j)), IP = outs / 3."""
    return _div(9 * er * 3, outs)


def whip(h: int, bb: int, outs: int) -> float | None:
    """WHIP = (H + BB) / IP; BB includes IBB, HBP is not counted."""
    return _div((h + bb) * 3, outs)


def fip(hr: int, bb: int, hbp: int, so: int, outs: int, c: Constants) -> float | None:
    """FIP = (13·HR + 3·(BB + HBP) − 2·K) / IP + cFIP (FanGraphs "FIP"), IP = outs / 3, BB including
    IBB (which is what makes league FIP equal league ERA with the Guts cFIP; see module docstring)."""
    core = _div((13 * hr + 3 * (bb + hbp) - 2 * so) * 3, outs)
    return None if core is None else core + c.c_fip


def per9(n: int, outs: int) -> float | None:
    """K/9, BB/9, HR/9: 9 · n / IP = 27 · n / outs."""
    return _div(27 * n, outs)


def k_minus_bb_pct(so: int, bb: int, bf: int) -> float | None:
    """K-BB% = (SO − BB) / BF (FanGraphs; BB including IBB, over batters faced)."""
    return _div(so - bb, bf)


def lob_pct(h: int, bb: int, hbp: int, r: int, hr: int) -> float | None:
    """LOB% = (H + BB + HBP − R) / (H + BB + HBP − 1.4·HR) (FanGraphs "LOB%"); R is *all* runs
    allowed (not earned runs)."""
    return _div(h + bb + hbp - r, h + bb + hbp - LOB_HR_WEIGHT * hr)
