"""The audit log: who did what, when, in an organisation. Every area records through `record`.

Entries are written in the caller's transaction when it passes its session, so a change and
its entry commit together (or neither does); with the Database it writes one on its own.
`detail` is shown to the org's admins as is: put ids, names and counts in it, never a token,
a key or a password.

Actions recorded so far (`area.verb`): auth.sign_in, auth.sign_in_failed, auth.sign_out,
auth.password_changed, auth.password_reset, auth.session_revoked, member.invited,
member.invitation_revoked, member.joined, member.role_changed, member.removed, member.left,
org.renamed, usage.imported. Other areas add theirs (key.created, budget.updated, ...).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from spendpilot.clock import as_utc, iso, utcnow
from spendpilot.errors import InvalidInput
from spendpilot.ids import new_id
from spendpilot.store.database import Database
from spendpilot.store.models import AuditEntry

MAX_PAGE = 200


class Actor(Protocol):
    """Whoever acted: a Principal, or anything else with a user id and an email."""

    @property
    def user_id(self) -> str: ...

    @property
    def email(self) -> str: ...


@dataclass(frozen=True)
class Someone:
    """An actor known only by id and email (e.g. a user signing in, before any principal exists)."""

    user_id: str
    email: str


async def record(where: Database | AsyncSession, *, org_id: str, action: str, actor: Actor | None,
                 target_type: str = "", target_id: str = "", detail: dict[str, Any] | None = None,
                 ip: str | None = None) -> None:
    """Record that `actor` did `action` to (target_type, target_id) in `org_id`.

    With a session, the entry joins its transaction (the caller commits); with the Database,
    it is committed at once.
    """
    entry = AuditEntry(id=new_id("aud"), org_id=org_id, at=utcnow(), actor_id=actor.user_id if actor else None,
                       actor_email=actor.email if actor else "", action=action, target_type=target_type,
                       target_id=target_id, detail=detail or {}, ip=ip)
    if isinstance(where, AsyncSession):
        where.add(entry)
        return
    async with where.session() as s:
        s.add(entry)
        await s.commit()


def import_detail(result: dict) -> dict:
    """What the log keeps of a usage import (API or CLI): its figures, not its rows."""
    return {"format": result.get("format"), "imported": result.get("imported"),
            "duplicates": result.get("duplicates"), "rejected": len(result.get("rejected") or [])}


def entry_view(entry: AuditEntry) -> dict:
    return {"id": entry.id, "at": iso(entry.at),
            "actor": {"id": entry.actor_id, "email": entry.actor_email} if entry.actor_id else None,
            "action": entry.action, "target": {"type": entry.target_type, "id": entry.target_id},
            "detail": entry.detail, "ip": entry.ip}


def _cursor_of(entry: AuditEntry) -> str:
    raw = f"{as_utc(entry.at).isoformat()}|{entry.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, entry_id = raw.split("|", 1)
        return as_utc(datetime.fromisoformat(at)), entry_id
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput("invalid_cursor", "cursor is not one this server returned") from exc


async def page(db: Database, org_id: str, *, limit: int = 50, cursor: str | None = None,
               action: str | None = None, actor_id: str | None = None) -> dict:
    """Newest first, `limit` at a time; `next_cursor` continues where this page ended (null at the end).

    `action` matches exactly or, ending in a dot (`member.`), every action of that area.
    """
    limit = max(1, min(limit, MAX_PAGE))
    query = select(AuditEntry).where(AuditEntry.org_id == org_id)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True) if action.endswith(".")
                            else AuditEntry.action == action)
    if actor_id:
        query = query.where(AuditEntry.actor_id == actor_id)
    if cursor:
        at, entry_id = _parse_cursor(cursor)
        query = query.where(or_(AuditEntry.at < at, and_(AuditEntry.at == at, AuditEntry.id < entry_id)))
    async with db.session() as s:
        rows = list(await s.scalars(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return {"entries": [entry_view(e) for e in rows], "next_cursor": _cursor_of(rows[-1]) if more and rows else None}
