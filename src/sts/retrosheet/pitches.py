"""Retrosheet pitch sequences (``play`` field 5) as GUMBO pitch events. Pure.

Pitch codes: B ball, C called strike, F foul, H hit batter, I intentional ball, K strike (unknown
type), L foul bunt, M missed bunt, O foul tip on bunt, P pitchout, Q swinging on pitchout, R foul on
pitchout, S swinging strike, T foul tip, U unknown, X in play, Y in play on pitchout. Not pitches:
V (automatic ball), N (no pitch), 1/2/3 (pickoff throws), ``+`` ``*`` ``>`` ``.`` (markers).
"""

from __future__ import annotations

from typing import Any

PITCH_CHARS = frozenset("BCFHIKLMOPQRSTUXY")
STRIKE_CHARS = frozenset("CFKLMOQRSTXY")
#: OBR 9.16(h): a reliever who walks a batter inherited at these counts is not charged with him
BALL_HEAVY = frozenset({(2, 0), (2, 1), (3, 0), (3, 1), (3, 2)})


def pitch_events(sequence: str) -> list[dict[str, Any]]:
    """One ``isPitch`` play event per pitch of ``sequence`` (indices are assigned by the caller)."""
    events = []
    for ch in sequence:
        if ch in PITCH_CHARS:
            strike = ch in STRIKE_CHARS
            details = {
                "call": {"code": ch},
                "code": ch,
                "isStrike": strike and ch not in "XY",
                "isInPlay": ch in "XY",
                "isBall": not strike,
            }
            events.append({"isPitch": True, "type": "pitch", "details": details})
    return events


def count(sequence: str) -> tuple[int, int]:
    """Balls and strikes after ``sequence`` (fouls stop adding strikes at two)."""
    balls = sum(1 for c in sequence if c in "BIPHUV")
    strikes = sum(1 for c in sequence if c in STRIKE_CHARS and c != "X")
    return min(balls, 3), min(strikes, 2)
