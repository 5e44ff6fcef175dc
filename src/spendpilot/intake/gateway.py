"""The OpenAI- and Anthropic-compatible gateway (SPEC §9): requests pass through, each billed call becomes a row.

`/gateway/openai/v1/X` goes to SPENDPILOT_GATEWAY_OPENAI_URL + `/X`, `/gateway/anthropic/v1/X` to
SPENDPILOT_GATEWAY_ANTHROPIC_URL + `/v1/X`, through one pooled httpx client. The provider key stays in its
usual header and is only forwarded; the Spendpilot key travels in `x-spendpilot-key` and is never forwarded.
Bodies pass unchanged, except that an OpenAI stream that did not ask for its usage chunk is asked for it
(and the chunk is kept from the client). Streams are relayed event by event as they arrive; the last event
is held until the call's row is stored, so a client that saw its stream end knows the call is recorded.
Storing is best effort past that point: a call the provider already billed is always delivered.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, Request, Response

from spendpilot.analytics.rows import RowError, build_row
from spendpilot.api.deps import GatewayKey, ServicesDep
from spendpilot.auth.api_keys import KeyPrincipal
from spendpilot.config import Settings
from spendpilot.errors import AppError
from spendpilot.intake.provider_usage import (
    ANTHROPIC_BILLED,
    OPENAI_BILLED,
    AnthropicMeter,
    CallFacts,
    CallUsage,
    Meter,
    OpenAIMeter,
    anthropic_facts,
    openai_facts,
)
from spendpilot.intake.relay import RelayResponse
from spendpilot.intake.shaped import ShapedErrorRoute
from spendpilot.intake.upstream import Gateway
from spendpilot.logs import get_logger

log = get_logger(__name__)

# Headers that describe one hop, not the message; and ours, which the provider must never see.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "host", "content-length", "accept-encoding"})
OWN_PREFIX = "x-spendpilot-"
RESPONSE_DROP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"})
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# Upstream answers recorded as calls: successes and the failures the analyses count (rate limits, timeouts,
# provider errors). Other 4xx are the client's own mistakes and bill nothing.
RECORDED_FAILURES = frozenset({408, 429, 500, 502, 503, 504, 529})
MAX_TAGS = 32


@dataclass(frozen=True)
class Provider:
    name: str
    billed: frozenset[str]
    facts: Callable[[dict], CallFacts]
    # The provider's error JSON for a status, a message and Spendpilot's error code.
    error: Callable[[int, str, str], dict]

    def url(self, settings: Settings, path: str) -> str:
        if self.name == "openai":
            return f"{settings.gateway_openai_url.rstrip('/')}/{path}"
        return f"{settings.gateway_anthropic_url.rstrip('/')}/v1/{path}"


def _openai_error(status: int, message: str, code: str) -> dict:
    kind = "server_error" if status >= 500 else "rate_limit_exceeded" if status == 429 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                         404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                         503: "overloaded_error"}


def _anthropic_error(status: int, message: str, code: str) -> dict:
    kind = ANTHROPIC_ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message, "code": code}}


OPENAI = Provider("openai", OPENAI_BILLED, openai_facts, _openai_error)
ANTHROPIC = Provider("anthropic", ANTHROPIC_BILLED, anthropic_facts, _anthropic_error)


def provider_of(request: Request) -> Provider:
    return ANTHROPIC if request.url.path.startswith("/gateway/anthropic/") else OPENAI


class GatewayRoute(ShapedErrorRoute):
    """Every failure of a gateway route (the key check included) in the provider's error shape."""

    def shape(self, request: Request, exc: AppError) -> Response:
        body = provider_of(request).error(exc.status, exc.message, exc.code)
        return Response(orjson.dumps(body), exc.status, headers=exc.headers, media_type="application/json")


router = APIRouter(tags=["gateway"], route_class=GatewayRoute)


@router.api_route("/gateway/openai/v1/{path:path}", methods=METHODS, include_in_schema=False)
async def openai_gateway(path: str, request: Request, caller: GatewayKey, services: ServicesDep) -> Response:
    return await proxy(OPENAI, path, request, caller, services)


@router.api_route("/gateway/anthropic/v1/{path:path}", methods=METHODS, include_in_schema=False)
async def anthropic_gateway(path: str, request: Request, caller: GatewayKey, services: ServicesDep) -> Response:
    return await proxy(ANTHROPIC, path, request, caller, services)


def attribution(request: Request) -> tuple[str, str, dict[str, str]]:
    """(feature, user, tags) from the x-spendpilot-* headers."""
    headers = request.headers
    tags: dict[str, str] = {}
    for pair in headers.get("x-spendpilot-tags", "").split(","):
        name, sep, value = pair.partition("=")
        if sep and name.strip() and len(tags) < MAX_TAGS:
            tags[name.strip()[:64]] = value.strip()[:256]
    return headers.get("x-spendpilot-feature", "")[:200], headers.get("x-spendpilot-user", "")[:256], tags


def _forwarded_headers(request: Request) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in request.headers.raw
            if k.decode("latin-1").lower() not in HOP_BY_HOP and not k.lower().startswith(OWN_PREFIX.encode())]
    # Plain bodies: usage is read from what is relayed, so the relay sees the same bytes the client gets.
    return kept + [(b"accept-encoding", b"identity")]


