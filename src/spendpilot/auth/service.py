"""Accounts and sign-in sessions: register, login, refresh with rotation and reuse detection, logout,
switching organisation, and who the caller of a request is.

A session (token family) belongs to one organisation. What its user may do there is read from
their membership each time a token is authenticated, so a role change or a removal applies to
the very next request, on every instance, without waiting for tokens to expire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from spendpilot.auth.passwords import hash_password, password_problem, verify_password
from spendpilot.auth.permissions import ACTIONS, Role
from spendpilot.auth.tokens import Claims, TokenError, TokenService
from spendpilot.bus import control
from spendpilot.bus.base import EventBus
from spendpilot.bus.control import close_sessions
from spendpilot.clock import as_utc, utcnow
from spendpilot.errors import AppError, Conflict, InvalidInput, NotFound, RateLimited, Unauthorized
from spendpilot.ids import new_id
from spendpilot.limits import RateLimit
from spendpilot.store import audit
from spendpilot.store.database import Database
from spendpilot.store.models import Invitation, Membership, Org, RefreshToken, TokenFamily, User


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request or socket: a user, in one org, with their role there now."""

    user_id: str
    org_id: str
    email: str
    exp: int
    role: Role
    # The sign-in (token family) the token belongs to.
    session_id: str


@dataclass(frozen=True)
class ClientInfo:
    """Where a sign-in comes from, as the sessions list and the audit log show it."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Joining:
    """Registering through an invitation: the org and role it grants, claimed with the account."""

    org_id: str
    role: Role
    invitation_id: str


def user_view(user: User, org_id: str, role: Role | str) -> dict:
    return {"id": user.id, "email": user.email, "name": user.name, "org": org_id, "role": str(role)}


def permissions_of(role: Role | str) -> list[str]:
    """The actions a role may take, for clients that show or hide controls by them."""
    return sorted(action for action, roles in ACTIONS.items() if Role(role) in roles)


class AuthService:
    def __init__(self, db: Database, tokens: TokenService, bus: EventBus, *, failed_logins_per_account: RateLimit,
                 failed_logins_per_ip: RateLimit):
        self.db = db
        self.tokens = tokens
        self.bus = bus
        self.fail_by_account = failed_logins_per_account
        self._fail_by_ip = failed_logins_per_ip

    # Accounts ----------------------------------------------------------------------------------

    async def create_user(self, email: str, password: str | None, name: str = "", org_id: str | None = None,
                          role: Role = Role.ADMIN, joining: Joining | None = None) -> User:
        """A new account and its membership: of `joining`'s org, of `org_id`, or of a new org of its own."""
        email = email.strip().lower()
        password_hash = await hash_password(password) if password is not None else None
        now = utcnow()
        async with self.db.session() as s:
            if joining is not None:
                org_id, role = joining.org_id, joining.role
            elif org_id is None:
                org_id = await self._new_org(s, name or email)
            user = User(id=new_id("usr"), org_id=org_id, email=email, name=name or email.split("@")[0],
                        password_hash=password_hash, created_at=now)
            s.add(user)
            try:
                await s.flush()
            except IntegrityError as exc:
                raise Conflict("email_taken", "an account with this email already exists") from exc
            s.add(Membership(org_id=org_id, user_id=user.id, role=role, created_at=now))
            if joining is not None:
                await claim_invitation(s, joining.invitation_id, user)
                await audit.record(s, org_id=org_id, action="member.joined", actor=audit.Someone(user.id, email),
                                   target_type="user", target_id=user.id,
                                   detail={"role": str(role), "invitation": joining.invitation_id, "new_account": True})
            await s.commit()
        return user

    async def _new_org(self, s: AsyncSession, owner: str) -> str:
        org_id = new_id("org")
        s.add(Org(id=org_id, name=f"{owner}'s organisation", created_at=utcnow()))
        await s.flush()
        return org_id

    async def register(self, email: str, password: str, name: str | None, client: ClientInfo,
                       joining: Joining | None = None) -> dict:
        problem = password_problem(password)
        if problem:
            raise InvalidInput("weak_password", problem)
        user = await self.create_user(email, password, name or "", joining=joining)
        return await self.start_session(user, user.org_id, client, "register")

    async def login(self, email: str, password: str, client: ClientInfo) -> dict:
        account = email.strip().lower()
        ip = client.ip or "unknown"
        # Each attempt takes a place in both windows before the password is checked, so that
        # concurrent guesses (on any instance) are counted before any of them is judged; a
        # successful one gives its places back.
        by_account = await self.fail_by_account.hit(account)
        by_ip = await self._fail_by_ip.hit(ip)
        if not (by_account.allowed and by_ip.allowed):
            await self.fail_by_account.release(account, by_account)
            await self._fail_by_ip.release(ip, by_ip)
            raise RateLimited("too many failed sign-in attempts; try again later",
                              retry_after_s=max(by_account.retry_after_s, by_ip.retry_after_s))
        try:
            async with self.db.session() as s:
                user = await s.scalar(select(User).where(User.email == account))
            # Verify even without a user (against a dummy hash) so timing does not tell who exists.
            verified = await verify_password(user.password_hash if user else None, password)
        except BaseException:
            # Not a failed sign-in (the database is down, the client went away): nothing to count.
            await self.fail_by_account.release(account, by_account)
            await self._fail_by_ip.release(ip, by_ip)
            raise
        if user is None or not verified:
            if user is not None:
                await audit.record(self.db, org_id=user.org_id, action="auth.sign_in_failed",
                                   actor=audit.Someone(user.id, user.email), target_type="user", target_id=user.id,
                                   detail={"method": "password"}, ip=client.ip)
            raise Unauthorized("invalid_credentials", "email or password is incorrect")
        await self.fail_by_account.reset(account)
        await self._fail_by_ip.release(ip, by_ip)
        return await self.start_session(user, await self.sign_in_org(user), client, "password")

    async def sign_in_org(self, user: User) -> str:
        """The org a new sign-in opens: the user's last one if still a member, else their oldest
        membership, else (removed from every org) a new org of their own, as at registration."""
        async with self.db.session() as s:
            orgs = list(await s.scalars(select(Membership.org_id).where(Membership.user_id == user.id)
                                        .order_by(Membership.created_at)))
            if user.org_id in orgs:
                return user.org_id
            if orgs:
                org_id = orgs[0]
            else:
                org_id = await self._new_org(s, user.name or user.email)
                s.add(Membership(org_id=org_id, user_id=user.id, role=Role.ADMIN, created_at=utcnow()))
            await s.execute(update(User).where(User.id == user.id).values(org_id=org_id))
            await s.commit()
        user.org_id = org_id
        return org_id

    async def get_user(self, user_id: str) -> User | None:
        async with self.db.session() as s:
            return await s.get(User, user_id)

    async def orgs_of(self, user_id: str) -> list[dict]:
        async with self.db.session() as s:
            rows = (await s.execute(select(Org.id, Org.name, Membership.role)
                                    .join(Membership, Membership.org_id == Org.id)
                                    .where(Membership.user_id == user_id).order_by(Org.name, Org.id))).all()
        return [{"id": org_id, "name": name, "role": role} for org_id, name, role in rows]

    # Sessions ----------------------------------------------------------------------------------

    async def start_session(self, user: User, org_id: str, client: ClientInfo, method: str) -> dict:
        family_id = new_id("fam")
        async with self.db.session() as s:
            role = await self._role(s, user.id, org_id)
            if role is None:
                raise NotFound.of("organisation")
            s.add(TokenFamily(id=family_id, user_id=user.id, org_id=org_id, created_at=utcnow(),
                              user_agent=(client.user_agent or "")[:300] or None, ip=client.ip))
            await s.flush()  # the family row must exist before its first refresh token
            pair = self._issue_pair(s, user, org_id, role, family_id)
            await audit.record(s, org_id=org_id, action="auth.sign_in", actor=audit.Someone(user.id, user.email),
                               target_type="session", target_id=family_id, detail={"method": method}, ip=client.ip)
            await s.commit()
        return pair

    async def _role(self, s: AsyncSession, user_id: str, org_id: str) -> Role | None:
        role = await s.scalar(select(Membership.role).where(Membership.user_id == user_id,
                                                            Membership.org_id == org_id))
        return Role(role) if role is not None else None

    def _store_one_time(self, s: AsyncSession, user: User, org_id: str, family_id: str, type: str) -> str:
        """Issue a single-use token of `type` whose use is recorded in refresh_tokens."""
        token, claims = self.tokens.issue(type=type, user_id=user.id, org_id=org_id, email=user.email,
                                          family_id=family_id)
        s.add(RefreshToken(jti=claims.jti, family_id=family_id,
                           expires_at=utcnow() + timedelta(seconds=self.tokens.ttl_s(type))))
        return token

    def _issue_pair(self, s: AsyncSession, user: User, org_id: str, role: Role, family_id: str) -> dict:
        access, _ = self.tokens.issue(type="access", user_id=user.id, org_id=org_id, email=user.email,
                                      family_id=family_id)
        refresh = self._store_one_time(s, user, org_id, family_id, "refresh")
        return {"user": user_view(user, org_id, role), "access_token": access, "refresh_token": refresh,
                "token_type": "bearer", "expires_in": self.tokens.access_ttl_s}

    async def refresh(self, refresh_token: str) -> dict:
        return await self._redeem(refresh_token, "refresh")

    async def start_oauth_session(self, email: str, name: str, client: ClientInfo) -> str:
        """A provider vouched for `email`: link to its account or create one; return a one-time code.

        The code (not the token pair) goes to the browser in a cookie, and is redeemed once
        through `redeem_exchange`, so tokens never travel in a URL.
        """
        account = email.strip().lower()
        async with self.db.session() as s:
            user = await s.scalar(select(User).where(User.email == account))
        if user is None:
            try:
                user = await self.create_user(account, None, name)
            except AppError:  # created by a concurrent sign-in a moment ago
                async with self.db.session() as s:
                    user = await s.scalar(select(User).where(User.email == account))
                if user is None:
                    raise
        org_id = await self.sign_in_org(user)
        family_id = new_id("fam")
        async with self.db.session() as s:
            s.add(TokenFamily(id=family_id, user_id=user.id, org_id=org_id, created_at=utcnow(),
                              user_agent=(client.user_agent or "")[:300] or None, ip=client.ip))
            await s.flush()
            code = self._store_one_time(s, user, org_id, family_id, "exchange")
            await audit.record(s, org_id=org_id, action="auth.sign_in", actor=audit.Someone(user.id, user.email),
                               target_type="session", target_id=family_id, detail={"method": "oauth"},
                               ip=client.ip)
            await s.commit()
        return code

    async def redeem_exchange(self, code: str) -> dict:
        return await self._redeem(code, "exchange")

    async def _redeem(self, token: str, type: str) -> dict:
        """Use a single-use token (refresh or exchange) once, and issue a new pair in its family."""
        claims = self._verify(token, type)
        now = utcnow()
        async with self.db.session() as s:
            row = await s.get(RefreshToken, claims.jti)
            family = await s.get(TokenFamily, claims.family_id)
            if row is None or family is None:
                raise Unauthorized("invalid_token", f"{type} token is revoked")
            if family.revoked_at is not None:
                # A used token presented after its reuse already ended the session is still a reuse,
                # whichever of the concurrent redemptions the database saw first.
                if row.used_at is not None:
                    raise Unauthorized("token_reused", f"{type} token was already used; session revoked")
                raise Unauthorized("invalid_token", f"{type} token is revoked")
            # Mark used atomically so two concurrent redemptions cannot both succeed.
            # An UPDATE's result is a CursorResult (it has rowcount); execute() is typed as the wider Result.
            used = cast("CursorResult[Any]", await s.execute(
                update(RefreshToken).where(RefreshToken.jti == claims.jti,
                                           RefreshToken.used_at.is_(None)).values(used_at=now)))
            if used.rowcount != 1:
                # A used token came back: someone copied it. Revoke the whole sign-in.
                family.revoked_at = now
                await s.commit()
                raise Unauthorized("token_reused", f"{type} token was already used; session revoked")
            if as_utc(row.expires_at) <= now:
                raise Unauthorized("invalid_token", f"{type} token expired")
            user = await s.get(User, claims.user_id)
            if user is None:
                raise Unauthorized("invalid_token", "account no longer exists")
            role = await self._role(s, user.id, family.org_id)
            if role is None:
                family.revoked_at = now
                await s.commit()
                raise Unauthorized("not_a_member", "you are no longer a member of this organisation")
            family.last_used_at = now
            pair = self._issue_pair(s, user, family.org_id, role, family.id)
            await s.commit()
        return pair

    async def logout(self, refresh_token: str) -> None:
        claims = self._verify(refresh_token, "refresh")
        async with self.db.session() as s:
            revoked = await revoke_sessions(s, user_id=claims.user_id, only=[claims.family_id])
            if revoked:
                await audit.record(s, org_id=claims.org_id, action="auth.sign_out",
                                   actor=audit.Someone(claims.user_id, claims.email), target_type="session",
                                   target_id=claims.family_id)
            await s.commit()
        await self.close_sockets(claims.user_id, revoked, "signed out")

    async def switch_org(self, principal: Principal, org_id: str, client: ClientInfo) -> dict:
        """A new token pair for another org the user belongs to; the presented session ends."""
        async with self.db.session() as s:
            user = await s.get(User, principal.user_id)
            if user is None or await self._role(s, principal.user_id, org_id) is None:
                raise NotFound.of("organisation")
            user.org_id = org_id
            revoked = await revoke_sessions(s, user_id=principal.user_id, only=[principal.session_id])
            await s.commit()
        await self.close_sockets(principal.user_id, revoked, "switched organisation")
        return await self.start_session(user, org_id, client, "switch_org")

    async def close_sockets(self, user_id: str, session_ids: list[str], reason: str) -> None:
        """Close, on every instance, the sockets opened with sessions that were just revoked."""
        if session_ids:
            await control.publish(self.bus, close_sessions(user_id, session_ids, reason))

    # Authentication ----------------------------------------------------------------------------

    async def authenticate(self, token: str | None) -> Principal:
        """Verify an access token, that its sign-in is live and that its user is still in its org."""
        if not token:
            raise TokenError("missing token")
        claims = self.tokens.verify(token, "access")
        role = await self._current_role(claims.family_id, claims.user_id, claims.org_id)
        return Principal(claims.user_id, claims.org_id, claims.email, claims.exp, role, claims.family_id)

    async def recheck(self, principal: Principal) -> Principal:
        """The same caller as it stands now (a socket re-checks before each frame it acts on)."""
        role = await self._current_role(principal.session_id, principal.user_id, principal.org_id)
        return principal if role == principal.role else Principal(
            principal.user_id, principal.org_id, principal.email, principal.exp, role, principal.session_id)

    async def _current_role(self, session_id: str, user_id: str, org_id: str) -> Role:
        # One indexed lookup answers both questions: is the sign-in live, and what is the role now.
        query = (select(TokenFamily.revoked_at, TokenFamily.org_id, Membership.role)
                 .select_from(TokenFamily)
                 .outerjoin(Membership, and_(Membership.user_id == TokenFamily.user_id,
                                             Membership.org_id == TokenFamily.org_id))
                 .where(TokenFamily.id == session_id, TokenFamily.user_id == user_id))
        row = await self.db.read(lambda s: s.execute(query).first())
        if row is None or row.revoked_at is not None:
            raise TokenError("session revoked")
        if row.org_id != org_id:
            raise TokenError("invalid token")
        if row.role is None:
            raise TokenError("not a member of this organisation")
        return Role(row.role)

    def _verify(self, token: str, expected: str) -> Claims:
        try:
            return self.tokens.verify(token, expected)
        except TokenError as exc:
            raise Unauthorized("invalid_token", str(exc)) from exc


