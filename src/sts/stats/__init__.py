"""Box scores derived from play-by-play, and their comparison with MLB's official box.

Public API:

- :func:`derive_box` — a feed dict in, a :class:`GameBox` out (pure; plays + decisions only).
- :func:`compare_box` — derive and compare with the feed's own ``liveData.boxscore``/``linescore``.
- :func:`format_outs` — outs as an innings-pitched string (``19 -> "6.1"``).
- :mod:`sts.stats.rules` — every scoring rule implemented, with its Official Baseball Rules section.
"""

from sts.stats.box import GameBox, PlayerBox, TeamBox, format_outs
from sts.stats.compare import GameReport, Mismatch, compare_box
from sts.stats.engine import derive_box

__all__ = [
    "GameBox",
    "GameReport",
    "Mismatch",
    "PlayerBox",
    "TeamBox",
    "compare_box",
    "derive_box",
    "format_outs",
]
