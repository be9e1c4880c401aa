"""Formulas on hand-checkable numbers (each expected value worked out in the comment beside it)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sts.stats import formulas as f
from sts.stats.constants import Constants
from sts.stats.season import batting_qualifier, batting_rates, is_pitcher, pitching_qualifier_outs

#: FanGraphs Guts 2024 row
C24 = Constants(season=2024, woba=0.310, woba_scale=1.242, w_bb=0.689, w_hbp=0.720, w_1b=0.882,
                w_2b=1.254, w_3b=1.590, w_hr=2.050, run_sb=0.200, run_cs=-0.405, r_pa=0.117, r_w=9.683,
                c_fip=3.166)  # fmt: skip

# 600 PA: 500 AB, 150 H (100 1B, 30 2B, 5 3B, 15 HR), 80 BB (10 IBB), 10 HBP, 5 SF, 5 SH, 100 SO
LINE = {"pa": 600, "ab": 500, "h": 150, "doubles": 30, "triples": 5, "hr": 15, "bb": 80, "ibb": 10,
        "hbp": 10, "sf": 5, "sh": 5, "so": 100}  # fmt: skip


def test_slash_line() -> None:
    assert f.avg(150, 500) == 0.3
    assert f.obp(150, 80, 10, 500, 5) == pytest.approx(240 / 595)  # (H+BB+HBP)/(AB+BB+HBP+SF)
    assert f.total_bases(150, 30, 5, 15) == 100 + 60 + 15 + 60  # 235
    assert f.slg(150, 30, 5, 15, 500) == 0.47
    assert f.iso(0.47, 0.3) == pytest.approx(0.17)
    assert f.ops(0.4, 0.47) == pytest.approx(0.87)
    assert f.babip(150, 15, 500, 100, 5) == pytest.approx(135 / 390)  # (H-HR)/(AB-K-HR+SF)
    assert f.k_pct(100, 600) == pytest.approx(1 / 6) and f.bb_pct(80, 600) == pytest.approx(80 / 600)
    assert f.avg(0, 0) is None and f.era(0, 0) is None


def test_woba_family() -> None:
    # numerator .689*70 + .72*10 + .882*100 + 1.254*30 + 1.59*5 + 2.05*15
    #         = 48.23 + 7.2 + 88.2 + 37.62 + 7.95 + 30.75 = 219.95; denominator 500+80-10+5+10 = 585
    w = f.woba(C24, ab=500, h=150, doubles=30, triples=5, hr=15, bb=80, ibb=10, hbp=10, sf=5)
    assert w == pytest.approx(219.95 / 585)
    wraa = f.wraa(w, 600, C24)
    assert wraa == pytest.approx((219.95 / 585 - 0.310) / 1.242 * 600)
    assert f.wrc(w, 600, C24) == pytest.approx(wraa + 0.117 * 600)
    # neutral park, league wRC/PA = lgR/PA: wRC+ = (wRAA/PA + lgR/PA) / lgR/PA * 100
    assert f.wrc_plus(wraa, 600, C24, 1.0, 0.117) == pytest.approx((wraa / 600 + 0.117) / 0.117 * 100)
    # a hitters' park (PF 1.05) lowers it by 0.05 * 100 = 5 points when league wRC/PA = lgR/PA
    assert f.wrc_plus(wraa, 600, C24, 1.05, 0.117) == pytest.approx(
        f.wrc_plus(wraa, 600, C24, 1.0, 0.117) - 5  # type: ignore[operator]
    )
    # a league-average hitter is 100
    assert f.wrc_plus(0.0, 600, C24, 1.0, 0.117) == pytest.approx(100)


def test_pitching() -> None:
    # 180 IP = 540 outs, 60 ER, 150 H, 50 BB, 5 HBP, 200 K, 20 HR, 70 R, 750 BF
    assert f.era(60, 540) == 3.0
    assert f.whip(150, 50, 540) == pytest.approx(200 / 180)
    assert f.fip(20, 50, 5, 200, 540, C24) == pytest.approx((260 + 165 - 400) / 180 + 3.166)
    assert f.per9(200, 540) == 10.0 and f.per9(20, 540) == 1.0
    assert f.k_minus_bb_pct(200, 50, 750) == pytest.approx(0.2)
    assert f.lob_pct(150, 50, 5, 70, 20) == pytest.approx(135 / 177)  # (205-70)/(205-28)
    assert f.innings(19) == pytest.approx(6 + 1 / 3)


def test_batting_rates_from_a_line() -> None:
    rates = batting_rates(LINE, C24, 1.0, 0.117)
    assert rates["AVG"] == 0.3 and rates["SLG"] == 0.47
    assert rates["wOBA"] == pytest.approx(219.95 / 585)
    assert batting_rates(LINE, None)["wOBA"] is None  # no constants, no wOBA family
    assert batting_rates({k: v for k, v in LINE.items() if k != "pa"}, C24)["K%"] == pytest.approx(1 / 6)


def test_qualifiers() -> None:
    assert batting_qualifier(162) == 502 and batting_qualifier(60) == 186
    assert pitching_qualifier_outs(162) == 486
    assert is_pitcher(0, 30) and is_pitcher(40, 30) and not is_pitcher(150, 3)


@st.composite
def batting_lines(draw: st.DrawFn) -> dict[str, int]:
    """A consistent batting line: hits by type within H, H within AB, IBB within BB."""
    singles, doubles, triples, hr = (draw(st.integers(0, 150)) for _ in range(4))
    h = singles + doubles + triples + hr
    outs = draw(st.integers(0, 500))
    so = draw(st.integers(0, outs))
    bb = draw(st.integers(0, 150))
    line = {"ab": h + outs, "h": h, "doubles": doubles, "triples": triples, "hr": hr, "bb": bb,
            "ibb": draw(st.integers(0, bb)), "hbp": draw(st.integers(0, 30)), "sf": draw(st.integers(0, 15)),
            "sh": draw(st.integers(0, 15)), "so": so}  # fmt: skip
    line["pa"] = line["ab"] + bb + line["hbp"] + line["sf"] + line["sh"]
    return line


@settings(max_examples=300, deadline=None)
@given(batting_lines())
def test_rate_invariants(line: dict[str, int]) -> None:
    r = batting_rates(line, C24, 1.0, 0.117)
    if line["ab"]:
        assert 0 <= r["AVG"] <= 1 and r["ISO"] >= -1e-12  # type: ignore[operator]
        assert r["OPS"] == pytest.approx(r["OBP"] + r["SLG"])  # type: ignore[operator]
        assert r["SLG"] <= 4  # type: ignore[operator]
    if r["wOBA"] is not None:
        # wRC − wRAA = lgR/PA × PA, whatever the line
        assert r["wRC"] - r["wRAA"] == pytest.approx(0.117 * line["pa"])  # type: ignore[operator]
        assert 0 <= r["wOBA"] <= C24.w_hr
    # wRC+ rises with wRAA and falls with the park factor
    if r["wRAA"] is not None and line["pa"]:
        assert f.wrc_plus(r["wRAA"] + 1, line["pa"], C24, 1.0, 0.117) > r["wRC+"]  # type: ignore[operator]
        assert f.wrc_plus(r["wRAA"], line["pa"], C24, 1.1, 0.117) < r["wRC+"]  # type: ignore[operator]
