"""Account and session logic: register, login, refresh with rotation and reuse detection, logout."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError

from spendpilot.auth.passwords import hash_password, password_problem, verify_password
from spendpilot.auth.permissions import Role
from spendpilot.auth.tokens import Claims, TokenError, TokenService
from spendpilot.clock import as_utc, utcnow
from spendpilot.errors import AppError, Conflict, InvalidInput, RateLimited, Unauthorized
from spendpilot.ids import new_id
from spendpilot.limits import RateLimit
from spendpilot.store.database import Database
from spendpilot.store.models import Org, RefreshToken, TokenFamily, User


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request or socket."""

    user_id: str
    org_id: str
    email: str
    exp: int
    # Every account is the admin of the organisation it signed up with.
    role: Role = Role.ADMIN


def user_view(user: User) -> dict:
    return {"id": user.id, "email": user.email, "name": user.name, "org": user.org_id}


class AuthService:
    def __init__(self, db: Database, tokens: TokenService, *, failed_logins_per_account: RateLimit,
                 failed_logins_per_ip: RateLimit):
        self.db = db
        self.tokens = tokens
        self._fail_by_account = failed_logins_per_account
        self._fail_by_ip = failed_logins_per_ip

    async def create_user(self, email: str, password: str | None, name: str = "",
                          org_id: str | None = None) -> User:
        email = email.strip().lower()
        password_hash = await hash_password(password) if password is not None else None
        now = utcnow()
        async with self.db.session() as s:
            if org_id is None:
                org_id = new_id("org")
                s.add(Org(id=org_id, name=f"{name or email}'s organisation", created_at=now))
                await s.flush()
            user = User(id=new_id("usr"), org_id=org_id, email=email, name=name or email.split("@")[0],
                        password_hash=password_hash, created_at=now)
            s.add(user)
            try:
                await s.commit()
            except IntegrityError as exc:
                raise Conflict("email_taken", "an account with this email already exists") from exc
        return user

    async def register(self, email: str, password: str, name: str | None) -> dict:
        problem = password_problem(password)
        if problem:
            raise InvalidInput("weak_password", problem)
        user = await self.create_user(email, password, name or "")
        return await self.start_session(user)

    async def login(self, email: str, password: str, ip: str) -> dict:
        account = email.strip().lower()
        # Each attempt takes a place in both windows before the password is checked, so that
        # concurrent guesses (on any instance) are counted before any of them is judged; a
        # successful one gives its places back.
        by_account = await self._fail_by_account.hit(account)
        by_ip = await self._fail_by_ip.hit(ip)
        if not (by_account.allowed and by_ip.allowed):
            await self._fail_by_account.release(account, by_account)
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
            await self._fail_by_account.release(account, by_account)
            await self._fail_by_ip.release(ip, by_ip)
            raise
        if user is None or not verified:
            raise Unauthorized("invalid_credentials", "email or password is incorrect")
        await self._fail_by_account.reset(account)
        await self._fail_by_ip.release(ip, by_ip)
        return await self.start_session(user)

    async def start_session(self, user: User) -> dict:
        family_id = new_id("fam")
        async with self.db.session() as s:
            s.add(TokenFamily(id=family_id, user_id=user.id, created_at=utcnow()))
            await s.flush()  # the family row must exist before its first refresh token
            pair = await self._issue_pair(s, user, family_id)
            await s.commit()
        return pair

    def _store_one_time(self, s, user: User, family_id: str, type: str) -> str:
        """Issue a single-use token of `type` whose use is recorded in refresh_tokens."""
        token, claims = self.tokens.issue(type=type, user_id=user.id, org_id=user.org_id, email=user.email,
                                          family_id=family_id)
        s.add(RefreshToken(jti=claims.jti, family_id=family_id,
                           expires_at=utcnow() + timedelta(seconds=self.tokens.ttl_s(type))))
        return token

    async def _issue_pair(self, s, user: User, family_id: str) -> dict:
        access, _ = self.tokens.issue(type="access", user_id=user.id, org_id=user.org_id, email=user.email,
                                      family_id=family_id)
        refresh = self._store_one_time(s, user, family_id, "refresh")
        return {"user": user_view(user), "access_token": access, "refresh_token": refresh,
                "token_type": "bearer", "expires_in": self.tokens.access_ttl_s}

    async def refresh(self, refresh_token: str) -> dict:
        return await self._redeem(refresh_token, "refresh")

    async def start_oauth_session(self, email: str, name: str) -> str:
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
        family_id = new_id("fam")
        async with self.db.session() as s:
            s.add(TokenFamily(id=family_id, user_id=user.id, created_at=utcnow()))
            await s.flush()
            code = self._store_one_time(s, user, family_id, "exchange")
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
            if row is None or family is None or family.revoked_at is not None:
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
            pair = await self._issue_pair(s, user, claims.family_id)
            await s.commit()
        return pair

    async def logout(self, refresh_token: str) -> None:
        claims = self._verify(refresh_token, "refresh")
        async with self.db.session() as s:
            await s.execute(update(TokenFamily).where(TokenFamily.id == claims.family_id,
                                                      TokenFamily.revoked_at.is_(None)).values(revoked_at=utcnow()))
            await s.commit()

    async def authenticate(self, token: str | None) -> Principal:
        """Verify an access token and that its sign-in has not been revoked."""
        if not token:
            raise TokenError("missing token")
        claims = self.tokens.verify(token, "access")
        async with self.db.session() as s:
            revoked = await s.scalar(select(TokenFamily.revoked_at).where(TokenFamily.id == claims.family_id))
        if revoked is not None:
            raise TokenError("session revoked")
        return Principal(claims.user_id, claims.org_id, claims.email, claims.exp)

    async def get_user(self, user_id: str) -> User | None:
        async with self.db.session() as s:
            return await s.get(User, user_id)

    def _verify(self, token: str, expected: str) -> Claims:
        try:
            return self.tokens.verify(token, expected)
        except TokenError as exc:
            raise Unauthorized("invalid_token", str(exc)) from exc
