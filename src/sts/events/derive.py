"""Deriving game events from live-feed snapshots (pure, no I/O).

``derive_events(previous, current)`` returns the events that ``current`` states and ``previous`` did not.
Events are derived from the FACTS in a snapshot, never from which snapshots happened to be observed:

- ``GameInfo``       when first seen, or when its content (teams, venue, date, players…) changes
- ``Pitch``          one per playEvent with ``isPitch`` (key: atBatIndex, playEvent index)
- ``Substitution``   one per substitution action (key: atBatIndex, playEvent index)
- ``PlayCompleted``  one per play with ``about.isComplete`` (key: atBatIndex)
- ``PlayRevised``    when a play complete in ``previous`` and ``current`` changed its result, review,
  runners or credits (key: atBatIndex; content: the changes), right after its new ``PlayCompleted``.
  Like ``GameStatusChanged`` it is about a transition between two snapshots, so it is not part of
  the union property below
- ``ScoreChanged``   one per completed play whose result score differs from the play before it
- ``GameStatusChanged`` when the status (abstract, coded, detailed) differs from ``previous``
  (keyed by status and timecode: a transition that happens twice gets two ids)
- ``GameFinal``      when the game is Final and its final content (score, box, decisions) is new

So the union of the events derived over any sequence of snapshots of a game holds the same
Pitch / PlayCompleted / ScoreChanged / Substitution ids as deriving from the last snapshot alone.

Ids are deterministic: ``uuid5(NAMESPACE, "{game_pk}/{type}/{natural key}/{content hash}")`` where the
content is the payload without ``event_id`` and ``timecode``. The same fact gives the same id; a revised
fact (a play rewritten after a challenge) gives a new id.

Order: GameInfo first, then per play in game order its substitutions and pitches (by event index),
PlayCompleted and ScoreChanged, then GameStatusChanged and GameFinal.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

from sts.domain import feed as F
from sts.domain.game import game_final_record, game_info_record, team_ids
from sts.domain.plays import (
    is_substitution,
    play_event_record,
    play_position,
    play_record,
    substitution_record,
)
from sts.domain.review import review_record
from sts.events.model import GameEvent
from sts.events.revisions import is_complete, play_changes, revision_kind

NAMESPACE = uuid.UUID("6d1f3a52-5c1e-4f0b-9b59-5b1f0c2d7a10")
"""Namespace of every STS event id (never change it: ids would change)."""

GAME_INFO = "GameInfo"
GAME_STATUS_CHANGED = "GameStatusChanged"
PITCH = "Pitch"
PLAY_COMPLETED = "PlayCompleted"
SCORE_CHANGED = "ScoreChanged"
SUBSTITUTION = "Substitution"
GAME_FINAL = "GameFinal"
PLAY_REVISED = "PlayRevised"
EVENT_TYPES = (
    GAME_INFO, PITCH, SUBSTITUTION, PLAY_COMPLETED, PLAY_REVISED, SCORE_CHANGED,
    GAME_STATUS_CHANGED, GAME_FINAL,
)  # fmt: skip


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def digest(content: Any) -> str:
    """Hash of a JSON-able value. Records are built with a fixed key order, so no key sorting."""
    return hashlib.blake2b(_encode(content).encode(), digest_size=16).hexdigest()


def event_id(game_pk: int, event_type: str, natural_key: str, content_digest: str) -> str:
    """The deterministic id of an event whose content (payload without id and timecode) hashes to
    ``content_digest``."""
    return str(uuid.uuid5(NAMESPACE, f"{game_pk}/{event_type}/{natural_key}/{content_digest}"))


def make_event(
    game_pk: int,
    event_type: str,
    natural_key: str,
    timecode: str | None,
    fields: dict[str, Any],
    content_digest: str | None = None,
) -> GameEvent:
    """A :class:`GameEvent` whose payload is the common fields followed by ``fields``.

    ``content_digest`` may be given when the caller can hash ``fields`` more cheaply (from the digests
    of its parts); it must change whenever ``fields`` changes.
    """
    eid = event_id(game_pk, event_type, natural_key, content_digest or digest(fields))
    payload = {"event_id": eid, "game_pk": game_pk, "timecode": timecode, **fields}
    return GameEvent(event_type=event_type, event_id=eid, game_pk=game_pk, payload=payload)


class _Ctx:
    """What every event of one snapshot shares."""

    def __init__(self, feed: F.Json, game_pk: int) -> None:
        self.game_pk = game_pk
        self.timecode = F.timecode(feed)
        self.away_id, self.home_id = team_ids(feed)

    def event(
        self, event_type: str, natural_key: str, fields: dict[str, Any], content_digest: str | None = None
    ) -> GameEvent:
        return make_event(self.game_pk, event_type, natural_key, self.timecode, fields, content_digest)

    def sides(self, play: F.Json) -> tuple[int | None, int | None]:
        """``(batting team, fielding team)`` of the play's half inning."""
        top = F.dig(play, "about", "isTopInning")
        if top is None:
            top = F.dig(play, "about", "halfInning") == "top"
        return (self.away_id, self.home_id) if top else (self.home_id, self.away_id)


