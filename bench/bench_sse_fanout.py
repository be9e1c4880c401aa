"""Benchmark: live-stream fan-out, 1,000 SSE clients on one API process.

Setup: an embedded PostgreSQL (the event log in its tables, or with ``--bus kafka`` the local Kafka
broker and Apicurio, topics under a prefix of their own) in a temporary folder; one API process
(``create_app`` served by uvicorn, its hub tailing the bus) in a child process; ``--clients`` SSE
clients (raw asyncio sockets, spread over ``--client-procs`` child processes, fd limits raised) all on
``GET /v1/stream/games``. Once every client has its ``open`` message, this process publishes
``--events`` real events (derived from a recorded game, one ``publish`` each, every ``--interval``
seconds) on the bus and notes when each ``publish`` call began. Every client notes when each event
arrived. Per event: the delay from publish to the LAST client receiving it, and to the median client.
Reported: p50/p99 (and max) of both over the events; one JSON line appended to
``bench/results/sse_fanout.jsonl``.

    uv run --frozen python bench/bench_sse_fanout.py [--clients 1000] [--events 200] [--interval 0.25]
        [--bus postgres|kafka]

Everything runs on this machine, so the client processes compete with the API process for the CPUs:
the figures are an upper bound for a server with clients elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from _common import git_commit, percentile  # noqa: E402

RESULTS = REPO / "bench" / "results" / "sse_fanout.jsonl"
ME = [sys.executable, str(Path(__file__).resolve())]
GAME = 717055


def note(what: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


def raise_fd_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


# ---- the API process -------------------------------------------------------------------------------


async def run_server() -> None:
    """Serve the API on the backends named by the STS_* environment; print the port; run until killed."""
    import structlog

    from sts.api.app import create_app
    from sts.api.context import ApiContext
    from sts.bootstrap import open_backends
    from sts.config import Settings
    from sts.http.health import serve

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    raise_fd_limit()
    settings = Settings()
    backends = await open_backends(settings)
    ctx = ApiContext(settings, backends.database_url, backends.bus, backends.codec)
    server, port = await serve(create_app(ctx), "127.0.0.1", 0)
    print(f"port {port}", flush=True)
    async with server:
        await asyncio.Event().wait()


# ---- the client processes --------------------------------------------------------------------------


async def sse_client(
    port: int, key: str, opened: asyncio.Event, arrivals: dict[str, float], want: int
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            "GET /v1/stream/games HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {key}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"stream refused: {status!r} {await reader.read(500)!r}")
    while (await reader.readline()) not in (b"\r\n", b""):
        pass  # headers
    marker = b'"event_id":"'
    while len(arrivals) < want:
        line = await reader.readline()
        if not line:
            raise RuntimeError("the server closed a stream")
        if line.startswith(b"data:"):
            now = time.time()
            i = line.find(marker)
            if i >= 0:
                start = i + len(marker)
                arrivals[line[start : line.index(b'"', start)].decode()] = now
        elif line.startswith(b"event: open"):
            opened.set()
        elif line.startswith(b"event: dropped"):
            raise RuntimeError(f"a client was dropped: {await reader.readline()!r}")
    writer.close()


async def run_clients(port: int, key: str, n: int, want: int) -> None:
    """``n`` SSE clients; prints ``ready`` once all are open, then the arrivals as one JSON line."""
    raise_fd_limit()
    opened = [asyncio.Event() for _ in range(n)]
    arrivals: list[dict[str, float]] = [{} for _ in range(n)]
    tasks = []
    for i in range(n):  # connect in small waves: the listen backlog is finite
        tasks.append(asyncio.create_task(sse_client(port, key, opened[i], arrivals[i], want)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)
    waiting = asyncio.gather(*(o.wait() for o in opened))
    done, _ = await asyncio.wait([waiting, *tasks], timeout=120, return_when=asyncio.FIRST_COMPLETED)
    for t in tasks:
        if t.done():
            t.result()
    if waiting not in done:
        raise RuntimeError(f"only {sum(o.is_set() for o in opened)} of {n} streams opened")
    print("ready", flush=True)
    _, pending = await asyncio.wait(tasks, timeout=want * 2 + 60)
    for t in pending:
        t.cancel()
    print(json.dumps(arrivals), flush=True)


# ---- the conductor ---------------------------------------------------------------------------------


def delete_topics(kafka: str, prefix: str) -> None:
    from urllib.parse import urlsplit

    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": urlsplit(kafka).netloc})
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=10).values():
            future.result()


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """This script in another role, its stdout piped."""
    return subprocess.Popen([*ME, *args], env=env, stdout=subprocess.PIPE, text=True)


def derive(recordings: Path, count: int) -> list[Any]:
    from sts.events.derive import derive_events
    from sts.recordings import scan_recordings
    from sts.standin.synth import synthesize
    from sts.standin.timeline import GameTimeline

    game = scan_recordings(recordings).games[GAME]
    timeline = GameTimeline(game.feed)
    events: dict[str, Any] = {}  # by id: the bus stores an id once
    previous: dict[str, Any] | None = None
    for i in range(len(timeline.states)):
        current = json.loads(json.dumps(synthesize(timeline, i)))
        for ev in derive_events(previous, current):
            events.setdefault(ev.event_id, ev)
        previous = current
        if len(events) >= count:
            break
    return list(events.values())[:count]


async def conduct(args: argparse.Namespace) -> dict[str, Any]:
    import psycopg
    import structlog

    from sts.api.keys import create_key
    from sts.bootstrap import open_backends
    from sts.config import Settings
    from sts.ports import TOPIC_GAME_EVENTS

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    events = derive(args.recordings, args.events)
    tmp = Path(tempfile.mkdtemp(prefix="sts-bench-sse-"))
    bus_env = {}
    if args.bus == "kafka":  # topics under a prefix of their own, deleted afterwards
        bus_env = {
            "STS_EVENT_BUS_URL": args.kafka,
            "STS_SCHEMA_REGISTRY_URL": args.registry,
            "STS_TOPIC_PREFIX": f"bench-sse-{uuid.uuid4().hex[:8]}.",
        }
    settings = Settings(
        data_dir=tmp / "data",
        object_store_url=f"file://{tmp / 'objects'}",
        event_bus_url=bus_env.get("STS_EVENT_BUS_URL", ""),
        schema_registry_url=bus_env.get("STS_SCHEMA_REGISTRY_URL", ""),
        topic_prefix=bus_env.get("STS_TOPIC_PREFIX", ""),
    )
    backends = await open_backends(settings)
    procs: list[subprocess.Popen[str]] = []
    try:
        async with await psycopg.AsyncConnection.connect(backends.database_url, autocommit=True) as conn:
            key = (await create_key(conn, "bench-sse", ["stream"], tier="unlimited")).secret
        env = {
            **os.environ,
            "STS_DATA_DIR": str(tmp / "data"),
            "STS_DATABASE_URL": backends.database_url,
            "STS_OBJECT_STORE_URL": f"file://{tmp / 'objects'}",
            **bus_env,
        }
        server = spawn(["--role", "serve"], env)
        procs.append(server)
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        note(f"API process {server.pid} on port {port}")
        per = [
            args.clients // args.client_procs + (i < args.clients % args.client_procs)
            for i in range(args.client_procs)
        ]
        clients = []
        for n in per:
            cmd = [
                "--role",
                "clients",
                "--port",
                str(port),
                "--key",
                key,
                "--n",
                str(n),
                "--events",
                str(len(events)),
            ]
            clients.append(spawn(cmd, env))
        procs += clients
        for c in clients:
            assert c.stdout is not None
            line = await asyncio.to_thread(c.stdout.readline)
            if line.strip() != "ready":
                raise RuntimeError(f"client process {c.pid} failed to connect its streams")
        note(f"{args.clients} streams open; publishing {len(events)} events every {args.interval} s")
        await asyncio.sleep(1.0)
        published: dict[str, float] = {}
        for ev in events:
            msg = await backends.codec.message(TOPIC_GAME_EVENTS, ev)
            published[ev.event_id] = time.time()
            await backends.bus.publish([msg])
            await asyncio.sleep(args.interval)
        arrivals: list[dict[str, float]] = []
        for c in clients:
            assert c.stdout is not None
            out = await asyncio.to_thread(c.stdout.readline)
            arrivals += json.loads(out)
        to_last, to_median, missing = [], [], 0
        for event_id, t0 in published.items():
            got = [a[event_id] - t0 for a in arrivals if event_id in a]
            missing += len(arrivals) - len(got)
            if got:
                to_last.append(max(got) * 1000)
                to_median.append(statistics.median(got) * 1000)
        ms = lambda v: round(v, 1)  # noqa: E731
        return {
            "at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            "commit": git_commit(short=True),
            "bus": args.bus,
            "clients": args.clients,
            "client_procs": args.client_procs,
            "events": len(published),
            "interval_s": args.interval,
            "deliveries_missing": missing,
            "last_client_ms_p50": ms(percentile(to_last, 0.5)),
            "last_client_ms_p99": ms(percentile(to_last, 0.99)),
            "last_client_ms_max": ms(max(to_last)),
            "median_client_ms_p50": ms(percentile(to_median, 0.5)),
            "median_client_ms_p99": ms(percentile(to_median, 0.99)),
            "load_average": os.getloadavg()[0],
            "cpus": os.cpu_count(),
        }
    finally:
        for p in procs:
            p.kill()
            p.wait()
        await backends.aclose()
        if bus_env:
            delete_topics(args.kafka, bus_env["STS_TOPIC_PREFIX"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--client-procs", type=int, default=2)
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--interval", type=float, default=0.25, help="seconds between two published events")
    ap.add_argument("--bus", choices=["postgres", "kafka"], default="postgres")
    ap.add_argument("--kafka", default=os.environ.get("STS_TEST_KAFKA_URL", "kafka://127.0.0.1:9092"))
    ap.add_argument(
        "--registry",
        default=os.environ.get("STS_TEST_SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7"),
    )
    ap.add_argument("--recordings", type=Path, default=REPO.parent / "shared" / "data" / "mlb" / "statsapi")
    ap.add_argument(
        "--role", choices=["conduct", "serve", "clients"], default="conduct", help=argparse.SUPPRESS
    )
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--key", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "serve":
        asyncio.run(run_server())
        return
    if args.role == "clients":
        asyncio.run(run_clients(args.port, args.key, args.n, args.events))
        return
    result = asyncio.run(conduct(args))
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
