"""Retrosheet event files imported through the same box-score engine as MLB's feeds.

- :mod:`~sts.retrosheet.events` — event files and rosters as records (pure).
- :mod:`~sts.retrosheet.playfield` — the play field grammar as runner moves and fielding credits (pure).
- :mod:`~sts.retrosheet.convert` — a game as a GUMBO-shaped feed for :func:`sts.stats.derive_box` (pure).
- :mod:`~sts.retrosheet.crosswalk` — Retrosheet ids to MLBAM ids (Chadwick register); unmapped ids kept.
- :mod:`~sts.retrosheet.season` — team season totals and their comparison with Lahman's Teams table.
- :mod:`~sts.retrosheet.files` — the only module that reads files.
"""

from sts.retrosheet.convert import Converted, convert_game
from sts.retrosheet.crosswalk import Crosswalk, parse_register
from sts.retrosheet.events import Game, parse_events, parse_roster

__all__ = ["Converted", "Crosswalk", "Game", "convert_game", "parse_events", "parse_register", "parse_roster"]
