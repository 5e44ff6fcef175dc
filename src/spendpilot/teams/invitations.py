"""Invitations: an admin invites an address with a role; the link joins it at sign-up or by accepting.

The link carries a random token in the URL fragment (`/#/join/<token>`), which browsers never send
to a server or in a Referer. Only the token's hash is stored, so the link is shown once: in the
response to the admin who created it, and in the mail. The log says an invitation was sent,
never the link. An invitation is for its address: whoever joins with it must sign up or be signed
in with that email.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select, update

from spendpilot.auth.account import token_hash
from spendpilot.auth.mail import Mailer
from spendpilot.auth.permissions import Role
from spendpilot.auth.service import AuthService, ClientInfo, Joining, Principal, claim_invitation, revoke_sessions
from spendpilot.clock import as_utc, iso, utcnow
from spendpilot.errors import Conflict, Forbidden, InvalidInput, NotFound
from spendpilot.ids import new_id
from spendpilot.store import audit
from spendpilot.store.database import Database
from spendpilot.store.models import Invitation, Membership, Org, User


def join_link(link_base: str, token: str) -> str:
    return f"{link_base.rstrip('/')}/#/join/{token}"


def invitation_view(invitation: Invitation, inviter_email: str | None = None) -> dict:
    return {"id": invitation.id, "email": invitation.email, "role": invitation.role,
            "created_at": iso(invitation.created_at), "expires_at": iso(invitation.expires_at),
            "invited_by": {"id": invitation.invited_by, "email": inviter_email}}


def _usable(invitation: Invitation | None) -> Invitation:
    if (invitation is None or invitation.accepted_at is not None or invitation.revoked_at is not None
            or as_utc(invitation.expires_at) <= utcnow()):
        raise NotFound("invalid_invitation", "this invitation has expired, was withdrawn or was already used")
    return invitation


class Invitations:
    def __init__(self, db: Database, auth: AuthService, mailer: Mailer, ttl_s: int):
        self.db = db
        self.auth = auth
        self.mailer = mailer
        self.ttl_s = ttl_s

    async def create(self, principal: Principal, email: str, role: Role, link_base: str, ip: str | None) -> dict:
        email = email.strip().lower()
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with self.db.session() as s:
            member = await s.scalar(select(User.id).join(Membership, Membership.user_id == User.id)
                                    .where(User.email == email, Membership.org_id == principal.org_id))
            if member is not None:
                raise Conflict("already_member", f"{email} is already a member of this organisation")
            org = await s.get(Org, principal.org_id)
            if org is None:
                raise NotFound.of("organisation")
            # A new invitation for the same address replaces any still pending: one live link each.
            await s.execute(update(Invitation).where(Invitation.org_id == principal.org_id, Invitation.email == email,
                                                     Invitation.accepted_at.is_(None),
                                                     Invitation.revoked_at.is_(None)).values(revoked_at=now))
            invitation = Invitation(id=new_id("inv"), org_id=principal.org_id, email=email, role=role,
                                    token_hash=token_hash(token), invited_by=principal.user_id, created_at=now,
                                    expires_at=now + timedelta(seconds=self.ttl_s))
            s.add(invitation)
            await audit.record(s, org_id=principal.org_id, action="member.invited", actor=principal,
                               target_type="invitation", target_id=invitation.id,
                               detail={"email": email, "role": str(role)}, ip=ip)
            await s.commit()
        url = join_link(link_base, token)
        days = max(1, self.ttl_s // 86400)
        delivery = await self.mailer.send(
            "invitation", email, f"{principal.email} invited you to {org.name} on Spendpilot",
            f"{principal.email} invited you to join {org.name} on Spendpilot as {role}.\n\n"
            f"Open this link within {days} day{'s' if days != 1 else ''} to join:\n\n{url}\n\n"
            f"Create an account with this address ({email}) or sign in to one you already have.\n")
        return {**invitation_view(invitation, principal.email), "token": token, "url": url, "mail": str(delivery)}

    async def pending(self, principal: Principal) -> list[dict]:
        async with self.db.session() as s:
            rows = (await s.execute(
                select(Invitation, User.email).join(User, User.id == Invitation.invited_by, isouter=True)
                .where(Invitation.org_id == principal.org_id, Invitation.accepted_at.is_(None),
                       Invitation.revoked_at.is_(None), Invitation.expires_at > utcnow())
                .order_by(Invitation.created_at.desc()))).all()
        return [invitation_view(invitation, inviter) for invitation, inviter in rows]

    async def revoke(self, principal: Principal, invitation_id: str, ip: str | None) -> None:
        async with self.db.session() as s:
            invitation = await s.get(Invitation, invitation_id)
            if invitation is None or invitation.org_id != principal.org_id:
                raise NotFound.of("invitation")
            if invitation.accepted_at is None and invitation.revoked_at is None:
                invitation.revoked_at = utcnow()
                await audit.record(s, org_id=principal.org_id, action="member.invitation_revoked", actor=principal,
                                   target_type="invitation", target_id=invitation.id,
                                   detail={"email": invitation.email, "role": invitation.role}, ip=ip)
                await s.commit()

    async def preview(self, token: str) -> dict:
        """What the join page shows before anyone signs in: the org, the address and the role."""
        async with self.db.session() as s:
            invitation = _usable(await s.scalar(select(Invitation).where(Invitation.token_hash == token_hash(token))))
            org = await s.get(Org, invitation.org_id)
            inviter = await s.get(User, invitation.invited_by)
            account = await s.scalar(select(User.id).where(User.email == invitation.email))
        return {"org": {"id": invitation.org_id, "name": org.name if org else ""}, "email": invitation.email,
                "role": invitation.role, "expires_at": iso(invitation.expires_at),
                "invited_by": inviter.email if inviter else None, "account_exists": account is not None}

    async def joining_for(self, token: str, email: str) -> Joining:
        """Registration through an invitation: it must be live and for the address signing up."""
        async with self.db.session() as s:
            invitation = await s.scalar(select(Invitation).where(Invitation.token_hash == token_hash(token)))
        try:
            invitation = _usable(invitation)
        except NotFound as exc:
            raise InvalidInput("invalid_invitation", exc.message) from exc
        if invitation.email != email.strip().lower():
            raise InvalidInput("invitation_email_mismatch",
                               f"this invitation is for {invitation.email}; sign up with that address")
        return Joining(invitation.org_id, Role(invitation.role), invitation.id)

    async def accept(self, principal: Principal, token: str, client: ClientInfo) -> dict:
        """A signed-in user joins the invitation's org; the session moves there (a new token pair)."""
        async with self.db.session() as s:
            invitation = _usable(await s.scalar(select(Invitation).where(Invitation.token_hash == token_hash(token))))
            user = await s.get(User, principal.user_id)
            if user is None:
                raise NotFound.of("user")
            if invitation.email != user.email:
                raise Forbidden("invitation_email_mismatch",
                                f"this invitation is for {invitation.email}; sign in with that address to accept it")
            if await s.get(Membership, (invitation.org_id, user.id)) is not None:
                raise Conflict("already_member", "you are already a member of this organisation")
            # Claimed first: of two concurrent accepts, the second finds it used instead of a duplicate member.
            await claim_invitation(s, invitation.id, user)
            s.add(Membership(org_id=invitation.org_id, user_id=user.id, role=invitation.role, created_at=utcnow()))
            user.org_id = invitation.org_id
            ended = await revoke_sessions(s, user_id=user.id, only=[principal.session_id])
            await audit.record(s, org_id=invitation.org_id, action="member.joined", actor=principal,
                               target_type="user", target_id=user.id,
                               detail={"role": invitation.role, "invitation": invitation.id, "new_account": False},
                               ip=client.ip)
            await s.commit()
        await self.auth.close_sockets(user.id, ended, "joined another organisation")
        return await self.auth.start_session(user, invitation.org_id, client, "invitation")
