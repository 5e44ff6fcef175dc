"""Request dependencies: the service container and the authenticated principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from spendpilot.auth.service import Principal
from spendpilot.auth.tokens import TokenError
from spendpilot.errors import Unauthorized
from spendpilot.services import Services

_bearer = HTTPBearer(auto_error=False, description="Access token from /auth/login")


def get_services(request: Request) -> Services:
    return request.app.state.services


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    services: Services = request.app.state.services
    if credentials is None:
        raise Unauthorized("unauthorized", "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    try:
        return await services.auth.authenticate(credentials.credentials)
    except TokenError as exc:
        raise Unauthorized("unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc


ServicesDep = Annotated[Services, Depends(get_services)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
