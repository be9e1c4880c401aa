"""What one API process holds while it serves: settings, the database pool and the optional parts.

Built by :func:`sts.api.app.create_app` (or handed to it by a test) and stored on ``app.state.ctx``.
Every part that needs a background task (the bus tail, the webhook dispatcher) is started and stopped by
the app's lifespan, so a test that serves the app in-process gets the same behaviour as ``sts serve``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sts.config import Settings

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

    from sts.events.codec import AvroCodec
    from sts.ports import EventBus


@dataclass
class ApiContext:
    settings: Settings
    database_url: str
    bus: EventBus | None = None  # None: no live stream, no cache invalidation by events
    codec: AvroCodec | None = None
    pool: AsyncConnectionPool | None = None  # opened by the lifespan
    # the optional parts, set by the modules that own them (typed loosely here to keep imports one-way)
    extras: dict[str, Any] = field(default_factory=dict)
