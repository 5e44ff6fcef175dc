"""Structured logging: JSON-safe values always, secrets and prompt text never, and a log call never raises."""

from __future__ import annotations

import dataclasses
import enum
import logging
import math
import re
import sys
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import PurePath
from uuid import UUID

import orjson
import structlog

REDACTED = "[redacted]"
# What users typed and what the model wrote about it: never logged, whatever its type.
_TEXT_KEYS = {"content", "prompt", "prompts", "text", "user_request", "messages", "completion",
              "final_response", "delta", "thought", "body"}
# Credentials: any key containing one of these is redacted unless its value is a plain number
# (so `input_tokens=1200` stays, `refresh_token="eyJ..."` goes).
_SECRET_FRAGMENTS = ("token", "password", "passwd", "secret", "authorization", "cookie", "jwt", "api_key",
                     "apikey", "credential", "private_key", "signing_key", "code_verifier", "nonce")
# Tokens that slipped into free text (an exception message, a URL): JWTs and bearer values.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
# Org API keys (sp_...) and provider keys (sk-..., sk-ant-...) that slipped into free text.
_API_KEY = re.compile(r"\b(?:sp_|sk-)[A-Za-z0-9_-]{16,}")
_MAX_DEPTH = 6
_MAX_ITEMS = 50
_MAX_STRING = 2000


def _scrub(text: str) -> str:
    if len(text) > _MAX_STRING:
        text = text[:_MAX_STRING] + f"...[{len(text) - _MAX_STRING} more chars]"
    if "eyJ" in text:
        text = _JWT.sub("[redacted-jwt]", text)
    if "earer" in text:
        text = _BEARER.sub(r"\1 [redacted]", text)
    if "sp_" in text or "sk-" in text:
        text = _API_KEY.sub("[redacted-key]", text)
    return text


def _secret_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in _TEXT_KEYS or any(fragment in lowered for fragment in _SECRET_FRAGMENTS)


def _redact(key: str, value):
    if key.lower() in _TEXT_KEYS:
        return REDACTED
    if isinstance(value, (int, float)) and not isinstance(value, bool) or value is None:
        return json_safe(value)
    return REDACTED


def json_safe(value, _depth: int = 0):
    """Turn any value into something JSON accepts, redacting nested secrets. Never raises."""
    try:
        return _json_safe(value, _depth)
    except Exception:  # a hostile __str__, __repr__ or __iter__: say what it was, not what it holds
        return f"<unloggable {_type_name(value)}>"


def _type_name(value) -> str:
    try:
        return type(value).__name__
    except Exception:  # pragma: no cover
        return "object"


def _json_safe(value, depth: int):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, enum.Enum):
        return json_safe(value.value, depth + 1)
    if isinstance(value, int):
        return value if abs(value) < 2**63 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _scrub(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (Decimal, PurePath, UUID)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, BaseException):
        return _scrub(f"{type(value).__name__}: {value}")
    if depth >= _MAX_DEPTH:
        return f"<{_type_name(value)} nested too deep>"
    if isinstance(value, dict):
        return _safe_mapping(value, depth)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)[:_MAX_ITEMS]
        safe = [json_safe(v, depth + 1) for v in items]
        if len(value) > _MAX_ITEMS:
            safe.append(f"...[{len(value) - _MAX_ITEMS} more]")
        return safe
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _safe_mapping({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, depth)
    dump = getattr(value, "model_dump", None)  # pydantic models
    if callable(dump) and not isinstance(value, type):
        return _safe_mapping(dump(mode="json"), depth)
    return _scrub(repr(value))


def _safe_mapping(mapping: dict, depth: int) -> dict:
    clean = {}
    for index, (key, value) in enumerate(mapping.items()):
        if index >= _MAX_ITEMS:
            clean["..."] = f"{len(mapping) - _MAX_ITEMS} more keys"
            break
        name = key if isinstance(key, str) else str(json_safe(key, depth + 1))
        clean[name] = _redact(name, value) if _secret_key(name) else json_safe(value, depth + 1)
    return clean


def _sanitize(_logger, _name, event_dict):
    """Processor: every value JSON-safe, credentials and prompt text replaced."""
    try:
        event = event_dict.pop("event", None)
        clean = _safe_mapping(event_dict, 0)
        if event is not None:
            clean["event"] = json_safe(event)
        return clean
    except Exception:  # pragma: no cover - _safe_mapping does not raise; this is the last line
        return {"event": "log_sanitize_failed"}


class _SafeJSONRenderer:
    def __call__(self, _logger, _name, event_dict) -> str:
        try:
            return orjson.dumps(event_dict, default=str).decode()
        except Exception:
            return '{"event": "log_render_failed"}'


class _SafeConsoleRenderer:
    def __init__(self) -> None:
        self._inner = structlog.dev.ConsoleRenderer(colors=False)

    def __call__(self, logger, name, event_dict) -> str:
        try:
            return self._inner(logger, name, event_dict)
        except Exception:
            return f"log_render_failed keys={sorted(map(str, event_dict))}"


class _SafePrintLogger(structlog.PrintLogger):
    """A closed or broken stderr loses the line; it never fails the caller."""

    def msg(self, message: str) -> None:
        try:
            super().msg(message)
        except Exception:
            pass

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


class _SafeLoggerFactory:
    def __init__(self, file=None):
        self._file = file

    def __call__(self, *args) -> _SafePrintLogger:
        return _SafePrintLogger(self._file or sys.stderr)


def configure_logging(json_output: bool, level: int = logging.INFO, file=None) -> None:
    renderer = _SafeJSONRenderer() if json_output else _SafeConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _sanitize,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_SafeLoggerFactory(file),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str):
    if not structlog.is_configured():
        # Imported before the CLI configured logging (tests, tools): still sanitize.
        configure_logging(json_output=False)
    return structlog.get_logger(name)
