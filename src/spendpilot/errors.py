"""Errors a caller can act on, their one JSON shape {"error": {"code", "message"}}, and the HTTP handlers.

Domain code raises the classes below by meaning (NotFound, Conflict, ...); only this module
decides which HTTP status each meaning gets, and there is exactly one handler for the
unexpected (500) and the outage (503) case.
"""

from __future__ import annotations

import asyncio
import traceback

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from spendpilot.logs import get_logger

log = get_logger(__name__)


class AppError(Exception):
    """A failure the caller caused or can retry; `code` is stable and shown to clients."""

    status = 400
    default_code = "bad_request"

    def __init__(self, code: str | None = None, message: str = "", *, headers: dict[str, str] | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message or self.code.replace("_", " ")
        self.headers = headers
        if status is not None:
            self.status = status


class InvalidInput(AppError):
    status, default_code = 422, "invalid_request"


class Unauthorized(AppError):
    status, default_code = 401, "unauthorized"


class Forbidden(AppError):
    status, default_code = 403, "forbidden"


class NotFound(AppError):
    status, default_code = 404, "not_found"

    @classmethod
    def of(cls, what: str) -> NotFound:
        return cls("not_found", f"{what} not found")


class Conflict(AppError):
    status, default_code = 409, "conflict"


class RateLimited(AppError):
    status, default_code = 429, "rate_limited"

    def __init__(self, message: str, retry_after_s: int | None = None, code: str = "rate_limited"):
        headers = {"Retry-After": str(retry_after_s)} if retry_after_s else None
        super().__init__(code, message, headers=headers)


class Unavailable(AppError):
    status, default_code = 503, "unavailable"


_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
    422: "invalid_request", 429: "rate_limited", 503: "unavailable",
}

# A backing service that cannot be reached is an outage, not a bug: the client should retry,
# and the pool (pre-ping) reconnects on its own once the service is back.
_OUTAGES = (OperationalError, InterfaceError, PoolTimeoutError, RedisConnectionError, RedisTimeoutError,
            ConnectionError, TimeoutError)


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def is_outage(exc: BaseException) -> bool:
    if isinstance(exc, _OUTAGES):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def error_response(exc: AppError) -> JSONResponse:
    return JSONResponse(error_body(exc.code, exc.message), exc.status, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register before the app serves its first request."""

    @app.exception_handler(AppError)
    async def _app_error(_req: Request, exc: AppError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code
        return JSONResponse(error_body(code, message), exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_req: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid')}" if where else first.get("msg", "invalid request")
        return JSONResponse(error_body("invalid_request", message), 422)

    async def _unexpected(_req: Request, exc: Exception) -> JSONResponse:
        if is_outage(exc):
            log.warning("service_unavailable", error=exc)
            return JSONResponse(error_body("unavailable", "a backing service is unavailable; try again shortly"),
                                503, headers={"Retry-After": "2"})
        # Where it failed, not what it said: an exception's message can carry request values
        # (SQL parameters, addresses), while file, line and function are enough to find the bug.
        where = [f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} {frame.name}"
                 for frame in traceback.extract_tb(exc.__traceback__)[-6:]]
        log.error("unhandled_error", error_type=type(exc).__name__, where=where)
        return JSONResponse(error_body("internal", "internal server error"), 500)

    # The outage classes are registered by name too: Starlette picks the most specific handler,
    # and these must win over the generic one for subclasses raised inside dependencies.
    for exc_class in (Exception, DBAPIError, PoolTimeoutError, RedisError, OSError, asyncio.TimeoutError):
        app.add_exception_handler(exc_class, _unexpected)
