"""Headers and policy on a real server: CSP that fits the web app, HSTS behind TLS, CORS allow-list,
Secure/HttpOnly/SameSite cookies, and the request body cap with and without Content-Length."""

from __future__ import annotations

import re

import httpx
import pytest

from spendpilot.web import STATIC_DIR
from tests.security.conftest import ALLOWED_ORIGIN, MAX_BODY, bearer, new_user
from tests.security.test_oauth import PROVIDER, Browser, set_cookies


@pytest.fixture
def tls_server(oauth_server):
    """The sign-in server is also the one deployed behind TLS with CORS and a small body cap."""
    return oauth_server


def _assert_security_headers(response: httpx.Response) -> None:
    h = response.headers
    assert h["x-content-type-options"] == "nosniff"
    assert h["x-frame-options"] == "DENY"
    assert h["referrer-policy"] == "no-referrer"
    csp = dict(part.strip().split(" ", 1) for part in h["content-security-policy"].split(";"))
    assert csp["default-src"] == "'self'" and csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'" and csp["base-uri"] == "'none'"
    assert csp["connect-src"] == "'self'"
    assert "unsafe" not in h["content-security-policy"]
    assert len(h.get_list("content-security-policy")) == 1


@pytest.mark.parametrize("method, path", [("GET", "/"), ("GET", "/health"), ("GET", "/static/app.js"),
                                          ("GET", "/api/threads"), ("GET", "/nope"), ("POST", "/auth/login")])
async def test_every_response_carries_the_security_headers(security_server, method, path):
    async with httpx.AsyncClient(base_url=security_server.url) as http:
        response = await http.request(method, path, json={} if method == "POST" else None)
    _assert_security_headers(response)
    assert "strict-transport-security" not in response.headers  # plain HTTP development server


def test_the_web_app_runs_under_the_csp():
    """No inline script, inline handler or style attribute that the policy would block."""
    html = (STATIC_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert not re.search(r"\son[a-z]+=", html) and "style=" not in html and "<style" not in html
    for path in STATIC_DIR.glob("*.js"):
        source = path.read_text()
        assert "eval(" not in source and "new Function" not in source, path.name
        assert not re.search(r"""setAttribute\(\s*["']style["']""", source), path.name
        assert not re.search(r"""["']?style["']?\s*:\s*["']""", source.replace('style: "currency"', "")), path.name


async def test_behind_tls_every_response_has_hsts(tls_server):
    async with httpx.AsyncClient(base_url=tls_server.url) as http:
        for path in ("/", "/health", "/api/threads"):
            response = await http.get(path)
            assert response.headers["strict-transport-security"].startswith("max-age=31536000")
            _assert_security_headers(response)


async def test_behind_tls_sign_in_cookies_are_secure_httponly_and_samesite(tls_server, idp):
    browser = Browser(tls_server, idp)
    try:
        login = await browser.get(f"{tls_server.url}/auth/oauth/{PROVIDER}/login")
        state = set_cookies(login)["sp_oauth_state"]
        assert state["secure"] is True and state["httponly"] is True and state["samesite"].lower() == "lax"
        back = await browser.get(login.headers["location"])
        callback = await browser.get(back.headers["location"])
        exchange = set_cookies(callback)["sp_oauth_exchange"]
        assert exchange["secure"] is True and exchange["httponly"] is True and exchange["samesite"].lower() == "strict"
        session = await browser.post("/auth/oauth/session")
        assert session.status_code == 200 and session.headers["cache-control"] == "no-store"
    finally:
        await browser.aclose()


async def test_cors_answers_only_the_allowed_origin(tls_server, security_server):
    async with httpx.AsyncClient(base_url=tls_server.url) as http:
        preflight = await http.options("/api/threads", headers={
            "Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        assert "access-control-allow-credentials" not in preflight.headers  # bearer tokens, never cookies

        evil = await http.options("/api/threads", headers={"Origin": "https://evil.example.com",
                                                           "Access-Control-Request-Method": "POST"})
        assert evil.status_code == 400 and "access-control-allow-origin" not in evil.headers
        simple = await http.get("/health", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in simple.headers
        allowed = await http.get("/health", headers={"Origin": ALLOWED_ORIGIN})
        assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    async with httpx.AsyncClient(base_url=security_server.url) as http:
        # No allow-list configured: no cross-origin access at all.
        for origin in (ALLOWED_ORIGIN, "null", "https://evil.example.com"):
            response = await http.get("/health", headers={"Origin": origin})
            assert "access-control-allow-origin" not in response.headers


async def test_a_body_over_the_cap_is_refused_with_413_with_or_without_content_length(tls_server):
    session = await new_user(tls_server.url)
    big = b'{"title": "' + b"x" * (MAX_BODY + 10) + b'"}'

    async def chunks():
        for start in range(0, len(big), 4096):
            yield big[start:start + 4096]

    async with httpx.AsyncClient(base_url=tls_server.url, headers=bearer(session["access_token"])) as http:
        declared = await http.post("/api/threads", content=big, headers={"content-type": "application/json"})
        chunked = await http.post("/api/threads", content=chunks(), headers={"content-type": "application/json"})
        upload = await http.post("/api/usage/import", files={"file": ("u.csv", b"ts,model\n" + b"x" * MAX_BODY)})
        fine = await http.post("/api/threads", json={"title": "small"})
    for response in (declared, chunked, upload):
        assert response.status_code == 413, response.text
        assert response.json()["error"]["code"] == "too_large"
        _assert_security_headers(response)
    assert "transfer-encoding" not in declared.request.headers
    assert chunked.request.headers["transfer-encoding"] == "chunked"
    assert fine.status_code == 201
