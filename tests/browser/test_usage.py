"""The usage page in a real Chromium: import a file with a bad row, then the spend charts."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import Api, register

pytestmark = pytest.mark.browser

# Line 1 is the header; line 3 has a timestamp that cannot be read.
USAGE_CSV = """ts,provider,model,feature,input_tokens,output_tokens,latency_ms,status
2026-11-01T10:00:00Z,openai,gpt-4o,chat,1200,300,800,ok
not-a-timestamp,openai,gpt-4o,chat,1200,300,800,ok
2026-11-02T11:00:00Z,openai,gpt-4o-mini,search,900,120,400,ok
2026-11-03T12:00:00Z,anthropic,claude-3-5-haiku-20241022,chat,2000,500,900,ok
"""


def test_new_account_imports_usage_and_sees_rejected_line_and_chart(open_page, spendpilot_server):
    page, _ = open_page()
    email, password = register(page)

    # An account without data is pointed at the import, from the chat and on the usage page.
    expect(page.locator(".welcome-data")).to_contain_text("No usage data yet")
    page.locator(".welcome-data").get_by_role("link", name="Import a usage file").click()
    expect(page.get_by_role("heading", name="Import usage data")).to_be_visible()
    expect(page.locator(".summary-body")).to_contain_text("No usage data yet")

    page.get_by_label("Usage file").set_input_files(
        files=[{"name": "usage.csv", "mimeType": "text/csv", "buffer": USAGE_CSV.encode()}])
    page.get_by_role("button", name="Import").click()

    expect(page.locator("#import-imported")).to_have_text("3")
    expect(page.locator("#import-rejected")).to_have_text("1")
    rejected = page.locator(".rejected-table tbody tr")
    expect(rejected).to_have_count(1)
    expect(rejected.locator("td").first).to_have_text("3")
    expect(rejected.locator("td").nth(1)).not_to_be_empty()

    # The charts are drawn from the server's summary of what was stored.
    api = Api(spendpilot_server.url, email, password)
    try:
        by_day = api.get("/api/usage/summary?group_by=day")
        by_model = api.get("/api/usage/summary?group_by=model")
    finally:
        api.close()
    assert by_day["total_requests"] == 3
    expect(page.locator("#chart-days svg .bar")).to_have_count(len(by_day["groups"]))
    expect(page.locator("#chart-models svg .bar")).to_have_count(len(by_model["groups"]))
    expect(page.locator("#chart-models svg")).to_contain_text("gpt-4o-mini")

    # Importing the same file again finds only duplicates.
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-duplicates")).to_have_text("3")
    expect(page.locator("#import-imported")).to_have_text("0")
