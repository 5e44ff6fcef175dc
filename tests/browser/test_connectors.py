"""The Connectors page in a real Chromium: add a provider admin key (never shown back), pull now, see
what the pull imported and the bill beside it. The provider is the local fake of the admin APIs
(tests/support/fake_admin_apis.py, results copied from tests/samples/)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import register
from tests.support.fake_admin_apis import FakeAdminApis

pytestmark = pytest.mark.browser


@pytest.fixture
def fake():
    apis = FakeAdminApis().start()
    yield apis
    apis.stop()


def test_add_a_connector_and_pull_it(open_page_at, make_server, fake):
    server = make_server(env={"SPENDPILOT_SEED_DEMO": "0", "SPENDPILOT_CONNECTOR_POLL_S": "3600",
                              "SPENDPILOT_OPENAI_ADMIN_URL": fake.url + "/v1"})
    page, _ = open_page_at(server.url)
    register(page)
    page.locator("#nav-connectors").click()
    expect(page.get_by_role("heading", name="Add a connector")).to_be_visible()
    page.get_by_label("Provider").select_option("openai")
    page.get_by_label("Name").fill("production")
    page.get_by_label("Admin key").fill(fake.openai_key)
    page.get_by_label("Pull usage from (default: 30 days ago)").fill("2026-11-19")
    page.get_by_role("button", name="Add connector").click()

    entry = page.locator(".connector")
    expect(entry).to_have_count(1)
    expect(entry.locator("h4")).to_have_text(f"production · openai · key …{fake.openai_key[-4:]}")
    expect(page.get_by_label("Admin key")).to_have_value("")
    entry.get_by_role("button", name="Pull now").click()
    expect(page.locator("#connector-form [role=status]")).to_have_text("Pulled.")
    expect(entry).to_contain_text("ok;")
    expect(entry).to_contain_text("rows imported")
    # The fake bills $10.1425634 a day (the Costs API capture); usage is priced from the tables.
    expect(entry).to_contain_text(re.compile(r"Billed \$[\d,]+\.\d\d against \$[\d,]+\.\d\d computed from usage"))
    assert fake.openai_key not in page.content()
