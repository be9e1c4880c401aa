"""Incremental fetching of live feeds: RFC 6902 patches on the last validated state, full feed as fallback.

:class:`FeedFetcher` turns "give me game G now" into a :class:`~sts.services.ingest.Snapshot` for the
ingestor, downloading as little as it can:

- It keeps, per game, the last state it validated (the serialized document and its timecode), in
  memory; after a restart the first state is read from ``mlb-current`` in the object store (what the
  ingestor last stored).
- With a state in hand, and the game not Final, it asks ``feed/live/diffPatch?startTimecode=<ours>``:

  ====================  ===================================================================
  answer                what happens
  ====================  ===================================================================
  ``[]``                nothing changed: the state in hand is offered again (the ingestor
                        says "unchanged"; no new snapshot is stored)
  ``[{"diff": ops}…]``  the ops are applied in order (``add remove replace move copy test``)
                        to a copy of the state; the result is checked (same ``gamePk``,
                        required keys of :data:`~sts.services.ingest.REQUIRED_PATHS`,
                        timecode strictly later than ours) and becomes the new state
  a full feed           MLB's answer when the start timecode is too old: used as it is
                        (no second download) if it passes the same checks (its timecode
                        may equal ours); counted as fallback ``full_feed``
  ====================  ===================================================================

- It falls back to a full ``feed/live`` fetch, counted in ``sts_fetch_fallbacks_total{reason}``, when:
  there is no state yet (``no_base``), the server does not know our state (``gap``: a state read back
  from the store whose timecode is not among the server's ``feed/live/timestamps`` — checked once per
  game after a restart — or a 4xx answer to the diffPatch request), the answer is not JSON or of an
  unknown shape (``bad_response``), the ops do not apply (``patch_failed``), or the patched document
  fails a check (``wrong_game``, ``missing_keys``, ``bad_timecode``, ``timecode_not_forward``).
  A Final game is always fetched whole (a post-final revision is rare and may rewrite anything).
- Raw bytes: a state built from patches is stored as the compact JSON serialization of the patched
  document (:func:`dumps`, UTF-8, no spaces; key order as patched), with the diffPatch URL as its
  source; a full feed is stored exactly as received. What the wire delivered stays measurable apart:
  ``sts_fetch_bytes_total{kind}`` and ``sts_fetch_requests_total{kind}`` (kind = ``full``, ``patch``,
  ``timestamps``) and the same figures per fetcher in :attr:`FeedFetcher.stats`.
- The global request budget is the client's: :class:`~sts.adapters.mlb_client.MLBClient` takes a token
  before every attempt it sends, so every request made here (diffPatch, timestamps, full feed) spends it.
- Upstream errors other than the 4xx above (:class:`~sts.errors.UpstreamUnavailable`, 5xx after the
  client's retries) propagate, as they do in full mode: the scheduler logs them and polls again.

``mode="full"`` turns all of this off: every fetch is one ``feed/live`` request (the pre-issue-5
behaviour, setting ``fetch_mode = "full"``).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonpatch
import jsonpointer
import structlog

from sts import metrics
from sts.adapters.mlb_client import FetchedFeed, MLBClient
from sts.errors import ObjectNotFound, UpstreamDataError, UpstreamStatusError
from sts.ports import BUCKET_CURRENT, ObjectStore
from sts.services.ingest import REQUIRED_PATHS, Snapshot

log = structlog.get_logger(__name__)

FetchMode = Literal["incremental", "full"]
FETCH_MODES: tuple[FetchMode, ...] = ("incremental", "full")


def dumps(doc: Any) -> bytes:
    """The bytes stored for a patched state: compact UTF-8 JSON (what the stand-in serves, too)."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


