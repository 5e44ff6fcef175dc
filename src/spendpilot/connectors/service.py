"""Connectors: an organisation's admin key for a provider, pulling its usage and cost reports on a schedule.

A pull asks each report for the complete buckets after its cursor (the end of what the last pull
imported) and imports the pages through the report's import format, so rows keep the same
identities as a file import: re-pulling a window adds nothing. Usage rows are the spend; billed
cost lines are kept beside them for reconciliation ($0 in spend, the amount in stated_cost_usd),
and the run's report gives billed against computed per provider. One instance runs a connector at
a time: a lease in the connectors table, taken with one conditional UPDATE (SQLite and PostgreSQL).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import or_, select, update

from spendpilot.analytics.importers import import_usage
from spendpilot.analytics.store import AnalyticsStore
from spendpilot.clock import as_utc, iso, utcnow
from spendpilot.config import Settings
from spendpilot.errors import Conflict, InvalidInput, NotFound
from spendpilot.ids import new_id
from spendpilot.logs import get_logger
from spendpilot.store.database import Database
from spendpilot.store.models import Connector

from .client import ConnectorError, pages
from .providers import KINDS, ConnectorKind, Report, complete_until
from .secrets import SecretBox

log = get_logger(__name__)

DEFAULT_BACKFILL = timedelta(days=30)
# A run holds its lease this long; a run that takes longer is cut off and retried by the next.
LEASE = timedelta(minutes=15)
MIN_INTERVAL_S = 300

# Billed cost lines against usage priced by us, per provider, over the days a run pulled.
RECONCILE = """
SELECT provider,
       toFloat64(sumIf(stated_cost_usd, tags['kind'] = 'cost')) AS billed_usd,
       toFloat64(sumIf(cost_usd, tags['kind'] != 'cost')) AS computed_usd
FROM llm_usage
WHERE org_id = {org_id:String} AND provider = {provider:String}
  AND ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
GROUP BY provider
"""


def view(c: Connector) -> dict:
    """A connector as the API and CLI show it: never its key, only the key's last characters."""
    return {
        "id": c.id, "kind": c.kind, "name": c.name, "key_hint": c.key_hint, "created_at": iso(c.created_at),
        "start_at": iso(c.start_at), "interval_s": c.interval_s, "next_run_at": iso(c.next_run_at),
        "cursors": dict(c.cursors or {}), "last_run_at": iso(c.last_run_at), "last_status": c.last_status,
        "last_error": c.last_error, "last_report": c.last_report,
    }


