"""What changed in a completed play between two snapshots (pure, no I/O): the content of ``PlayRevised``.

A play is *revised* when a snapshot changes what an already-completed play says happened. The fields
compared (:func:`play_changes`) are the ones statistics and the play's story are made of:

- ``result.*`` (event, eventType, description, rbi, scores, isOut…), every key of ``result``;
- ``about.hasReview``, ``about.isScoringPlay``, ``about.hasOut`` and ``reviewDetails``;
- ``count.outs``, ``matchup.batter`` and ``matchup.pitcher`` (by id);
- per runner movement ``runners[i].movement``, ``runners[i].details`` and ``runners[i].credits``
  (and the number of movements).

Other changes of a completed play (a pitch's tracking data refined, ``captivatingIndex``, times) are
not revisions: the play is still updated in place through its new ``PlayCompleted`` event, but no
``PlayRevised`` is emitted for them.
"""

from __future__ import annotations

import json
from typing import Any

from sts.domain import feed as F

_ABOUT = ("hasReview", "isScoringPlay", "hasOut")
_RUNNER_PARTS = ("movement", "details", "credits")


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _tracked(play: F.Json) -> list[tuple[str, Any]]:
    """The compared fields of ``play`` as ``(path, value)``, in a fixed order."""
    out: list[tuple[str, Any]] = []
    result = F.as_dict(play.get("result"))
    out.extend((f"result.{key}", result[key]) for key in sorted(result))
    about = F.as_dict(play.get("about"))
    out.extend((f"about.{key}", about.get(key)) for key in _ABOUT)
    out.append(("reviewDetails", play.get("reviewDetails")))
    out.append(("count.outs", F.dig(play, "count", "outs")))
    for who in ("batter", "pitcher"):
        out.append((f"matchup.{who}", F.person_id(F.dig(play, "matchup", who))))
    runners = F.as_list(play.get("runners"))
    out.append(("runners.length", len(runners)))
    for i, runner in enumerate(runners):
        r = F.as_dict(runner)
        out.extend((f"runners[{i}].{part}", r.get(part)) for part in _RUNNER_PARTS)
    return out


def play_changes(old: F.Json, new: F.Json) -> list[dict[str, str | None]]:
    """``[{"field", "old", "new"}]`` (values as JSON text, ``None`` when absent) for every compared
    field that differs between two versions of a completed play; ``[]`` when none does."""
    before, after = dict(_tracked(old)), dict(_tracked(new))
    order = [path for path, _ in _tracked(old)]
    order += [path for path, _ in _tracked(new) if path not in before]
    return [
        {"field": path, "old": _json(before.get(path)), "new": _json(after.get(path))}
        for path in order
        if before.get(path) != after.get(path)
    ]


def revision_kind(changes: list[dict[str, str | None]]) -> str:
    """``scoring_change``, ``review``, ``runner_credits``, ``description`` or ``other`` (see the
    ``PlayRevised`` schema), the first that applies in that order."""
    fields = {str(c["field"]) for c in changes}
    if "result.eventType" in fields or "result.event" in fields:
        return "scoring_change"
    if "reviewDetails" in fields or "about.hasReview" in fields:
        return "review"
    if any(f.startswith("runners") for f in fields):
        return "runner_credits"
    if fields == {"result.description"}:
        return "description"
    return "other"


def is_complete(play: F.Json | None) -> bool:
    return play is not None and F.dig(play, "about", "isComplete") is True
