"""Fixtures for the MLB client tests: a real HTTP server (uvicorn on 127.0.0.1) serving recordings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sts.adapters.mlb_client import MLBClient
from sts.http.health import serve
from tests.client.fake_mlb import FakeMLB


class SleepRecorder:
    """An injectable ``sleep`` that records each delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture(scope="session")
async def fake_server(shared_data: Path) -> AsyncIterator[tuple[FakeMLB, str]]:
    fake = FakeMLB(shared_data / "statsapi")
    running, port = await serve(fake.app())
    yield fake, f"http://127.0.0.1:{port}"
    await running.stop(grace=1.0)


@pytest.fixture
def fake(fake_server: tuple[FakeMLB, str]) -> Iterator[FakeMLB]:
    fake_server[0].reset()
    yield fake_server[0]
    fake_server[0].reset()


@pytest.fixture
def base_url(fake_server: tuple[FakeMLB, str]) -> str:
    return fake_server[1]


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
async def client(base_url: str, sleeps: SleepRecorder) -> AsyncIterator[MLBClient]:
    # a timeout far above an answer's time even on a loaded machine (a full feed is ~1 MB, gzipped per
    # request by the in-process fake): a timed-out attempt would be retried, and add a request and a
    # backoff sleep to what the tests count; the timeout tests make clients of their own
    async with MLBClient(base_url, timeout=10, retries=3, sleep=sleeps, rand=lambda: 0.5) as c:
        yield c
