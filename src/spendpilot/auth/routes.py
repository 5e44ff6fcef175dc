"""The /auth routes and the JWKS document."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, EmailStr, Field

from spendpilot.api.deps import PrincipalDep, ServicesDep
from spendpilot.auth.service import user_view
from spendpilot.errors import not_found

router = APIRouter(tags=["auth"])


class RegisterBody(BaseModel):
    email: EmailStr
    password: str = Field(max_length=1024)
    name: str | None = Field(default=None, max_length=200)


class LoginBody(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class RefreshBody(BaseModel):
    refresh_token: str = Field(max_length=4096)


class TokenPair(BaseModel):
    user: dict
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int


@router.post("/auth/register", status_code=201, response_model=TokenPair)
async def register(body: RegisterBody, services: ServicesDep):
    return await services.auth.register(body.email, body.password, body.name)


@router.post("/auth/login", response_model=TokenPair)
async def login(body: LoginBody, request: Request, services: ServicesDep):
    ip = request.client.host if request.client else "unknown"
    return await services.auth.login(body.email, body.password, ip)


@router.post("/auth/refresh", response_model=TokenPair)
async def refresh(body: RefreshBody, services: ServicesDep):
    return await services.auth.refresh(body.refresh_token)


@router.post("/auth/logout", status_code=204)
async def logout(body: RefreshBody, services: ServicesDep):
    await services.auth.logout(body.refresh_token)
    return Response(status_code=204)


@router.get("/auth/me")
async def me(principal: PrincipalDep, services: ServicesDep):
    user = await services.auth.get_user(principal.user_id)
    if user is None:
        raise not_found("user")
    return user_view(user)


@router.get("/auth/providers")
async def providers(services: ServicesDep):
    return services.oauth_providers()


@router.get("/.well-known/jwks.json")
async def jwks(services: ServicesDep):
    return services.keys.jwks()
