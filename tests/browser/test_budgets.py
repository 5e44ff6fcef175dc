"""The budgets page in a real Chromium: create a budget, see its bar and state move after imports, edit it,
and see the alert it fired."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import Api, register
from tests.support.usage_rows import calls_today, usage_csv

pytestmark = pytest.mark.browser

UNNAMED_CONTROLS = """() => [...document.querySelectorAll('input, textarea, select, button, a[href]')]
    .filter((el) => el.offsetParent !== null)
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                    && !el.textContent.trim() && !el.getAttribute('title'))
    .map((el) => el.outerHTML)"""


def import_file(page, content: bytes, imported: int) -> None:
    page.locator("#nav-usage").click()
    page.get_by_label("Usage file").set_input_files(
        files=[{"name": "usage.csv", "mimeType": "text/csv", "buffer": content}])
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-imported")).to_have_text(str(imported))


def wait_for_alerts(api: Api, count: int, timeout: float = 30.0) -> list[dict]:
    """The server evaluates budgets right after an import, in the background."""
    deadline = time.monotonic() + timeout
    while len(alerts := api.get("/api/alerts")) < count:
        assert time.monotonic() < deadline, f"{len(alerts)} alerts, expected {count}"
        time.sleep(0.2)
    return alerts


def test_create_a_budget_then_watch_its_bar_and_state_follow_imports(open_page, spendpilot_server):
    page, _ = open_page()
    email, password = register(page)
    api = Api(spendpilot_server.url, email, password)
    try:
        page.locator("#nav-budgets").click()
        expect(page.get_by_role("heading", name="Budgets", exact=True)).to_be_visible()
        expect(page.locator("#budget-list")).to_contain_text("No budgets yet")
        assert page.evaluate(UNNAMED_CONTROLS) == [], "every control has a name"

        page.get_by_label("Name", exact=True).fill("Chat budget")
        page.get_by_label("Monthly amount (USD)").fill("10")
        page.get_by_label("Alert at (% of the amount)").fill("50, 100")
        page.get_by_label("Feature").fill("chat")
        page.get_by_role("button", name="Create budget").click()

        # The signing secret is shown once, here, and never again by the API.
        secret = page.locator("#budget-secret")
        expect(secret).to_contain_text("whsec_")
        assert secret.inner_text() not in str(api.get("/api/budgets"))
        budget = page.locator("article.budget")
        expect(budget).to_have_count(1)
        expect(budget).to_have_attribute("data-state", "ok")
        expect(budget.locator(".state-badge")).to_have_text("On track")
        expect(budget.locator(".budget-spent")).to_have_text("$0.00")
        expect(budget.locator(".budget-scope")).to_contain_text("feature chat")
        expect(budget.locator("rect.bar-spent")).to_have_attribute("width", "0.00")

        # $6 on the chat feature, and $5 elsewhere that this budget does not count.
        import_file(page, usage_csv(calls_today(2, 2, 2), feature="chat")
                    + usage_csv(calls_today(5, offset_s=40), feature="search").split(b"\n", 1)[1], 4)
        wait_for_alerts(api, 1)
        page.locator("#nav-budgets").click()
        expect(budget).to_have_attribute("data-state", "warning")
        expect(budget.locator(".state-badge")).to_have_text("Warning")
        expect(budget.locator(".budget-spent")).to_have_text("$6.00")
        expect(budget.locator("rect.bar-spent")).to_have_attribute("width", "60.00")
        alerts = page.locator("#alert-list .alert-item")
        expect(alerts).to_have_count(1)
        expect(alerts.first).to_contain_text("Chat budget passed 50%")

        import_file(page, usage_csv(calls_today(3, 3, offset_s=80), feature="chat"), 2)
        wait_for_alerts(api, 2)
        page.locator("#nav-budgets").click()
        expect(budget).to_have_attribute("data-state", "exceeded")
        expect(budget.locator(".state-badge")).to_have_text("Over budget")
        expect(budget.locator(".budget-spent")).to_have_text("$12.00")
        # Past the limit the bar's scale is the spend: spent fills it, the limit line sits at 10/12.
        expect(budget.locator("rect.bar-spent")).to_have_attribute("width", "100.00")
        expect(budget.locator("line.bar-limit")).to_have_attribute("x1", re.compile(r"^83\.33"))
        expect(alerts).to_have_count(2)
        expect(alerts.first).to_contain_text("Chat budget passed 100%")

        # Raising the amount brings it back under: a warning again, at 60% of the bar.
        budget.get_by_role("button", name="Edit").click()
        expect(page.get_by_label("Name", exact=True)).to_have_value("Chat budget")
        page.get_by_label("Monthly amount (USD)").fill("20")
        page.get_by_role("button", name="Save changes").click()
        expect(budget.locator(".budget-amount")).to_have_text("$20.00")
        expect(budget).to_have_attribute("data-state", "warning")
        expect(budget.locator("rect.bar-spent")).to_have_attribute("width", "60.00")
        [stored] = api.get("/api/budgets")
        assert (stored["amount_usd"], stored["spent_usd"], stored["state"]) == (20.0, 12.0, "warning")
    finally:
        api.close()