def _response_headers(upstream: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in upstream.headers.multi_items() if k.lower() not in RESPONSE_DROP}


def _prepare(provider: Provider, path: str, body: bytes) -> tuple[CallFacts | None, Meter | None, bytes]:
    """The call's facts and meter when it is a billed call, and the body to send (the usage chunk asked for)."""
    try:
        doc = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict):
        return None, None, body
    facts = provider.facts(doc)
    if provider is ANTHROPIC:
        return facts, AnthropicMeter(), body
    options = doc.get("stream_options")
    if not isinstance(options, dict):
        options = {}
    if facts.stream and path in ("chat/completions", "completions") and options.get("include_usage") is not True:
        doc["stream_options"] = {**options, "include_usage": True}
        return facts, OpenAIMeter(drop_usage_chunk=True), orjson.dumps(doc)
    return facts, OpenAIMeter(), body


async def proxy(provider: Provider, path: str, request: Request, caller: KeyPrincipal, services: Any) -> Response:
    body = await request.body()
    facts = meter = None
    if request.method == "POST" and path in provider.billed:
        facts, meter, body = _prepare(provider, path, body)
        if facts is not None:
            services.intake.check(caller.key_id)  # overloaded: refuse before the provider bills anything
    url = provider.url(services.settings, path)
    if request.url.query:
        url += "?" + request.url.query
    # The adapter's own pooled client, made with the app (server/app.py).
    gateway: Gateway = request.app.state.gateway
    started, wall = time.perf_counter(), datetime.now(UTC)
    try:
        client = gateway.client
        upstream = await client.send(
            client.build_request(request.method, url, headers=_forwarded_headers(request), content=body),
            stream=True)
    except httpx.TimeoutException as exc:
        log.warning("gateway_upstream_timeout", provider=provider.name, error_type=type(exc).__name__)
        raise AppError("upstream_timeout", f"the {provider.name} API did not answer in time", status=504) from None
    except httpx.HTTPError as exc:
        log.warning("gateway_upstream_unreachable", provider=provider.name, error_type=type(exc).__name__)
        raise AppError("upstream_unreachable", f"the {provider.name} API could not be reached through the "
                                               "Spendpilot gateway", status=502) from None
    recorder = CallRecorder(provider, caller, services, request, facts, meter, started, wall, upstream.status_code)
    headers = _response_headers(upstream)
    if upstream.headers.get("content-type", "").startswith("text/event-stream"):
        return RelayResponse(upstream, meter, recorder.finish, status_code=upstream.status_code, headers=headers)
    try:
        raw = b"".join([chunk async for chunk in upstream.aiter_raw()])
        complete = True
    except httpx.HTTPError:
        raw, complete = b"", False
    finally:
        await upstream.aclose()
    if meter is not None and upstream.is_success and complete and "content-encoding" not in upstream.headers:
        try:
            meter.body(orjson.loads(raw))
        except orjson.JSONDecodeError:
            pass
    await recorder.finish(complete=complete and (meter is None or meter.usage.complete), cancelled=False)
    if not complete:
        raise AppError("upstream_dropped", f"the {provider.name} API closed the connection mid-answer", status=502)
    return Response(raw, upstream.status_code, headers=headers)


@dataclass
class CallRecorder:
    """Turns one gateway call into its llm_usage row and stores it (awaited, best effort)."""

    provider: Provider
    caller: KeyPrincipal
    services: Any
    request: Request
    facts: CallFacts | None
    meter: Meter | None
    started: float
    wall: datetime
    status_code: int

    async def finish(self, *, complete: bool, cancelled: bool) -> None:
        if self.facts is None or self.meter is None:
            return
        ok = 200 <= self.status_code < 300
        if not ok and self.status_code not in RECORDED_FAILURES:
            return
        usage: CallUsage = self.meter.usage
        feature, user, tags = attribution(self.request)
        status = {429: "rate_limited", 408: "timeout", 504: "timeout"}.get(self.status_code, "error")
        if ok:
            status = "ok" if complete else "cancelled" if cancelled else "error"
        try:
            row = build_row(
                self.caller.org_id, ts=self.wall, model=usage.model or self.facts.model, provider=self.provider.name,
                feature=feature, user=user or self.facts.user, input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens, cached_input_tokens=usage.cached_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                latency_ms=int((time.perf_counter() - self.started) * 1000), status=status,
                is_batch=1 if usage.service_tier == "batch" else 0, service_tier=usage.service_tier,
                prompt_hash=self.facts.prompt_hash, prompt_prefix_hash=self.facts.prefix_hash,
                prompt_prefix_tokens=min(self.facts.prefix_tokens, 2**32 - 1), max_tokens=self.facts.max_tokens,
                source_id=f"gateway:{uuid.uuid4().hex}", api_key_id=self.caller.key_id, tags=tags)
        except RowError:
            return  # no model named anywhere: the provider refused it too
        try:
            await self.services.intake.write([row], key_id=self.caller.key_id, source="gateway", dedupe=False)
        except Exception as exc:
            log.warning("gateway_usage_not_stored", provider=self.provider.name, error_type=type(exc).__name__)
