"""Find recorded MLB Stats API responses in a directory tree and index them by what they are.

Two layouts are understood, mixed freely and at any depth:

- plain response files (``feed_live_717055.json``, ``boxscore_744914.json``, ``teams.json`` …);
- recorded-call envelopes ``{endpoint, method, path_params, query_params, url, status_code,
  response}`` (``*.stub.json``), whose ``response`` is the payload.

A payload is classified by its *content*, never by its file name alone: a GUMBO feed has
``gameData`` and ``liveData`` and is final when ``gameData.status.abstractGameState == "Final"``;
a boxscore has ``teams``/``officials``/``info``; a linescore has ``innings`` and ``defense``;
``people``, ``teams`` and ``dates`` (schedule) responses by their list key. Boxscores and linescores
carry no gamePk, so theirs comes from the envelope (``path_params``/``url``) or the file name.

:func:`scan_recordings` never raises for a bad file: unreadable or unrecognised files are listed
in :attr:`Recordings.skipped` with the reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JSON = dict[str, Any]

_PK_IN_NAME = re.compile(r"(?<!\d)(\d{6})(?!\d)")
_PK_IN_URL = re.compile(r"/game/(\d+)/")


@dataclass
class RecordedGame:
    """One game that can be replayed: its final feed and the other recorded responses about it."""

    game_pk: int
    feed: JSON
    source: Path
    boxscore: JSON | None = None
    linescore: JSON | None = None
    schedule_entry: JSON | None = None  # the game's entry in a recorded schedule, if any

    @property
    def away_name(self) -> str:
        return str(self.feed["gameData"]["teams"]["away"].get("name", "?"))

    @property
    def home_name(self) -> str:
        return str(self.feed["gameData"]["teams"]["home"].get("name", "?"))

    @property
    def official_date(self) -> str:
        return str(self.feed["gameData"]["datetime"].get("officialDate", "?"))


@dataclass
class Recordings:
    """Everything found under one directory.

    ``games`` maps gamePk to games with a final feed; ``not_replayed`` maps gamePk to the reason a
    game seen in the recordings cannot be replayed; ``skipped`` lists ``(file, reason)`` of files
    that were not used; ``people`` maps person id to a person object; ``teams`` holds ``/teams``
    responses (newest season first).
    """

    root: Path
    games: dict[int, RecordedGame] = field(default_factory=dict)
    not_replayed: dict[int, str] = field(default_factory=dict)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    people: dict[int, JSON] = field(default_factory=dict)
    teams: list[JSON] = field(default_factory=list)
    schedules: list[JSON] = field(default_factory=list)


def _kind(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    if "gameData" in payload and "liveData" in payload:
        return "feed"
    if "dates" in payload:
        return "schedule"
    if isinstance(payload.get("people"), list):
        return "people"
    teams = payload.get("teams")
    if isinstance(teams, list):
        return "teams" if all(isinstance(t, dict) and "id" in t and "name" in t for t in teams) else None
    if isinstance(teams, dict) and "officials" in payload and "info" in payload:
        return "boxscore"
    if "innings" in payload and "defense" in payload and "teams" in payload:
        return "linescore"
    return None


def _pk_of(path: Path, envelope: JSON | None) -> int | None:
    if envelope is not None:
        params = envelope.get("path_params") or {}
        for key in ("game_pk", "gamePk", "gamepk"):
            if str(params.get(key, "")).isdigit():
                return int(params[key])
        m = _PK_IN_URL.search(str(envelope.get("url", "")))
        if m:
            return int(m.group(1))
    m = _PK_IN_NAME.search(path.name)
    return int(m.group(1)) if m else None


def _status(feed: JSON) -> JSON:
    status = feed.get("gameData", {}).get("status", {})
    return status if isinstance(status, dict) else {}


def _feed_problem(feed: JSON) -> str | None:
    """Why a final feed cannot be replayed (``None``: it can)."""
    plays = feed.get("liveData", {}).get("plays", {}).get("allPlays")
    if not isinstance(plays, list) or not plays:
        return "final feed has no plays"
    for play in plays:
        about = play.get("about", {})
        if not about.get("startTime") or not about.get("endTime"):
            return f"play {about.get('atBatIndex')} has no startTime/endTime"
    return None


def scan_recordings(root: Path) -> Recordings:
    """Read every ``*.json`` under ``root`` (recursively) and index what it holds."""
    rec = Recordings(root=root)
    in_progress: dict[int, list[str]] = {}
    boxscores: dict[int, JSON] = {}
    linescores: dict[int, JSON] = {}
    for path in sorted(p for p in root.rglob("*.json") if p.is_file()):
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            rec.skipped.append((path, f"not readable JSON: {exc}"))
            continue
        envelope: JSON | None = None
        if isinstance(data, dict) and "response" in data and ("url" in data or "endpoint" in data):
            envelope = data
            if int(data.get("status_code") or 200) != 200:
                rec.skipped.append((path, f"recorded call answered HTTP {data.get('status_code')}"))
                continue
            data = data["response"]
        kind = _kind(data)
        if kind is None:
            rec.skipped.append((path, "not a response the stand-in serves"))
            continue
        if kind == "feed":
            pk = data.get("gamePk") or data["gameData"].get("game", {}).get("pk")
            if not isinstance(pk, int):
                rec.skipped.append((path, "feed without gamePk"))
                continue
            status = _status(data)
            if status.get("abstractGameState") != "Final":
                stamp = data.get("metaData", {}).get("timeStamp", "?")
                in_progress.setdefault(pk, []).append(f"{status.get('detailedState', '?')} at {stamp}")
                continue
            problem = _feed_problem(data)
            if problem is not None:
                rec.skipped.append((path, problem))
                continue
            old = rec.games.get(pk)
            stamp = str(data.get("metaData", {}).get("timeStamp", ""))
            if old is None or stamp > str(old.feed.get("metaData", {}).get("timeStamp", "")):
                rec.games[pk] = RecordedGame(game_pk=pk, feed=data, source=path)
        elif kind in ("boxscore", "linescore"):
            pk = _pk_of(path, envelope)
            if pk is None:
                rec.skipped.append((path, f"{kind} without a gamePk in its envelope or file name"))
                continue
            (boxscores if kind == "boxscore" else linescores)[pk] = data
        elif kind == "people":
            for person in data["people"]:
                if isinstance(person, dict) and isinstance(person.get("id"), int):
                    rec.people[person["id"]] = person
        elif kind == "teams":
            rec.teams.append(data)
        else:
            rec.schedules.append(data)
    for pk, game in rec.games.items():
        game.boxscore = boxscores.get(pk)
        game.linescore = linescores.get(pk)
    for schedule in rec.schedules:
        for day in schedule.get("dates", []):
            for entry in day.get("games", []):
                found = rec.games.get(entry.get("gamePk"))
                if found is not None and found.schedule_entry is None:
                    found.schedule_entry = entry
    for pk, states in in_progress.items():
        if pk not in rec.games:
            rec.not_replayed[pk] = (
                f"no final feed recorded, only in-progress feeds ({'; '.join(sorted(states))}); "
                "a replay is synthesized from the final feed"
            )
    for pk in sorted(set(boxscores) | set(linescores)):
        if pk not in rec.games and pk not in rec.not_replayed:
            rec.not_replayed[pk] = "only a boxscore/linescore recorded, no feed"
    rec.teams.sort(key=_teams_season, reverse=True)
    return rec


def _teams_season(resp: JSON) -> str:
    return max((str(t.get("season", "")) for t in resp.get("teams", [])), default="")
