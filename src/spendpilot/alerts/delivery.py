"""Sending alerts: one POST per attempt, retried with exponential backoff until a 2xx or the window ends.

Any process may send any due delivery. It first claims the delivery with a conditional update (only
one process's update matches), sends it, then writes the attempt to the delivery log and schedules
the next try: base * 2^(n-1) seconds later (capped, with a little jitter), on a timeout, a refused
connection or any answer other than 2xx, until the retry window (24 h by default) is over.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import or_, select, update

from spendpilot.alerts.targets import TargetRefused, check_reachable
from spendpilot.clock import as_utc, utcnow
from spendpilot.config import Settings
from spendpilot.ids import new_id
from spendpilot.logs import get_logger
from spendpilot.store.database import Database
from spendpilot.store.models import Alert, AlertDelivery, DeliveryAttempt

log = get_logger(__name__)

BATCH = 20
CONCURRENCY = 8
USER_AGENT = "Spendpilot-Webhooks/1"


def backoff_s(settings: Settings, attempts: int) -> float:
    """Seconds to wait after the n-th failed attempt."""
    delay = min(settings.webhook_retry_max_s, settings.webhook_retry_base_s * 2 ** max(0, attempts - 1))
    return delay * random.uniform(0.9, 1.1)


class Deliverer:
    def __init__(self, db: Database, settings: Settings, client: httpx.AsyncClient):
        self.db = db
        self.settings = settings
        self.client = client
        self.allow_private = settings.env != "production" or settings.webhook_allow_private
        self._limit = asyncio.Semaphore(CONCURRENCY)

    async def send_due(self) -> int:
        """Send every delivery that is due and not held by another process; returns how many were tried."""
        now = utcnow()
        async with self.db.session() as s:
            due = list(await s.scalars(
                select(AlertDelivery.id)
                .where(AlertDelivery.status == "pending", AlertDelivery.next_attempt_at <= now,
                       or_(AlertDelivery.claimed_until.is_(None), AlertDelivery.claimed_until < now))
                .order_by(AlertDelivery.next_attempt_at).limit(BATCH)))
        tried = await asyncio.gather(*(self._attempt(delivery_id) for delivery_id in due))
        return sum(tried)

    async def _claim(self, delivery_id: str) -> AlertDelivery | None:
        now = utcnow()
        hold = timedelta(seconds=self.settings.webhook_timeout_s + 30)
        async with self.db.session() as s:
            claimed = await s.execute(
                update(AlertDelivery)
                .where(AlertDelivery.id == delivery_id, AlertDelivery.status == "pending",
                       AlertDelivery.next_attempt_at <= now,
                       or_(AlertDelivery.claimed_until.is_(None), AlertDelivery.claimed_until < now))
                .values(claimed_until=now + hold))
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
            await s.commit()
            return await s.get(AlertDelivery, delivery_id)

    async def _attempt(self, delivery_id: str) -> bool:
        async with self._limit:
            delivery = await self._claim(delivery_id)
            if delivery is None:
                return False  # another process has it, or it is no longer due
            async with self.db.session() as s:
                alert = await s.get(Alert, delivery.alert_id)
            attempted_at, started = utcnow(), time.perf_counter()
            status_code, error = await self._post(delivery, alert.type if alert else "")
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            await self._settle(delivery, attempted_at, status_code, error, duration_ms)
            return True

    async def _post(self, delivery: AlertDelivery, event_type: str) -> tuple[int | None, str | None]:
        try:
            await check_reachable(delivery.url, allow_private=self.allow_private)
            response = await self.client.post(
                delivery.url, content=delivery.body.encode(),
                headers={"Content-Type": "application/json", "User-Agent": USER_AGENT,
                         "X-Spendpilot-Event-Id": delivery.alert_id, "X-Spendpilot-Event-Type": event_type,
                         "X-Spendpilot-Signature": delivery.signature},
                timeout=self.settings.webhook_timeout_s)
        except TargetRefused as exc:
            return None, str(exc)
        except httpx.TimeoutException:
            return None, "timed out"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: could not reach the target"
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"answered HTTP {response.status_code}"

    async def _settle(self, delivery: AlertDelivery, attempted_at: datetime, status_code: int | None,
                      error: str | None, duration_ms: float) -> None:
        now = utcnow()
        attempts = delivery.attempts + 1
        values: dict = {"attempts": attempts, "claimed_until": None, "last_error": error}
        if error is None:
            values.update(status="delivered", delivered_at=now)
        else:
            retry_at = now + timedelta(seconds=backoff_s(self.settings, attempts))
            if retry_at > as_utc(delivery.deadline_at):
                values["status"] = "failed"
            else:
                values["next_attempt_at"] = retry_at
        async with self.db.session() as s:
            s.add(DeliveryAttempt(id=new_id("att"), delivery_id=delivery.id, number=attempts, attempted_at=attempted_at,
                                  status_code=status_code, error=error, duration_ms=duration_ms))
            # Only while still pending: a budget deleted meanwhile has already stopped it.
            await s.execute(update(AlertDelivery)
                            .where(AlertDelivery.id == delivery.id, AlertDelivery.status == "pending")
                            .values(**values))
            await s.commit()
        # The URL may carry a credential (Slack's does): logs name the host only.
        log.info("alert_delivery", delivery_id=delivery.id, alert_id=delivery.alert_id, attempt=attempts,
                 host=urlsplit(delivery.url).hostname, status_code=status_code, outcome=values.get("status", "retry"))
