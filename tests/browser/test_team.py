"""Teams in a real Chromium: an admin invites a viewer from the Team page, the invitee signs up through the
link, sees the organisation's usage, and is offered no import (which the server would refuse anyway)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import register, wait_connected

pytestmark = pytest.mark.browser

USAGE_CSV = """ts,provider,model,feature,user,input_tokens,output_tokens
2026-11-01T10:00:00Z,openai,gpt-4o,chat,ana,1200,300
2026-11-02T11:00:00Z,openai,gpt-4o-mini,search,bo,900,120
2026-11-03T12:00:00Z,anthropic,claude-3-5-haiku-20241022,chat,ana,2000,500
"""


@pytest.fixture
def server(make_server):
    return make_server({"SPENDPILOT_SEED_DEMO": "false"})


def test_admin_invites_a_viewer_who_signs_up_by_the_link_sees_usage_and_cannot_import(open_page_at, server):
    admin_page, _ = open_page_at(server.url)
    admin_email, admin_password = register(admin_page, name="Ada Admin")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        token = http.post("/auth/login", json={"email": admin_email, "password": admin_password}).json()["access_token"]
        imported = http.post("/api/usage/import", files={"file": ("usage.csv", USAGE_CSV.encode())},
                             headers={"Authorization": f"Bearer {token}"})
        assert imported.json()["imported"] == 3
        summary = http.get("/api/usage/summary", headers={"Authorization": f"Bearer {token}"}).json()

    # The admin invites from the Team page and gets the link to hand over.
    admin_page.locator("#nav-team").click()
    expect(admin_page.get_by_role("heading", name="Team")).to_be_visible()
    expect(admin_page.locator("#members-table tbody tr")).to_have_count(1)
    invitee = f"viewer-{uuid.uuid4().hex[:8]}@example.com"
    admin_page.get_by_label("Email").fill(invitee)
    admin_page.locator("#invite-role").select_option("viewer")
    admin_page.locator("#invite-submit").click()
    link_box = admin_page.locator("#invite-link")
    expect(link_box).to_have_value(f"{server.url}/#/join/" + link_box.input_value().rsplit("/", 1)[-1])
    link = link_box.input_value()
    assert "/#/join/" in link
    expect(admin_page.locator("#invite-pending")).to_contain_text(invitee)

    # The invitee opens the link in their own browser and signs up there.
    page, problems = open_page_at(server.url)
    page.goto(link)
    expect(page.locator("#join-summary")).to_contain_text(invitee)
    expect(page.locator("#join-summary")).to_contain_text("viewer")
    # The token is read and taken out of the address bar.
    assert "/join/" not in page.url
    expect(page.locator("#join-email")).to_have_value(invitee)
    page.locator("#join-password").fill("a long viewer passphrase")
    page.locator("#join-submit").click()
    wait_connected(page)
    expect(page.locator("#user-org")).to_contain_text("Viewer")

    # The organisation's usage is there; the import is not offered to a viewer.
    page.locator("#nav-usage").click()
    expect(page.locator("#usage-total")).to_have_text(f"${summary['total_usd']:,.2f}")
    expect(page.locator("#chart-models svg")).to_contain_text("gpt-4o-mini")
    expect(page.locator("#import-readonly")).to_be_visible()
    expect(page.locator("#import-card")).to_be_hidden()
    expect(page.locator("#usage-file")).to_be_hidden()

    # Spend by user, from the breakdown selector.
    page.locator("#usage-breakdown").select_option("user")
    expect(page.locator("#breakdown-title")).to_have_text("Spend by user")
    expect(page.locator("#chart-models svg")).to_contain_text("ana")

    # And were the page to try, the server says no: 403 with a JSON error (the one console error allowed).
    problems.allow(r"status of 403")
    refused = page.evaluate("""async () => {
        const session = JSON.parse(sessionStorage.getItem("spendpilot.session"));
        const form = new FormData();
        form.append("file", new Blob(["ts,model,input_tokens,output_tokens\\n"]), "u.csv");
        const response = await fetch("/api/usage/import", {method: "POST", body: form,
            headers: {Authorization: `Bearer ${session.access_token}`}});
        return {status: response.status, body: await response.json()};
    }""")
    assert refused["status"] == 403 and refused["body"]["error"]["code"] == "forbidden"

    # The admin's Team page lists the new member as a viewer, and the invitation is no longer pending.
    admin_page.reload()
    wait_connected(admin_page)
    admin_page.locator("#nav-team").click()
    row = admin_page.locator(f'#members-table tr[data-member="{invitee}"]')
    expect(row.locator("select")).to_have_value("viewer")
    expect(admin_page.locator("#invite-pending")).to_contain_text("None.")
    expect(admin_page.locator("#audit-list")).to_contain_text(f"invited {invitee} as viewer")
