"""The Retrosheet play field (``play,inning,side,batter,count,pitches,EVENT``) parsed into runner moves.

Pure functions, no state: :func:`parse_event` reads one event string such as
``64(1)3/GDP/G6D.3-H(NR)(UR);2-3`` and says what happened to the batter and to the runner on each base,
with the fielders credited on each out and error. It does not know who is on base; the converter
(:mod:`sts.retrosheet.convert`) applies the moves to the game state. Grammar: Retrosheet's event file
specification (``basic[/modifier...][.advance;advance...]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HOME = 4
_BASE = {"B": 0, "1": 1, "2": 2, "3": 3, "H": 4}
_SEGMENT = re.compile(r"([0-9E]+)(?:\(([B123])\))?")
_ADVANCE = re.compile(r"([B123])([-X])([123H])((?:\([^)]*\))*)")
_RUNNING = re.compile(r"(POCS|CS|PO|SB)([123H])(?:\(([^)]*)\))?")
ANNOTATIONS = frozenset({"UR", "TUR", "NR", "NORBI", "RBI", "TH", "WP", "PB", "INT", "AP", "OBS"})


@dataclass
class Move:
    """What happened to one runner (``start`` 0 = the batter) on the play."""

    start: int
    end: int  # 1-3, or 4 = scored; for an out, the base he was put out at or going to
    out: bool = False
    putouts: list[int] = field(default_factory=list)  # fielding positions
    assists: list[int] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (position, "throwing"/"fielding")
    fielded: list[int] = field(default_factory=list)  # first fielder of a hit or fielder's choice
    unearned: bool = False
    team_unearned: bool = False
    rbi: bool | None = None  # None: decided by the event (see :func:`default_rbi`)
    kind: str = ""  # running event for this runner: stolen_base_2b, caught_stealing_3b, wild_pitch...
    explicit: bool = False


@dataclass
class Event:
    """A parsed play field."""

    text: str
    basic: str  # the batter's (or first running) event code: S, D, K, W, E, FC, 63, SB, NP, ...
    event_type: str  # GUMBO result.eventType
    is_pa: bool
    modifiers: list[str]
    moves: dict[int, Move]
    trajectory: str | None = None
    from_catcher: bool = False  # a pickoff thrown by the catcher


def split_outside(text: str, sep: str, maxsplit: int = -1) -> list[str]:
    """``text.split(sep)`` ignoring separators inside parentheses."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0 and (maxsplit < 0 or len(parts) < maxsplit):
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def fielding(seq: str) -> list[tuple[int | None, list[int], list[int], list[tuple[int, str]]]]:
    """A fielding sequence (``64(1)3``, ``8(B)84(2)``, ``2E4``) as ``(runner, putouts, assists, errors)``
    per segment. ``runner`` is the base of the runner put out (0 = batter), ``None`` when an error
    negated the out. ``99`` (unknown play) makes an out with no credits."""
    out: list[tuple[int | None, list[int], list[int], list[tuple[int, str]]]] = []
    previous: str | None = None
    matches = list(_SEGMENT.finditer(seq))
    for i, m in enumerate(matches):
        chars, runner = m.group(1), m.group(2)
        if previous and chars and chars[0] != previous and chars[0] != "E":
            chars = previous + chars  # 64(1)3: the second baseman's relay is not repeated
        base = _BASE[runner] if runner else (0 if i == len(matches) - 1 else None)
        if "E" in chars:
            head, _, tail = chars.partition("E")
            assists = [int(c) for c in head]
            err = [(int(tail[0]), "fielding")] if tail[:1].isdigit() else []
            out.append((None, [], assists, err))
        elif chars == "99":
            out.append((base, [], [], []))
        else:
            digits = [int(c) for c in chars]
            out.append((base, digits[-1:], digits[:-1], []))
        previous = chars[-1] if chars and chars[-1].isdigit() else previous
    return out


