"""Reviews and challenges of a call, as the live feed states them (pure).

The feed describes a review with a ``reviewDetails`` object ``{isOverturned, inProgress, reviewType,
challengeTeamId}``. Our recorded 2023-2024 feeds carry it on plays (manager challenges of a tag play,
``MA``; of a hit by pitch, ``MI``). 2026 feeds add the ABS challenge of a ball/strike call, which is
about one pitch: its ``reviewDetails`` is read from the pitch's ``playEvents[]`` entry in the same
shape. None of our recordings holds an ABS challenge, so the pitch-level fields are modelled on the
play-level object.
"""

from __future__ import annotations

from typing import Any

from sts.domain.feed import Json, as_bool, as_dict, as_int, as_str


def review_record(obj: Json) -> dict[str, Any]:
    """The ``review_*`` fields of a play or play event (all None when it has no ``reviewDetails``)."""
    review = as_dict(obj.get("reviewDetails"))
    return {
        "review_type": as_str(review.get("reviewType")),
        "review_challenge_team_id": as_int(review.get("challengeTeamId")),
        "review_is_overturned": as_bool(review.get("isOverturned")),
        "review_in_progress": as_bool(review.get("inProgress")),
    }
