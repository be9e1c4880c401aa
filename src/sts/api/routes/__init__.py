"""One module per resource; :data:`ROUTERS` is what :func:`sts.api.app.create_app` includes."""

from __future__ import annotations

from fastapi import APIRouter

from sts.api.routes import (
    admin,
    alerts,
    exports,
    games,
    leaders,
    moments,
    ops,
    players,
    standings,
    stream,
    teams,
    webhooks,
)

ROUTERS: tuple[APIRouter, ...] = (
    games.router,
    players.router,
    teams.router,
    standings.router,
    leaders.router,
    moments.router,
    stream.router,
    exports.router,
    webhooks.router,
    ops.router,
    admin.router,
    alerts.router,
)
