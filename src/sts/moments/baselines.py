"""Career totals before a game, for the career-milestone rule.

A milestone ("career hit No. 2000") is only honest when the career total before the game is KNOWN.
:class:`LahmanFeedBaselines` knows it as the sum of two official sources:

1. the careers through the end of the previous season: Lahman's batting lines (``season_batting`` rows
   with source ``lahman``, imported by :func:`sts.stats.lahman.import_lahman`) of every season before the
   game's, joined to the MLBAM id through the ``player_ids`` crosswalk. Every season from 1871 on must
   be imported, or a career would be undercounted;
2. the current season before this game: MLB's ``seasonStats`` in the game's own box score minus the
   player's line in this game (``stats``), read from one raw snapshot of the game in ``mlb-live``. MLB
   updates both together during a game, so their difference is the season total before the game.

When either part is missing — Lahman not imported for the previous season, a player the crosswalk does
not map, no season line in the snapshot — the player gets no baseline, and the rule stays silent for him.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

import psycopg
import structlog

from sts.domain import feed as F
from sts.errors import ObjectNotFound
from sts.ports import BUCKET_LIVE, ObjectStore

log = structlog.get_logger(__name__)

FIRST_SEASON = 1871  # Lahman's first season: a career sum needs every season from here on
STATS = {"hits": "hits", "hr": "homeRuns"}  # our stat name -> MLB's box-score name


class BaselineSource(Protocol):
    """Where career totals before a game come from."""

    async def before_game(
        self, conn: psycopg.AsyncConnection[Any], game_pk: int, season: int, timecode: str
    ) -> tuple[dict[int, dict[str, int]], str]:
        """``({player id: {"hits": n, "hr": n}}, note)``: the players whose career totals before the game
        are known, and a note saying how (or why nobody is known)."""
        ...


def season_before_game(feed: Mapping[str, Any]) -> dict[int, dict[str, int]]:
    """Per player with a season batting line in the box score: season totals before this game."""
    out: dict[int, dict[str, int]] = {}
    for side in ("away", "home"):
        players = F.as_dict(F.dig(feed, "liveData", "boxscore", "teams", side, "players"))
        for entry in players.values():
            pid = F.person_id(F.dig(entry, "person"))
            season = F.as_dict(F.dig(entry, "seasonStats", "batting"))
            game = F.as_dict(F.dig(entry, "stats", "batting"))
            totals: dict[str, int] = {}
            for ours, mlb in STATS.items():
                s, g = F.as_int(season.get(mlb)), F.as_int(game.get(mlb)) or 0
                if s is None or s < g:
                    break
                totals[ours] = s - g
            else:
                if pid is not None:
                    out[pid] = totals
    return out


class LahmanFeedBaselines:
    """Lahman careers through the previous season + this season before the game (from the feed)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def before_game(
        self, conn: psycopg.AsyncConnection[Any], game_pk: int, season: int, timecode: str
    ) -> tuple[dict[int, dict[str, int]], str]:
        cur = await conn.execute(
            "SELECT count(DISTINCT season) FROM season_batting"
            " WHERE source = 'lahman' AND season BETWEEN %s AND %s",
            (FIRST_SEASON, season - 1),
        )
        row = await cur.fetchone()
        if not row or row[0] != season - FIRST_SEASON:
            return {}, (
                f"Lahman batting lines of {FIRST_SEASON}-{season - 1} not all in the database "
                f"({row[0] if row else 0} seasons): careers unknown"
            )
        try:
            raw = await self.store.get(BUCKET_LIVE, f"{game_pk}/{timecode}.json")
        except ObjectNotFound:
            return {}, f"no snapshot {game_pk}/{timecode} in {BUCKET_LIVE}: season totals unknown"
        this_season = season_before_game(F.unwrap(json.loads(raw)))
        cur = await conn.execute(
            """
            SELECT p.mlbam, COALESCE(SUM(b.h), 0), COALESCE(SUM(b.hr), 0)
            FROM player_ids p
            LEFT JOIN season_batting b ON b.source = 'lahman' AND b.player_key = p.lahman AND b.season < %s
            WHERE p.mlbam = ANY(%s) AND p.lahman IS NOT NULL
            GROUP BY p.mlbam
            """,
            (season, list(this_season)),
        )
        out: dict[int, dict[str, int]] = {}
        for mlbam, hits, hr in await cur.fetchall():
            before = this_season[int(mlbam)]
            out[int(mlbam)] = {"hits": int(hits) + before["hits"], "hr": int(hr) + before["hr"]}
        note = (
            f"Lahman through {season - 1} + {season} seasonStats before the game: "
            f"{len(out)} of {len(this_season)} players known"
        )
        return out, note
