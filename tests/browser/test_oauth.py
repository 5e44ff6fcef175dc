"""Provider sign-in in a real Chromium: the button, the redirects, and the hand-over to the page."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import RUN_TIMEOUT_MS, wait_connected
from tests.security.oidc_provider import TestProvider

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def idp():
    provider = TestProvider().start()
    yield provider
    provider.stop()


def test_provider_sign_in_reaches_the_chat_without_tokens_in_any_url(open_page_at, make_server, idp):
    server = make_server(env={
        "SPENDPILOT_SEED_DEMO": "false",
        "SPENDPILOT_OIDC_NAME": "Test IdP",
        "SPENDPILOT_OIDC_DISCOVERY_URL": idp.discovery_url,
        "SPENDPILOT_OIDC_CLIENT_ID": idp.client.client_id,
        "SPENDPILOT_OIDC_CLIENT_SECRET": idp.client.client_secret,
    })
    page, _ = open_page_at(server.url)
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.on("framenavigated", lambda frame: urls.append(frame.url))

    page.goto("/")
    page.get_by_role("link", name="Continue with Test IdP").click()
    wait_connected(page)
    expect(page.locator(".user-email")).to_have_text(idp.user["name"])
    assert page.url.endswith("#/chat"), page.url
    assert any(url.startswith(idp.issuer) for url in urls), "the sign-in went through the provider"

    session = json.loads(page.evaluate("sessionStorage.getItem('spendpilot.session')"))
    assert session["user"]["email"] == idp.user["email"]
    for token in (session["access_token"], session["refresh_token"]):
        assert not [url for url in urls if token.split(".")[1] in url]
    assert not [url for url in urls if "access_token" in url or "refresh_token" in url]

    box = page.get_by_role("textbox", name="Message")
    box.fill("How do I import my usage data?")
    box.press("Enter")
    expect(page.locator(".run").last).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)


def test_a_refused_provider_sign_in_explains_why_on_the_sign_in_page(open_page_at, make_server, idp):
    server = make_server(env={
        "SPENDPILOT_SEED_DEMO": "false",
        "SPENDPILOT_OIDC_NAME": "Test IdP",
        "SPENDPILOT_OIDC_DISCOVERY_URL": idp.discovery_url,
        "SPENDPILOT_OIDC_CLIENT_ID": idp.client.client_id,
        "SPENDPILOT_OIDC_CLIENT_SECRET": idp.client.client_secret,
    })
    idp.user = {**idp.user, "email_verified": False}
    try:
        page, problems = open_page_at(server.url)
        # The hand-over answers with the refusal (a 4xx), which the browser logs.
        problems.allow(r"status of 4\d\d")
        page.goto("/")
        page.get_by_role("link", name="Continue with Test IdP").click()
        expect(page.locator(".notice")).to_contain_text("Sign-in with the provider failed")
        expect(page.locator("#auth-submit")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('spendpilot.session')") is None
    finally:
        idp.reset()
