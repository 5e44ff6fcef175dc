"""Reading every page of a provider report: `has_more` and `next_page` followed, 429 and 5xx retried.

A 429 or 5xx answer waits for its Retry-After (seconds or an HTTP date) or, without one, backs off
exponentially with jitter, up to the configured attempts; 401/403 stop at once (the key is wrong or
lacks the admin scope). The key travels only in the request headers, never in a URL or a log line.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import Any, cast

import httpx

from spendpilot.clock import utcnow

MAX_WAIT_S = 60.0


class ConnectorError(Exception):
    """The provider refused or failed the pull; the message says what to do."""


def retry_after(response: httpx.Response, attempt: int) -> float:
    value = response.headers.get("retry-after", "").strip()
    if value:
        try:
            return min(MAX_WAIT_S, max(0.0, float(value)))
        except ValueError:
            try:
                return min(MAX_WAIT_S, max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds()))
            except (TypeError, ValueError):
                pass
    return min(MAX_WAIT_S, 2 ** attempt + random.random())


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or error)[:200]
    return str(error or body)[:200]


async def get_json(http: httpx.AsyncClient, url: str, params: list[tuple[str, str]],
                   headers: dict[str, str], *,
                   max_attempts: int, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> dict:
    for attempt in range(max_attempts):
        try:
            response = await http.get(url, params=cast(Any, params), headers=headers)
        except httpx.TransportError as exc:
            if attempt + 1 == max_attempts:
                raise ConnectorError(f"the provider could not be reached: {type(exc).__name__}") from None
            await sleep(min(MAX_WAIT_S, 2 ** attempt + random.random()))
            continue
        if response.status_code == 429 or response.status_code >= 500:
            if attempt + 1 == max_attempts:
                raise ConnectorError(f"the provider kept answering {response.status_code} after {max_attempts} "
                                     "attempts; the next run tries again")
            await sleep(retry_after(response, attempt))
            continue
        if response.status_code in (401, 403):
            raise ConnectorError(f"the provider refused the key ({response.status_code}: {_error_message(response)}); "
                                 "use an admin key of the organisation")
        if response.status_code >= 400:
            raise ConnectorError(f"the provider answered {response.status_code}: {_error_message(response)}")
        try:
            body = response.json()
        except ValueError:
            raise ConnectorError("the provider answered with something that is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ConnectorError("the provider's answer has no 'data' list of buckets")
        return body
    raise ConnectorError("no attempt was made")  # max_attempts < 1


async def pages(http: httpx.AsyncClient, url: str, params: list[tuple[str, str]],
                headers: dict[str, str], *,
                max_attempts: int, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                max_pages: int = 10_000) -> AsyncIterator[dict]:
    """Every page of a report, following `next_page` while `has_more` says there is more."""
    token = None
    for _ in range(max_pages):
        query: list[Any] = params + ([("page", token)] if token else [])
        body = await get_json(http, url, query, headers, max_attempts=max_attempts, sleep=sleep)
        yield body
        token = body.get("next_page")
        if not body.get("has_more") or not token:
            return
    raise ConnectorError(f"more than {max_pages} pages: the window is too large")