class ConnectorService:
    def __init__(self, db: Database, analytics: AnalyticsStore, settings: Settings, box: SecretBox, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Any] | None = None,
                 usage_changed: Callable[[str], None] | None = None) -> None:
        self.db = db
        # Called with the org after a pull stored usage (budgets are evaluated again).
        self.usage_changed = usage_changed
        self.analytics = analytics
        self.settings = settings
        self.box = box
        self._transport = transport
        self._sleep = sleep

    async def create(self, org_id: str, user_id: str, kind: str, name: str, admin_key: str,
                     start_at: datetime | None = None, interval_s: int | None = None) -> dict:
        if kind not in KINDS:
            raise InvalidInput("invalid_kind", f"unknown connector kind {kind!r}; expected one of: {', '.join(KINDS)}")
        admin_key = admin_key.strip()
        if len(admin_key) < 8 or any(ch.isspace() for ch in admin_key):
            raise InvalidInput("invalid_key", "the admin key is missing or malformed")
        interval = interval_s or self.settings.connector_default_interval_s
        if interval < MIN_INTERVAL_S:
            raise InvalidInput("invalid_interval", f"the interval must be at least {MIN_INTERVAL_S} seconds")
        now = utcnow()
        start = as_utc(start_at) if start_at else now - DEFAULT_BACKFILL
        connector = Connector(
            id=new_id("con"), org_id=org_id, kind=kind, name=(name or KINDS[kind].label)[:200],
            key_ciphertext=self.box.encrypt(admin_key), key_hint="…" + admin_key[-4:], created_by=user_id,
            created_at=now, start_at=start, interval_s=interval, next_run_at=now, cursors={}, last_status="",
            last_error="", last_report=None)
        async with self.db.session() as s:
            s.add(connector)
            await s.commit()
        return view(connector)

    async def list(self, org_id: str) -> list[dict]:
        async with self.db.session() as s:
            rows = (await s.scalars(select(Connector).where(Connector.org_id == org_id)
                                    .order_by(Connector.created_at))).all()
        return [view(c) for c in rows]

    async def get(self, org_id: str, connector_id: str) -> Connector:
        async with self.db.session() as s:
            found = await s.get(Connector, connector_id)
        # Another organisation's connector does not exist for this caller.
        if found is None or found.org_id != org_id:
            raise NotFound.of("connector")
        return found

    async def delete(self, org_id: str, connector_id: str) -> None:
        found = await self.get(org_id, connector_id)
        async with self.db.session() as s:
            await s.delete(await s.merge(found))
            await s.commit()

    async def run_now(self, org_id: str, connector_id: str, owner: str) -> dict:
        await self.get(org_id, connector_id)
        if not await self._claim(connector_id, owner):
            raise Conflict("connector_busy", "this connector is being pulled right now; try again when it finishes")
        return await self._run_claimed(connector_id, owner)

    async def run_due(self, owner: str) -> int:
        """Pull every connector whose time has come and whose lease is free; returns how many ran."""
        now = utcnow()
        async with self.db.session() as s:
            due = (await s.scalars(select(Connector.id).where(
                Connector.next_run_at <= now, or_(Connector.lease_until.is_(None), Connector.lease_until < now)))).all()
        ran = 0
        for connector_id in due:
            if await self._claim(connector_id, owner):
                await self._run_claimed(connector_id, owner)
                ran += 1
        return ran

    async def _claim(self, connector_id: str, owner: str) -> bool:
        now = utcnow()
        async with self.db.session() as s:
            result = await s.execute(
                update(Connector)
                .where(Connector.id == connector_id,
                       or_(Connector.lease_until.is_(None), Connector.lease_until < now))
                .values(lease_owner=owner, lease_until=now + LEASE)
            )
            await s.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _run_claimed(self, connector_id: str, owner: str) -> dict:
        async with self.db.session() as s:
            connector = await s.get(Connector, connector_id)
        assert connector is not None
        started = utcnow()
        try:
            result = await self._pull(connector)
            status, error = "ok", ""
        except ConnectorError as exc:
            result, status, error = {"error": str(exc)}, "error", str(exc)
        except Exception as exc:  # a run must end with a recorded status and a released lease
            log.exception("connector_run_failed", connector=connector_id)
            result, status, error = {"error": "internal error"}, "error", f"internal error ({type(exc).__name__})"
        async with self.db.session() as s:
            mine = (Connector.id == connector_id, Connector.lease_owner == owner)
            await s.execute(update(Connector).where(*mine).values(
                cursors=connector.cursors, last_run_at=started, last_status=status, last_error=error,
                last_report=result, next_run_at=started + timedelta(seconds=connector.interval_s),
                lease_owner=None, lease_until=None))
            await s.commit()
        log.info("connector_run", connector=connector_id, kind=connector.kind, status=status)
        return {"id": connector_id, "status": status, "error": error, **result}

    async def _pull(self, connector: Connector) -> dict:
        kind = KINDS[connector.kind]
        key = self.box.decrypt(connector.key_ciphertext)
        cursors = dict(connector.cursors or {})
        reports: dict[str, Any] = {}
        now = utcnow()
        async with httpx.AsyncClient(timeout=60, transport=self._transport) as http:
            for report in kind.reports:
                cursor = cursors.get(report.name)
                start = complete_until(as_utc(datetime.fromisoformat(cursor)) if cursor else as_utc(connector.start_at),
                                       report.bucket)
                end = complete_until(now, report.bucket)
                if end <= start:
                    reports[report.name] = {"window": [iso(start), iso(end)], "imported": 0, "note": "no complete "
                                            "bucket since the last pull"}
                    continue
                imported = await self._import(http, connector, kind, report, key, start, end)
                cursors[report.name] = end.isoformat()
                connector.cursors = cursors
                reports[report.name] = {"window": [iso(start), iso(end)], **imported}
        return {"reports": reports, "reconciliation": await self._reconcile(connector, kind, reports)}

    async def _import(self, http: httpx.AsyncClient, connector: Connector, kind: ConnectorKind, report: Report,
                      key: str, start: datetime, end: datetime) -> dict:
        url = kind.base_url(self.settings) + report.path
        sleep = self._sleep or asyncio.sleep
        count = 0
        # Pages go to a spooled file (memory first, disk past 8 MB) and through the import format.
        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
            async for page in pages(http, url, report.params(start, end), kind.headers(key),
                                    max_attempts=self.settings.connector_max_attempts, sleep=sleep):
                spool.write(orjson.dumps(page) + b"\n")
                count += 1
            spool.seek(0)
            result = await import_usage(self.analytics, connector.org_id, spool, format=report.format,  # type: ignore[arg-type]
                                        cost_lines="reference" if report.costs else "spend")
        if result["imported"] and self.usage_changed is not None:
            self.usage_changed(connector.org_id)
        return {"pages": count, **result}

    async def _reconcile(self, connector: Connector, kind: ConnectorKind, reports: dict) -> dict | None:
        """Billed against computed over the days the cost report covered (its buckets are whole days,
        and usage up to then is complete too)."""
        costs = reports.get("costs") or {}
        if not (costs.get("imported") or costs.get("duplicates")):
            return None
        start, end = (datetime.fromisoformat(value) for value in costs["window"])
        rows = await self.analytics.query(RECONCILE, {"org_id": connector.org_id, "provider": kind.name,
                                                      "start": start, "end": end})
        if not rows:
            return None
        billed, computed = rows[0]["billed_usd"], rows[0]["computed_usd"]
        return {"from": iso(start), "to": iso(end), "billed_usd": round(billed, 6), "computed_usd": round(computed, 6),
                "difference_usd": round(computed - billed, 6)}
