"""Retrosheet event files imported through the same box-score engine as MLB's feeds.

- :mod:`~sts.retrosheet.events` — event files and rosters as records (pure).
- :mod:`~sts.retrosheet.playfield` — the play field grammar as runner moves and fielding credits (pure).
- :mod:`~sts.retrosheet.pitches` — pitch sequences as pitch events (pure).
- :mod:`~sts.retrosheet.convert` — a game as a GUMBO-shaped feed for :func:`sts.stats.derive_box` (pure).
- :mod:`~sts.retrosheet.crosswalk` — Retrosheet ids to MLBAM ids (Chadwick register); unmapped ids kept.
- :mod:`~sts.retrosheet.season`, :mod:`~sts.retrosheet.season_import` — a season through the engine,
  team totals and their comparison with Lahman's Teams table (pure).
- :mod:`~sts.retrosheet.trace` — differences with Lahman traced to players and plays (pure).
- :mod:`~sts.retrosheet.crosscheck` — one game from a feed and from an event file, compared (pure).
- :mod:`~sts.retrosheet.files` — the only module that reads files.
"""

from sts.retrosheet.convert import Converted, convert_game
from sts.retrosheet.crosswalk import Crosswalk, parse_register
from sts.retrosheet.events import Game, parse_events, parse_roster

__all__ = ["Converted", "Crosswalk", "Game", "convert_game", "parse_events", "parse_register", "parse_roster"]