def _trajectory(modifiers: list[str]) -> str | None:
    for mod in modifiers:
        for code, name in (("BG", "bunt_grounder"), ("BP", "bunt_popup"), ("BL", "bunt_line_drive")):
            if mod.startswith(code):
                return name
        if mod in ("GDP", "GTP", "FO", "FL", "FINT"):
            continue
        head = mod[:1]
        if head == "G":
            return "ground_ball"
        if head == "L" and not mod.startswith(("LDP", "LTP")):
            return "line_drive"
        if head == "F" and not mod.startswith(("FO", "FL", "FINT")):
            return "fly_ball"
        if head == "P":
            return "popup"
    return None


def _base_name(base: int) -> str:
    return "home" if base == HOME else f"{base}b"


def _running(item: str, moves: dict[int, Move], tail: str) -> bool:
    """SB/CS/PO/POCS/WP/PB/BK/DI/OA/FLE items; returns whether a pickoff came from the catcher."""
    from_catcher = False
    for part in item.split(";"):
        m = _RUNNING.fullmatch(part)
        if m:
            code, target, seq = m.group(1), _BASE[m.group(2)], m.group(3) or ""
            start = target if code == "PO" else target - 1
            kind = {
                "SB": f"stolen_base_{_base_name(target)}",
                "CS": f"caught_stealing_{_base_name(target)}",
                "PO": f"pickoff_{start}b",
                "POCS": f"pickoff_caught_stealing_{_base_name(target)}",
            }[code]
            move = Move(start, target if code != "PO" else start, kind=kind)
            if code != "SB":
                from_catcher = from_catcher or seq.startswith("2")
                credits = fielding(seq) if seq else [(start, [], [], [])]
                move.out = all(c[0] is not None for c in credits)
                if not move.out:
                    # an error negated the out: no SB either (OBR 9.07(h)); kept as a non-out
                    move.kind = f"pickoff_error_{start}b" if code == "PO" else kind
                for _, po, a, err in credits:
                    move.putouts += po
                    move.assists += a
                    move.errors += err
            moves[start] = move
        elif part in ("WP", "PB", "BK", "DI", "OA"):
            continue  # the advances say who moved
        elif part.startswith("E") and part[1:2].isdigit():
            moves.setdefault(0, Move(0, 1)).errors.append((int(part[1]), "fielding"))
    _ = tail
    return from_catcher


RUNNING_TYPES = {
    "WP": "wild_pitch",
    "PB": "passed_ball",
    "BK": "balk",
    "DI": "defensive_indiff",
    "OA": "other_advance",
}


def _running_kind(code: str) -> str:
    return RUNNING_TYPES.get(code, "")


def _advances(text: str, moves: dict[int, Move], default_kind: str) -> None:
    for m in _ADVANCE.finditer(text):
        start, sep, end, parens = _BASE[m.group(1)], m.group(2), _BASE[m.group(3)], m.group(4)
        notes = re.findall(r"\(([^)]*)\)", parens)
        prior = moves.get(start)
        move = Move(start, end, out=sep == "X", explicit=True)
        move.kind = prior.kind if prior and not prior.out else default_kind
        if prior is not None:
            # K+E2.B-1, CS2(2E4).1-3: the credits of the basic play stay with the runner
            move.errors += prior.errors
            move.fielded = prior.fielded
            if prior.errors:
                move.assists += prior.assists
        # 1XH(32)(E5), 1X3(6)(E4): an error in a group of its own let him try; the putout stands
        putout_seen = error_seen = False
        for note in notes:
            head = note.split("/")[0]
            flags = set(note.split("/"))
            if head in ("UR", "TUR"):
                move.unearned = head == "UR"
                move.team_unearned = head == "TUR"
            elif head in ("NR", "NORBI"):
                move.rbi = False
            elif head == "RBI":
                move.rbi = True
            elif head in ("WP", "PB"):
                move.kind = move.kind or RUNNING_TYPES[head]  # SB3.1-2(WP): he went on the wild pitch
            elif head in ANNOTATIONS or not head:
                continue
            elif re.fullmatch(r"[0-9E]+", head):
                for runner, po, a, err in fielding(head):
                    putout_seen = putout_seen or runner is not None
                    error_seen = error_seen or runner is None
                    move.putouts += po
                    move.assists += a
                    move.errors += [(p, "throwing" if "TH" in flags else kind) for p, kind in err]
        if sep == "X" and error_seen and not putout_seen:
            move.out = False  # an error negates the out (2XH(E2), 3XH(6E2): safe)
        if move.out and not (move.putouts or move.assists) and prior is not None and prior.out:
            move.putouts, move.assists = prior.putouts, prior.assists
        if not move.out:
            move.putouts = []
        moves[start] = move


