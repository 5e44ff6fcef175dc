"""Read-only share links, one report each (SPEC §13): create, list, revoke, and what an anonymous reader sees.

A link reads from the store on every request (no cache), so a revoked link answers 404 at once on every
instance. It shows the question, the answer and its report, and nothing else of the org: no thread or run
id, no other message, no account. A link stops working when its thread is deleted, and when the member
who made it is no longer in the organisation.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select

from spendpilot.auth.service import Principal
from spendpilot.auth.signing import KeyRing
from spendpilot.clock import iso, utcnow
from spendpilot.errors import Conflict, NotFound
from spendpilot.ids import new_id
from spendpilot.runs.status import RunStatus
from spendpilot.sharing.tokens import new_token, seal, token_hash, unseal, well_formed
from spendpilot.store import audit
from spendpilot.store.database import Database
from spendpilot.store.models import Membership, Message, Run, Share


@dataclass(frozen=True)
class SharedReport:
    """All an anonymous reader of a link gets."""

    question: str
    final_response: str
    report: dict
    created_at: str | None

    def view(self) -> dict:
        return {"question": self.question, "final_response": self.final_response, "report": self.report,
                "created_at": self.created_at}


class ShareLinks:
    def __init__(self, db: Database, keys: KeyRing):
        self.db = db
        self.keys = keys

    def _view(self, share: Share, base_url: str, token: str | None = None) -> dict:
        token = token or unseal(self.keys, share.token_sealed)
        return {"id": share.id, "run_id": share.run_id, "thread_id": share.thread_id,
                "url": f"{base_url}/s/{token}" if token else None, "created_at": iso(share.created_at)}

    async def create(self, principal: Principal, run_id: str, base_url: str, ip: str | None = None) -> dict:
        async with self.db.session() as s:
            run = await s.get(Run, run_id)
            if run is None or run.user_id != principal.user_id or run.org_id != principal.org_id:
                raise NotFound.of("run")
            answered = await s.scalar(select(Message.id).where(Message.run_id == run.id,
                                                               Message.role == "assistant",
                                                               Message.report.is_not(None)))
            if run.status != RunStatus.COMPLETED or answered is None:
                raise Conflict("not_shareable", "only a run that completed with a report can be shared")
            token = new_token()
            share = Share(id=new_id("shr"), token_hash=token_hash(token), token_sealed=seal(self.keys, token),
                          run_id=run.id, thread_id=run.thread_id, user_id=principal.user_id,
                          org_id=principal.org_id, created_at=utcnow())
            s.add(share)
            await audit.record(s, org_id=principal.org_id, action="share.created", actor=principal,
                               target_type="run", target_id=run.id, detail={"share_id": share.id}, ip=ip)
            await s.commit()
        return {**self._view(share, base_url, token), "token": token}

    async def mine(self, principal: Principal, base_url: str) -> list[dict]:
        async with self.db.session() as s:
            shares = await s.scalars(select(Share).where(Share.user_id == principal.user_id,
                                                         Share.org_id == principal.org_id)
                                     .order_by(Share.created_at.desc(), Share.id.desc()))
            return [self._view(share, base_url) for share in shares]

    async def revoke(self, principal: Principal, share_id: str, ip: str | None = None) -> None:
        async with self.db.session() as s:
            share = await s.get(Share, share_id)
            if share is None or share.user_id != principal.user_id or share.org_id != principal.org_id:
                raise NotFound.of("share")
            await s.execute(delete(Share).where(Share.id == share.id))
            await audit.record(s, org_id=principal.org_id, action="share.revoked", actor=principal,
                               target_type="run", target_id=share.run_id, detail={"share_id": share.id}, ip=ip)
            await s.commit()

    async def read(self, token: str) -> SharedReport:
        """What the link shows; NotFound for an unknown, revoked or mutated token (all look the same)."""
        if not well_formed(token):
            raise NotFound.of("shared report")
        async with self.db.session() as s:
            found = (await s.execute(
                select(Share, Run.content, Message.content, Message.report)
                .join(Run, Run.id == Share.run_id)
                .join(Message, (Message.run_id == Share.run_id) & (Message.role == "assistant"))
                .join(Membership, (Membership.org_id == Share.org_id) & (Membership.user_id == Share.user_id))
                .where(Share.token_hash == token_hash(token)).limit(1))).first()
        if found is None or found[3] is None:
            raise NotFound.of("shared report")
        share, question, answer, report = found
        return SharedReport(question=question, final_response=answer, report=report, created_at=iso(share.created_at))
