"""Members of an organisation: list them, change a role, remove someone, leave; never the last admin.

Each change commits with its audit entry, then reaches every instance at once: a removed
member's sessions for the org are revoked in the same transaction (their tokens are refused on
the next request) and their sockets closed with 1008; a new role is read by the next request and
pushed to open sockets.
"""

from __future__ import annotations

import asyncio
from weakref import WeakValueDictionary

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from spendpilot.auth.permissions import Role
from spendpilot.auth.service import AuthService, Principal, revoke_sessions
from spendpilot.bus import control
from spendpilot.bus.base import EventBus
from spendpilot.bus.control import role_changed
from spendpilot.clock import iso
from spendpilot.errors import Conflict, NotFound
from spendpilot.runs.status import OPEN
from spendpilot.store import audit
from spendpilot.store.database import Database
from spendpilot.store.models import Membership, Org, Run, User


class LastAdmin(Conflict):
    def __init__(self, what: str):
        super().__init__("last_admin", f"{what}: an organisation needs at least one admin; make another member "
                                        "admin first")


def member_view(membership: Membership, user: User, principal: Principal) -> dict:
    return {"user_id": user.id, "email": user.email, "name": user.name, "role": membership.role,
            "joined_at": iso(membership.created_at), "you": user.id == principal.user_id}


class Members:
    def __init__(self, db: Database, auth: AuthService, bus: EventBus):
        self.db = db
        self.auth = auth
        self.bus = bus
        self._org_locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    def _lock(self, org_id: str) -> asyncio.Lock:
        lock = self._org_locks.get(org_id)
        if lock is None:
            lock = self._org_locks[org_id] = asyncio.Lock()
        return lock

    async def org(self, principal: Principal) -> dict:
        async with self.db.session() as s:
            org = await s.get(Org, principal.org_id)
            count = await s.scalar(select(func.count()).select_from(Membership)
                                   .where(Membership.org_id == principal.org_id))
        if org is None:
            raise NotFound.of("organisation")
        return {"id": org.id, "name": org.name, "role": str(principal.role), "members": int(count or 0),
                "created_at": iso(org.created_at)}

    async def rename(self, principal: Principal, name: str, ip: str | None) -> dict:
        async with self.db.session() as s:
            org = await s.get(Org, principal.org_id)
            if org is None:
                raise NotFound.of("organisation")
            before, org.name = org.name, name.strip()
            await audit.record(s, org_id=org.id, action="org.renamed", actor=principal, target_type="org",
                               target_id=org.id, detail={"from": before, "to": org.name}, ip=ip)
            await s.commit()
        return await self.org(principal)

    async def list(self, principal: Principal) -> list[dict]:
        async with self.db.session() as s:
            rows = (await s.execute(select(Membership, User).join(User, User.id == Membership.user_id)
                                    .where(Membership.org_id == principal.org_id)
                                    .order_by(Membership.created_at, User.email))).all()
        return [member_view(m, u, principal) for m, u in rows]

    async def _locked_member(self, s: AsyncSession, org_id: str, user_id: str) -> tuple[Membership, User]:
        # Lock the org's row (PostgreSQL) so two admins demoting each other cannot both pass the
        # last-admin check; SQLite serialises writers, and the process lock covers its readers.
        await s.execute(select(Org.id).where(Org.id == org_id).with_for_update())
        membership = await s.get(Membership, (org_id, user_id))
        user = await s.get(User, user_id)
        if membership is None or user is None:
            raise NotFound.of("member")
        return membership, user

    async def _admins(self, s: AsyncSession, org_id: str) -> int:
        return int(await s.scalar(select(func.count()).select_from(Membership)
                                  .where(Membership.org_id == org_id, Membership.role == Role.ADMIN)) or 0)

    async def change_role(self, principal: Principal, user_id: str, role: Role, ip: str | None) -> dict:
        org_id = principal.org_id
        async with self._lock(org_id), self.db.session() as s:
            membership, user = await self._locked_member(s, org_id, user_id)
            before = Role(membership.role)
            if before == role:
                return member_view(membership, user, principal)
            if before == Role.ADMIN and await self._admins(s, org_id) <= 1:
                raise LastAdmin(f"{user.email} is the last admin and cannot be given another role")
            membership.role = role
            await audit.record(s, org_id=org_id, action="member.role_changed", actor=principal, target_type="user",
                               target_id=user_id, detail={"email": user.email, "from": str(before), "to": str(role)},
                               ip=ip)
            await s.commit()
            view = member_view(membership, user, principal)
        await control.publish(self.bus, role_changed(user_id, org_id, role))
        return view

    async def remove(self, principal: Principal, user_id: str, ip: str | None) -> None:
        """An admin removes a member (themselves included: that is leaving)."""
        await self._drop(principal, user_id, "member.left" if user_id == principal.user_id else "member.removed", ip)

    async def leave(self, principal: Principal, ip: str | None) -> None:
        await self._drop(principal, principal.user_id, "member.left", ip)

    async def _drop(self, principal: Principal, user_id: str, action: str, ip: str | None) -> None:
        org_id = principal.org_id
        async with self._lock(org_id), self.db.session() as s:
            membership, user = await self._locked_member(s, org_id, user_id)
            if membership.role == Role.ADMIN and await self._admins(s, org_id) <= 1:
                what = "you are the last admin and cannot leave" if user_id == principal.user_id else \
                    f"{user.email} is the last admin and cannot be removed"
                raise LastAdmin(what)
            await s.delete(membership)
            ended = await revoke_sessions(s, user_id=user_id, org_id=org_id)
            open_runs = list(await s.scalars(select(Run.id).where(Run.user_id == user_id, Run.org_id == org_id,
                                                                  Run.status.in_(OPEN))))
            await audit.record(s, org_id=org_id, action=action, actor=principal, target_type="user", target_id=user_id,
                               detail={"email": user.email, "role": membership.role, "sessions_ended": len(ended),
                                       "runs_cancelled": len(open_runs)}, ip=ip)
            await s.commit()
        await self.auth.close_sockets(user_id, ended, "removed from the organisation")
        # Analyses they started read this org's data: they stop with the membership.
        for run_id in open_runs:
            await self.bus.request_cancel(run_id)