async def revoke_sessions(s: AsyncSession, *, user_id: str, org_id: str | None = None,
                          only: list[str] | None = None, keep: str | None = None) -> list[str]:
    """Revoke `user_id`'s live sessions (in `org_id`, among `only`, except `keep`); returns their ids.

    Runs in the caller's transaction; after it commits, pass the ids to AuthService.close_sockets.
    """
    query = select(TokenFamily.id).where(TokenFamily.user_id == user_id, TokenFamily.revoked_at.is_(None))
    if org_id is not None:
        query = query.where(TokenFamily.org_id == org_id)
    if only is not None:
        query = query.where(TokenFamily.id.in_(only))
    if keep is not None:
        query = query.where(TokenFamily.id != keep)
    ids = list(await s.scalars(query))
    if ids:
        await s.execute(update(TokenFamily).where(TokenFamily.id.in_(ids)).values(revoked_at=utcnow()))
    return ids


async def claim_invitation(s: AsyncSession, invitation_id: str, user: User) -> None:
    """Mark an invitation used by `user`, once: a second claim (or a late one) fails the transaction."""
    now = utcnow()
    claimed = cast("CursorResult[Any]", await s.execute(
        update(Invitation).where(Invitation.id == invitation_id, Invitation.accepted_at.is_(None),
                                 Invitation.revoked_at.is_(None), Invitation.expires_at > now)
        .values(accepted_at=now, accepted_by=user.id)
        # The database decides; a loaded copy (naive datetimes on SQLite) is not re-evaluated in Python.
        .execution_options(synchronize_session=False)))
    if claimed.rowcount != 1:
        await s.rollback()
        raise InvalidInput("invalid_invitation", "this invitation has expired, was withdrawn or was already used")
