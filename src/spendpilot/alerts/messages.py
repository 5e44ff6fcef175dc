"""What an alert says: the webhook event (SPEC §10), its Slack-compatible text, and its signature."""

from __future__ import annotations

import hashlib
import hmac

import orjson

THRESHOLD_CROSSED = "budget.threshold_crossed"
FORECAST_EXCEEDED = "budget.forecast_exceeded"
ANOMALY = "spend.anomaly"
TYPES = (THRESHOLD_CROSSED, FORECAST_EXCEEDED, ANOMALY)


def budget_summary(budget: dict | None) -> dict | None:
    """The budget as an event names it (no notification targets, no secret)."""
    if budget is None:
        return None
    return {k: budget[k] for k in ("id", "name", "amount_usd", "period", "scope", "thresholds")}


def event(*, alert_id: str, type: str, occurred_at: str, budget: dict | None, threshold: int | None,
          spent_usd: float | None, forecast_usd: float | None, period: dict, **details: object) -> dict:
    """The webhook body: the SPEC §10 fields, then what the type adds (an anomaly's day, baseline, ratio)."""
    return {"id": alert_id, "type": type, "occurred_at": occurred_at, "budget": budget_summary(budget),
            "threshold": threshold, "spent_usd": spent_usd, "forecast_usd": forecast_usd, "period": period,
            **details}


def encode(body: dict) -> bytes:
    return orjson.dumps(body)


def sign(body: bytes, secret: str) -> str:
    """X-Spendpilot-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes with the webhook secret>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _scope_words(scope: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in scope.items()) or "the whole organisation"


def text(body: dict) -> str:
    """One line a person reads in Slack."""
    budget = body.get("budget") or {}
    name = budget.get("name", "")
    if body["type"] == THRESHOLD_CROSSED:
        return (f":warning: Budget \"{name}\" passed {body['threshold']}%: ${body['spent_usd']:,.2f} of "
                f"${budget.get('amount_usd', 0):,.2f} spent in {body['period']['month']}.")
    if body["type"] == FORECAST_EXCEEDED:
        return (f":chart_with_upwards_trend: Budget \"{name}\" is forecast to reach ${body['forecast_usd']:,.2f} "
                f"in {body['period']['month']}, over its ${budget.get('amount_usd', 0):,.2f} "
                f"(${body['spent_usd']:,.2f} spent so far).")
    return (f":rotating_light: Spend anomaly on {body['day']} for {_scope_words(body.get('scope') or {})}: "
            f"${body['spent_usd']:,.2f}, {body['ratio']:.1f}x the usual ${body['baseline_usd']:,.2f} a day.")


def slack_body(body: dict) -> dict:
    return {"text": text(body)}