def _play_events(ctx: _Ctx, play: F.Json, abi: int) -> Iterator[GameEvent]:
    """Substitution and Pitch events of a play (any state), then PlayCompleted if it is complete."""
    pos = play_position(play, abi)
    pos_digest = digest(pos)
    records, digests = [], []
    for idx, ev in F.play_events(play):
        rec = play_event_record(idx, ev)
        rec_digest = digest(rec)
        records.append(rec)
        digests.append(rec_digest)
        if is_substitution(ev):
            sub = substitution_record(ev, idx, ctx.sides(play))
            yield ctx.event(SUBSTITUTION, f"{abi}/{idx}", {**pos, **sub})
        if ev.get("isPitch") is True:
            # the review fields (Pitch v2) need no digest of their own: reviewDetails is in rec's extra
            fields = {**pos, **rec, **review_record(ev)}
            yield ctx.event(PITCH, f"{abi}/{idx}", fields, digest((pos_digest, rec_digest)))
    if F.dig(play, "about", "isComplete") is True:
        rec = play_record(play, abi, records)
        content = digest({**rec, "play_events": digests})
        yield ctx.event(PLAY_COMPLETED, str(abi), rec, content)


def _revision_event(
    ctx: _Ctx, old: F.Json, play: F.Json, abi: int, play_events: list[GameEvent]
) -> GameEvent | None:
    """``PlayRevised`` when a play complete in both snapshots changed what it says happened
    (:mod:`sts.events.revisions`). Its id hashes the changes (old and new values): the same revision
    seen again gives the same id."""
    if not (is_complete(old) and is_complete(play)):
        return None
    changes = play_changes(old, play)
    if not changes:
        return None
    fields = {
        "at_bat_index": abi,
        "inning": F.as_int(F.dig(play, "about", "inning")),
        "half_inning": F.as_str(F.dig(play, "about", "halfInning")),
        "batter_id": F.person_id(F.dig(play, "matchup", "batter")),
        "pitcher_id": F.person_id(F.dig(play, "matchup", "pitcher")),
        "kind": revision_kind(changes),
        "play_event_id": next((e.event_id for e in play_events if e.event_type == PLAY_COMPLETED), None),
        "changes": changes,
    }
    return ctx.event(PLAY_REVISED, str(abi), fields)


def _score_events(ctx: _Ctx, plays: list[tuple[int, F.Json]]) -> dict[int, GameEvent]:
    """ScoreChanged per completed play whose result score differs from the last completed play's."""
    out: dict[int, GameEvent] = {}
    away = home = 0
    for abi, play in plays:
        if F.dig(play, "about", "isComplete") is not True:
            continue
        result = F.as_dict(play.get("result"))
        a, h = F.as_int(result.get("awayScore")), F.as_int(result.get("homeScore"))
        if a is None or h is None:
            continue
        if (a, h) != (away, home):
            fields = {
                **play_position(play, abi),
                "batting_team_id": ctx.sides(play)[0],
                "away_score": a,
                "home_score": h,
                "previous_away_score": away,
                "previous_home_score": home,
                "runs": (a - away) + (h - home),
                "rbi": F.as_int(result.get("rbi")),
                "event": F.as_str(result.get("event")),
                "event_type": F.as_str(result.get("eventType")),
                "description": F.as_str(result.get("description")),
                "scorer_ids": [
                    rid
                    for r in F.as_list(play.get("runners"))
                    if F.dig(r, "details", "isScoringEvent") is True
                    and (rid := F.person_id(F.dig(r, "details", "runner"))) is not None
                ],
            }
            out[abi] = ctx.event(SCORE_CHANGED, str(abi), fields)
        away, home = a, h
    return out


def _indexed_plays(feed: F.Json) -> list[tuple[int, F.Json]]:
    return [(F.play_index(p, i), p) for i, p in enumerate(F.all_plays(feed))]


_STATUS_KNOWN = ("abstractGameState", "codedGameState", "detailedState", "statusCode")


