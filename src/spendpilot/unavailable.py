"""A backing service that cannot be reached answers 503 `unavailable`, not 500.

PostgreSQL restarting or Redis gone are outages, not bugs: the client should retry, and
the pool (pre-ping) reconnects on its own once the service is back.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from spendpilot.errors import error_body
from spendpilot.logs import get_logger

log = get_logger(__name__)

_OUTAGES = (OperationalError, InterfaceError, PoolTimeoutError, RedisConnectionError, RedisTimeoutError,
            ConnectionError, TimeoutError)


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, _OUTAGES):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


async def _handle(_request: Request, exc: Exception) -> JSONResponse:
    if not is_unavailable(exc):
        log.error("unhandled_error", error_type=type(exc).__name__)
        return JSONResponse(error_body("internal", "internal server error"), 500)
    log.warning("service_unavailable", error=exc)
    return JSONResponse(error_body("unavailable", "a backing service is unavailable; try again shortly"), 503,
                        headers={"Retry-After": "2"})


def install_unavailable_handlers(app: FastAPI) -> None:
    """Register before the app serves its first request."""
    for exc_class in (DBAPIError, PoolTimeoutError, RedisError, OSError, asyncio.TimeoutError):
        app.add_exception_handler(exc_class, _handle)