def _event_type(basic: str, mods: list[str], batter_out: bool) -> tuple[str, bool]:
    up = set(mods)
    dp = bool(up & {"DP", "LDP", "GDP", "BGDP", "FDP"})
    tp = bool(up & {"TP", "LTP", "GTP"})
    if basic.startswith("NP"):
        return "no_play", False
    if basic in ("W",) or basic.startswith("W+"):
        return "walk", True
    if basic.startswith(("IW", "I+")) or basic == "I":
        return "intent_walk", True
    if basic.startswith("HP"):
        return "hit_by_pitch", True
    if basic.startswith("K"):
        return ("strikeout_double_play" if dp else "strikeout_triple_play" if tp else "strikeout"), True
    if basic.startswith("DGR") or (
        basic[:1] == "D" and basic[1:2] in ("", "1", "2", "3", "4", "5", "6", "7", "8", "9")
    ):
        return "double", True
    if basic.startswith(("HR", "H")) and not basic.startswith("HP"):
        return "home_run", True
    if basic.startswith("S") and not basic.startswith("SB"):
        return "single", True
    if basic.startswith("T"):
        return "triple", True
    if basic.startswith("C") and not basic.startswith("CS"):
        return "catcher_interf", True
    if basic.startswith("FLE"):
        return "error", False
    if "SH" in up:
        return ("sac_bunt_double_play" if dp else "sac_bunt"), True
    if "SF" in up:
        return ("sac_fly_double_play" if dp else "sac_fly"), True
    if basic.startswith("E"):
        return "field_error", True
    if basic.startswith("FC"):
        return ("fielders_choice_out" if batter_out is False and dp else "fielders_choice"), True
    if basic[:1].isdigit():
        if "GTP" in up:
            return "grounded_into_triple_play", True
        if "GDP" in up:
            return "grounded_into_double_play", True
        if tp:
            return "triple_play", True
        if dp:
            return "double_play", True
        if not batter_out or "FO" in up:
            return "force_out", True
        return "field_out", True
    head = re.match(r"(POCS|CS|PO|SB|WP|PB|BK|DI|OA)", basic)
    if head:
        code = head.group(1)
        name = {
            "POCS": "pickoff_caught_stealing",
            "CS": "caught_stealing",
            "PO": "pickoff",
            "SB": "stolen_base",
        }.get(code) or RUNNING_TYPES[code]
        return name, False
    return "unknown", False


_NO_RBI_TYPES = frozenset({"field_error", "grounded_into_double_play", "grounded_into_triple_play"})


def default_rbi(event: Event, move: Move, outs: int = 0) -> bool:
    """OBR 9.04 as Retrosheet codes it: a run scoring on the batter's hit, out, sacrifice, fielder's
    choice, walk, hit batsman or interference is batted in unless marked ``(NR)``; not on a double play
    he grounded into or on a running event. On an error charged on the batter's event, only the runner
    from third batted in with fewer than two ``outs`` before the play (OBR 9.04(a)(3): he would have
    scored on the out). ``(RBI)`` forces one."""
    if move.rbi is not None:
        return move.rbi
    if not event.is_pa or move.kind or (move.errors and move.start != 0):
        return False
    if event.event_type == "field_error":
        return move.start == 3 and outs < 2
    return event.event_type not in _NO_RBI_TYPES


