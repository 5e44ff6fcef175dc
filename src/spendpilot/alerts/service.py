"""The alerts of a process: evaluate after usage changes and on the deployment's sweep, deliver what is due.

`usage_changed(org_id)` is the one hook importers and live intake call after they store usage: it
evaluates that org's budgets in the background (coalescing bursts, so a stream of intake batches
costs one evaluation at a time per org) and returns at once.

Every process also runs a loop that, each `alerts_poll_s`, sends the deliveries that are due and
checks whether the periodic sweep is due. The sweep's schedule is a row in the database that one
process moves forward with a conditional update, so one process of the deployment evaluates every
org with budgets each `alerts_interval_s`. Alerts fire once whatever evaluates them (see evaluate).
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import httpx
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from spendpilot.alerts.budgets import BudgetBook
from spendpilot.alerts.delivery import Deliverer
from spendpilot.alerts.evaluate import candidates, record
from spendpilot.analytics.forecast import utc_today
from spendpilot.analytics.store import AnalyticsStore
from spendpilot.clock import utcnow
from spendpilot.config import Settings
from spendpilot.logs import get_logger
from spendpilot.store.database import Database
from spendpilot.store.models import AlertSweep

log = get_logger(__name__)

SWEEP = "budgets"


class AlertService:
    def __init__(self, db: Database, analytics: AnalyticsStore, settings: Settings, budgets: BudgetBook | None = None):
        self.db = db
        self.analytics = analytics
        self.settings = settings
        self.budgets = budgets or BudgetBook(db)
        self._client: httpx.AsyncClient | None = None
        self._deliverer: Deliverer | None = None
        self._loop_task: asyncio.Task | None = None
        self._sweep_task: asyncio.Task | None = None
        self._evaluating: dict[str, asyncio.Task] = {}
        self._again: set[str] = set()
        self._wake = asyncio.Event()

    async def start(self) -> None:
        # Redirects are not followed: a target answers for itself.
        self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        self._deliverer = Deliverer(self.db, self.settings, self._client)
        self._loop_task = asyncio.create_task(self._loop(), name="alerts")

    async def close(self) -> None:
        tasks = [t for t in (self._loop_task, self._sweep_task, *self._evaluating.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    # --- evaluation ---------------------------------------------------------------------

    def usage_changed(self, org_id: str) -> None:
        """Usage of the org was stored (an import, an intake batch): evaluate its budgets soon."""
        self.evaluate_soon(org_id)

    def evaluate_soon(self, org_id: str) -> None:
        """Evaluate the org's budgets in the background; returns at once."""
        if org_id in self._evaluating:
            self._again.add(org_id)  # the running evaluation may have read the usage before this change
            return
        task = asyncio.create_task(self._evaluate_until_settled(org_id), name=f"alerts-{org_id}")
        self._evaluating[org_id] = task
        task.add_done_callback(lambda _t: self._evaluating.pop(org_id, None))

    async def _evaluate_until_settled(self, org_id: str) -> None:
        while True:
            self._again.discard(org_id)
            try:
                await self.evaluate(org_id)
            except Exception as exc:  # the sweep evaluates it again within the minute
                log.warning("alert_evaluation_failed", org_id=org_id, error=exc)
            if org_id not in self._again:
                return

    async def evaluate(self, org_id: str, today: date | None = None) -> list[str]:
        """Check the org's budgets and scopes now; returns the ids of the alerts this call fired."""
        budgets = await self.budgets.of_org(org_id)
        if not budgets:
            return []
        found = await candidates(self.analytics, org_id, budgets, today or utc_today())
        fired = await record(self.db, org_id, found, timedelta(seconds=self.settings.webhook_retry_window_s))
        if fired:
            log.info("alerts_fired", org_id=org_id, count=len(fired))
            self._wake.set()
        return fired

    async def _claim_sweep(self) -> bool:
        """True when this process won the due sweep (and moved the next one forward)."""
        now = utcnow()
        following = now + timedelta(seconds=self.settings.alerts_interval_s)
        insert = pg_insert if self.db.engine_name == "postgresql" else sqlite_insert
        async with self.db.session() as s:
            moved = await s.execute(update(AlertSweep).where(AlertSweep.name == SWEEP, AlertSweep.next_at <= now)
                                    .values(next_at=following))
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                # Not due, or the schedule does not exist yet (then the first to create it sweeps).
                moved = await s.execute(insert(AlertSweep).values(name=SWEEP, next_at=following)
                                        .on_conflict_do_nothing(index_elements=["name"]))
            await s.commit()
            return moved.rowcount == 1  # type: ignore[attr-defined]

    async def sweep(self) -> None:
        for org_id in await self.budgets.orgs_with_budgets():
            try:
                await self.evaluate(org_id)
            except Exception as exc:
                log.warning("alert_evaluation_failed", org_id=org_id, error=exc)

    # --- the loop -----------------------------------------------------------------------

    async def _loop(self) -> None:
        assert self._deliverer is not None
        while True:
            try:
                # The sweep runs beside the deliveries, so a slow evaluation delays no retry.
                if (self._sweep_task is None or self._sweep_task.done()) and await self._claim_sweep():
                    self._sweep_task = asyncio.create_task(self.sweep(), name="alerts-sweep")
                await self._deliverer.send_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be restarting: try again next round
                log.warning("alerts_loop_failed", error=exc)
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.alerts_poll_s)
            except TimeoutError:
                pass
            self._wake.clear()
