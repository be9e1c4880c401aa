"""The play-field grammar on real 2020 event strings."""

from __future__ import annotations

import pytest

from sts.retrosheet.playfield import HOME, Move, default_rbi, fielding, parse_event


def moves(text: str) -> dict[int, tuple[int, bool, list[int], list[int], list[int]]]:
    """{start: (end, out, putouts, assists, error positions)}"""
    return {
        k: (m.end, m.out, m.putouts, m.assists, [p for p, _ in m.errors])
        for k, m in parse_event(text).moves.items()
    }


def test_grounded_into_double_play_with_unearned_run_without_rbi() -> None:
    event = parse_event("64(1)3/GDP/G6D.3-H(NR)(UR);2-3")
    assert (event.event_type, event.is_pa, event.trajectory) == (
        "grounded_into_double_play",
        True,
        "ground_ball",
    )
    assert moves(event.text) == {
        1: (2, True, [4], [6], []),
        0: (1, True, [3], [4], []),  # the relay 4 is not repeated in "64(1)3"
        3: (HOME, False, [], [], []),
        2: (3, False, [], [], []),
    }
    run = event.moves[3]
    assert run.unearned and not default_rbi(event, run)


def test_force_out_batter_safe_at_first() -> None:
    event = parse_event("54(1)/FO/G56.B-1")
    assert event.event_type == "force_out"
    assert moves(event.text) == {1: (2, True, [4], [5], []), 0: (1, False, [], [], [])}


def test_lined_into_double_play() -> None:
    assert moves("8(B)84(2)/LDP/L8") == {0: (1, True, [8], [], []), 2: (3, True, [4], [8], [])}
    assert parse_event("8(B)84(2)/LDP/L8").event_type == "double_play"


def test_advance_error_and_negated_out() -> None:
    # 3XH(6E2): the catcher's error negates the out at home; the shortstop keeps his assist
    event = parse_event("FC6/G4.3XH(6E2)(NR)(UR);2-H(NR);1-3;B-1")
    assert event.event_type == "fielders_choice"
    assert moves(event.text)[3] == (HOME, False, [], [6], [2])
    assert all(not default_rbi(event, m) for m in event.moves.values() if m.end == HOME)
    assert moves("S4/P8S.1-3(E4/TH);B-2")[1] == (3, False, [], [], [4])
    assert parse_event("S4/P8S.1-3(E4/TH);B-2").moves[1].errors == [(4, "throwing")]


def test_out_stands_when_the_error_is_a_group_of_its_own() -> None:
    # PHI202008160: the error let him try for home, 3-2 got him (data,er and Lahman agree)
    assert moves("S5/G6S.1XH(32)(E5)")[1] == (HOME, True, [2], [3], [5])
    assert moves("FC4/G4.2-3;1X3(6)(E4);B-1")[1] == (3, True, [6], [], [4])


def test_strikeouts() -> None:
    assert moves("K") == {0: (1, True, [2], [], [])}
    assert moves("K23") == {0: (1, True, [3], [2], [])}
    assert moves("K+WP.B-1") == {0: (1, False, [], [], [])}
    dp = parse_event("K+CS2(26)/DP")
    assert dp.event_type == "strikeout_double_play"
    assert moves(dp.text) == {0: (1, True, [2], [], []), 1: (2, True, [6], [2], [])}
    assert dp.moves[1].kind == "caught_stealing_2b"


@pytest.mark.parametrize(
    ("text", "kind", "start", "end", "out"),
    [
        ("SB2", "stolen_base_2b", 1, 2, False),
        ("SBH", "stolen_base_home", 3, HOME, False),
        ("CS2(24)", "caught_stealing_2b", 1, 2, True),
        ("POCS2(1361)", "pickoff_caught_stealing_2b", 1, 2, True),
        ("PO1(13)", "pickoff_1b", 1, 1, True),
        ("PO1(E3).1-2", "pickoff_error_1b", 1, 2, False),
        ("CS2(2E4).1-3", "caught_stealing_2b", 1, 3, False),
        ("WP.2-3", "wild_pitch", 2, 3, False),
        ("PB.1-2", "passed_ball", 1, 2, False),
        ("BK.3-H;1-2", "balk", 3, HOME, False),
        ("DI.1-2", "defensive_indiff", 1, 2, False),
        ("OA.3-H", "other_advance", 3, HOME, False),
    ],
)
def test_running_events(text: str, kind: str, start: int, end: int, out: bool) -> None:
    event = parse_event(text)
    assert not event.is_pa
    move = event.moves[start]
    assert (move.kind, move.end, move.out) == (kind, end, out)


