"""Structured logging: JSON-safe values always, secrets and prompt text never."""

from __future__ import annotations

import enum
import logging
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import structlog

# Keys whose values are never written: credentials and what users typed.
_REDACTED_KEYS = {"token", "access_token", "refresh_token", "password", "authorization",
                  "content", "prompt", "secret", "jwt", "cookie"}


def json_safe(value):
    """Turn any value into something json.dumps accepts (a log call must never raise)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (Decimal, Path)):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return repr(value)


def _sanitize(_logger, _name, event_dict):
    clean = {}
    for key, value in event_dict.items():
        if key.lower() in _REDACTED_KEYS:
            clean[key] = "[redacted]"
        else:
            clean[key] = json_safe(value)
    return clean


def configure_logging(json_output: bool, level: int = logging.INFO) -> None:
    renderer = structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _sanitize,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str):
    return structlog.get_logger(name)
