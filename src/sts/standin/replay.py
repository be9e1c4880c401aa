"""The replay: recorded games relocated onto one virtual day, read through one :class:`ScaledClock`.

Game ``i`` (games in gamePk order) throws its first pitch at virtual time
``V0 + start_in + i * stagger``, where ``V0 = clock.origin_virtual``. At virtual time ``V`` the game
is in the state its recording was in at original time ``first_pitch + (V - replay_first_pitch)``.
Feed content keeps its original timestamps and timecodes (so the final feed served is the recorded
one); only the schedule speaks of the replay day (relocated ``gameDate`` and ``officialDate``).

Pure apart from reading the clock; the HTTP layer (:mod:`sts.standin.server`) only serializes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sts.clock import ScaledClock
from sts.recordings import RecordedGame, Recordings
from sts.standin.diffpatch import MAX_PATCH_SPAN, json_diff
from sts.standin.revisions import Revision, inject
from sts.standin.synth import status_of, synthesize
from sts.standin.timeline import GameTimeline, parse_timecode

JSON = dict[str, Any]

COPYRIGHT = (
    "Copyright 2026 MLB Advanced Media, L.P.  Use of any content on this page acknowledges agreement "
    "to the terms posted here http://gdx.mlb.com/components/copyright.txt"
)


CLONE_PK_STEP = 1_000_000  # a clone's gamePk: the recorded one + k * this (above every real gamePk)


def clone_recorded(game: RecordedGame, pk: int) -> RecordedGame:
    """A recorded game under another gamePk: its final feed (and schedule entry) speak of ``pk`` wherever
    the recording names the game (``gamePk``, ``link``, ``gameData.game.pk``/``calendarEventID``); the
    boxscore and linescore carry no gamePk and are shared."""
    old = game.game_pk
    feed = dict(game.feed)
    feed["gamePk"] = pk
    feed["link"] = f"/api/v1.1/game/{pk}/feed/live"
    gd = dict(feed["gameData"])
    info = dict(gd.get("game", {}))
    info["pk"] = pk
    if "calendarEventID" in info:
        info["calendarEventID"] = str(info["calendarEventID"]).replace(str(old), str(pk))
    gd["game"] = info
    feed["gameData"] = gd
    entry = None
    if game.schedule_entry is not None:
        entry = {k: v for k, v in game.schedule_entry.items() if k != "gameGuid"}
        entry["gamePk"] = pk
    return RecordedGame(pk, feed, game.source, game.boxscore, game.linescore, entry)


class UnknownGame(LookupError):
    """No replayed game has this gamePk."""


class FutureTimecode(LookupError):
    """A timecode later than the replay has reached for this game."""


def iso_z(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ReplayedGame:
    """One game of the replay: its recording, its timeline and its place on the virtual day."""

    game: RecordedGame
    timeline: GameTimeline
    order: int
    replay_first_pitch: float  # virtual Unix epoch
    stalled_at: float | None = None  # virtual time the game froze at (Replay.stall), None: it runs

    @property
    def game_pk(self) -> int:
        return self.game.game_pk

    def original_time(self, virtual: float) -> float:
        """The recorded instant shown at virtual time ``virtual`` (held while the game is stalled)."""
        if self.stalled_at is not None:
            virtual = min(virtual, self.stalled_at)
        return self.timeline.first_pitch + (virtual - self.replay_first_pitch)

    def index_at(self, virtual: float) -> int:
        return self.timeline.index_at(self.original_time(virtual))


class Replay:
    """Every replayed game on the clock ``clock`` (see the module doc for the time mapping)."""

    def __init__(
        self,
        recordings: Recordings,
        clock: ScaledClock,
        *,
        start_in: float = 1200.0,
        stagger: float = 0.0,
        revisions: Sequence[Revision] = (),
        slate: int = 0,
        slate_shift: float = 60.0,
    ) -> None:
        self.recordings = recordings
        self.clock = clock
        self.start_in = start_in
        self.stagger = stagger
        v0 = clock.origin_virtual.timestamp()
        self.replay_day = clock.origin_virtual.date().isoformat()
        self.games: dict[int, ReplayedGame] = {}
        self.not_replayed = dict(recordings.not_replayed)
        for pk in sorted(recordings.games):
            game = recordings.games[pk]
            try:
                timeline = GameTimeline(game.feed)
            except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
                self.not_replayed[pk] = f"final feed {game.source.name} lacks what a replay needs: {exc!r}"
                continue
            i = len(self.games)
            self.games[pk] = ReplayedGame(game, timeline, i, v0 + start_in + i * stagger)
        self.clone_of: dict[int, int] = {}  # clone gamePk -> recorded gamePk
        self._add_clones(slate, slate_shift)
        for revision in revisions:  # corrections after Final (raises RevisionError when impossible)
            inject(self.get(revision.game_pk).timeline, revision)
        self.copyright = next(
            (str(g.feed["copyright"]) for g in recordings.games.values() if "copyright" in g.feed), COPYRIGHT
        )

    def _add_clones(self, slate: int, shift: float) -> None:
        """Fill a slate of ``slate`` games: recorded games replayed again (in gamePk order, round robin)
        under gamePk ``recorded + k * CLONE_PK_STEP`` (k = 1, 2 … per round), the j-th clone throwing its
        first pitch ``(j + 1) * shift`` virtual seconds after its recorded game's."""
        recorded = list(self.games.values())
        for j in range(max(0, slate - len(recorded))):
            if not recorded:
                break
            source = recorded[j % len(recorded)]
            pk = source.game_pk + (j // len(recorded) + 1) * CLONE_PK_STEP
            game = clone_recorded(source.game, pk)
            first_pitch = source.replay_first_pitch + (j + 1) * shift
            self.games[pk] = ReplayedGame(game, GameTimeline(game.feed), len(self.games), first_pitch)
            self.clone_of[pk] = source.game_pk

    def changes(self, since: float, sport_ids: set[int] | None = None) -> JSON:
        """``/api/v1/game/changes?updatedSince=``: the games whose served state changed in ``(since, now]``
        (virtual Unix epochs), i.e. one of whose timeline states (injected corrections included) became
        served then, as schedule entries (the shape MLB answers with)."""
        now = self.now()
        entries = []
        if sport_ids is None or 1 in sport_ids:
            for game in sorted(self.games.values(), key=lambda g: (g.replay_first_pitch, g.game_pk)):
                shown = (
                    game.replay_first_pitch + (t - game.timeline.first_pitch) for t in game.timeline.times
                )
                if any(since < t <= now for t in shown):
                    entries.append(self.schedule_entry(game))
        live = sum(1 for e in entries if e["status"]["abstractGameState"] == "Live")
        totals = {"totalItems": len(entries), "totalEvents": 0, "totalGames": len(entries),
                  "totalGamesInProgress": live}  # fmt: skip
        day = [{"date": self.replay_day, **totals, "games": entries, "events": []}] if entries else []
        return {"copyright": self.copyright, **totals, "dates": day}

    # ------------------------------------------------------------------ time

    def now(self) -> float:
        """The virtual time (Unix epoch)."""
        return self.clock.now_epoch()

    def stall(self, pk: int, stalled: bool = True) -> None:
        """Freeze ``pk`` at its current state (every endpoint keeps serving the same timecode, as a feed
        that stopped updating would), or with ``stalled=False`` let it run again: it then jumps to the
        state the clock has reached. Raises :class:`UnknownGame`."""
        game = self.get(pk)
        if stalled:
            if game.stalled_at is None:
                game.stalled_at = self.now()
        else:
            game.stalled_at = None

    def get(self, pk: int) -> ReplayedGame:
        try:
            return self.games[pk]
        except KeyError:
            raise UnknownGame(pk) from None

    def state_index(self, pk: int, timecode: str | None = None) -> int:
        """Index of the state served for ``pk`` now, or as of ``timecode`` (raises if in the future).

        A malformed timecode raises ``ValueError``."""
        game = self.get(pk)
        now = game.original_time(self.now())
        if timecode is None:
            return game.timeline.index_at(now)
        at = parse_timecode(timecode)
        if int(at) > int(now):
            raise FutureTimecode(timecode)
        return game.timeline.index_at(at)

    def timestamps(self, pk: int) -> list[str]:
        """Timecodes of ``pk`` up to now, oldest first."""
        game = self.get(pk)
        now = int(game.original_time(self.now()))
        tl = game.timeline
        return [tc for t, tc in zip(tl.times, tl.timecodes, strict=True) if t <= now]

    def feed(self, pk: int, index: int) -> JSON:
        tl = self.get(pk).timeline
        override = tl.feed_override(index)  # an injected correction (sts.standin.revisions)
        return override if override is not None else synthesize(tl, index)

    def diff_patch(self, pk: int, start: str, end: str | None = None) -> Any:
        """``/feed/live/diffPatch``: ``[]`` when nothing changed between the states of ``start`` and
        ``end`` (default: now), ``[{"diff": ops}]`` otherwise, or the full feed at ``end`` when
        ``start`` is more than :data:`MAX_PATCH_SPAN` s of game time older (as MLB reportedly does).
        Raises like :meth:`state_index`."""
        a = self.state_index(pk, start)
        b = self.state_index(pk, end)
        tl = self.get(pk).timeline
        if a == b:
            return []
        if a > b or tl.times[b] - tl.times[a] > MAX_PATCH_SPAN:
            return self.feed(pk, b)
        return [{"diff": json_diff(self.feed(pk, a), self.feed(pk, b))}]

    # ------------------------------------------------------------------ other endpoints

    def linescore(self, pk: int) -> JSON:
        """``/game/{pk}/linescore`` now: the recorded response once final (if recorded), else the
        feed's ``liveData.linescore`` (derived from the final feed when no file was recorded)."""
        game = self.get(pk)
        index = self.state_index(pk)
        revised = game.timeline.feed_override(index)
        if revised is not None:
            return {"copyright": self.copyright, **revised["liveData"]["linescore"]}
        if game.timeline.states[index].phase == "final" and game.game.linescore is not None:
            return game.game.linescore
        return {"copyright": self.copyright, **self.feed(pk, index)["liveData"]["linescore"]}

    def boxscore(self, pk: int) -> JSON:
        """``/game/{pk}/boxscore``: the recorded response once final (if recorded), else the feed's
        ``liveData.boxscore`` (which holds the final values at every state: a known gap)."""
        game = self.get(pk)
        index = self.state_index(pk)
        revised = game.timeline.feed_override(index)
        if revised is not None:
            return {"copyright": self.copyright, **revised["liveData"]["boxscore"]}
        if game.timeline.states[index].phase == "final" and game.game.boxscore is not None:
            return game.game.boxscore
        return {"copyright": self.copyright, **self.feed(pk, index)["liveData"]["boxscore"]}

    def schedule_entry(self, game: ReplayedGame) -> JSON:
        """The game's ``dates[].games[]`` entry at the current virtual time (relocated dates)."""
        tl = game.timeline
        index = game.index_at(self.now())
        state = tl.states[index]
        gd = game.game.feed["gameData"]
        info = gd.get("game", {})
        template = game.game.schedule_entry or {}
        teams: JSON = {}
        score: JSON = {}
        if state.phase in ("live", "final"):
            score = self.feed(game.game_pk, index)["liveData"]["linescore"].get("teams", {})
        for side in ("away", "home"):
            team = gd["teams"][side]
            record = dict(team.get("record", {}).get("leagueRecord", {}))
            record.pop("ties", None)
            entry: JSON = {"team": tl.team_ref(side), "leagueRecord": record}
            if side in score and "runs" in score[side]:
                entry["score"] = score[side]["runs"]
            if state.phase == "final":
                other = score.get("home" if side == "away" else "away", {}).get("runs", 0)
                entry["isWinner"] = entry.get("score", 0) > other
            entry["splitSquad"] = False
            if "seriesNumber" in template.get("teams", {}).get(side, {}):
                entry["seriesNumber"] = template["teams"][side]["seriesNumber"]
            teams[side] = entry
        out: JSON = {"gamePk": game.game_pk}
        if "gameGuid" in template:
            out["gameGuid"] = template["gameGuid"]
        venue = gd.get("venue", {})
        out.update(
            link=f"/api/v1.1/game/{game.game_pk}/feed/live",
            gameType=info.get("type", "R"),
            season=str(info.get("season", "")),
            gameDate=iso_z(game.replay_first_pitch),
            officialDate=self.replay_day,
            status=status_of(tl, state),
            teams=teams,
            venue={"id": venue.get("id"), "name": venue.get("name"), "link": venue.get("link")},
            content={"link": f"/api/v1/game/{game.game_pk}/content"},
        )
        if state.phase == "final":
            out["isTie"] = False
        out.update(
            gameNumber=info.get("gameNumber", 1),
            publicFacing=True,
            doubleHeader=info.get("doubleHeader", "N"),
            gamedayType=info.get("gamedayType", "P"),
            tiebreaker=info.get("tiebreaker", "N"),
            calendarEventID=info.get("calendarEventID", ""),
            seasonDisplay=str(info.get("seasonDisplay", info.get("season", ""))),
            dayNight=gd.get("datetime", {}).get("dayNight", "day"),
            scheduledInnings=game.game.feed["liveData"]["linescore"].get("scheduledInnings", 9),
            reverseHomeAwayStatus=False,
            inningBreakLength=template.get("inningBreakLength", 120),
        )
        for key in ("gamesInSeries", "seriesGameNumber"):
            if key in template:
                out[key] = template[key]
        out["seriesDescription"] = template.get(
            "seriesDescription", "Regular Season" if info.get("type", "R") == "R" else ""
        )
        out.update(recordSource="S", ifNecessary="N", ifNecessaryDescription="Normal Game")
        return out

    def schedule(
        self,
        dates: tuple[str, str] | None = None,
        game_pks: set[int] | None = None,
        team_ids: set[int] | None = None,
    ) -> JSON:
        """A ``/api/v1/schedule`` response for the dates ``(start, end)`` (inclusive, ``YYYY-MM-DD``;
        ``None``: the replay day), filtered by gamePk and team id when given."""
        start, end = dates or (self.replay_day, self.replay_day)
        entries = []
        if start <= self.replay_day <= end:
            for game in sorted(self.games.values(), key=lambda g: (g.replay_first_pitch, g.game_pk)):
                if game_pks and game.game_pk not in game_pks:
                    continue
                if team_ids and not team_ids & set(game.timeline.team_ids.values()):
                    continue
                entries.append(self.schedule_entry(game))
        live = sum(1 for e in entries if e["status"]["abstractGameState"] == "Live")
        totals = {"totalItems": len(entries), "totalEvents": 0, "totalGames": len(entries),
                  "totalGamesInProgress": live}  # fmt: skip
        day = [{"date": self.replay_day, **totals, "games": entries, "events": []}] if entries else []
        return {"copyright": self.copyright, **totals, "dates": day}

    def people(self, ids: list[int]) -> list[JSON]:
        """Person objects: recorded ``/people`` responses first, else ``gameData.players`` of a game."""
        out = []
        for pid in ids:
            person = self.recordings.people.get(pid)
            if person is None:
                for game in self.games.values():
                    person = game.game.feed["gameData"].get("players", {}).get(f"ID{pid}")
                    if person is not None:
                        break
            if person is not None:
                out.append(person)
        return out

    def teams(self, season: str | None = None) -> JSON:
        """A ``/api/v1/teams`` response: the recorded one of ``season`` (else the newest recorded),
        or, with none recorded, the teams of the replayed games from their ``gameData``."""
        recorded = self.recordings.teams
        for resp in recorded:
            if season and any(str(t.get("season")) == season for t in resp.get("teams", [])):
                return resp
        if recorded:
            return recorded[0]
        seen: dict[int, JSON] = {}
        for game in self.games.values():
            for side in ("away", "home"):
                team = game.game.feed["gameData"]["teams"][side]
                seen.setdefault(int(team["id"]), team)
        return {"copyright": self.copyright, "teams": [seen[k] for k in sorted(seen)]}

    def status(self) -> JSON:
        """What ``/standin/status`` shows: the clock, every game's state, the games not replayed."""
        now = self.now()
        games = []
        for game in sorted(self.games.values(), key=lambda g: (g.replay_first_pitch, g.game_pk)):
            index = game.index_at(now)
            state = game.timeline.states[index]
            games.append(
                {
                    "gamePk": game.game_pk,
                    "away": game.game.away_name,
                    "home": game.game.home_name,
                    "originalDate": game.game.official_date,
                    "replayFirstPitch": iso_z(game.replay_first_pitch),
                    "state": status_of(game.timeline, state)["detailedState"],
                    "timecode": game.timeline.timecodes[index],
                    "plays": state.plays,
                    **({"stalled": True} if game.stalled_at is not None else {}),
                    "source": str(game.game.source),
                    **({"cloneOf": self.clone_of[game.game_pk]} if game.game_pk in self.clone_of else {}),
                }
            )
        return {
            "now": iso_z(now),
            "speed": self.clock.speed,
            "originEpoch": self.clock.origin_real,
            "replayDay": self.replay_day,
            "games": games,
            "notReplayed": [
                {"gamePk": pk, "reason": why} for pk, why in sorted(self.recordings.not_replayed.items())
            ],
        }
