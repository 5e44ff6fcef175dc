"""Request dependencies: the service container, and the caller authorised for one declared action.

A route states what it does by the caller it takes (`UsageReader`, `ChatUser`, ...), each bound
to one action, or by `PUBLIC_ROUTE` for routes without a token; the action's roles come from
auth.permissions, the one table of rights.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from spendpilot.auth.api_keys import KeyPrincipal
from spendpilot.auth.permissions import PUBLIC, allowed, check_declared, key_allowed
from spendpilot.auth.service import ClientInfo, Principal
from spendpilot.auth.tokens import TokenError
from spendpilot.errors import Forbidden, Unauthorized
from spendpilot.services import Services

_bearer = HTTPBearer(auto_error=False, description="Access token from /auth/login")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _services(request: Request) -> Services:
    # A coroutine, so FastAPI resolves it on the event loop: a plain function dependency costs every request a
    # round trip through the worker thread pool (measurable on the gateway's first byte under load).
    return get_services(request)


async def authenticated(request: Request,
                        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
    services = get_services(request)
    if credentials is None:
        raise Unauthorized("unauthorized", "missing bearer token", headers=_CHALLENGE)
    try:
        return await services.auth.authenticate(credentials.credentials)
    except TokenError as exc:
        raise Unauthorized("unauthorized", str(exc), headers=_CHALLENGE) from exc


def requirement(action: str) -> Any:
    """The dependency that lets through a caller whose role may take `action`; carries `.action`."""
    check_declared(action)

    async def authorise(principal: Principal = Depends(authenticated)) -> Principal:
        if not allowed(principal.role, action):
            raise Forbidden("forbidden", f"your role ({principal.role}) may not do this ({action})")
        return principal

    authorise.action = action  # type: ignore[attr-defined]
    # Who this caller is (a signed-in member); other callers, such as org API keys, name their own.
    authorise.caller = "member"  # type: ignore[attr-defined]
    return authorise


# Where a request may carry an org API key: `Authorization: Bearer sp_...` or `x-spendpilot-key: sp_...`.
KEY_HEADER = "x-spendpilot-key"
ANY_KEY_CARRIER = ("authorization", KEY_HEADER)


def presented_key(request: Request, carriers: tuple[str, ...] = ANY_KEY_CARRIER) -> str | None:
    for carrier in carriers:
        value = request.headers.get(carrier)
        if not value:
            continue
        if carrier == "authorization":
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip().startswith("sp_"):
                return token.strip()
            continue
        return value.strip()
    return None


def key_requirement(action: str, carriers: tuple[str, ...] = ANY_KEY_CARRIER) -> Any:
    """The dependency that lets through a request carrying an org API key whose scopes allow `action`.

    On gateway routes `Authorization` belongs to the provider, so they name only the x-spendpilot-key carrier.
    """
    check_declared(action)
    names = " or ".join("Authorization: Bearer sp_..." if c == "authorization" else f"{c}: sp_..." for c in carriers)

    async def authorise(request: Request) -> KeyPrincipal:
        key = presented_key(request, carriers)
        if not key:
            raise Unauthorized("missing_api_key", f"send an org API key as {names}")
        principal = await get_services(request).api_keys.authenticate(key)
        if principal is None:
            raise Unauthorized("invalid_api_key", "the API key is not valid (unknown or revoked)")
        if not key_allowed(principal.scopes, action):
            raise Unauthorized("insufficient_scope", f"this API key may not do this ({action}); "
                                                     f"its scopes: {', '.join(sorted(principal.scopes))}")
        return principal

    authorise.action = action  # type: ignore[attr-defined]
    # Who this caller is: an org API key (scoped), not a signed-in member (role-based).
    authorise.caller = "api_key"  # type: ignore[attr-defined]
    return authorise


async def _public() -> None:
    """Declares a route callable without a token."""


_public.action = PUBLIC  # type: ignore[attr-defined]
PUBLIC_ROUTE = Depends(_public)

ServicesDep = Annotated[Services, Depends(_services)]

def client_info(request: Request) -> ClientInfo:
    """Where a request comes from, for sessions and the audit log (behind proxies: uvicorn's forwarded_allow_ips)."""
    return ClientInfo(request.client.host if request.client else None,
                      request.headers.get("user-agent", "")[:300] or None)


def link_base(request: Request) -> str:
    """The address links in mail and invitations start with: SPENDPILOT_PUBLIC_URL when set. Without
    it (development) the request's own address; production refuses to mail without it (preflight)."""
    services = get_services(request)
    return (services.settings.public_url or str(request.base_url)).rstrip("/")


ClientDep = Annotated[ClientInfo, Depends(client_info)]
LinkBase = Annotated[str, Depends(link_base)]

# The caller, authorised for one action: what a route's signature names.
AccountUser = Annotated[Principal, Depends(requirement("account.read"))]
AccountManager = Annotated[Principal, Depends(requirement("account.manage"))]
MembersReader = Annotated[Principal, Depends(requirement("members.read"))]
MembersManager = Annotated[Principal, Depends(requirement("members.manage"))]
AuditReader = Annotated[Principal, Depends(requirement("audit.read"))]
OrgManager = Annotated[Principal, Depends(requirement("org.manage"))]
ChatUser = Annotated[Principal, Depends(requirement("chat.use"))]
ChatSharer = Annotated[Principal, Depends(requirement("chat.share"))]
UsageReader = Annotated[Principal, Depends(requirement("usage.read"))]
UsageImporter = Annotated[Principal, Depends(requirement("usage.import"))]
BudgetReader = Annotated[Principal, Depends(requirement("budgets.read"))]
BudgetWriter = Annotated[Principal, Depends(requirement("budgets.write"))]
AlertReader = Annotated[Principal, Depends(requirement("alerts.read"))]
KeyManager = Annotated[Principal, Depends(requirement("keys.manage"))]
ConnectorAdmin = Annotated[Principal, Depends(requirement("connectors.manage"))]
# Org API key callers: the OTLP receiver (either carrier) and the gateway (x-spendpilot-key only).
IngestKey = Annotated[KeyPrincipal, Depends(key_requirement("usage.ingest"))]
GatewayKey = Annotated[KeyPrincipal, Depends(key_requirement("usage.ingest", (KEY_HEADER,)))]
