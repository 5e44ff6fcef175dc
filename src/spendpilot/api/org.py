"""The caller's organisation over REST: its members and roles, invitations, leaving, the audit log."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, EmailStr, Field

from spendpilot.api.auth import TokenPair
from spendpilot.api.deps import (
    AccountManager,
    AuditReader,
    ClientDep,
    LinkBase,
    MembersManager,
    MembersReader,
    OrgManager,
    ServicesDep,
)
from spendpilot.auth.permissions import Role
from spendpilot.store import audit

router = APIRouter(tags=["org"])


class OrgUpdate(BaseModel):
    # One line of visible text: the name goes into mail subjects and page titles.
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$")


class RoleChange(BaseModel):
    role: Role


class InvitationCreate(BaseModel):
    email: EmailStr
    role: Role = Role.VIEWER


@router.get("/api/org")
async def get_org(principal: MembersReader, services: ServicesDep):
    return await services.members.org(principal)


@router.patch("/api/org")
async def rename_org(body: OrgUpdate, principal: OrgManager, services: ServicesDep, client: ClientDep):
    return await services.members.rename(principal, body.name, client.ip)


@router.get("/api/org/members")
async def list_members(principal: MembersReader, services: ServicesDep):
    return await services.members.list(principal)


@router.patch("/api/org/members/{user_id}")
async def change_role(user_id: str, body: RoleChange, principal: MembersManager, services: ServicesDep,
                      client: ClientDep):
    """A new role, effective on the member's next request; the last admin keeps theirs (409)."""
    return await services.members.change_role(principal, user_id, body.role, client.ip)


@router.delete("/api/org/members/{user_id}", status_code=204)
async def remove_member(user_id: str, principal: MembersManager, services: ServicesDep, client: ClientDep):
    """Remove a member: their sessions for this org end and their sockets close (1008) at once."""
    await services.members.remove(principal, user_id, client.ip)
    return Response(status_code=204)


@router.post("/api/org/leave", status_code=204)
async def leave_org(principal: AccountManager, services: ServicesDep, client: ClientDep):
    """Leave the organisation of this session (not as its last admin); the session ends with it."""
    await services.members.leave(principal, client.ip)
    return Response(status_code=204)


@router.post("/api/org/invitations", status_code=201)
async def invite(body: InvitationCreate, principal: MembersManager, services: ServicesDep, link: LinkBase,
                 client: ClientDep):
    """Invite an address with a role: {id, token, url, expires_at, ...}; the link is shown only here and in the mail."""
    return await services.invitations.create(principal, str(body.email), body.role, link, client.ip)


@router.get("/api/org/invitations")
async def list_invitations(principal: MembersManager, services: ServicesDep):
    return await services.invitations.pending(principal)


@router.delete("/api/org/invitations/{invitation_id}", status_code=204)
async def revoke_invitation(invitation_id: str, principal: MembersManager, services: ServicesDep, client: ClientDep):
    await services.invitations.revoke(principal, invitation_id, client.ip)
    return Response(status_code=204)


@router.post("/api/org/invitations/{token}/accept", response_model=TokenPair)
async def accept_invitation(token: str, principal: AccountManager, services: ServicesDep, client: ClientDep):
    """Join the invitation's org as the signed-in user; answers a token pair for it (the session moves there)."""
    return await services.invitations.accept(principal, token, client)


@router.get("/api/org/audit")
async def audit_log(principal: AuditReader, services: ServicesDep,
                    limit: int = Query(default=50, ge=1, le=audit.MAX_PAGE),
                    cursor: str | None = Query(default=None, max_length=200),
                    action: str | None = Query(default=None, max_length=60),
                    actor: str | None = Query(default=None, max_length=40)):
    """Who did what and when, newest first; pass `next_cursor` back as `cursor` for the next page."""
    return await audit.page(services.db, principal.org_id, limit=limit, cursor=cursor, action=action, actor_id=actor)
