"""Accounts made straight in a data dir's database, for tests of CLI commands that act as a member."""

from __future__ import annotations

import asyncio
from pathlib import Path

from spendpilot.auth.permissions import Role
from spendpilot.auth.service import AuthService
from spendpilot.auth.signing import KeyRing
from spendpilot.auth.tokens import TokenService
from spendpilot.bus.memory import MemoryBus
from spendpilot.config import Settings
from spendpilot.limits import RateLimits
from spendpilot.store.database import Database


async def _member(data_dir: Path, email: str, role: Role) -> tuple[str, str]:
    settings = Settings(data_dir=data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.sqlalchemy_url)
    try:
        await db.migrate()
        limits = RateLimits()
        auth = AuthService(db, TokenService(KeyRing.load_or_create(data_dir / "keys"), 900, 3600), MemoryBus(),
                           failed_logins_per_account=limits.make("account", 10, 60),
                           failed_logins_per_ip=limits.make("ip", 10, 60))
        user = await auth.create_user(email, None, email.split("@")[0], role=role)
        return user.email, user.org_id
    finally:
        await db.close()


def member_of_own_org(data_dir: Path, email: str = "ops@example.com", role: Role = Role.ADMIN) -> tuple[str, str]:
    """(email, org id) of a new account that is `role` of a new org of its own in this data dir."""
    return asyncio.run(_member(data_dir, email, role))
