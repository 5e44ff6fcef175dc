"""Alerts end to end: a real server fires budget alerts to a real local webhook receiver.

Each crossing is delivered once, signed with the budget's secret; re-importing the same usage fires
nothing; a 5xx or a hang is retried with growing delays until it succeeds; an anomaly fires once per
day and scope; a forecast overrun once per month. "Nothing more arrived" is shown by a later alert
that must come after it (evaluations of one org run one after another), not by waiting.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx
import pytest

from tests.support.client import register
from tests.support.server import RunningServer, free_port
from tests.support.usage_rows import calls_today, daily_calls, today_utc, usage_csv
from tests.support.webhook_receiver import WebhookReceiver

RETRY_BASE_S = 0.3
ENV = {"SPENDPILOT_SEED_DEMO": "0", "SPENDPILOT_ALERTS_POLL_S": "0.1", "SPENDPILOT_ALERTS_INTERVAL_S": "1",
       "SPENDPILOT_WEBHOOK_RETRY_BASE_S": str(RETRY_BASE_S), "SPENDPILOT_WEBHOOK_TIMEOUT_S": "1"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = RunningServer(tmp_path_factory.mktemp("alerts"), free_port(), env=ENV).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def receiver():
    running = WebhookReceiver(hang_s=2.0).start()
    yield running
    running.stop()


@pytest.fixture
async def http(server):
    session = await register(server.url)
    async with httpx.AsyncClient(base_url=server.url, timeout=30,
                                 headers={"Authorization": f"Bearer {session['access_token']}"}) as client:
        yield client


async def until(probe, timeout: float = 30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := probe()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached in {timeout}s")
        await asyncio.sleep(0.05)
    return value


async def create_budget(http, receiver, path: str, amount: float, **extra) -> dict:
    response = await http.post("/api/budgets", json={"name": f"budget {path}", "amount_usd": amount,
                                                     "notify": {"webhook_url": receiver.url(path)}, **extra})
    assert response.status_code == 201, response.text
    return response.json()


async def import_csv(http, content: bytes) -> dict:
    response = await http.post("/api/usage/import", files={"file": ("usage.csv", content)})
    assert response.status_code == 200, response.text
    return response.json()


async def alerts(http) -> list[dict]:
    response = await http.get("/api/alerts")
    assert response.status_code == 200
    return response.json()


async def test_each_threshold_crossing_is_delivered_once_signed_and_reimport_fires_nothing(http, receiver):
    budget = await create_budget(http, receiver, "/crossing", 10, thresholds=[50, 100])
    secret = budget["notify"]["secret"]
    assert secret.startswith("whsec_") and len(secret) > 30
    first = usage_csv(calls_today(2, 2, 2))  # $6 of $10: past 50%
    assert (await import_csv(http, first))["imported"] == 3
    [crossed] = await until(lambda: receiver.at("/crossing"))
    event = crossed.json
    assert event["type"] == "budget.threshold_crossed" and event["threshold"] == 50
    assert event["spent_usd"] == pytest.approx(6.0) and event["budget"]["id"] == budget["id"]
    assert event["period"]["month"] == today_utc().strftime("%Y-%m")
    assert crossed.headers["x-spendpilot-event-id"] == event["id"]
    assert crossed.signed_with(secret) and not crossed.signed_with(secret + "x")
    assert "secret" not in str(event) and "webhook_url" not in str(event)

    # The same file again: nothing new is stored, so nothing fires.
    assert (await import_csv(http, first))["duplicates"] == 3
    # Then $4 more reaches 100%: that alert arrives, and still only one for 50%.
    await import_csv(http, usage_csv(calls_today(2, 2, offset_s=100)))
    await until(lambda: len(receiver.at("/crossing")) >= 2)
    events = [r.json for r in receiver.at("/crossing")]
    assert [(e["type"], e["threshold"]) for e in events] == [("budget.threshold_crossed", 50),
                                                             ("budget.threshold_crossed", 100)]
    assert all(r.signed_with(secret) for r in receiver.at("/crossing"))

    listed = await alerts(http)
    assert sorted(a["threshold"] for a in listed) == [50, 100]
    for alert in listed:
        [delivery] = alert["deliveries"]
        assert delivery["status"] == "delivered" and delivery["channel"] == "webhook"
        assert [a["status_code"] for a in delivery["attempts"]] == [200]
    status = (await http.get(f"/api/budgets/{budget['id']}")).json()
    assert status["state"] == "exceeded" and status["spent_usd"] == pytest.approx(10.0)
    assert "secret" not in status["notify"]


async def test_a_failing_target_is_retried_with_growing_delays_until_it_answers_2xx(http, receiver):
    receiver.script("/flaky", [500, 503, "hang", 200])
    budget = await create_budget(http, receiver, "/flaky", 4, thresholds=[100])
    await import_csv(http, usage_csv(calls_today(2, 2, 1)))
    received = await until(lambda: [r for r in receiver.at("/flaky") if r.answered == 200] and receiver.at("/flaky"))
    assert [r.answered for r in received] == [500, 503, "hang", 200]
    assert len({r.json["id"] for r in received}) == 1 and len({r.body for r in received}) == 1
    assert all(r.signed_with(budget["notify"]["secret"]) for r in received)

    alert = await _delivered_alert(http)
    [delivery] = alert["deliveries"]
    attempts = delivery["attempts"]
    assert [a["status_code"] for a in attempts] == [500, 503, None, 200]
    assert attempts[2]["error"] == "timed out" and delivery["last_error"] is None
    # Exponential backoff: each wait at least the schedule's (base * 2^(n-1), less 10% jitter).
    times = [_seconds(a["attempted_at"]) for a in attempts]
    for n in (1, 2):
        assert times[n] - times[n - 1] >= RETRY_BASE_S * 2 ** (n - 1) * 0.9


async def _delivered_alert(http) -> dict:
    async def probe():
        listed = await alerts(http)
        return [a for a in listed if a["deliveries"] and a["deliveries"][0]["status"] == "delivered"]

    deadline = asyncio.get_running_loop().time() + 30
    while not (found := await probe()):
        assert asyncio.get_running_loop().time() < deadline, "no delivered alert"
        await asyncio.sleep(0.1)
    return found[0]


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def test_an_anomaly_fires_once_per_day_and_scope(http, receiver):
    today = today_utc()
    await create_budget(http, receiver, "/anomaly", 1_000_000, thresholds=[100])
    # Three weeks at $1 a day, then $10 yesterday and $12 today: two anomalous days.
    history = daily_calls(today - timedelta(days=22), today - timedelta(days=2), 1.0)
    await import_csv(http, usage_csv(history + daily_calls(today - timedelta(days=1), today - timedelta(days=1), 10)
                                     + calls_today(12)))
    await until(lambda: len(receiver.at("/anomaly")) >= 2)

    # More of the same day and a re-import: no new anomaly. A small budget created afterwards
    # fires at once; when its alert has arrived, every evaluation before it has run.
    await import_csv(http, usage_csv(calls_today(5, offset_s=500)))
    await import_csv(http, usage_csv(history))
    await create_budget(http, receiver, "/anomaly-sentinel", 1, thresholds=[100])
    await until(lambda: receiver.at("/anomaly-sentinel"))

    events = [r.json for r in receiver.at("/anomaly")]
    assert sorted((e["type"], e["day"]) for e in events) == [
        ("spend.anomaly", (today - timedelta(days=1)).isoformat()), ("spend.anomaly", today.isoformat())]
    yesterday = next(e for e in events if e["day"] != today.isoformat())
    assert yesterday["spent_usd"] == pytest.approx(10.0) and yesterday["baseline_usd"] == pytest.approx(1.0)
    assert yesterday["ratio"] == pytest.approx(10.0) and yesterday["scope"] == {}
    listed = [a for a in await alerts(http) if a["type"] == "spend.anomaly"]
    # The whole org's scope: one alert per day, sent to the budget that watched that scope when it fired.
    assert len(listed) == 2 and all(len(a["deliveries"]) == 1 for a in listed)


async def test_a_forecast_overrun_fires_once_per_month(http, receiver):
    today = today_utc()
    await import_csv(http, usage_csv(daily_calls(today - timedelta(days=35), today - timedelta(days=1), 3.0)))
    budget = await create_budget(http, receiver, "/forecast-probe", 1_000_000, thresholds=[100])
    status = (await http.get(f"/api/budgets/{budget['id']}")).json()
    spent, forecast = status["spent_usd"], status["forecast_usd"]
    assert forecast is not None and forecast > spent, status
    # An amount between what is spent and what the month is on course for.
    amount = round((spent + forecast) / 2, 2)
    patched = await http.patch(f"/api/budgets/{budget['id']}", json={"amount_usd": amount, "thresholds": [100],
                                                                      "notify": {"webhook_url": receiver.url("/fc")}})
    assert patched.status_code == 200 and patched.json()["state"] == "forecast_exceeded"
    [overrun] = await until(lambda: receiver.at("/fc"))
    assert overrun.json["type"] == "budget.forecast_exceeded"
    assert overrun.json["forecast_usd"] > amount > overrun.json["spent_usd"]
    # Another change of the budget re-evaluates it; the overrun is not sent again this month.
    await http.patch(f"/api/budgets/{budget['id']}", json={"name": "renamed"})
    await create_budget(http, receiver, "/fc-sentinel", 0.01, thresholds=[100])
    await until(lambda: receiver.at("/fc-sentinel"))
    assert len(receiver.at("/fc")) == 1



async def test_a_slack_target_gets_a_text_message_and_its_url_is_not_shown_back(http, receiver):
    slack_url = receiver.url("/services/T000/B000/slack-token")
    created = await http.post("/api/budgets", json={"name": "Team Slack", "amount_usd": 2, "thresholds": [100],
                                                    "notify": {"slack_webhook_url": slack_url}})
    assert created.status_code == 201
    assert "slack-token" not in created.json()["notify"]["slack_webhook_url"]
    await import_csv(http, usage_csv(calls_today(3, offset_s=900)))
    [message] = await until(lambda: receiver.at("/services/T000/B000/slack-token"))
    assert set(message.json) == {"text"}
    assert "Team Slack" in message.json["text"] and "100%" in message.json["text"] and "$3.00" in message.json["text"]
    assert message.signed_with(created.json()["notify"]["secret"])
    listed = await alerts(http)
    assert "slack-token" not in str(listed) and "slack-token" not in str((await http.get("/api/budgets")).json())
    assert listed[0]["deliveries"][0]["channel"] == "slack"