def parse_event(text: str) -> Event:
    """Parse one play field. Raises ``ValueError`` on a field it cannot read."""
    parts = split_outside(text, ".", 1)
    main, adv = parts[0], parts[1] if len(parts) > 1 else ""
    pieces = split_outside(main, "/")
    basic, mods = pieces[0], [p for p in pieces[1:] if p]
    primary, _, secondary = basic.partition("+")
    moves: dict[int, Move] = {}
    from_catcher = False
    running_kind = ""
    batter_end: int | None = None  # None: batter not involved
    batter_credit: tuple[list[int], list[int]] | None = None
    if primary.startswith("NP"):
        pass
    elif re.match(r"(SB|CS|PO)", primary):
        from_catcher = _running(primary, moves, secondary)
    elif primary in RUNNING_TYPES:
        running_kind = RUNNING_TYPES[primary]
    elif primary.startswith("FLE"):
        err = primary[3:4]
        if err.isdigit():
            moves[-1] = Move(-1, -1, errors=[(int(err), "fielding")])  # no runner: the error alone
    elif primary.startswith("K"):
        seq = primary[1:]
        batter_end = 1
        if seq:
            segs = fielding(seq)
            batter_credit = ([p for s in segs for p in s[1]], [a for s in segs for a in s[2]])
        else:
            batter_credit = ([2], [])
    elif primary.startswith(("W", "IW", "HP")) or primary == "I":
        batter_end = 1
    elif primary.startswith("C") and not primary.startswith("CS"):
        batter_end = 1
        catcher = next((int(m[1]) for m in mods if re.fullmatch(r"E\d", m)), 2)
        moves[0] = Move(0, 1, errors=[(catcher, "interference")])
    elif primary.startswith("E"):
        batter_end = 1
        moves[0] = Move(0, 1, errors=[(int(primary[1]), "throwing" if "TH" in mods else "fielding")])
    elif primary.startswith("FC"):
        batter_end = 1
    elif primary.startswith("DGR") or re.fullmatch(r"D\d*", primary):
        batter_end = 2
    elif re.fullmatch(r"HR?\d*", primary):
        batter_end = HOME
    elif re.fullmatch(r"S\d*", primary):
        batter_end = 1
    elif re.fullmatch(r"T\d*", primary):
        batter_end = 3
    elif primary[:1].isdigit():
        batter_end = 1
        for runner, putouts, assists, errs in fielding(primary):
            if runner is None:
                moves.setdefault(0, Move(0, 1)).errors += errs
                moves[0].assists += assists
                continue
            target = runner + 1 if runner else 1
            move = moves.setdefault(runner, Move(runner, target, out=True))
            move.out = True
            move.putouts += putouts
            move.assists += assists
    else:
        raise ValueError(f"unreadable play: {text!r}")
    if batter_end is not None:
        bm = moves.setdefault(0, Move(0, batter_end))
        hit = re.fullmatch(r"(?:S|D|T|HR|H|FC)(\d)\d*", primary)
        if hit:
            bm.fielded = [int(hit.group(1))]
        if batter_credit is not None and 0 not in [m.start for m in moves.values() if m.errors]:
            bm.out, bm.putouts, bm.assists = True, batter_credit[0], batter_credit[1]
            if batter_end == 1 and not bm.putouts and not bm.assists:
                bm.out = True
        bm.end = batter_end if not bm.out else bm.end
    if secondary:
        sec_code = re.match(r"[A-Z]+", secondary)
        code = sec_code.group(0) if sec_code else ""
        if code in RUNNING_TYPES:
            running_kind = RUNNING_TYPES[code]
        else:
            from_catcher = _running(secondary, moves, "") or from_catcher
    _advances(adv, moves, running_kind)
    if re.match(r"(SB|CS|PO)", primary):
        for move in moves.values():
            # SB2.3-H(E2/TH): the runner from third did not steal; he went on the throw
            move.kind = move.kind or "other_advance"
    if primary.startswith("K") and 0 in moves and moves[0].explicit and not moves[0].out:
        moves[0].putouts, moves[0].assists = [], []
    batter_out = bool(moves.get(0) and moves[0].out)
    event_type, is_pa = _event_type(primary if not primary.startswith("K") else basic, mods, batter_out)
    if event_type == "fielders_choice" and any(m.out for m in moves.values()):
        event_type = "fielders_choice_out"
    return Event(
        text=text,
        basic=primary,
        event_type=event_type,
        is_pa=is_pa,
        modifiers=mods,
        moves=moves,
        trajectory=_trajectory(mods),
        from_catcher=from_catcher,
    )