def _status_event(ctx: _Ctx, current: F.Json, previous: F.Json | None) -> GameEvent | None:
    abstract, coded, detailed, code = F.status(current)
    prev = F.status(previous) if previous is not None else (None, None, None, None)
    if previous is not None and prev[:3] == (abstract, coded, detailed):
        return None
    st = F.as_dict(F.dig(current, "gameData", "status"))
    fields = {
        "abstract_state": abstract,
        "coded_state": coded,
        "detailed_state": detailed,
        "status_code": code,
        "previous_abstract_state": prev[0],
        "previous_coded_state": prev[1],
        "previous_detailed_state": prev[2],
        "extra": F.extra_json({"status": F.leftovers(st, _STATUS_KNOWN)}),
    }
    # A status change is an observation, not a fact of the game: the same transition can happen twice
    # (Live → Delayed → Live → Delayed → Live), so its key holds the snapshot's timecode too.
    return ctx.event(GAME_STATUS_CHANGED, f"{abstract}/{coded}/{detailed}/{ctx.timecode}", fields)


_INFO_SECTIONS = (
    "game", "datetime", "venue", "teams", "players", "officialVenue", "officialScorer", "primaryDatacaster",
)  # fmt: skip
_FINAL_SECTIONS = ("status", "weather", "gameInfo", "flags", "teams")


def _info_inputs(feed: F.Json) -> list[Any]:
    """The parts of a feed that :func:`game_info_record` reads."""
    gd = F.as_dict(feed.get("gameData"))
    return [gd.get(k) for k in _INFO_SECTIONS] + [F.dig(feed, "liveData", "linescore", "scheduledInnings")]


def _final_inputs(feed: F.Json) -> list[Any]:
    """The parts of a feed that :func:`game_final_record` reads."""
    gd, ld = F.as_dict(feed.get("gameData")), F.as_dict(feed.get("liveData"))
    return [gd.get(k) for k in _FINAL_SECTIONS] + [ld.get(k) for k in ("linescore", "boxscore", "decisions")]


def derive_events(previous: dict[str, Any] | None, current: dict[str, Any]) -> list[GameEvent]:
    """The events ``current`` states that ``previous`` (the last validated snapshot of the same game,
    or ``None``) did not. With ``previous=None`` every event of ``current`` is returned.

    Both are live feeds (a recorded envelope ``{"response": feed}`` is unwrapped). Pure and
    deterministic: the same arguments always give the same list. Raises ``ValueError`` only when
    ``current`` has no gamePk.
    """
    cur = F.unwrap(current)
    prev = F.unwrap(previous) if previous is not None else None
    pk = F.game_pk(cur)
    if pk is None:
        raise ValueError("the snapshot has no gamePk")
    if prev is not None and F.game_pk(prev) != pk:
        prev = None  # a snapshot of another game tells nothing about this one
    ctx = _Ctx(cur, pk)
    pctx = _Ctx(prev, pk) if prev is not None else None
    out: list[GameEvent] = []

    # cheap shortcuts first: when the sections a record is built from are equal, so is the record
    if pctx is None or prev is None or _info_inputs(prev) != _info_inputs(cur):
        info = ctx.event(GAME_INFO, "", game_info_record(cur))
        old_info = pctx.event(GAME_INFO, "", game_info_record(prev)) if pctx and prev else None
        if old_info is None or old_info.event_id != info.event_id:
            out.append(info)

    plays = _indexed_plays(cur)
    prev_plays = dict(_indexed_plays(prev)) if prev is not None else {}
    scores = _score_events(ctx, plays)
    old_scores = (
        {e.event_id for e in _score_events(pctx, list(prev_plays.items())).values()} if pctx else set()
    )
    for abi, play in plays:
        old = prev_plays.get(abi)
        if old is not None and old == play and pctx is not None and pctx.sides(old) == ctx.sides(play):
            play_events: list[GameEvent] = []  # unchanged play: everything it states was derived before
        else:
            play_events = list(_play_events(ctx, play, abi))
            if old is not None and pctx is not None:
                seen = {e.event_id for e in _play_events(pctx, old, abi)}
                play_events = [e for e in play_events if e.event_id not in seen]
        out.extend(play_events)
        if old is not None and play_events:
            revised = _revision_event(ctx, old, play, abi, play_events)
            if revised is not None:
                out.append(revised)
        score = scores.get(abi)
        if score is not None and score.event_id not in old_scores:
            out.append(score)

    status = _status_event(ctx, cur, prev)
    if status is not None:
        out.append(status)
    if F.is_final(cur):
        was_final = pctx is not None and prev is not None and F.is_final(prev)
        if not was_final or _final_inputs(prev or {}) != _final_inputs(cur):
            final = ctx.event(GAME_FINAL, "", game_final_record(cur))
            old_final = (
                pctx.event(GAME_FINAL, "", game_final_record(prev)) if was_final and pctx and prev else None
            )
            if old_final is None or old_final.event_id != final.event_id:
                out.append(final)
    return out
