"""``--from`` / ``--to`` positions: offsets for every partition, per partition, or a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sts.services.replay import Position, parse_position


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", Position(every=0)),
        (" 120 ", Position(every=120)),
        ("2:15", Position(offsets={2: 15})),
        ("0:5, 3:0", Position(offsets={0: 5, 3: 0})),
        ("2026-11-26T17:00:00Z", Position(time=datetime(2026, 11, 26, 17, 0, tzinfo=UTC))),
        ("2026-11-26T17:00:00", Position(time=datetime(2026, 11, 26, 17, 0, tzinfo=UTC))),  # no zone: UTC
        (
            "2026-11-26T19:00:00+02:00",
            Position(time=datetime(2026, 11, 26, 19, 0, tzinfo=timezone(timedelta(hours=2)))),
        ),
        ("2026-11-26", Position(time=datetime(2026, 11, 26, tzinfo=UTC))),
    ],
)
def test_positions_parse(text: str, expected: Position) -> None:
    assert parse_position(text) == expected


def test_a_zoned_time_is_the_same_instant_as_its_utc_form() -> None:
    zoned = parse_position("2026-11-26T19:00:00+02:00").time
    assert zoned == parse_position("2026-11-26T17:00:00Z").time


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty position"),
        ("yesterday", "neither an offset"),
        ("-1", "neither an offset"),
        ("1:", "neither an offset"),
        ("1:2:3", "neither an offset"),
        ("a:1", "neither an offset"),
        ("1:2,1:3", "partition 1 is named twice"),
        ("2026-13-01T00:00:00", "neither an offset"),
    ],
)
def test_bad_positions_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_position(text)
