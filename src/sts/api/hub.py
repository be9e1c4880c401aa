"""One tail of the event bus per API process, fanned out to live streams and the cache.

PLACEHOLDER: the live-stream work implements it. Interface used by others:

- ``hub = get_hub(ctx)`` (``None`` when the process has no bus);
- ``hub.add_listener(fn)``: ``fn(event: HubEvent)`` is called (synchronously, must not block) for every
  record of ``mlb.game-events`` and ``mlb.notable-moments`` as it arrives; the server cache uses it to
  invalidate the games an event touches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sts.api.context import ApiContext


@dataclass(frozen=True)
class HubEvent:
    topic: str
    partition: int
    offset: int
    game_pk: int | None
    event_type: str
    event_id: str
    payload: dict[str, Any]  # the decoded event


class EventHub:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self._listeners: list[Callable[[HubEvent], None]] = []

    def add_listener(self, fn: Callable[[HubEvent], None]) -> None:
        self._listeners.append(fn)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def get_hub(ctx: ApiContext) -> EventHub | None:
    hub = ctx.extras.get("hub")
    if hub is None and ctx.bus is not None:
        hub = ctx.extras["hub"] = EventHub(ctx)
    return hub
