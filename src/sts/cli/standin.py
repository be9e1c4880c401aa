"""``sts standin``: serve recorded MLB games on an accelerated clock, speaking the Stats API."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import structlog
import typer

from sts import logging as sts_logging
from sts.cli import app
from sts.config import Settings
from sts.recordings import Recordings, scan_recordings

_REPO = Path(__file__).resolve().parents[3]
DEFAULT_RECORDINGS = _REPO.parent / "shared" / "data" / "mlb" / "statsapi"


def summary(rec: Recordings, not_replayed: dict[int, str] | None = None) -> list[str]:
    """Readable lines: the games replayed, the games not replayed and why, the files skipped."""
    not_replayed = rec.not_replayed if not_replayed is None else not_replayed
    games = {pk: g for pk, g in rec.games.items() if pk not in not_replayed}
    lines = [f"recordings: {rec.root}", f"games replayed ({len(games)}):"]
    for pk, game in sorted(games.items()):
        extra = [name for name, have in (("boxscore", game.boxscore), ("linescore", game.linescore)) if have]
        lines.append(
            f"  {pk}  {game.official_date}  {game.away_name} @ {game.home_name}"
            f"  ({game.source.relative_to(rec.root)}{', ' + ', '.join(extra) if extra else ''})"
        )
    if not_replayed:
        lines.append(f"games not replayed ({len(not_replayed)}):")
        lines.extend(f"  {pk}  {why}" for pk, why in sorted(not_replayed.items()))
    if rec.skipped:
        lines.append(
            f"files not used: {len(rec.skipped)} (not a feed/schedule/boxscore/linescore/people/teams)"
        )
        bad = [(p, why) for p, why in rec.skipped if not why.startswith("not a response")]
        lines.extend(f"  {p.relative_to(rec.root)}: {why}" for p, why in bad)
    return lines


@app.command("standin")
def standin(
    recordings: Annotated[Path | None, typer.Option(help="directory of recorded Stats API responses")] = None,
    speed: Annotated[float, typer.Option(help="virtual seconds per real second")] = 10.0,
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1 (0 = any free port)")] = 8510,
    start_in: Annotated[
        float, typer.Option("--start-in", help="virtual seconds until the first game's first pitch")
    ] = 1200.0,
    stagger: Annotated[float, typer.Option(help="virtual seconds between successive first pitches")] = 0.0,
    slate: Annotated[
        int, typer.Option(help="replay this many games: the recorded ones plus clones under other gamePks")
    ] = 0,
    slate_shift: Annotated[
        float, typer.Option("--slate-shift", help="virtual seconds between the clones' first pitches")
    ] = 60.0,
    origin: Annotated[
        float | None, typer.Option(help="real Unix epoch the replay started at (resumes that replay)")
    ] = None,
    revise: Annotated[
        list[str] | None,
        typer.Option(
            help="inject a correction after a game's Final: GAMEPK:KIND[:DELAY[:ATBATINDEX]], KIND one of"
            " hit-to-error, overturn, runner-credits; DELAY in clock seconds after Final (default 600);"
            " repeatable"
        ),
    ] = None,
    faults: Annotated[
        str | None,
        typer.Option(
            help="inject upstream faults: 'mix=0.3' (every kind, 30% of requests in all) or"
            " 'error_503=0.05,timeout=0.02,truncated=0.05,stale=0.05,…' (kinds: docs/faults.md)"
        ),
    ] = None,
    fault_seed: Annotated[int, typer.Option(help="seed of the fault draws (same requests, same faults)")] = 0,
    fault_hang: Annotated[
        float, typer.Option(help="seconds a 'timeout' fault hangs (longer than the client's timeout)")
    ] = 30.0,
    fault_slow: Annotated[float, typer.Option(help="seconds a 'slow' fault delays the answer")] = 2.0,
) -> None:
    """Replay recorded games as a local MLB Stats API until Ctrl-C."""
    from sts.standin import StandIn
    from sts.standin.faults import FaultPlan

    plan = None
    if faults:
        try:
            plan = FaultPlan.parse(faults, seed=fault_seed, hang_s=fault_hang, slow_s=fault_slow)
        except ValueError as exc:
            typer.echo(f"--faults: {exc}", err=True)
            raise typer.Exit(2) from None

    root = recordings or DEFAULT_RECORDINGS
    if not root.is_dir():
        typer.echo(
            f"no recordings at {root}: pass --recordings DIR (a folder of recorded Stats API JSON)", err=True
        )
        raise typer.Exit(2)
    rec = scan_recordings(root)
    if not rec.games:
        typer.echo(f"no final GUMBO feed found under {root}: nothing to replay", err=True)
        raise typer.Exit(2)
    from sts.standin.replay import UnknownGame
    from sts.standin.revisions import Revision, RevisionError

    try:
        revisions = [Revision.parse(text) for text in revise or []]
        server = StandIn(
            rec,
            speed,
            port=port,
            start_in=start_in,
            stagger=stagger,
            origin=origin,
            revisions=revisions,
            faults=plan,
            slate=slate,
            slate_shift=slate_shift,
        )
    except RevisionError as exc:
        typer.echo(f"--revise: {exc}", err=True)
        raise typer.Exit(2) from None
    except UnknownGame as exc:
        typer.echo(f"--revise: game {exc.args[0]} is not replayed", err=True)
        raise typer.Exit(2) from None

    settings = Settings()
    # its log lines go to stderr (and to VictoriaLogs when STS_VLOGS_URL is set)
    sts_logging.configure(settings.log_format, settings.log_level, service="sts-standin")

    async def run() -> None:
        base_url = await server.start()
        for line in summary(rec, server.replay.not_replayed):
            typer.echo(line)
        clock = server.clock
        typer.echo(
            f"virtual clock: ScaledClock(origin_real={clock.origin_real:.3f}, "
            f"origin_virtual={clock.origin_virtual.isoformat()}, speed={clock.speed:g})  "
            f"(resume with --origin {clock.origin_real:.3f})"
        )
        for game in server.replay.status()["games"]:
            clone = f"  (clone of {game['cloneOf']})" if "cloneOf" in game else ""
            typer.echo(
                f"  {game['gamePk']}  first pitch {game['replayFirstPitch']}  now {game['state']}{clone}"
            )
        for r in revisions:
            tc = server.replay.get(r.game_pk).timeline.timecodes[-1]
            typer.echo(f"  correction: {r.game_pk} {r.kind} served from timecode {tc} (game time)")
        if plan is not None:
            rates = ", ".join(f"{k}={r:.3g}" for k, r in plan.rates.items() if r)
            typer.echo(f"injecting faults (seed {plan.seed}): {rates}  (counts in /standin/status)")
        typer.echo(f"serving the Stats API at {base_url}  (status: {base_url}/standin/status; Ctrl-C stops)")
        structlog.get_logger().info(
            "stand-in serving", url=base_url, games=len(server.replay.status()["games"]), speed=speed
        )
        await server.wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    typer.echo("stand-in stopped")
