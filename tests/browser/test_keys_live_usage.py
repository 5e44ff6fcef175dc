"""Settings / API keys and the live Usage page in a real Chromium: a key made on the page sends spans, and the
open Usage page shows them without a reload (the socket's usage_updated notice, no polling)."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import register

pytestmark = pytest.mark.browser


def one_export(calls: int) -> bytes:
    now = time.time_ns()
    attributes = [{"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                  {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1000"}},
                  {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "100"}}]
    spans = [{"traceId": f"{now:032x}", "spanId": f"{i + 1:016x}", "name": "chat",
              "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 10**8), "attributes": attributes}
             for i in range(calls)]
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]}
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}).encode()


def test_a_key_created_on_the_page_feeds_the_open_usage_page_live(open_page_at, make_server):
    server = make_server(env={"SPENDPILOT_SEED_DEMO": "0"})
    page, _ = open_page_at(server.url)
    register(page)

    page.goto("/#/settings/keys")
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    expect(page.locator("#key-list")).to_contain_text("No keys yet")
    page.get_by_label("Name").fill("checkout-service")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#key-value code").inner_text().strip()
    assert key.startswith("sp_")
    expect(page.locator("#key-otel")).to_contain_text(f"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={server.url}/v1/traces")
    expect(page.locator("#key-otel")).to_contain_text(f"OTEL_EXPORTER_OTLP_HEADERS=x-spendpilot-key={key}")
    expect(page.locator("#key-gateway")).to_contain_text(f"{server.url}/gateway/openai/v1")
    row = page.locator(".keys-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("checkout-service")
    expect(row).not_to_contain_text(key)  # only the prefix is listed

    page.locator("#nav-usage").click()
    expect(page.locator(".summary-body")).to_contain_text("No usage data yet")
    sent = httpx.post(f"{server.url}/v1/traces", content=one_export(3),
                      headers={"content-type": "application/json", "x-spendpilot-key": key})
    assert sent.status_code == 200
    # No reload and no click: the page hears that usage was stored and redraws from the summary.
    requests = page.locator(".stat", has_text="Requests").locator(".stat-value")
    expect(requests).to_have_text("3", timeout=5000)
    sent = httpx.post(f"{server.url}/v1/traces", content=one_export(4),
                      headers={"content-type": "application/json", "x-spendpilot-key": key})
    expect(requests).to_have_text("7", timeout=5000)

    page.locator("#nav-settings-keys").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("#key-list")).to_contain_text("No keys yet")
    refused = httpx.post(f"{server.url}/v1/traces", content=one_export(1),
                         headers={"content-type": "application/json", "x-spendpilot-key": key})
    assert refused.status_code == 401
