"""Every recorded final feed: the box derived from the plays equals MLB's official box."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sts.stats import compare_box, derive_box
from sts.stats.feed import is_final
from tests.stats.conftest import FINAL_FEEDS

#: (gamePk, personId, stat) that the play-by-play cannot determine — see DECISIONS in
#: ``sts.stats.compare``. A starting fielder who never touched the ball looks exactly like the DH.
NOT_DERIVABLE = {
    (746215, 592885, "fielding.gamesStarted"),  # Christian Yelich, LF, 0 chances
    (744914, 676801, "fielding.gamesStarted"),  # Chas McCormick, LF, 0 chances
    (747175, 553993, "fielding.gamesStarted"),  # Eugenio Suárez, 3B, 0 chances
}


@pytest.mark.parametrize("name", FINAL_FEEDS)
def test_derived_box_matches_official(name: str, load_feed: Callable[[str], dict[str, Any]]) -> None:
    feed = load_feed(name)
    assert is_final(feed)
    report = compare_box(feed)
    assert report.mismatches == [], "\n".join(
        f"{m.side} {m.name} ({m.person_id}) {m.group}.{m.stat}: ours={m.ours} official={m.official}"
        for m in report.mismatches
    )
    undetermined = {(report.game_pk, m.person_id, f"{m.group}.{m.stat}") for m in report.undetermined}
    assert undetermined == {k for k in NOT_DERIVABLE if k[0] == report.game_pk}
    assert report.total > 1000
    assert report.ok and report.matched == report.total


@pytest.mark.parametrize("name", FINAL_FEEDS)
def test_official_inconsistencies_are_only_known_team_fields(
    name: str, load_feed: Callable[[str], dict[str, Any]]
) -> None:
    """Values left out as "official box contradicts itself" are team pitching totals only, of the kinds
    documented in ``sts.stats.compare``."""
    report = compare_box(load_feed(name))
    allowed = {
        "inheritedRunners",
        "inheritedRunnersScored",
        "saveOpportunities",
        "doubles",
        "triples",
        "groundOuts",
        "airOuts",
    }
    for m in report.inconsistent:
        assert (m.scope, m.group) == ("team", "pitching")
        assert m.stat in allowed
        assert m.official == 0


def test_decisions_are_the_only_box_input(load_feed: Callable[[str], dict[str, Any]]) -> None:
    """Deleting the official box and linescore changes nothing in the derived box."""
    feed = load_feed("717055")
    stripped = {
        **feed,
        "liveData": {k: v for k, v in feed["liveData"].items() if k in ("plays", "decisions")},
    }
    a, b = derive_box(feed), derive_box(stripped)
    for side in ("away", "home"):
        assert a.teams[side] == b.teams[side]
