"""Event-file and roster records, read from the real 2020 files (CRLF line ends)."""

from __future__ import annotations

from pathlib import Path

from sts.retrosheet import files
from sts.retrosheet.events import parse_events, parse_roster, parse_teams


def test_game_records_of_nya202008051(retro_2020: Path) -> None:
    raw = (retro_2020 / "2020NYA.EVA").read_bytes()
    assert b"\r\n" in raw
    game = next(g for g in parse_events(raw.decode("latin-1")) if g.game_id == "NYA202008051")
    assert (game.visitor, game.home) == ("PHI", "NYA")
    assert game.info["innings"] == "7" and game.info["tiebreaker"] == "2" and game.info["number"] == "1"
    assert len(game.starts) == 20
    first = game.starts[0]
    assert (first.player, first.name, first.team, first.slot, first.position) == (
        "mccua001",
        "Andrew McCutchen",
        0,
        1,
        7,
    )
    pitcher = next(s for s in game.starts if s.team == 1 and s.slot == 0)
    assert (pitcher.player, pitcher.position) == ("happj001", 1)
    plays = [r.play for r in game.body if r.play is not None]
    assert plays[0].event == "7/F78D" and plays[0].pitches == "CX" and plays[0].count == "01"
    subs = [r.sub for r in game.body if r.sub is not None]
    assert subs[0] is not None and (subs[0].player, subs[0].team, subs[0].position) == ("holdj002", 1, 1)
    assert game.earned_runs == {
        "nerih001": 0,
        "wheez001": 2,
        "kellt002": 0,
        "davia003": 4,
        "holdj002": 0,
        "cessl001": 0,
        "nelsn001": 6,
        "happj001": 4,
    }
    comments = [r for r in game.body if r.kind == "com"]
    assert ("ej,nevip001,C,herna901,Called third strike",) in [c.fields for c in comments]


def test_adjustment_records_kept_in_order() -> None:
    text = "\r\n".join(
        [
            "id,HOU202007250",
            "version,2",
            "info,visteam,SEA",
            'start,a,"A, Jr.",0,1,8',
            "play,10,0,tuckk001,00,.,NP",
            'sub,ramin002,"Noe Ramirez",1,0,1',
            "radj,brega001,2",
            "presadj,ramin002,2",
            "badj,bonib001,R",
            "padj,harrg001,L",
            "ladj,0,4",
            "data,er,ramin002,1",
        ]
    )
    (game,) = parse_events(text)
    assert game.starts[0].name == "A, Jr."
    assert [r.kind for r in game.body] == ["play", "sub", "radj", "presadj", "badj", "padj", "ladj"]
    assert game.body[2].fields == ("brega001", "2")
    assert game.earned_runs == {"ramin002": 1}


def test_every_2020_file_parses(retro_2020: Path) -> None:
    games = files.load_games(retro_2020)
    assert len(games) == 898
    assert sum(1 for g in games if g.info.get("innings") == "7") == 111
    assert all(g.info.get("tiebreaker") == "2" for g in games)
    assert sum(1 for g in games for r in g.body if r.kind == "radj") == 218


def test_roster_and_team_files(retro_2020: Path) -> None:
    roster = parse_roster((retro_2020 / "NYA2020.ROS").read_text(encoding="latin-1"))
    judge = next(r for r in roster if r.player == "judga001")
    assert (judge.last, judge.first, judge.bats, judge.throws, judge.team, judge.position) == (
        "Judge",
        "Aaron",
        "R",
        "R",
        "NYA",
        "OF",
    )
    teams = parse_teams((retro_2020 / "TEAM2020").read_text(encoding="latin-1"))
    assert len(teams) == 30 and teams["BOS"] == ("A", "Boston", "Red Sox")
