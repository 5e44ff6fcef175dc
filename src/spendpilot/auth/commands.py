"""CLI functions for the auth package (registered by cli.py): signing key rotation, and the member a
command acts as, checked against auth.permissions like any request."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import select

from spendpilot.auth.permissions import Role, allowed
from spendpilot.auth.signing import KeyRing, rotate_key
from spendpilot.config import Settings
from spendpilot.store import audit
from spendpilot.store.database import Database
from spendpilot.store.models import Membership, User

console = Console(stderr=True)


def rotate_key_command(
    data_dir: Annotated[Path | None, typer.Option(help="Data directory whose keys/ to rotate.")] = None,
) -> None:
    """Add a new signing key: new tokens use it, tokens signed before stay valid until they expire.

    Restart the servers to start signing with it. Keys whose successor is older than the
    refresh token lifetime are removed, since no valid token can still carry them.
    """
    settings = Settings(data_dir=data_dir) if data_dir else Settings()
    if settings.signing_key:
        console.print("SPENDPILOT_SIGNING_KEY is set, so keys come from the environment, not the data dir: "
                      "rotate by deploying a new key there.")
        raise typer.Exit(2)
    keys_dir = settings.data_dir / "keys"
    new, removed = rotate_key(keys_dir, settings.refresh_token_ttl_s)
    ring = KeyRing.load_or_create(keys_dir)
    console.print(f"New signing key {ring.active.kid} in {new}; restart Spendpilot to sign with it.")
    for path in removed:
        console.print(f"Removed retired key {path.name}")


@dataclass(frozen=True)
class CommandActor:
    """The member a CLI command acts as: checked against the same table of rights as a request."""

    user_id: str
    email: str
    org_id: str
    role: Role


async def _member(settings: Settings, email: str, org_id: str | None) -> CommandActor | str:
    db = Database(settings.sqlalchemy_url)
    try:
        await db.migrate()
        async with db.session() as s:
            user = await s.scalar(select(User).where(User.email == email.strip().lower()))
            if user is None:
                return f"no account uses {email}"
            memberships = {m.org_id: m.role for m in await s.scalars(
                select(Membership).where(Membership.user_id == user.id))}
    finally:
        await db.close()
    if org_id is None:
        org_id = user.org_id if user.org_id in memberships else next(iter(memberships), None)
    if org_id is None or org_id not in memberships:
        return f"{email} is not a member of {org_id or 'any organisation'}"
    return CommandActor(user.id, user.email, org_id, Role(memberships[org_id]))


def authorise_command(settings: Settings, email: str, org_id: str | None, action: str) -> CommandActor:
    """The member named by --as, if their role in the org may take `action`; otherwise exit 2 saying why."""
    actor = asyncio.run(_member(settings, email, org_id))
    if isinstance(actor, str):
        console.print(f"[red]{actor}[/red]")
        raise typer.Exit(2)
    if not allowed(actor.role, action):
        console.print(f"[red]{actor.email} is {actor.role} in {actor.org_id} and may not do this ({action})[/red]")
        raise typer.Exit(2)
    return actor


def record_command(settings: Settings, actor: CommandActor, action: str, target_type: str, target_id: str,
                   detail: dict) -> None:
    """An audit entry for what a command did, as the member it acted as."""

    async def write() -> None:
        db = Database(settings.sqlalchemy_url)
        try:
            await audit.record(db, org_id=actor.org_id, action=action, actor=actor, target_type=target_type,
                               target_id=target_id, detail={**detail, "via": "cli"})
        finally:
            await db.close()

    asyncio.run(write())