def test_pickoff_credits_and_catcher_flag() -> None:
    event = parse_event("POCS2(1361)")
    assert event.moves[1].putouts == [1] and event.moves[1].assists == [1, 3, 6]
    assert parse_event("PO1(23)").from_catcher
    assert not parse_event("PO1(13)").from_catcher


def test_double_steal_and_walk_with_wild_pitch() -> None:
    assert {k: m.kind for k, m in parse_event("SB3;SB2").moves.items()} == {
        2: "stolen_base_3b",
        1: "stolen_base_2b",
    }
    walk = parse_event("W+WP.2-3")
    assert walk.event_type == "walk" and walk.moves[2].kind == "wild_pitch"
    assert walk.moves[0].end == 1


@pytest.mark.parametrize(
    ("text", "event_type", "batter_end"),
    [
        ("S9/G34+", "single", 1),
        ("D7/L5D+", "double", 2),
        ("DGR/L9LS.2-H", "double", 2),
        ("T9/F9LD.2-H", "triple", 3),
        ("HR/L89XD.1-H", "home_run", HOME),
        ("W", "walk", 1),
        ("IW", "intent_walk", 1),
        ("HP", "hit_by_pitch", 1),
        ("E6/G6", "field_error", 1),
        ("C/E2.1-2", "catcher_interf", 1),
        ("9/SF/F9.3-H", "sac_fly", 1),
        ("23/SH/BG.1-2", "sac_bunt", 1),
        ("FC1/G1-.2-3;1-2(E1);B-1", "fielders_choice", 1),
        ("FC5/G5.3XH(52)", "fielders_choice_out", 1),
    ],
)
def test_batter_events(text: str, event_type: str, batter_end: int) -> None:
    event = parse_event(text)
    assert event.is_pa and event.event_type == event_type
    assert event.moves[0].end == batter_end


def test_interference_and_foul_fly_error() -> None:
    assert parse_event("C/E2.1-2").moves[0].errors == [(2, "interference")]
    fle = parse_event("FLE5/P5F")
    assert (fle.event_type, fle.is_pa) == ("error", False)
    assert fle.moves[-1].errors == [(5, "fielding")]
    assert parse_event("NP").event_type == "no_play" and not parse_event("NP").moves


def test_hits_record_the_fielder_who_fielded_the_ball() -> None:
    assert parse_event("S8/G6M").moves[0].fielded == [8]
    assert parse_event("S4/P8S.1-3(E4/TH);B-2").moves[0].fielded == [4]  # kept through B-2
    assert parse_event("DGR/L9LS").moves[0].fielded == []


def test_fielding_sequences() -> None:
    assert fielding("1(B)16(2)63(1)") == [(0, [1], [], []), (2, [6], [1], []), (1, [3], [6], [])]
    assert fielding("99") == [(0, [], [], [])]
    assert fielding("2E4") == [(None, [], [2], [(4, "fielding")])]


def test_rbi_rules() -> None:
    bases_loaded_walk = parse_event("W.3-H;2-3;1-2")
    assert default_rbi(bases_loaded_walk, bases_loaded_walk.moves[3])
    on_error = parse_event("E6.3-H")
    assert default_rbi(on_error, on_error.moves[3], outs=1)  # OBR 9.04(a)(3): he scores on the out
    assert not default_rbi(on_error, on_error.moves[3], outs=2)
    from_second = parse_event("E6.2-H")
    assert not default_rbi(from_second, from_second.moves[2], outs=0)
    wild_pitch = parse_event("WP.3-H")
    assert not default_rbi(wild_pitch, wild_pitch.moves[3])
    forced = Move(3, HOME, rbi=True)
    assert default_rbi(on_error, forced)


def test_unreadable_field_raises() -> None:
    with pytest.raises(ValueError, match="unreadable"):
        parse_event("ZZ9")
