"""Stream positions: where a live-stream client is in the bus, as a resumable token.

A position is, for every topic a stream carries and every partition of it, the offset of the next
record the client has not yet been sent (records it skipped by its filters count as passed). It is
written ``e:12,0,7,3,0,9;m:0,0,2,0,0,1``: ``e`` = ``mlb.game-events``, ``m`` = ``mlb.notable-moments``,
then the offsets of partitions 0, 1, 2… in order. The token is the SSE ``id:`` of each event and the
``position`` of each WebSocket message; a client that reconnects with it (``Last-Event-ID``) gets
exactly the records after it.
"""

from __future__ import annotations

from collections.abc import Mapping

from sts.ports import TOPIC_GAME_EVENTS, TOPIC_NOTABLE_MOMENTS

#: the topics a live stream carries, by their code in a position
STREAM_TOPICS: dict[str, str] = {"e": TOPIC_GAME_EVENTS, "m": TOPIC_NOTABLE_MOMENTS}
_CODES = {topic: code for code, topic in STREAM_TOPICS.items()}

MAX_LENGTH = 4096  # a position longer than this is not one of ours


class PositionError(ValueError):
    """A position token that cannot be read, or that does not fit the bus."""


Vector = dict[str, dict[int, int]]  # topic -> partition -> next offset


def encode(vector: Mapping[str, Mapping[int, int]]) -> str:
    """``{"mlb.game-events": {0: 12, 1: 0}, ...}`` → ``"e:12,0;m:…"`` (topics in code order)."""
    parts = []
    for code, topic in STREAM_TOPICS.items():
        offsets = vector.get(topic)
        if offsets is not None:
            parts.append(f"{code}:" + ",".join(str(offsets[p]) for p in range(len(offsets))))
    return ";".join(parts)


def decode(text: str, ends: Mapping[str, Mapping[int, int]]) -> Vector:
    """Read ``text`` against the bus's current ``ends`` (topic → partition → end offset).

    Raises :class:`PositionError` unless it names every stream topic once, with one offset per
    partition, each between 0 and the partition's end (a position from the future is not valid).
    """
    text = text.strip()
    if not text or len(text) > MAX_LENGTH:
        raise PositionError("a position is 'e:<offsets>;m:<offsets>', as sent in the id of an event")
    vector: Vector = {}
    for part in text.split(";"):
        code, sep, offsets = part.partition(":")
        topic = STREAM_TOPICS.get(code.strip())
        if not sep or topic is None:
            raise PositionError(f"unknown topic code {code!r} in the position (expected e or m)")
        if topic in vector:
            raise PositionError(f"topic code {code!r} appears twice in the position")
        try:
            values = [int(v) for v in offsets.split(",")]
        except ValueError:
            raise PositionError(f"the offsets of {code!r} are not integers") from None
        end = ends.get(topic, {})
        if len(values) != len(end):
            raise PositionError(f"{code!r} has {len(values)} offsets; the topic has {len(end)} partitions")
        for p, v in enumerate(values):
            if v < 0 or v > end[p]:
                raise PositionError(f"offset {v} of {code!r} partition {p} is outside 0..{end[p]}")
        vector[topic] = dict(enumerate(values))
    missing = sorted(c for c, t in STREAM_TOPICS.items() if t not in vector)
    if missing:
        raise PositionError(f"the position lacks topic code(s) {', '.join(missing)}")
    return vector


def code_of(topic: str) -> str:
    return _CODES[topic]
