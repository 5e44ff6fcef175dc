"""Sessions in a real Chromium: token refresh on a live socket, sign out, tokens never in URLs, no
markup injection, labelled controls."""

from __future__ import annotations

import json

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import RUN_TIMEOUT_MS, register, wait_connected

pytestmark = pytest.mark.browser

SESSION_KEY = "spendpilot.session"


def stored_session(page) -> dict | None:
    raw = page.evaluate(f"sessionStorage.getItem({SESSION_KEY!r})")
    return json.loads(raw) if raw else None


def send(page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def test_tokens_refresh_before_expiry_and_the_open_socket_keeps_working(open_page_at, make_server):
    # Access tokens that live 66 s: the page refreshes a minute before expiry, so after ~6 s.
    server = make_server(env={"SPENDPILOT_ACCESS_TOKEN_TTL_S": "66", "SPENDPILOT_SEED_DEMO": "false"})
    page, _ = open_page_at(server.url)
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws))
    register(page)
    before = stored_session(page)
    assert len(sockets) == 1

    with sockets[0].expect_event("framereceived", lambda payload: '"auth_ok"' in payload, timeout=30_000):
        with page.expect_response(lambda r: r.url.endswith("/auth/refresh"), timeout=30_000) as refreshed:
            pass
        assert refreshed.value.status == 200

    after = stored_session(page)
    assert after["refresh_token"] != before["refresh_token"], "the refresh token rotates on every use"
    assert after["access_token"] != before["access_token"]
    # Same socket, new token: a message still gets its answer, and no new connection was needed.
    send(page, "How do I import my usage data?")
    expect(page.locator(".run").last).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)
    assert len(sockets) == 1


def test_sign_out_revokes_the_session_and_tokens_never_travel_in_urls(open_page, spendpilot_server):
    page, _ = open_page()
    urls = []
    page.on("request", lambda request: urls.append(request.url))
    page.on("websocket", lambda ws: urls.append(ws.url))
    register(page)
    session = stored_session(page)
    send(page, "How do I import my usage data?")
    expect(page.locator(".run").last).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    assert stored_session(page) is None
    page.reload()
    expect(page.locator("#auth-submit")).to_be_visible()

    # The server no longer honours the refresh token the page held.
    response = httpx.post(f"{spendpilot_server.url}/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert response.status_code == 401
    for token in (session["access_token"], session["refresh_token"]):
        assert not [u for u in urls if token in u or token.split(".")[1] in u]
    assert not [u for u in urls if "token=" in u]


def test_message_text_is_shown_as_text_never_as_markup(open_page):
    page, _ = open_page()
    register(page)
    payload = '<img src=x onerror="window.__injected=1"> **not bold** <script>window.__injected=2</script>'
    send(page, payload)
    expect(page.locator(".msg-user .bubble").last).to_have_text(payload)
    expect(page.locator(".run").last).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)
    expect(page.locator(".messages img, .messages script, .sidebar img")).to_have_count(0)
    assert page.evaluate("window.__injected") is None
    page.reload()
    wait_connected(page)
    expect(page.locator(".msg-user .bubble").last).to_have_text(payload)
    assert page.evaluate("window.__injected") is None


def test_every_control_has_a_name_and_the_composer_works_from_the_keyboard(open_page, spendpilot_server):
    page, _ = open_page()
    page.goto("/")
    unnamed_js = """() => [...document.querySelectorAll('input, textarea, select, button, a[href]')]
        .filter((el) => el.offsetParent !== null)
        .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                        && !el.textContent.trim() && !el.getAttribute('title'))
        .map((el) => el.outerHTML)"""
    assert page.evaluate(unnamed_js) == []
    page.get_by_label("Email").fill(spendpilot_server.demo_email)
    page.keyboard.press("Tab")
    page.keyboard.type(spendpilot_server.demo_password)
    page.keyboard.press("Enter")
    wait_connected(page)
    assert page.evaluate(unnamed_js) == []
    expect(page.get_by_role("textbox", name="Message")).to_be_focused()
    page.keyboard.type("Which models could we swap for cheaper ones?")
    page.keyboard.press("Enter")
    expect(page.locator(".run").last).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)
    page.locator("#nav-usage").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Import usage data")).to_be_visible()
    assert page.evaluate(unnamed_js) == []


def test_a_duplicated_tab_gives_up_its_copy_and_leaves_the_original_signed_in(open_page):
    original, _ = open_page()
    register(original)
    # "Duplicate tab" copies sessionStorage, refresh token included.
    copied = original.evaluate("JSON.stringify(Object.entries(sessionStorage))")
    duplicate, _ = open_page(context=original.context)
    duplicate.add_init_script(
        f"for (const [k, v] of {copied}) if (!sessionStorage.getItem('copied')) sessionStorage.setItem(k, v);"
        "sessionStorage.setItem('copied', '1');")
    duplicate.goto("/")
    expect(duplicate.locator(".notice")).to_contain_text("copy of another signed-in tab")
    expect(duplicate.locator("#auth-submit")).to_be_visible()

    # The original's token family was never touched: it reloads (and refreshes) as before.
    original.reload()
    wait_connected(original)
    send(original, "How do I import my usage data?")
    expect(original.locator(".run").last).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)
