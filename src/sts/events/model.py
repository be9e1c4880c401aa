"""The in-memory form of one event on the bus."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GameEvent:
    """One event about one game.

    ``event_type`` is the Avro record name (without namespace) of ``schemas/<event_type>.avsc``;
    ``payload`` is the whole Avro record as a dict (it also holds ``event_id`` and ``game_pk``).
    ``event_id`` is deterministic: the same input always yields the same id, so consumers can
    deduplicate and a re-run publishes nothing new.
    """

    event_type: str
    event_id: str
    game_pk: int
    payload: dict[str, Any]
