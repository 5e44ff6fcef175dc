"""Alerts over REST: the org's fired alerts, newest first, each with its deliveries and every attempt."""

from __future__ import annotations

from collections import defaultdict

from fastapi import APIRouter, Query
from sqlalchemy import select

from spendpilot.alerts.targets import shown_url
from spendpilot.api.deps import AlertReader, ServicesDep
from spendpilot.clock import iso
from spendpilot.store.models import Alert, AlertDelivery, DeliveryAttempt

router = APIRouter(tags=["alerts"])


def _attempt_view(attempt: DeliveryAttempt) -> dict:
    return {"number": attempt.number, "attempted_at": iso(attempt.attempted_at), "status_code": attempt.status_code,
            "error": attempt.error, "duration_ms": attempt.duration_ms}


def _delivery_view(delivery: AlertDelivery, attempts: list[DeliveryAttempt]) -> dict:
    return {"id": delivery.id, "budget_id": delivery.budget_id, "channel": delivery.channel,
            "url": shown_url(delivery.url, delivery.channel), "status": delivery.status,
            "attempts": [_attempt_view(a) for a in attempts],
            "next_attempt_at": iso(delivery.next_attempt_at) if delivery.status == "pending" else None,
            "delivered_at": iso(delivery.delivered_at), "last_error": delivery.last_error}


@router.get("/api/alerts")
async def list_alerts(principal: AlertReader, services: ServicesDep, limit: int = Query(default=50, ge=1, le=500),
                      budget_id: str | None = Query(default=None, max_length=40)):
    query = select(Alert).where(Alert.org_id == principal.org_id)
    if budget_id:
        query = query.where(Alert.budget_id == budget_id)
    async with services.db.session() as s:
        alerts = list(await s.scalars(query.order_by(Alert.created_at.desc(), Alert.id).limit(limit)))
        ids = [a.id for a in alerts]
        deliveries = list(await s.scalars(select(AlertDelivery).where(AlertDelivery.alert_id.in_(ids))
                                          .order_by(AlertDelivery.created_at, AlertDelivery.id)))
        attempts = list(await s.scalars(
            select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_([d.id for d in deliveries]))
            .order_by(DeliveryAttempt.number)))
    attempts_of: dict[str, list[DeliveryAttempt]] = defaultdict(list)
    for attempt in attempts:
        attempts_of[attempt.delivery_id].append(attempt)
    deliveries_of: dict[str, list[dict]] = defaultdict(list)
    for delivery in deliveries:
        deliveries_of[delivery.alert_id].append(_delivery_view(delivery, attempts_of[delivery.id]))
    return [{"id": a.id, "type": a.type, "occurred_at": iso(a.created_at), "budget_id": a.budget_id,
             "scope": a.scope, "period": a.period, "threshold": a.threshold, "day": a.day, "event": a.payload,
             "deliveries": deliveries_of[a.id]} for a in alerts]