class PatchRejected(Exception):
    """A diffPatch answer that cannot be used: ``reason`` is the fallback label, ``detail`` says why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _dig(doc: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def apply_patches(base: bytes | dict[str, Any], patches: list[Any]) -> dict[str, Any]:
    """Apply a diffPatch answer (``[{"diff": [ops]}, …]``, in order) to a copy of ``base``.

    ``base`` is the serialized state (parsed afresh, so nothing shared is mutated) or a document
    (deep-copied). Raises :class:`PatchRejected` (``patch_failed``) when an op does not apply."""
    doc: Any = json.loads(base) if isinstance(base, bytes) else json.loads(dumps(base))
    try:
        for i, item in enumerate(patches):
            ops = item.get("diff") if isinstance(item, dict) else None
            if not isinstance(ops, list):
                raise PatchRejected("patch_failed", f"patch {i} has no 'diff' list")
            doc = jsonpatch.apply_patch(doc, ops, in_place=True)
    except PatchRejected:
        raise
    except (
        jsonpatch.JsonPatchException,
        jsonpointer.JsonPointerException,
        KeyError,
        IndexError,
        TypeError,
        ValueError,
    ) as exc:
        raise PatchRejected("patch_failed", f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(doc, dict):
        raise PatchRejected("patch_failed", f"the patched document is a {type(doc).__name__}, not an object")
    return doc


def check_state(game_pk: int, doc: Any, previous_timecode: str | None, *, strictly_later: bool) -> str:
    """Check a document as the ingestor will, and that its timecode moves forward; return the timecode.

    Raises :class:`PatchRejected` with reason ``wrong_game``, ``missing_keys``, ``bad_timecode`` or
    ``timecode_not_forward`` (later than ``previous_timecode``, or not earlier when not ``strictly_later``).
    """
    if not isinstance(doc, dict):
        raise PatchRejected("missing_keys", f"top level is {type(doc).__name__}, not an object")
    if doc.get("gamePk") != game_pk:
        raise PatchRejected("wrong_game", f"asked for gamePk {game_pk}, got {doc.get('gamePk')!r}")
    missing = [".".join(p) for p in REQUIRED_PATHS if _dig(doc, p) is None]
    if missing:
        raise PatchRejected("missing_keys", "missing " + ", ".join(missing))
    timecode = doc["metaData"]["timeStamp"]
    if not isinstance(timecode, str) or len(timecode) < 15:
        raise PatchRejected("bad_timecode", f"metaData.timeStamp {timecode!r} is not yyyymmdd_HHMMSS")
    if previous_timecode is not None and (
        timecode < previous_timecode or (strictly_later and timecode == previous_timecode)
    ):
        raise PatchRejected(
            "timecode_not_forward", f"timecode {timecode} does not move forward from {previous_timecode}"
        )
    return timecode


@dataclass
class _State:
    raw: bytes
    timecode: str
    status: str | None
    verified: bool  # known to come from this server in this process (else: check /timestamps once)


@dataclass
class FetchStats:
    """What one fetcher did: requests and bytes received by kind, fallbacks by reason, states built."""

    requests: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    fallbacks: dict[str, int] = field(default_factory=dict)
    fetches: int = 0  # calls of fetch() (polls)
    patched: int = 0  # states built by applying patches
    unchanged: int = 0  # empty diffPatch answers

    def count(self, kind: str, nbytes: int) -> None:
        self.requests[kind] = self.requests.get(kind, 0) + 1
        self.bytes[kind] = self.bytes.get(kind, 0) + nbytes
        metrics.FETCH_REQUESTS.labels(kind).inc()
        metrics.FETCH_BYTES.labels(kind).inc(nbytes)

    def fallback(self, reason: str) -> None:
        self.fallbacks[reason] = self.fallbacks.get(reason, 0) + 1
        metrics.FETCH_FALLBACKS.labels(reason).inc()

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


class FeedFetcher:
    """Fetches live feeds for the scheduler (see the module doc); one instance per pipeline."""

    def __init__(
        self,
        client: MLBClient,
        store: ObjectStore | None = None,
        *,
        mode: FetchMode = "incremental",
    ) -> None:
        if mode not in FETCH_MODES:
            raise ValueError(f"fetch mode must be one of {', '.join(FETCH_MODES)}, not {mode!r}")
        self._client = client
        self._store = store
        self.mode: FetchMode = mode
        self._states: dict[int, _State] = {}
        self._seeded: set[int] = set()
        self.stats = FetchStats()

    def timecode(self, game_pk: int) -> str | None:
        state = self._states.get(game_pk)
        return None if state is None else state.timecode

    async def fetch(self, game_pk: int) -> Snapshot:
        """The game's feed now, as a snapshot for the ingestor."""
        self.stats.fetches += 1
        if self.mode == "full":
            return await self._full(game_pk, None)
        state = await self._state(game_pk)
        if state is None:
            return await self._full(game_pk, "no_base")
        if state.status == "Final":
            return await self._full(game_pk, None)
        if not state.verified:
            if not await self._server_knows(game_pk, state.timecode):
                return await self._full(game_pk, "gap")
            state.verified = True
        try:
            answer = await self._client.diff_patch(game_pk, state.timecode)
        except UpstreamStatusError as exc:
            if not 400 <= exc.status < 500:
                raise
            self.stats.count("patch", 0)
            log.info("diffPatch refused, fetching the full feed", game_pk=game_pk, error=str(exc))
            return await self._full(game_pk, "gap")
        self.stats.count("patch", len(answer.body))
        shape = answer.shape
        if shape == "empty":
            self.stats.unchanged += 1
            return Snapshot(game_pk, state.raw, answer.url, answer.fetched_at)
        if shape == "full_feed":
            self.stats.fallback("full_feed")
            try:
                timecode = check_state(game_pk, answer.data, state.timecode, strictly_later=False)
            except PatchRejected as rej:  # e.g. an older feed: ask for the current one
                log.warning("full-feed answer refused", game_pk=game_pk, reason=rej.reason, detail=rej.detail)
                return await self._full(game_pk, rej.reason)
            self._keep(game_pk, _State(answer.raw, timecode, _status(answer.data), verified=True))
            return Snapshot(game_pk, answer.raw, answer.url, answer.fetched_at)
        if shape != "patches":
            why = answer.parse_error or f"unexpected shape of {type(answer.data).__name__}"
            log.warning("unusable diffPatch answer", game_pk=game_pk, reason="bad_response", detail=why)
            return await self._full(game_pk, "bad_response")
        try:  # parsing, patching and serializing a 1 MB feed: off the event loop
            new = await asyncio.to_thread(_patched, game_pk, state, answer.data)
        except PatchRejected as rej:
            log.warning("patched state refused", game_pk=game_pk, reason=rej.reason, detail=rej.detail)
            return await self._full(game_pk, rej.reason)
        self._keep(game_pk, new)
        self.stats.patched += 1
        return Snapshot(game_pk, new.raw, answer.url, answer.fetched_at)

    # ------------------------------------------------------------------ helpers

    def _keep(self, game_pk: int, new: _State) -> None:
        """Make ``new`` the state in hand, unless a concurrent fetch already brought a later one."""
        current = self._states.get(game_pk)
        if current is None or current.timecode <= new.timecode:
            self._states[game_pk] = new

    async def _state(self, game_pk: int) -> _State | None:
        state = self._states.get(game_pk)
        if state is None and game_pk not in self._seeded:
            self._seeded.add(game_pk)
            state = await self._seed(game_pk)
            if state is not None:
                self._states[game_pk] = state
        return state

    async def _seed(self, game_pk: int) -> _State | None:
        """The state stored in ``mlb-current`` (after a restart), unverified; ``None`` if none usable."""
        if self._store is None:
            return None
        try:
            raw = await self._store.get(BUCKET_CURRENT, f"{game_pk}.json")
        except ObjectNotFound:
            return None
        try:
            doc = json.loads(raw)
            timecode = check_state(game_pk, doc, None, strictly_later=False)
        except (ValueError, UnicodeDecodeError, PatchRejected) as exc:
            log.warning("stored current state unusable as a patch base", game_pk=game_pk, error=str(exc))
            return None
        log.info("patch base read from mlb-current", game_pk=game_pk, timecode=timecode)
        return _State(raw, timecode, _status(doc), verified=False)

    async def _server_knows(self, game_pk: int, timecode: str) -> bool:
        """Whether ``timecode`` is one of the server's timecodes of the game (``feed/live/timestamps``)."""
        try:
            timecodes = await self._client.feed_timestamps(game_pk)
        except (UpstreamStatusError, UpstreamDataError) as exc:
            self.stats.count("timestamps", 0)
            log.info("timestamps unavailable", game_pk=game_pk, error=str(exc))
            return False
        # the body is not kept by feed_timestamps: its size is that of the compact JSON array
        self.stats.count("timestamps", len(dumps(timecodes)))
        return timecode in timecodes

    async def _full(self, game_pk: int, reason: str | None) -> Snapshot:
        if reason is not None:
            self.stats.fallback(reason)
        fetched: FetchedFeed = await self._client.feed_live(game_pk)
        self.stats.count("full", len(fetched.body))
        if self.mode == "incremental" and fetched.ok:
            self._adopt(game_pk, fetched.data, fetched.raw, strictly_later=False)
        return Snapshot(game_pk, fetched.raw, fetched.url, fetched.fetched_at)

    def _adopt(self, game_pk: int, doc: Any, raw: bytes, *, strictly_later: bool) -> None:
        """Make a full feed the state in hand if it passes the checks (else keep the current one: the
        ingestor dead-letters the bad feed)."""
        current = self._states.get(game_pk)
        try:
            timecode = check_state(
                game_pk, doc, None if current is None else current.timecode, strictly_later=strictly_later
            )
        except PatchRejected as rej:
            log.info("full feed not adopted as patch base", game_pk=game_pk, reason=rej.reason)
            return
        self._keep(game_pk, _State(raw, timecode, _status(doc), verified=True))


def _patched(game_pk: int, state: _State, patches: list[Any]) -> _State:
    """The state ``patches`` bring ``state`` to, checked (raises :class:`PatchRejected`)."""
    doc = apply_patches(state.raw, patches)
    timecode = check_state(game_pk, doc, state.timecode, strictly_later=True)
    return _State(dumps(doc), timecode, _status(doc), verified=True)


def _status(doc: Any) -> str | None:
    value = _dig(doc, ("gameData", "status", "abstractGameState"))
    return value if isinstance(value, str) else None
