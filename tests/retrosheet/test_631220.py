"""Must show: game 631220 imported from Retrosheet (NYA202008051) gives the same box as MLB's feed.

Both boxes come from :func:`sts.stats.derive_box`: one from the GUMBO feed's plays, one from the
Retrosheet event file converted to GUMBO-shaped plays. Every stat either line carries is compared for
every player, the team lines and the linescore. The one residual difference is a batted-ball type:
Retrosheet codes Gardner's 4th-inning double play ``6/P6D/DP.1X1(63)`` (a pop-up), MLB's feed calls it
a line drive ("Brett Gardner lines into a double play", atBatIndex 38) — two scorers' judgement.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sts.retrosheet.crosscheck import Crosscheck, crosscheck, play_differences, remap
from sts.retrosheet.crosswalk import Crosswalk, surrogate
from sts.retrosheet.events import Game
from sts.retrosheet.season_import import GameImport, import_game
from sts.stats import compare_box, derive_box
from tests.retrosheet.conftest import game

GARDNER, WHEELER = 458731, 554430


@pytest.fixture(scope="module")
def feed(shared_data: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((shared_data / "statsapi/more/feed_live_631220.json").read_text())
    return data


@pytest.fixture(scope="module")
def imported(games_2020: list[Game], crosswalk: Crosswalk) -> GameImport:
    return import_game(game(games_2020, "NYA202008051"), crosswalk)


@pytest.fixture(scope="module")
def check(feed: dict[str, Any], imported: GameImport) -> Crosscheck:
    names = {int(p["id"]): p["fullName"] for p in imported.converted.feed["gameData"]["players"].values()}
    return crosscheck(feed, derive_box(feed), imported.box, names)


def test_the_feed_box_is_the_official_box(feed: dict[str, Any]) -> None:
    assert compare_box(feed).ok


def test_every_player_is_paired(check: Crosscheck, imported: GameImport, crosswalk: Crosswalk) -> None:
    assert check.unpaired == []
    # six players are missing from the register extract: kept under their Retrosheet ids, paired by name
    assert len(check.by_name) == 6
    unmapped = {imported.converted.players[pid] for pid in check.by_name}
    assert unmapped == {"davia003", "estrt001", "gardb001", "hoskr001", "mccua001", "taucm001"}
    assert unmapped <= set(crosswalk.unmapped())


def test_same_box_but_one_scorer_judgement(check: Crosscheck) -> None:
    assert (check.matched, check.total) == (618, 626)
    diffs = {(d.side, d.player, d.group, d.stat, d.feed, d.retrosheet) for d in check.diffs}
    assert diffs == {
        ("away", WHEELER, "pitching", "lineOuts", 1, 0),
        ("away", WHEELER, "pitching", "popOuts", 3, 4),
        ("away", None, "pitching", "lineOuts", 1, 0),
        ("away", None, "pitching", "popOuts", 4, 5),
        ("home", GARDNER, "batting", "lineOuts", 1, 0),
        ("home", GARDNER, "batting", "popOuts", 0, 1),
        ("home", None, "batting", "lineOuts", 1, 0),
        ("home", None, "batting", "popOuts", 4, 5),
    }


def test_the_difference_is_gardners_double_play(feed: dict[str, Any], imported: GameImport) -> None:
    official = feed["liveData"]["plays"]["allPlays"][38]
    assert official["matchup"]["batter"]["id"] == GARDNER
    assert official["result"]["eventType"] == "double_play"
    assert [e["hitData"]["trajectory"] for e in official["playEvents"] if e.get("hitData")] == ["line_drive"]
    retro = [
        p
        for p in imported.converted.feed["liveData"]["plays"]["allPlays"]
        # Gardner is not in the register extract: the Retrosheet side keeps his Retrosheet id
        if p["matchup"]["batter"]["id"] == surrogate("gardb001") and p["result"]["eventType"] == "double_play"
    ]
    assert [p["result"]["description"] for p in retro] == ["6/P6D/DP.1X1(63)"]


def test_score_and_earned_runs(imported: GameImport) -> None:
    assert imported.converted.score == {"away": 11, "home": 7}
    assert imported.box.teams["away"].runs == 11 and imported.box.teams["home"].runs == 7
    for pid, retro in imported.converted.players.items():
        if retro in imported.game.earned_runs:
            player = imported.box.find(pid)
            assert player is not None
            assert player.pitching["earnedRuns"] == imported.game.earned_runs[retro], retro


def test_plays_described_differently(feed: dict[str, Any], imported: GameImport, check: Crosscheck) -> None:
    """Every plate appearance pairs up (same event types, same batters); four batted-ball calls differ
    and only one of them is an out, the one behind the box difference."""
    plays = play_differences(feed, imported.converted.feed, check.pairs)
    assert [(p.feed_index, p.batter) for p in plays] == [
        (22, "Bryce Harper"),
        (38, "Brett Gardner"),
        (39, "J.T. Realmuto"),
        (46, "Roman Quinn"),
    ]
    assert all(p.feed.split("/")[0] == p.retrosheet.split("/")[0] for p in plays)  # same event types
    outs = [p for p in plays if not p.feed.startswith(("home_run", "single"))]
    assert [(p.feed.split(":")[0], p.retrosheet) for p in outs] == [
        ("double_play/line_drive", "double_play/popup: 6/P6D/DP.1X1(63)")
    ]


def test_against_mlbs_official_box(feed: dict[str, Any], imported: GameImport, check: Crosscheck) -> None:
    """The Retrosheet box against ``liveData.boxscore``/``linescore`` themselves (as ``sts verify
    boxscore`` compares a feed): the same eight fly/line/pop-out values, nothing else."""
    report = compare_box(feed, remap(imported.box, check.pairs))
    assert (report.matched, report.total) == (1557, 1565)
    assert {(m.name, m.stat) for m in report.mismatches} == {
        ("Zack Wheeler", "popOuts"),
        ("Zack Wheeler", "lineOuts"),
        ("Brett Gardner", "popOuts"),
        ("Brett Gardner", "lineOuts"),
        ("away", "popOuts"),
        ("away", "lineOuts"),
        ("home", "popOuts"),
        ("home", "lineOuts"),
    }
