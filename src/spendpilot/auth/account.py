"""One's own account: change the password, reset it through a mailed link, list and revoke sessions.

A reset request answers the same (202) whether or not the address has an account, and the
lookup and the mail happen after the answer, so neither the body nor the timing tells.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update

from spendpilot.auth.mail import Mailer
from spendpilot.auth.passwords import hash_password, password_problem, verify_password
from spendpilot.auth.service import AuthService, Principal, revoke_sessions
from spendpilot.clock import as_utc, iso, utcnow
from spendpilot.errors import InvalidInput, NotFound, RateLimited
from spendpilot.limits import RateLimit
from spendpilot.logs import get_logger
from spendpilot.store import audit
from spendpilot.store.database import Database
from spendpilot.store.models import Membership, Org, PasswordReset, TokenFamily, User

log = get_logger(__name__)

RESET_SUBJECT = "Reset your Spendpilot password"


def token_hash(token: str) -> str:
    """What is stored of a mailed token: enough to recognise it, useless to whoever reads the table."""
    return hashlib.sha256(token.encode()).hexdigest()


class AccountService:
    def __init__(self, db: Database, auth: AuthService, mailer: Mailer, *, reset_ttl_s: int,
                 resets_by_email: RateLimit, session_ttl_s: int):
        self.db = db
        self.auth = auth
        self.mailer = mailer
        self.reset_ttl_s = reset_ttl_s
        self.session_ttl_s = session_ttl_s
        # Reset mails per address per hour; shared through Redis in a split deployment.
        self._resets_by_email = resets_by_email
        self._pending: set[asyncio.Task] = set()

    # Password ----------------------------------------------------------------------------------

    async def change_password(self, principal: Principal, current: str, new: str, ip: str | None) -> int:
        """Set a new password; every other session of the user ends. Returns how many ended."""
        # A wrong current password counts as a failed sign-in of the account: the attempt takes its place
        # first (so concurrent guesses are all counted) and gives it back when the password was right.
        attempt = await self.auth.fail_by_account.hit(principal.email)
        if not attempt.allowed:
            await self.auth.fail_by_account.release(principal.email, attempt)
            raise RateLimited("too many wrong passwords; try again later", retry_after_s=attempt.retry_after_s)
        wrong = False
        try:
            problem = password_problem(new)
            if problem:
                raise InvalidInput("weak_password", problem)
            user = await self.auth.get_user(principal.user_id)
            if user is None:
                raise NotFound.of("user")
            if user.password_hash is None:
                raise InvalidInput("no_password", "this account signs in through a provider and has no password "
                                                  "yet; set one with a reset link (POST /auth/password-reset/request)")
            wrong = not await verify_password(user.password_hash, current)
            if wrong:
                raise InvalidInput("wrong_password", "the current password is not correct")
        finally:
            if not wrong:  # only a wrong current password keeps its place in the window
                await self.auth.fail_by_account.release(principal.email, attempt)
        new_hash = await hash_password(new)
        async with self.db.session() as s:
            await s.execute(update(User).where(User.id == user.id).values(password_hash=new_hash))
            ended = await revoke_sessions(s, user_id=user.id, keep=principal.session_id)
            await self._audit_everywhere(s, user, "auth.password_changed", {"sessions_ended": len(ended)}, ip)
            await s.commit()
        await self.auth.close_sockets(user.id, ended, "password changed")
        return len(ended)

    async def _audit_everywhere(self, s, user: User, action: str, detail: dict, ip: str | None) -> None:
        """Account events go to the log of every org the user is in: each one's admins may need to know."""
        for org_id in await s.scalars(select(Membership.org_id).where(Membership.user_id == user.id)):
            await audit.record(s, org_id=org_id, action=action, actor=audit.Someone(user.id, user.email),
                               target_type="user", target_id=user.id, detail=detail, ip=ip)

    def request_reset(self, email: str, link_base: str) -> None:
        """Start a reset for `email` in the background; the caller answers 202 whatever happens."""
        task = asyncio.create_task(self._send_reset(email.strip().lower(), link_base))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send_reset(self, email: str, link_base: str) -> None:
        try:
            if not (await self._resets_by_email.hit(email)).allowed:
                log.info("password_reset_throttled")
                return
            async with self.db.session() as s:
                user = await s.scalar(select(User).where(User.email == email))
                if user is None:
                    return
                token = secrets.token_urlsafe(32)
                now = utcnow()
                s.add(PasswordReset(token_hash=token_hash(token), user_id=user.id, created_at=now,
                                    expires_at=now + timedelta(seconds=self.reset_ttl_s)))
                await s.commit()
            minutes = self.reset_ttl_s // 60
            link = f"{link_base.rstrip('/')}/#/reset/{token}"
            await self.mailer.send("password_reset", user.email, RESET_SUBJECT,
                                   f"Someone (hopefully you) asked to reset the password of your Spendpilot "
                                   f"account {user.email}.\n\nChoose a new password here within {minutes} minutes:"
                                   f"\n\n{link}\n\nIf you did not ask for this, ignore this mail: your password "
                                   f"stays as it is.\n")
        except Exception as exc:  # a background task has nobody to report to but the log
            log.error("password_reset_failed", error_type=type(exc).__name__)

    async def drain(self) -> None:
        """Wait for reset mails still being prepared (shutdown, tests)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def confirm_reset(self, token: str, password: str, ip: str | None) -> None:
        """Set the password named by a reset link (once); every session of the account ends."""
        problem = password_problem(password)
        if problem:
            raise InvalidInput("weak_password", problem)
        new_hash = await hash_password(password)
        now = utcnow()
        async with self.db.session() as s:
            reset = await s.get(PasswordReset, token_hash(token))
            if reset is None or reset.used_at is not None or as_utc(reset.expires_at) <= now:
                raise InvalidInput("invalid_token", "this reset link has expired or was already used")
            used = cast("CursorResult[Any]", await s.execute(
                update(PasswordReset).where(PasswordReset.token_hash == reset.token_hash,
                                            PasswordReset.used_at.is_(None)).values(used_at=now)))
            if used.rowcount != 1:
                raise InvalidInput("invalid_token", "this reset link has expired or was already used")
            user = await s.get(User, reset.user_id)
            if user is None:
                raise InvalidInput("invalid_token", "this reset link has expired or was already used")
            user.password_hash = new_hash
            # Any other link mailed before is spent too: the newest password wins.
            await s.execute(update(PasswordReset).where(PasswordReset.user_id == user.id,
                                                        PasswordReset.used_at.is_(None)).values(used_at=now))
            ended = await revoke_sessions(s, user_id=user.id)
            await self._audit_everywhere(s, user, "auth.password_reset", {"sessions_ended": len(ended)}, ip)
            await s.commit()
        await self.auth.fail_by_account.reset(user.email)
        await self.auth.close_sockets(user.id, ended, "password reset")

    # Sessions ----------------------------------------------------------------------------------

    async def sessions(self, principal: Principal) -> list[dict]:
        """The user's live sign-ins, in every org, newest first; `current` marks the caller's."""
        horizon = utcnow() - timedelta(seconds=self.session_ttl_s)
        query = (select(TokenFamily, Org.name).join(Org, Org.id == TokenFamily.org_id, isouter=True)
                 .where(TokenFamily.user_id == principal.user_id, TokenFamily.revoked_at.is_(None),
                        or_(TokenFamily.last_used_at > horizon,
                            (TokenFamily.last_used_at.is_(None)) & (TokenFamily.created_at > horizon)))
                 .order_by(TokenFamily.created_at.desc()).limit(200))
        async with self.db.session() as s:
            rows = (await s.execute(query)).all()
        return [{"id": family.id, "org": {"id": family.org_id, "name": org_name}, "created_at": iso(family.created_at),
                 "last_used_at": iso(family.last_used_at or family.created_at), "user_agent": family.user_agent,
                 "ip": family.ip, "current": family.id == principal.session_id} for family, org_name in rows]

    async def revoke_session(self, principal: Principal, session_id: str, ip: str | None) -> None:
        async with self.db.session() as s:
            family = await s.get(TokenFamily, session_id)
            if family is None or family.user_id != principal.user_id:
                raise NotFound.of("session")
            ended = await revoke_sessions(s, user_id=principal.user_id, only=[session_id])
            if ended:
                await audit.record(s, org_id=family.org_id, action="auth.session_revoked", actor=principal,
                                   target_type="session", target_id=session_id, ip=ip)
            await s.commit()
        await self.auth.close_sockets(principal.user_id, ended, "session revoked")
