"""Accounts in a real Chromium: a signed-in user accepts an invitation, switches between their two
organisations on the Account page, and resets a forgotten password through the mailed link."""

from __future__ import annotations

import email
import re
import time
import uuid

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import register, sign_in, wait_connected
from tests.support.teams import bearer

pytestmark = pytest.mark.browser


@pytest.fixture
def server(make_server):
    return make_server({"SPENDPILOT_SEED_DEMO": "false"})


def outbox_link(server, kind: str, count: int) -> str:
    """The link of the `count`-th mail written to the development outbox (mail goes out after the answer)."""
    outbox = server.data_dir / "outbox"
    deadline = time.monotonic() + 10
    while len(list(outbox.glob("*.eml"))) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    mails = [email.message_from_bytes(p.read_bytes()) for p in sorted(outbox.glob("*.eml"))]
    text = mails[count - 1].get_payload(decode=True).decode()
    return re.search(rf"https?://\S+/#/{kind}/[A-Za-z0-9_-]+", text).group(0)


def test_a_signed_in_user_joins_a_second_org_and_switches_between_them(open_page_at, server):
    page, _ = open_page_at(server.url)
    own_email, _ = register(page, name="Uma")
    expect(page.locator("#user-org")).to_contain_text("Admin")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        owner = http.post("/auth/register", json={"email": f"owner-{uuid.uuid4().hex[:8]}@example.com",
                                                  "password": "correct-horse-battery"}).json()
        http.patch("/api/org", json={"name": "Acme Research"}, headers=bearer(owner["access_token"]))
        invitation = http.post("/api/org/invitations", json={"email": own_email, "role": "analyst"},
                               headers=bearer(owner["access_token"])).json()

    page.goto(invitation["url"])
    expect(page.locator("#join-summary")).to_contain_text("Acme Research")
    page.locator("#join-accept").click()
    wait_connected(page)
    expect(page.locator("#user-org")).to_have_text("Acme Research · Analyst")

    page.locator("#nav-account").click()
    orgs = page.locator("#orgs-table tbody tr")
    expect(orgs).to_have_count(2)
    expect(page.locator("#account-role")).to_have_text("Analyst")
    page.locator("#orgs-table button[data-switch]").click()
    wait_connected(page)
    expect(page.locator("#user-org")).to_contain_text("Uma's organisation · Admin")
    expect(page.locator("#account-role")).to_have_text("Admin")
    # One live session: the one that moved with each switch.
    expect(page.locator("#sessions-table tbody tr")).to_have_count(1)


def test_a_forgotten_password_is_reset_through_the_mailed_link(open_page_at, server):
    page, problems = open_page_at(server.url)
    # The old password is tried on purpose below: its 401 is the one console error expected.
    problems.allow(r"status of 401")
    address, old_password = register(page)
    page.locator("#sign-out").click()
    page.locator("#auth-forgot").click()
    page.get_by_label("Email").fill(address)
    page.locator("#auth-submit").click()
    expect(page.locator("#auth-reset-sent")).to_contain_text("If an account uses this address")

    page.goto(outbox_link(server, "reset", 1))
    expect(page.locator("#reset-password")).to_be_visible()
    assert "/reset/" not in page.url
    page.locator("#reset-password").fill("a fresh long passphrase")
    page.locator("#reset-submit").click()
    expect(page.get_by_role("status").filter(has_text="Your password was changed")).to_be_visible()
    page.get_by_label("Email").fill(address)
    page.get_by_label("Password").fill(old_password)
    page.locator("#auth-submit").click()
    expect(page.locator("#auth-error")).to_contain_text("Wrong email or password")
    sign_in(page, address, "a fresh long passphrase")
