"""The MLB Stats API stand-in: replays recorded games on an accelerated clock (see DESIGN.md).

- :mod:`sts.standin.timeline`  when each part of a final feed became known (pure)
- :mod:`sts.standin.synth`     the feed at one state; :mod:`sts.standin.linescore` its linescore
- :mod:`sts.standin.replay`    games relocated onto the virtual replay day
- :mod:`sts.standin.server`    the HTTP server (:class:`StandIn`)
- :mod:`sts.standin.shapes`    recursive JSON shape comparison (checks against real feeds)
"""

from __future__ import annotations

from sts.standin.replay import Replay
from sts.standin.server import StandIn
from sts.standin.timeline import GameTimeline

__all__ = ["GameTimeline", "Replay", "StandIn"]
