"""``sts serve`` and ``sts demo`` serve the API: real commands in subprocesses.

- ``sts serve --port 0`` on the package's replayed database prints its address, answers with a key
  (and refuses without one), and exits cleanly on SIGTERM;
- ``sts demo --until-done`` replaying one recorded game (747175, a folder of links to the shared
  recordings in a temporary directory) prints the API's address and a first key with every scope; the
  key works while the demo runs, and the demo still exits by itself once the game is final.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.api.conftest import Replayed

pytestmark = pytest.mark.slow


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STS_")}
    env.update(extra)
    return env


class Lines:
    """A process's stream read line by line on a thread (so waiting for a line can time out)."""

    def __init__(self, pipe: IO[str]) -> None:
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(pipe,), daemon=True).start()

    def _pump(self, pipe: IO[str]) -> None:
        with contextlib.suppress(ValueError, OSError):  # the pipe closed under us: the test is over
            for line in pipe:
                self.queue.put(line)
        self.queue.put(None)

    def wait_for(self, pattern: str, seconds: float) -> re.Match[str]:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no line matching {pattern!r}; got:\n{''.join(self.seen)[-3000:]}")

    def rest(self, seconds: float) -> str:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            line = self.queue.get(timeout=left)
            if line is None:
                break
            self.seen.append(line)
        return "".join(self.seen)


async def test_sts_serve(replayed: Replayed, admin_key: str | None, tmp_path: Path) -> None:
    env = _env(
        STS_DATA_DIR=str(tmp_path / "data"),
        STS_DATABASE_URL=replayed.database_url,
        STS_OBJECT_STORE_URL=f"file://{tmp_path / 'objects'}",
        STS_LOG_LEVEL="WARNING",
    )
    cmd = [sys.executable, "-m", "sts", "serve", "--port", "0"]
    proc = subprocess.Popen(  # noqa: ASYNC220 (a long-running command, read on threads)
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        url = Lines(proc.stdout).wait_for(r"^(http://\S+/v1)$", 60).group(1)
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            headers = {"Authorization": f"Bearer {admin_key}"} if admin_key else {}
            r = await http.get("/games", headers=headers)
            assert r.status_code == 200, r.text
            assert [g["game_pk"] for g in r.json()["items"]] == sorted(replayed.games)
            if admin_key:
                assert (await http.get("/games")).status_code == 401
            assert (await http.get(url.removesuffix("/v1") + "/openapi.json")).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


async def test_sts_demo_serves_the_api_and_prints_a_key(shared_data: Path, tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    for src in (shared_data / "statsapi" / "recorded").glob("*747175*"):
        (recordings / src.name).symlink_to(src)  # links to the shared data, nothing copied
    env = _env(STS_DATA_DIR=str(tmp_path / "data"), STS_API_PORT="0")
    cmd = [sys.executable, "-m", "sts", "demo", "--recordings", str(recordings), "--speed", "600"]
    cmd += ["--start-in", "120", "--until-done", "--json"]
    proc = subprocess.Popen(  # noqa: ASYNC220 (a long-running command, read on threads)
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        out_lines, err_lines = Lines(proc.stdout), Lines(proc.stderr)
        url = err_lines.wait_for(r"API: (http://\S+/v1)", 90).group(1)
        key = err_lines.wait_for(r"API key \(every scope; shown only now\): (sts_\S+)", 30).group(1)
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            assert (await http.get("/games")).status_code == 401
            r = await http.get("/games", headers={"X-API-Key": key})
            assert r.status_code == 200, r.text
        assert proc.wait(timeout=300) == 0, err_lines.rest(5)[-3000:]
        assert "747175" in out_lines.rest(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    # the key is not in the demo's log file
    logs = tmp_path / "data" / "logs"
    for log_file in logs.rglob("*.log"):
        assert key not in log_file.read_text(errors="replace"), log_file.name
