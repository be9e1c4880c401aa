"""Benchmark: encoding the games routes' bodies as JSON (what the API does on every cache miss).

The bodies are the API's own response models built from the recorded final feed of 747175 (the
stand-in's recordings in ``../shared`` or ``$STS_SHARED_DIR``), without a database: the box score
(our derived lines from :func:`sts.stats.engine.derive_box`, the quality record from
:func:`sts.stats.compare.compare_box`) and a page of 500 pitches. Each is encoded ``--reps`` times by

- ``jsonable_encoder``: FastAPI's generic encoder then ``json.dumps`` (what ``cached_json`` did first),
- ``encode``: :func:`sts.api.caching.encode` (pydantic-core for bodies made of models),

and the two outputs are checked equal as JSON. Prints ms per encode (p50, p99) and appends one JSON line
to ``bench/results/encode.jsonl``.

    uv run --frozen python bench/bench_encode.py [--reps 300]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from _common import git_commit, percentile  # noqa: E402

RESULTS = REPO / "bench" / "results" / "encode.jsonl"
SHARED = Path(os.environ.get("STS_SHARED_DIR", REPO.parent / "shared"))
PK = 747175


def feed() -> dict[str, Any]:
    path = SHARED / "data" / "mlb" / "statsapi" / "recorded" / f"feed_live_{PK}.stub.json"
    doc = json.loads(path.read_text())
    return dict(doc.get("response", doc))


def bodies(f: dict[str, Any]) -> dict[str, Any]:
    from sts.api.routes import games as g
    from sts.stats.compare import compare_box
    from sts.stats.engine import derive_box

    box = derive_box(f)
    report = compare_box(f, box)
    teams = {}
    for side in ("away", "home"):
        players = [
            g.BoxPlayer(
                person_id=pid,
                name=str(pid),
                position=None,
                batting_order=None,
                appeared=sorted(p.present),
                batting=dict(p.batting),
                pitching=dict(p.pitching),
                fielding=dict(p.fielding),
            )
            for pid, p in box.teams[side].players.items()
        ]
        t = box.teams[side]
        teams[side] = g.BoxTeam(
            team=g.TeamRef(id=f["gameData"]["teams"][side]["id"]),
            players=players,
            totals=g.BoxTotals(batting=dict(t.batting), pitching=dict(t.pitching), fielding=dict(t.fielding)),
        )
    mismatches = [g.Mismatch(**vars(m)) for m in report.mismatches]
    quality = g.Quality(
        status="mismatch" if mismatches else "agree",
        matched=report.matched,
        total=report.total,
        checked_at=datetime.now(UTC),
        mismatches=mismatches,
    )
    box_body = g.BoxScore(
        game_pk=PK, state="Final", derived=True, away=teams["away"], home=teams["home"], quality=quality
    )
    pitches = []
    for play in f["liveData"]["plays"]["allPlays"]:
        for ev in play.get("playEvents", []):
            if not ev.get("isPitch"):
                continue
            pd, hit = ev.get("pitchData", {}), ev.get("hitData")
            pitches.append(
                g.Pitch(
                    at_bat_index=play["atBatIndex"],
                    event_index=ev["index"],
                    pitch_number=ev.get("pitchNumber"),
                    play_id=ev.get("playId"),
                    inning=play["about"]["inning"],
                    half_inning=play["about"]["halfInning"],
                    batter=g.PersonRef(id=play["matchup"]["batter"]["id"]),
                    pitcher=g.PersonRef(id=play["matchup"]["pitcher"]["id"]),
                    pitch_type=g.CodeDesc(code=ev["details"].get("type", {}).get("code"), description=None),
                    call=g.CodeDesc(code=ev["details"].get("call", {}).get("code"), description=None),
                    count=g.Count(**{k: ev["count"].get(k) for k in ("balls", "strikes", "outs")}),
                    is_in_play=ev["details"].get("isInPlay"),
                    is_strike=ev["details"].get("isStrike"),
                    is_ball=ev["details"].get("isBall"),
                    start_speed=pd.get("startSpeed"),
                    end_speed=pd.get("endSpeed"),
                    spin_rate=pd.get("breaks", {}).get("spinRate"),
                    spin_direction=pd.get("breaks", {}).get("spinDirection"),
                    zone=pd.get("zone"),
                    px=pd.get("coordinates", {}).get("pX"),
                    pz=pd.get("coordinates", {}).get("pZ"),
                    pfx_x=pd.get("coordinates", {}).get("pfxX"),
                    pfx_z=pd.get("coordinates", {}).get("pfxZ"),
                    strike_zone_top=pd.get("strikeZoneTop"),
                    strike_zone_bottom=pd.get("strikeZoneBottom"),
                    extension=pd.get("extension"),
                    plate_time=pd.get("plateTime"),
                    break_vertical_induced=pd.get("breaks", {}).get("breakVerticalInduced"),
                    break_horizontal=pd.get("breaks", {}).get("breakHorizontal"),
                    hit=None
                    if not hit
                    else g.HitData(
                        launch_speed=hit.get("launchSpeed"),
                        launch_angle=hit.get("launchAngle"),
                        total_distance=hit.get("totalDistance"),
                        trajectory=hit.get("trajectory"),
                        hardness=hit.get("hardness"),
                        location=hit.get("location"),
                        coord_x=hit.get("coordinates", {}).get("coordX"),
                        coord_y=hit.get("coordinates", {}).get("coordY"),
                    ),
                )
            )
    return {"box": box_body, "pitches_page": {"items": pitches[:500], "next_cursor": None}}


def timed(fn: Callable[[], bytes], reps: int) -> list[float]:
    fn()  # warm up
    out = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=300, help="encodes per body and encoder (default 300)")
    args = parser.parse_args()
    from fastapi.encoders import jsonable_encoder

    from sts.api.caching import encode

    def generic(body: Any) -> bytes:
        return json.dumps(jsonable_encoder(body), separators=(",", ":")).encode()

    results: dict[str, Any] = {}
    for name, body in bodies(feed()).items():
        assert json.loads(generic(body)) == json.loads(encode(body)), name
        row: dict[str, Any] = {"bytes": len(encode(body))}
        for label, fn in (("jsonable_encoder", generic), ("encode", encode)):
            ms = timed(lambda fn=fn, body=body: fn(body), args.reps)
            row[label] = {"p50_ms": round(percentile(ms, 0.5), 3), "p99_ms": round(percentile(ms, 0.99), 3)}
        row["speedup_p50"] = round(row["jsonable_encoder"]["p50_ms"] / row["encode"]["p50_ms"], 1)
        results[name] = row
        print(
            f"{name:<13} {row['bytes']:>7} B  jsonable_encoder p50 {row['jsonable_encoder']['p50_ms']:.3f} ms"
            f" p99 {row['jsonable_encoder']['p99_ms']:.3f}  |  encode p50 {row['encode']['p50_ms']:.3f} ms"
            f" p99 {row['encode']['p99_ms']:.3f}  ({row['speedup_p50']}x)"
        )
    record = {
        "bench": "encode",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "python": platform.python_version(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "reps": args.reps,
        "game_pk": PK,
        "results": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    print(f"appended to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
