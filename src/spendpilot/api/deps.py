"""Request dependencies: the service container, and the caller authorised for one declared action.

A route states what it does by the caller it takes (`UsageReader`, `ChatUser`, ...), each bound
to one action, or by `PUBLIC_ROUTE` for routes without a token; the action's roles come from
auth.permissions, the one table of rights.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from spendpilot.auth.permissions import PUBLIC, allowed, check_declared
from spendpilot.auth.service import Principal
from spendpilot.auth.tokens import TokenError
from spendpilot.errors import Forbidden, Unauthorized
from spendpilot.services import Services

_bearer = HTTPBearer(auto_error=False, description="Access token from /auth/login")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


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
    return authorise


async def _public() -> None:
    """Declares a route callable without a token."""


_public.action = PUBLIC  # type: ignore[attr-defined]
PUBLIC_ROUTE = Depends(_public)

ServicesDep = Annotated[Services, Depends(get_services)]

# The caller, authorised for one action: what a route's signature names.
AccountUser = Annotated[Principal, Depends(requirement("account.read"))]
ChatUser = Annotated[Principal, Depends(requirement("chat.use"))]
UsageReader = Annotated[Principal, Depends(requirement("usage.read"))]
UsageImporter = Annotated[Principal, Depends(requirement("usage.import"))]
ConnectorAdmin = Annotated[Principal, Depends(requirement("connectors.manage"))]
