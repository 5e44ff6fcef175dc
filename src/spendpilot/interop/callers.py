"""Who is calling the MCP server: an org API key with the `read` scope, or a person's access token.

The MCP authorization spec makes /mcp an OAuth protected resource: a request without usable
credentials gets 401 with `WWW-Authenticate: Bearer resource_metadata="..."`, naming the document
(RFC 9728) that tells the client how to get a token; a credential that may not read usage gets 403
with `error="insufficient_scope"`. Both keep Spendpilot's JSON error body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from spendpilot.api.deps import get_services, presented_key
from spendpilot.auth.permissions import allowed, check_declared, key_allowed
from spendpilot.auth.tokens import TokenError
from spendpilot.errors import Forbidden, Unauthorized

# What every MCP tool does: read the org's usage (budgets and forecasts included). Viewers may, and so
# may keys with the `read` scope.
MCP_ACTION = check_declared("usage.read")
RESOURCE_METADATA_PATH = "/.well-known/oauth-protected-resource"
MCP_PATH = "/mcp"


@dataclass(frozen=True)
class McpCaller:
    """An authenticated MCP caller: always an org, a person only when it came with an access token."""

    org_id: str
    user_id: str | None
    via: str  # "api_key" | "access_token"


def public_base(request: Request) -> str:
    """The address clients reach this server at: SPENDPILOT_PUBLIC_URL, else what the request was sent to."""
    configured = get_services(request).settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


def challenge(request: Request, error: str | None = None, scope: str | None = None) -> dict[str, str]:
    """The WWW-Authenticate header of a refusal (RFC 6750 §3, RFC 9728 §5.1)."""
    parts = [f'resource_metadata="{public_base(request)}{RESOURCE_METADATA_PATH}"']
    if error:
        parts.append(f'error="{error}"')
    if scope:
        parts.append(f'scope="{scope}"')
    return {"WWW-Authenticate": "Bearer " + ", ".join(parts)}


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def mcp_caller(request: Request) -> McpCaller:
    """The dependency every MCP route takes; it declares MCP_ACTION for the table of rights."""
    services = get_services(request)
    key = presented_key(request)  # `Authorization: Bearer sp_...` or `x-spendpilot-key`
    if key is not None:
        principal = await services.api_keys.authenticate(key)
        if principal is None:
            raise Unauthorized("invalid_token", "the API key is not valid (unknown or revoked)",
                               headers=challenge(request, "invalid_token"))
        if not key_allowed(principal.scopes, MCP_ACTION):
            raise Forbidden("insufficient_scope", "this API key lacks the read scope that MCP needs",
                            headers=challenge(request, "insufficient_scope", "read"))
        return McpCaller(principal.org_id, None, "api_key")
    token = _bearer(request)
    if token is None:
        raise Unauthorized("unauthorized", "send an API key with the read scope or an access token as "
                           "Authorization: Bearer ...", headers=challenge(request))
    try:
        user = await services.auth.authenticate(token)
    except TokenError as exc:
        raise Unauthorized("invalid_token", str(exc), headers=challenge(request, "invalid_token")) from exc
    if not allowed(user.role, MCP_ACTION):
        raise Forbidden("forbidden", f"your role ({user.role}) may not read usage",
                        headers=challenge(request, "insufficient_scope", "read"))
    return McpCaller(user.org_id, user.user_id, "access_token")


mcp_caller.action = MCP_ACTION  # type: ignore[attr-defined]


def caller_of(request: Any) -> McpCaller:
    """The caller the /mcp route authenticated, as the MCP handlers find it on the request they serve."""
    caller = request.scope.get("state", {}).get("mcp_caller") if request is not None else None
    if not isinstance(caller, McpCaller):
        raise RuntimeError("MCP request without an authenticated caller")
    return caller
