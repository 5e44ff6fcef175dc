"""The /auth routes and the JWKS document."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, EmailStr, Field

from spendpilot.api.deps import PUBLIC_ROUTE, AccountUser, ClientDep, ServicesDep, client_info
from spendpilot.auth import oauth
from spendpilot.auth.service import permissions_of, user_view
from spendpilot.auth.tokens import EXCHANGE_TTL_S
from spendpilot.errors import AppError, Forbidden, NotFound, error_body
from spendpilot.logs import get_logger
from spendpilot.services import Services

log = get_logger(__name__)

router = APIRouter(tags=["auth"])
Public = [PUBLIC_ROUTE]


class RegisterBody(BaseModel):
    email: EmailStr
    password: str = Field(max_length=1024)
    name: str | None = Field(default=None, max_length=200)
    # The token of an invitation link: the account joins that org with its role instead of
    # getting an org of its own.
    invitation: str | None = Field(default=None, min_length=1, max_length=200)


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


@router.post("/auth/register", status_code=201, response_model=TokenPair, dependencies=Public)
async def register(body: RegisterBody, services: ServicesDep, client: ClientDep):
    joining = await services.invitations.joining_for(body.invitation, body.email) if body.invitation else None
    return await services.auth.register(body.email, body.password, body.name, client, joining)


@router.post("/auth/login", response_model=TokenPair, dependencies=Public)
async def login(body: LoginBody, services: ServicesDep, client: ClientDep):
    return await services.auth.login(body.email, body.password, client)


@router.post("/auth/refresh", response_model=TokenPair, dependencies=Public)
async def refresh(body: RefreshBody, services: ServicesDep):
    return await services.auth.refresh(body.refresh_token)


@router.post("/auth/logout", status_code=204, dependencies=Public)
async def logout(body: RefreshBody, services: ServicesDep):
    await services.auth.logout(body.refresh_token)
    return Response(status_code=204)


@router.get("/auth/me")
async def me(principal: AccountUser, services: ServicesDep):
    """The caller, the org of this session with their role and rights there, and every org they belong to."""
    user = await services.auth.get_user(principal.user_id)
    if user is None:
        raise NotFound.of("user")
    orgs = await services.auth.orgs_of(user.id)
    current = next((o for o in orgs if o["id"] == principal.org_id), {"name": ""})
    return {**user_view(user, principal.org_id, principal.role), "org_name": current["name"],
            "permissions": permissions_of(principal.role), "orgs": orgs}


@router.get("/auth/providers", dependencies=Public)
async def providers(services: ServicesDep):
    return services.oauth.listing()


def _cookie_secure(services: Services, request: Request) -> bool:
    """Secure everywhere except a development server reached over plain HTTP (localhost, a LAN box)."""
    settings = services.settings
    return settings.behind_tls or settings.env == "production" or request.url.scheme == "https"


def _set_cookie(response: Response, request: Request, services: Services, name: str, value: str, max_age: int,
                same_site: Literal["lax", "strict"]) -> None:
    response.set_cookie(name, value, max_age=max_age, path=oauth.COOKIE_PATH, httponly=True,
                        secure=_cookie_secure(services, request), samesite=same_site)


def _same_origin(services: Services, request: Request) -> bool:
    """True unless the browser says the request comes from another site (no Origin: not a browser POST)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    allowed = {request.headers.get("host", "")}
    if services.settings.public_url:
        allowed.add(urlsplit(services.settings.public_url).netloc)
    return urlsplit(origin).netloc in allowed


def _redirect_uri(services: Services, request: Request, provider_id: str) -> str:
    base = services.settings.public_url or str(request.base_url)
    return f"{base.rstrip('/')}/auth/oauth/{provider_id}/callback"


@router.get("/auth/oauth/{provider_id}/login", include_in_schema=False, dependencies=Public)
async def oauth_login(provider_id: str, request: Request, services: ServicesDep):
    """Send the browser to the provider, remembering state, nonce and PKCE verifier in a signed cookie."""
    provider = services.oauth.get(provider_id)
    try:
        url, state_cookie = await services.oauth.begin(provider, _redirect_uri(services, request, provider.id))
    except oauth.SignInError as exc:
        raise AppError(exc.code, exc.message, status=exc.status) from exc
    response = RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
    # Lax: the provider brings the browser back with a top-level GET from another site.
    _set_cookie(response, request, services, oauth.STATE_COOKIE, state_cookie, oauth.STATE_TTL_S, "lax")
    return response


@router.get("/auth/oauth/{provider_id}/callback", include_in_schema=False, dependencies=Public)
async def oauth_callback(provider_id: str, request: Request, services: ServicesDep):
    """Finish the code flow, then hand a one-time code to the web app in a cookie, never in the URL."""
    provider = services.oauth.get(provider_id)
    params = {k: v for k, v in request.query_params.items() if k in ("code", "state", "error")}
    response = RedirectResponse("/#/oauth", status_code=303, headers={"Cache-Control": "no-store"})
    response.delete_cookie(oauth.STATE_COOKIE, path=oauth.COOKIE_PATH, httponly=True,
                           secure=_cookie_secure(services, request), samesite="lax")
    try:
        identity = await services.oauth.complete(provider, params, request.cookies.get(oauth.STATE_COOKIE))
        code = await services.auth.start_oauth_session(identity.email, identity.name, client_info(request))
    except oauth.SignInError as exc:
        log.info("oauth_sign_in_refused", provider=provider.id, code=exc.code)
        failure = services.oauth.sign({"type": "oauth_failure", "code": exc.code, "message": exc.message,
                                       "status": exc.status}, oauth.FAILURE_TTL_S)
        _set_cookie(response, request, services, oauth.FAILURE_COOKIE, failure, oauth.FAILURE_TTL_S, "strict")
        return response
    log.info("oauth_sign_in", provider=provider.id)
    _set_cookie(response, request, services, oauth.EXCHANGE_COOKIE, code, EXCHANGE_TTL_S, "strict")
    return response


@router.post("/auth/oauth/session", response_model=TokenPair, dependencies=Public)
@router.post("/auth/oauth/exchange", response_model=TokenPair, include_in_schema=False, dependencies=Public)
async def oauth_exchange(request: Request, services: ServicesDep):
    """Redeem the one-time code from the callback's cookie for a token pair (once, within 60 s)."""
    if not _same_origin(services, request):
        # SameSite=Strict already keeps the cookie off cross-site requests; this covers older browsers.
        raise Forbidden("forbidden", "sign-in can only be completed by Spendpilot's own web app")
    code = request.cookies.get(oauth.EXCHANGE_COOKIE)
    failure = request.cookies.get(oauth.FAILURE_COOKIE)
    secure = _cookie_secure(services, request)
    if code:
        try:
            body, status = await services.auth.redeem_exchange(code), 200
        except AppError as exc:
            body, status = error_body(exc.code, exc.message), exc.status
    elif failure and (claims := services.oauth.unsign(failure, "oauth_failure")):
        body, status = error_body(str(claims.get("code")), str(claims.get("message"))), int(claims.get("status", 400))
    else:
        body, status = error_body("no_sign_in", "there is no provider sign-in to complete"), 401
    response = JSONResponse(body, status, headers={"Cache-Control": "no-store"})
    for name in (oauth.EXCHANGE_COOKIE, oauth.FAILURE_COOKIE):
        response.delete_cookie(name, path=oauth.COOKIE_PATH, httponly=True, secure=secure, samesite="strict")
    return response


@router.get("/.well-known/jwks.json", dependencies=Public)
async def jwks(services: ServicesDep):
    return services.keys.jwks()
