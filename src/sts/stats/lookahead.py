"""What the engine learns by looking ahead in the plays, before walking them in order.

- The starting catcher of each side (rule F2): passed balls and stolen bases can happen before any
  credit names him.
- Runners already on base when a half-inning starts (rule L2): the extra-inning automatic runner
  (2020 onwards) arrives by no play of his own. In a complete regular inning this is always empty.
"""

from __future__ import annotations

from collections.abc import Iterable

from sts.stats.feed import Play, batting_side, get, other, person_id
from sts.stats.rules import BASES

POST_KEYS = (("postOnFirst", "1B"), ("postOnSecond", "2B"), ("postOnThird", "3B"))


def starting_catchers(plays: Iterable[Play]) -> dict[str, int | None]:
    """Each side's first catcher: the first player credited at position 2, or the player replaced by
    the first substitution at catcher, whichever comes first."""
    found: dict[str, int | None] = {}
    for play in plays:
        fside = other(batting_side(play))
        if fside in found:
            continue
        for ev in get(play, "playEvents", default=[]):
            if get(ev, "position", "code") == "2" and get(ev, "details", "eventType") in (
                "defensive_substitution",
                "defensive_switch",
            ):
                found.setdefault(fside, person_id(get(ev, "replacedPlayer")))
        for r in get(play, "runners", default=[]):
            for c in get(r, "credits", default=[]):
                if get(c, "position", "code") == "2":
                    found.setdefault(fside, person_id(get(c, "player")))
        if len(found) == 2:
            break
    return {"away": found.get("away"), "home": found.get("home")}


def half_start_runners(plays: Iterable[Play]) -> dict[tuple[int, str], dict[int, str]]:
    """``{(inning, batting side): {runner id: base}}`` for runners on base before the half's first
    play: runners seen on a base (a movement's ``start`` or a ``matchup.postOn*``) before they arrived
    there by batting or as a pinch runner in that half."""
    starts: dict[tuple[int, str], dict[int, str]] = {}
    arrived: dict[tuple[int, str], set[int]] = {}
    for play in plays:
        key = (int(get(play, "about", "inning", default=1)), batting_side(play))
        seen = arrived.setdefault(key, set())
        found = starts.setdefault(key, {})
        for ev in get(play, "playEvents", default=[]):
            if get(ev, "details", "eventType") == "offensive_substitution":
                pid = person_id(get(ev, "player"))
                if pid is not None:
                    seen.add(pid)
        runners = sorted(
            get(play, "runners", default=[]), key=lambda r: get(r, "details", "playIndex", default=0)
        )
        for r in runners:
            rid = person_id(get(r, "details", "runner"))
            start = get(r, "movement", "start")
            if rid is not None and rid not in seen and rid not in found and start in BASES:
                found[rid] = str(start)
            if rid is not None:
                seen.add(rid)
        batter = person_id(get(play, "matchup", "batter"))
        if batter is not None:
            seen.add(batter)
        for key_name, base in POST_KEYS:
            rid = person_id(get(play, "matchup", key_name))
            if rid is not None and rid not in seen and rid not in found:
                found[rid] = base
    return {k: v for k, v in starts.items() if v}
