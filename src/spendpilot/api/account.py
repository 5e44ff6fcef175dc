"""One's own account over REST: password change and reset, sessions, switching org, invitation preview."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, EmailStr, Field

from spendpilot.api.auth import TokenPair
from spendpilot.api.deps import PUBLIC_ROUTE, AccountManager, AccountUser, ClientDep, LinkBase, ServicesDep

router = APIRouter(tags=["account"])
Public = [PUBLIC_ROUTE]


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class ResetRequest(BaseModel):
    email: EmailStr


class ResetConfirm(BaseModel):
    token: str = Field(min_length=1, max_length=200)
    password: str = Field(max_length=1024)


class SwitchOrg(BaseModel):
    org_id: str = Field(min_length=1, max_length=40)


class InvitationToken(BaseModel):
    token: str = Field(min_length=1, max_length=200)


@router.post("/auth/password")
async def change_password(body: PasswordChange, principal: AccountManager, services: ServicesDep, client: ClientDep):
    """Set a new password (the current one is required); every other session of the account ends."""
    ended = await services.accounts.change_password(principal, body.current_password, body.new_password, client.ip)
    return {"sessions_ended": ended}


@router.post("/auth/password-reset/request", status_code=202, dependencies=Public)
async def request_password_reset(body: ResetRequest, services: ServicesDep, link: LinkBase):
    """Mail a reset link if the address has an account. The answer is the same either way."""
    services.accounts.request_reset(str(body.email), link)
    return {"status": "accepted",
            "message": "If an account uses this address, a link to reset its password is on its way."}


@router.post("/auth/password-reset/confirm", status_code=204, dependencies=Public)
async def confirm_password_reset(body: ResetConfirm, services: ServicesDep, client: ClientDep):
    """Set the password named by a reset link (once); every session of the account ends."""
    await services.accounts.confirm_reset(body.token, body.password, client.ip)
    return Response(status_code=204)


@router.get("/auth/sessions")
async def list_sessions(principal: AccountUser, services: ServicesDep):
    return await services.accounts.sessions(principal)


@router.delete("/auth/sessions/{session_id}", status_code=204)
async def revoke_session(session_id: str, principal: AccountManager, services: ServicesDep, client: ClientDep):
    await services.accounts.revoke_session(principal, session_id, client.ip)
    return Response(status_code=204)


@router.post("/auth/switch-org", response_model=TokenPair)
async def switch_org(body: SwitchOrg, principal: AccountManager, services: ServicesDep, client: ClientDep):
    """A token pair for another org the caller belongs to; the presented session ends."""
    return await services.auth.switch_org(principal, body.org_id, client)


@router.post("/auth/invitation", dependencies=Public)
async def preview_invitation(body: InvitationToken, services: ServicesDep):
    """What an invitation link offers (org, address, role), for the page that opens it before sign-in."""
    return await services.invitations.preview(body.token)
